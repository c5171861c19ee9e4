"""Statistics files (the ``sleepfm export stats`` CSV and the cohort ``summary.csv``): every row the
engine writes reads back as the same values, and malformed files are typed errors naming the line."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import StatisticsFileError
from sleepfm_engine.report.model import summary_columns
from sleepfm_engine.report.summary import read_statistics_json, read_summary_csv, summary_csv_text
from sleepfm_engine.sleep_stats import STATISTICS_DEFINITIONS

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
                max_size=20)


@st.composite
def summary_rows(draw) -> dict:
    row = {"recording": draw(_TEXT), "start": draw(st.sampled_from(["", "2024-01-01T22:00:00"])),
           "hypnogram": draw(st.sampled_from(["manual", "auto", "none"])), "scorer": draw(_TEXT),
           "duration_min": draw(st.floats(0, 1e4, allow_nan=False)),
           "kappa_vs_manual": draw(st.none() | st.floats(-1, 1)),
           "accuracy_vs_manual": draw(st.none() | st.floats(0, 1))}
    for key, definition in STATISTICS_DEFINITIONS.items():
        if definition.unit in ("count", "epoch"):
            row[key] = draw(st.none() | st.integers(0, 10_000))
        else:
            row[key] = draw(st.none() | st.floats(-1e6, 1e6, allow_nan=False))
    return row


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(summary_rows(), max_size=4))
def test_every_summary_row_reads_back_as_written(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("stats") / "s.csv"
    path.write_text(summary_csv_text(rows), encoding="utf-8")
    assert read_summary_csv(path) == rows


@pytest.mark.parametrize("text, match, line", [
    ("recording,start\nx,y\n", "header is not the statistics columns", 1),
    (",".join(summary_columns()) + "\nnight.edf,,60\n", "expected", 2),
    (",".join(summary_columns()) + "\n" + ",".join(["n", "", "x"] + [""] * (len(summary_columns()) - 3))
     + "\n", "duration_min 'x' is not a number", 2),
])
def test_malformed_statistics_csv_names_the_line(tmp_path, text, match, line):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(StatisticsFileError, match=match) as err:
        read_summary_csv(path)
    assert err.value.line == line and str(path) in str(err.value)


@pytest.mark.parametrize("text, match", [("{", "not valid JSON"), ("[]", "no 'hypnograms'")])
def test_malformed_statistics_json_is_refused(tmp_path, text, match):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(StatisticsFileError, match=match):
        read_statistics_json(path)


def test_missing_statistics_files_are_named(tmp_path):
    for reader in (read_summary_csv, read_statistics_json):
        with pytest.raises(StatisticsFileError, match="no such file"):
            reader(tmp_path / "nope")
