"""``sleepfm export hypnogram|stats``: every format, atomic, no overwrite, de-identified."""
from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.formats import read_hypnogram, write_hypnogram
from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED
from sleepfm_engine.report.model import summary_columns
from sleepfm_engine.sleep_stats import STATISTICS_DEFINITIONS

from test_report_nights import SECRETS, START, write_night


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A recording with its manual hypnogram as a CSV sidecar (no start time in the file)."""
    folder = tmp_path_factory.mktemp("export")
    n = write_night(folder / "Zwanenburg.edf", hours=1.0, seed=6)
    sidecar = n.manual.copy()
    sidecar.start = None
    sidecar.scorer = "Dr Oyelaran"
    write_hypnogram(sidecar, folder / "Zwanenburg.hypnogram.csv", fmt="csv")
    return n


def leaks(data: bytes, extra=()) -> list[str]:
    text = data.decode("latin-1").lower()
    return [s for s in SECRETS + tuple(extra)
            if s.lower() in text or s.lower().replace("_", " ") in text
            or s.lower().replace(" ", "_") in text]


@pytest.mark.parametrize("fmt,suffix", [("csv", ".csv"), ("edf", ".edf"), ("sleepfm", ".csv"),
                                        ("json", ".json"), ("yasa", ".txt")])
def test_hypnogram_export_round_trips_in_every_format(night, tmp_path, fmt, suffix):
    out = tmp_path / f"hyp{suffix}"
    assert main(["export", "hypnogram", str(night.path), "-o", str(out), "--format", fmt]) == 0
    back = read_hypnogram(out, epoch_length=30).stages
    if fmt == "json":
        assert read_hypnogram(out).start == START
    expected = night.manual.stages.copy()
    if fmt == "sleepfm":  # the sleepfm-clinical CSV knows no artefact: it becomes Unknown
        expected[expected == ARTEFACT] = UNSCORED
    np.testing.assert_array_equal(back, expected)


def test_hypnogram_export_takes_the_recording_start_when_the_file_has_none(night, tmp_path):
    out = tmp_path / "h.csv"
    assert main(["export", "hypnogram", str(night.path), "-o", str(out)]) == 0
    assert read_hypnogram(out).start == START


def test_hypnogram_format_comes_from_the_suffix_or_is_asked_for(night, tmp_path, capsys):
    assert main(["export", "hypnogram", str(night.path), "-o", str(tmp_path / "h.edf")]) == 0
    assert (tmp_path / "h.edf").read_bytes()[:8] == b"0       "
    assert main(["export", "hypnogram", str(night.path), "-o", str(tmp_path / "h.xyz")]) == 1
    assert "--format" in capsys.readouterr().err
    assert not (tmp_path / "h.xyz").exists()


def test_export_refuses_to_overwrite_and_leaves_no_temporary_file(night, tmp_path, capsys):
    out = tmp_path / "h.csv"
    out.write_text("precious")
    for what in ("hypnogram", "stats"):
        assert main(["export", what, str(night.path), "-o", str(out)]) == 1
        assert "--overwrite" in capsys.readouterr().err
        assert out.read_text() == "precious"
    assert main(["export", "hypnogram", str(night.path), "-o", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("# start")
    assert [p.name for p in tmp_path.iterdir()] == ["h.csv"]


def test_export_refuses_to_replace_its_own_input(night, tmp_path, capsys):
    sidecar = night.path.with_name("Zwanenburg.hypnogram.csv")
    before = sidecar.read_bytes()
    assert main(["export", "hypnogram", str(sidecar), "-o", str(sidecar), "--overwrite"]) == 1
    assert "input" in capsys.readouterr().err
    assert sidecar.read_bytes() == before


def test_stats_csv_holds_every_statistic_of_the_engine(night, tmp_path):
    out = tmp_path / "stats.csv"
    assert main(["export", "stats", str(night.path), "-o", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and list(rows[0]) == summary_columns()
    row = rows[0]
    assert row["recording"] == "Zwanenburg.edf" and row["scorer"] == "Dr Oyelaran"
    stats = night.manual.statistics()
    assert set(STATISTICS_DEFINITIONS) <= set(row)
    for key, value in stats.items():
        if value is None:
            assert row[key] == ""
        else:
            assert float(row[key]) == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_stats_json_has_values_units_and_definitions(night, tmp_path):
    out = tmp_path / "stats.json"
    assert main(["export", "stats", str(night.path), "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["hypnograms"]["manual"]["statistics"] == night.manual.statistics()
    assert data["units"]["TST"] == "min" and "sleep" in data["definitions"]["TST"].lower()
    assert data["start"] == START.isoformat()


def test_stats_of_a_bare_hypnogram_file(night, tmp_path):
    sidecar = night.path.with_name("Zwanenburg.hypnogram.csv")
    out = tmp_path / "s.json"
    assert main(["export", "stats", str(sidecar), "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["recording"] == "Zwanenburg.hypnogram.csv"
    assert data["hypnograms"]["manual"]["statistics"] == night.manual.statistics()


def test_recording_without_hypnogram_is_an_error_naming_the_way_out(tmp_path, capsys):
    bare = write_night(tmp_path / "bare.edf", hours=0.5, seed=1)
    assert main(["export", "hypnogram", str(bare.path), "-o", str(tmp_path / "h.csv")]) == 1
    err = capsys.readouterr().err
    assert "--hypnogram" in err and "--model" in err


def test_deidentified_exports_hold_no_identifying_string(night, tmp_path):
    outputs = []
    for what, name, fmt in [("hypnogram", "h.csv", "csv"), ("hypnogram", "h.edf", "edf"),
                            ("hypnogram", "h.json", "json"), ("hypnogram", "h5.csv", "sleepfm"),
                            ("stats", "s.csv", "csv"), ("stats", "s.json", "json")]:
        out = tmp_path / name
        assert main(["export", what, str(night.path), "-o", str(out), "--format", fmt,
                     "--deidentify", "--shift-days", "-21"]) == 0
        outputs.append(out)
    extra = ("Zwanenburg", "Oyelaran", "2023-03-14", "14.03.23", "14-MAR-2023")
    for out in outputs:
        assert leaks(out.read_bytes(), extra) == [], out.name
    shifted = START - dt.timedelta(days=21)
    assert read_hypnogram(tmp_path / "h.csv").start == shifted
    assert read_hypnogram(tmp_path / "h.edf").start == shifted
    assert json.loads((tmp_path / "s.json").read_text())["start"] == shifted.isoformat()
    header = (tmp_path / "h.edf").read_bytes()[:256]
    assert b"X X X X" in header  # EDF+ patient field: nothing known


def test_hypnogram_edf_input_with_patient_header_is_scrubbed(night, tmp_path):
    # A Sleep-EDF style hypnogram file carries the patient's header of its own.
    import edfio

    src = tmp_path / "Zwanenburg-Hypnogram.edf"
    edf = edfio.Edf([], patient=edfio.Patient(code="MRN-99812345", sex="F", name="Wilhelmina_Zwanenburg"),
                    recording=edfio.Recording(startdate=START.date(),
                                              investigator_technician_code="Tech_Oyelaran"),
                    starttime=START.time(),
                    annotations=[edfio.EdfAnnotation(i * 30.0, 30.0, "Sleep stage 2")
                                 for i in range(10)])
    edf.write(src)
    out = tmp_path / "out.json"
    assert main(["export", "stats", str(src), "-o", str(out), "--deidentify"]) == 0
    assert leaks(out.read_bytes(), ("Zwanenburg",)) == []
    out2 = tmp_path / "out.csv"
    assert main(["export", "hypnogram", str(src), "-o", str(out2), "--deidentify"]) == 0
    assert leaks(out2.read_bytes(), ("Zwanenburg", "Oyelaran")) == []
    # not de-identified, the scorer (the file's technician) is kept: the test can fail
    out3 = tmp_path / "out3.csv"
    assert main(["export", "hypnogram", str(src), "-o", str(out3)]) == 0
    assert "Oyelaran" in out3.read_text()


def test_embeddings_export_is_deidentified_in_its_hdf5_attributes(data_dir, tmp_path):
    h5py = pytest.importorskip("h5py")
    short = write_night(tmp_path / "Zwanenburg_short.edf", hours=10 / 60, seed=2)
    out = tmp_path / "emb.h5"
    assert main(["export", "embeddings", str(short.path), "--model", str(data_dir / "golden_tiny"),
                 "--device", "cpu", "--deidentify", "--shift-days", "5", "-o", str(out)]) == 0
    texts = []
    with h5py.File(out, "r") as f:
        objs = [f]
        f.visititems(lambda _n, o: objs.append(o))
        for o in objs:
            texts += [f"{k}={v!r}" for k, v in o.attrs.items()]
        assert f.attrs["source_file"] == "deidentified"
        assert f.attrs["start"] == (START + dt.timedelta(days=5)).isoformat()
        created = dt.datetime.fromisoformat(f.attrs["created_utc"])
        assert abs((created - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 3600
        assert int(f.attrs["n_tokens"]) == 120
    blob = "\n".join(texts).encode()
    assert leaks(blob, ("Zwanenburg", "2023-03-14")) == []
    assert main(["export", "embeddings", str(short.path), "--model", str(data_dir / "golden_tiny"),
                 "-o", str(out)]) == 1  # exists: refused before any work
