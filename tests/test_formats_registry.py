"""The format registry: one registered module is all a new format needs to be detected, read,
written, listed in the suffix lists, offered in file dialogs and on the command line; the
built-in entries, their validation, automatic hypnograms and the JSON format."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.errors import HypnogramError, NoStagesError
from sleepfm_engine.formats import (FileFormat, detect_format, format_for_suffix, get_format,
                                    hypnogram_dialog_filter, hypnogram_suffixes, read_formats,
                                    read_hypnogram, recording_dialog_filter, register,
                                    registered_formats, unregister, write_formats, write_hypnogram)
from sleepfm_engine.formats.discover import (AUTOMATIC_HYPNOGRAM_SUFFIX, candidate_hypnograms,
                                             find_manual_hypnogram)
from sleepfm_engine.formats.registry import KEEPABLE, Probe
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.recording import RECORDING_SUFFIXES

START = dt.datetime(2024, 3, 1, 22, 15, 0)


# -- a format defined by a test: one module's worth of code -------------------------------------
def _sniff_stg(probe: Probe) -> bool:
    return probe.first_line is not None and probe.first_line.startswith("STG/1")


def _read_stg(path: Path, epoch_length: float | None = None) -> Hypnogram:
    lines = path.read_text().split()
    try:
        codes = [int(v) for v in lines[1:]]
    except ValueError as exc:
        raise HypnogramError(path, f"not an STG stage code: {exc}") from None
    hyp = Hypnogram(codes, 20.0, source=str(path), file_format="stg-test")
    return hyp if epoch_length is None else hyp.resample(epoch_length)


def _write_stg(hyp: Hypnogram, path: Path) -> None:
    path.write_text("STG/1\n" + "\n".join(str(int(c)) for c in hyp.stages) + "\n")


STG = FileFormat("stg-test", "Test stage list", (".stg",), _sniff_stg, aliases=("stg",),
                 priority=35, save_suffix=".stg", keeps=frozenset({"artefact"}),
                 read_hypnogram=_read_stg, write_hypnogram=_write_stg)


@pytest.fixture
def stg():
    register(STG)
    yield STG
    unregister(STG.name)


def test_a_registered_format_is_detected_read_written_listed_and_offered(stg, tmp_path, capsys):
    path = tmp_path / "night.stg"
    path.write_text("STG/1\n0\n2\n2\n4\n")
    assert detect_format(path) == "stg-test"
    assert read_hypnogram(path).stages.tolist() == [0, 2, 2, 4]
    assert read_hypnogram(path, fmt="STG").epoch_length == 20.0          # alias, any case
    assert "stg-test" in read_formats() and "stg-test" in write_formats()
    assert ".stg" in hypnogram_suffixes()
    assert "Test stage list (*.stg)" in hypnogram_dialog_filter("read").split(";;")
    assert "*.stg" in hypnogram_dialog_filter("read").split(";;")[0]
    assert "Test stage list (*.stg)" in hypnogram_dialog_filter("write").split(";;")
    assert format_for_suffix(tmp_path / "out.stg") is stg
    written = write_hypnogram(Hypnogram([0, -2, 3], 20.0), tmp_path / "w.stg", fmt="stg")
    assert read_hypnogram(written).stages.tolist() == [0, -2, 3]
    # discovery pairs it with its recording; a cohort takes it as labels
    (tmp_path / "night.edf").write_bytes(b"")
    assert candidate_hypnograms(tmp_path / "night.edf") == [path]
    from sleepfm_engine.training.cohort import label_candidates

    assert path in label_candidates(tmp_path / "night.edf", [tmp_path])
    # the command line offers it: `sleepfm export hypnogram` picks it from the suffix
    src = write_hypnogram(Hypnogram([0, 1, 2, 3]), tmp_path / "src.csv")
    assert main(["export", "hypnogram", str(src), "-o", str(tmp_path / "exp.stg")]) == 0
    assert read_hypnogram(tmp_path / "exp.stg").stages.tolist() == [0, 1, 2, 3]
    capsys.readouterr()
    assert main(["hypnogram", str(path), "--format", "stg-test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "stg-test"


def test_an_unregistered_format_is_gone_everywhere(tmp_path):
    register(STG)
    unregister(STG.name)
    path = tmp_path / "night.stg"
    path.write_text("STG/1\n0\n")
    with pytest.raises(HypnogramError, match="unrecognised hypnogram format"):
        read_hypnogram(path)
    assert ".stg" not in hypnogram_suffixes() and "*.stg" not in hypnogram_dialog_filter("read")
    with pytest.raises(ValueError, match="cannot write hypnogram format 'stg-test'"):
        write_hypnogram(Hypnogram([0]), tmp_path / "x.stg", fmt="stg-test")


def test_registering_a_taken_name_alias_or_save_suffix_is_refused(stg):
    with pytest.raises(ValueError, match="already registered"):
        register(stg)
    with pytest.raises(ValueError, match="already registered"):
        register(FileFormat("other", "x", (".oth",), _sniff_stg, aliases=("nsrr",),
                            read_hypnogram=_read_stg))
    with pytest.raises(ValueError, match="save suffix '.stg' already picks 'stg-test'"):
        register(FileFormat("other", "x", (".stg",), _sniff_stg, save_suffix=".stg",
                            read_hypnogram=_read_stg, write_hypnogram=_write_stg))
    assert "other" not in [f.name for f in registered_formats()]


@pytest.mark.parametrize("changes, match", [
    ({"name": "Bad Name"}, "lower case"),
    ({"suffixes": ("stg",)}, "start with '.'"),
    ({"suffixes": (".STG",)}, "lower case"),
    ({"save_suffix": ".txt"}, "not one of its suffixes"),
    ({"keeps": frozenset({"colour"})}, "unknown keeps"),
    ({"read_hypnogram": None}, "reads nothing"),
])
def test_a_malformed_entry_is_refused_when_declared(changes, match):
    fields = dict(name="stg-test", description="x", suffixes=(".stg",), sniff=_sniff_stg,
                  read_hypnogram=_read_stg)
    with pytest.raises(ValueError, match=match):
        FileFormat(**{**fields, **changes})


def test_builtin_hypnogram_formats_are_registered_in_sniff_order():
    names = [f.name for f in registered_formats() if f.read_hypnogram is not None]
    assert names == ["edf", "nsrr-xml", "profusion-xml", "json", "dreams", "sleepfm", "mne-csv",
                     "edfbrowser-csv", "bids-tsv", "csv", "yasa"]  # event tables: their stage rows
    assert set(write_formats()) == {"edf", "json", "sleepfm", "csv", "yasa"}
    assert get_format("edf").suffixes == RECORDING_SUFFIXES
    assert all(f.keeps <= KEEPABLE for f in registered_formats())
    assert {s: format_for_suffix("x" + s).name for s in (".csv", ".edf", ".json", ".txt")} == \
        {".csv": "csv", ".edf": "edf", ".json": "json", ".txt": "yasa"}
    assert format_for_suffix("x.xml") is None


def test_dialog_filters_are_qt_syntax_strings_ending_with_all_files():
    read = hypnogram_dialog_filter("read").split(";;")
    assert read[0].startswith("Hypnograms (*.") and read[-1] == "All files (*)"
    assert "NSRR XML annotations (*.xml)" in read
    assert hypnogram_dialog_filter("write").split(";;")[0] == "EDF+ stage annotations (*.edf)"
    assert recording_dialog_filter() == ("EDF/BDF recordings (*.edf *.EDF *.bdf *.BDF *.rec *.REC)"
                                         ";;All files (*)")
    with pytest.raises(ValueError, match="mode"):
        hypnogram_dialog_filter("append")


# -- automatic hypnograms ------------------------------------------------------------------------
def _auto(n=6, seed=0) -> Hypnogram:
    probs = np.random.default_rng(seed).dirichlet(np.ones(5), size=n).astype(np.float32)
    return Hypnogram(probs.argmax(1), 30.0, START, scorer="SleepFM golden_tiny/model_sleep_staging",
                     probabilities=probs, automatic=True)


def test_an_automatic_csv_reads_back_automatic_with_its_probabilities(tmp_path):
    hyp = _auto()
    path = write_hypnogram(hyp, tmp_path / f"n{AUTOMATIC_HYPNOGRAM_SUFFIX}")
    assert "# scoring: automatic\n" in path.read_text()
    back = read_hypnogram(path)
    assert back == hyp and back.automatic and back.probabilities is not None
    manual = read_hypnogram(write_hypnogram(Hypnogram([0, 1]), tmp_path / "m.csv"))
    assert not manual.automatic and "scoring" not in (tmp_path / "m.csv").read_text()


def test_a_csv_with_an_unknown_scoring_value_names_it(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("# scoring: robot\nonset,duration,stage\n0,30,W\n")
    with pytest.raises(HypnogramError, match="bad scoring 'robot'"):
        read_hypnogram(path)


def test_discovery_never_pairs_an_automatic_hypnogram_as_the_manual_scoring(tmp_path):
    (tmp_path / "night.edf").write_bytes(b"")
    write_hypnogram(_auto(), tmp_path / f"night{AUTOMATIC_HYPNOGRAM_SUFFIX}")
    assert candidate_hypnograms(tmp_path / "night.edf") == []        # by name
    write_hypnogram(_auto(), tmp_path / "night.hypnogram.csv")        # automatic content, manual name
    assert candidate_hypnograms(tmp_path / "night.edf") == [tmp_path / "night.hypnogram.csv"]
    from sleepfm_engine.formats.discover import find_paired_hypnogram

    assert find_paired_hypnogram(tmp_path / "night.edf") == (None, None)
    manual = Hypnogram([0, 2, 2], 30.0, START, scorer="Dr Okafor")
    write_hypnogram(manual, tmp_path / "night.csv")
    hyp, source = find_paired_hypnogram(tmp_path / "night.edf")
    assert source == tmp_path / "night.csv" and hyp.scorer == "Dr Okafor" and not hyp.automatic
    from sleepfm_engine.training.cohort import label_candidates

    assert tmp_path / f"night{AUTOMATIC_HYPNOGRAM_SUFFIX}" not in \
        label_candidates(tmp_path / "night.edf", [tmp_path])


def test_find_manual_hypnogram_skips_automatic_files_beside_a_recording(tmp_path):
    from edf_factory import Sig, write_edf

    rec = write_edf(tmp_path / "n.edf", [Sig("EEG", 10, np.zeros(600, dtype=np.int64))])
    write_hypnogram(_auto(2), tmp_path / "n.hypnogram.csv")
    assert find_manual_hypnogram(rec) == (None, None)


# -- JSON ------------------------------------------------------------------------------------------
def test_json_keeps_every_field_and_reads_to_dict_output(tmp_path):
    hyp = _auto()
    path = write_hypnogram(hyp, tmp_path / "h.json", fmt="json")
    data = json.loads(path.read_text())
    assert data["format"] == "sleepfm-studio hypnogram" and data["automatic"] is True
    back = read_hypnogram(path)
    assert back == hyp and back.file_format == "json" and back.source == str(path)
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps(Hypnogram([0, 4, -1], 30.0, START).to_dict()))
    assert read_hypnogram(legacy).stages.tolist() == [0, 4, -1]


@pytest.mark.parametrize("text, match", [
    ('{"stages": [0, 1,\n 2,,\n 3]}\n', "line 2: not valid JSON"),
    ('{"epochs": []}', "object with a 'stages' list"),
    ('{"format": "other", "stages": []}', "JSON of format 'other'"),
    ('{"format_version": 9, "stages": [0]}', "format_version 9"),
    ('{"stages": "W N1"}', "'stages' must be a list"),
    ('{"stages": [0, 7]}', "invalid hypnogram field.*invalid stage codes"),
    ('{"stages": [0], "epoch_length": -30}', "invalid hypnogram field.*positive"),
    ('{"stages": [0], "automatic": "yes"}', "'automatic' must be true or false"),
    ('{"stages": [0], "probabilities": [[0.5, "x", 0, 0, 0]]}', "invalid hypnogram field"),
])
def test_malformed_json_is_a_hypnogram_error_naming_the_problem(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(HypnogramError, match=match) as err:
        read_hypnogram(path)
    assert str(path) in str(err.value)


def test_an_events_only_format_is_never_taken_for_a_hypnogram(tmp_path):
    events_only = FileFormat("ev-test", "Test events", (".evt",), _sniff_stg,
                             read_events=lambda path: [], priority=1)
    register(events_only)
    try:
        path = tmp_path / "night.evt"
        path.write_text("STG/1\n0\n")
        # recognised, but as scored events: NoStagesError (a HypnogramError) that says so
        with pytest.raises(NoStagesError, match=r"holds scored events \(Test events\), no sleep"):
            read_hypnogram(path)
        assert "ev-test" not in read_formats() and ".evt" not in hypnogram_suffixes()
        assert "*.evt" not in hypnogram_dialog_filter("read")
        with pytest.raises(ValueError, match="holds no hypnograms"):
            read_hypnogram(path, fmt="ev-test")
    finally:
        unregister("ev-test")


def test_a_file_name_without_a_suffix_picks_no_format():
    from sleepfm_engine.formats.registry import format_for_suffix

    assert format_for_suffix("night") is None
    assert format_for_suffix("night.csv") is not None
