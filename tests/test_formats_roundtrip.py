"""Property-based round trips of every registered hypnogram writer/reader pair, checked against
what each format declares it keeps (``FileFormat.keeps``), and parser robustness: any text is
either read or refused with a HypnogramError, never another exception."""
from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import HypnogramError
from sleepfm_engine.formats import get_format, read_hypnogram, write_formats, write_hypnogram
from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED, Hypnogram

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
_SCORER_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ./-"


@st.composite
def hypnograms(draw, keeps: frozenset[str]) -> Hypnogram:
    """A hypnogram whose every field the format keeps is drawn; the others are left at what the
    format cannot tell apart from them (e.g. offset 0 for a format without offsets)."""
    n = draw(st.integers(1, 120))
    stages = draw(st.lists(st.integers(ARTEFACT, 4), min_size=n, max_size=n))
    epoch = draw(st.sampled_from([5.0, 10.0, 15.0, 20.0, 30.0, 60.0]))
    offset = draw(st.integers(0, 7200)) * 0.5 if "offset" in keeps else 0.0
    start = None
    if "start" in keeps and draw(st.booleans()):
        start = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2080, 12, 31))).replace(microsecond=0)
    scorer = draw(st.text(_SCORER_CHARS, max_size=30)).strip() if "scorer" in keeps else ""
    probs = None
    if "probabilities" in keeps and draw(st.booleans()):
        rows = draw(st.lists(st.one_of(
            st.none(), st.lists(st.floats(0, 1, width=32), min_size=5, max_size=5)),
            min_size=n, max_size=n))
        probs = np.array([[np.nan] * 5 if r is None else r for r in rows], dtype=np.float32)
    automatic = draw(st.booleans()) if "automatic" in keeps else False
    return Hypnogram(stages, epoch, start, offset, scorer, probs, automatic=automatic)


def _expected(hyp: Hypnogram, keeps: frozenset[str]) -> Hypnogram:
    stages = hyp.stages.copy()
    if "artefact" not in keeps:
        stages[stages == ARTEFACT] = UNSCORED
    return Hypnogram(stages, hyp.epoch_length, hyp.start if "start" in keeps else None, hyp.offset,
                     hyp.scorer, hyp.probabilities, automatic=hyp.automatic)


@pytest.mark.parametrize("fmt", write_formats())
def test_every_writer_reads_back_what_its_format_keeps(fmt, tmp_path):
    entry = get_format(fmt)

    @SETTINGS
    @given(hyp=hypnograms(entry.keeps))
    def round_trip(hyp):
        with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
            path = write_hypnogram(hyp, Path(folder) / f"h{entry.suffixes[0]}", fmt=fmt)
            epoch = None if "epoch_length" in entry.keeps else hyp.epoch_length
            back = read_hypnogram(path, epoch_length=epoch)
        assert back.file_format == fmt
        assert back == _expected(hyp, entry.keeps), (hyp, back)

    round_trip()


def test_the_comparison_fails_when_a_format_drops_a_field(tmp_path):
    # yasa keeps neither start nor scorer, so the hypnogram read back differs from the one written
    hyp = Hypnogram([0, 2], 30.0, dt.datetime(2024, 1, 1, 22), scorer="Dr A")
    back = read_hypnogram(write_hypnogram(hyp, tmp_path / "h.txt", fmt="yasa"))
    assert back != hyp
    assert back == Hypnogram([0, 2], 30.0) and "start" not in get_format("yasa").keeps


_TEXT_FORMATS = ("csv", "json", "dreams", "sleepfm", "yasa", "nsrr-xml", "profusion-xml")
_LINE = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(["onset", "duration", "stage", "W", "N2", "R", "?", "A",
                                        "Start", "Stop", "StageName", "StageNumber", "p_W",
                                        "Wake", "REM", "-1", "-2", "5", ""]),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.integers(-3, 10).map(str)), max_size=6).map(",".join),
    st.sampled_from(["[Hypnogram]", "# scoring: automatic", "# start: 2024-01-01T22:00:00",
                     "# epoch_length: 0", "# epoch_length: 30", "{", "}", '{"stages": [0, 1]}',
                     "<PSGAnnotation>", "<CMPStudyConfig>", "<SleepStage>1</SleepStage>"]))


@pytest.mark.parametrize("fmt", [None, *_TEXT_FORMATS])
def test_any_text_is_read_or_refused_with_a_hypnogram_error(fmt, tmp_path):
    path = tmp_path / "fuzz.txt"

    @SETTINGS
    @given(lines=st.lists(_LINE, max_size=12))
    def parse(lines):
        path.write_text("\n".join(lines), encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # re-epoching and overlap warnings are fine here
            try:
                hyp = read_hypnogram(path, fmt=fmt)
            except HypnogramError as exc:
                assert str(path) in str(exc)
                return
        assert isinstance(hyp, Hypnogram) and hyp.n_epochs > 0

    parse()
