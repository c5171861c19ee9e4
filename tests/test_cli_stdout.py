"""``-o -`` writes the one output file to standard output: the same bytes a file would hold."""
from __future__ import annotations

import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.formats import read_hypnogram
from sleepfm_engine.report.summary import read_statistics_json


@pytest.fixture
def night(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "-o", "n.edf", "--hours", "0.3", "--seed", "1"]) == 0
    return tmp_path / "n.edf"


@pytest.mark.parametrize("what,fmt,name", [("hypnogram", "csv", "h.csv"), ("hypnogram", "json", "h.json"),
                                           ("stats", "json", "s.json"), ("stats", "csv", "s.csv")])
def test_dash_output_writes_the_same_bytes_to_stdout(night, capfdbinary, what, fmt, name):
    capfdbinary.readouterr()
    assert main(["export", what, str(night), "-o", "-", "--format", fmt]) == 0
    streamed = capfdbinary.readouterr()
    assert main(["export", what, str(night), "-o", name]) == 0
    assert streamed.out == (night.parent / name).read_bytes()
    assert b"wrote standard output" in streamed.err
    assert not (night.parent / "-").exists()


def test_streamed_outputs_read_back_through_the_engine_readers(night, capfdbinary, tmp_path):
    capfdbinary.readouterr()
    assert main(["export", "hypnogram", str(night), "-o", "-", "--format", "json"]) == 0
    (tmp_path / "streamed.json").write_bytes(capfdbinary.readouterr().out)
    streamed, truth = read_hypnogram(tmp_path / "streamed.json"), read_hypnogram(night.with_suffix(".hypnogram.csv"))
    assert list(streamed.stages) == list(truth.stages) and streamed.epoch_length == truth.epoch_length
    assert streamed.start is not None  # the recording's start, as in a file export
    assert main(["export", "stats", str(night), "-o", "-", "--format", "json"]) == 0
    (tmp_path / "stats.json").write_bytes(capfdbinary.readouterr().out)
    assert read_statistics_json(tmp_path / "stats.json")


def test_dash_output_without_format_prints_one_error_line(night, capfd):
    capfd.readouterr()
    assert main(["export", "hypnogram", str(night), "-o", "-"]) == 1
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "error: cannot tell the format from '-'; give --format (edf, json, sleepfm, csv, yasa)"]


def test_report_dash_output_streams_only_the_pdf(night, capfdbinary, tmp_path):
    from pypdf import PdfReader

    capfdbinary.readouterr()
    assert main(["report", str(night), "-o", "-"]) == 0
    captured = capfdbinary.readouterr()
    assert captured.out.startswith(b"%PDF-") and captured.out.rstrip().endswith(b"%%EOF")
    assert b"manual hypnogram from" in captured.err and b"wrote standard output" in captured.err
    (tmp_path / "streamed.pdf").write_bytes(captured.out)
    assert len(PdfReader(tmp_path / "streamed.pdf").pages) >= 2
    assert not (tmp_path / "-").exists()


def test_report_of_a_folder_refuses_dash_output_in_one_line(night, capfd):
    capfd.readouterr()
    assert main(["report", str(night.parent), "-o", "-"]) == 1
    assert capfd.readouterr().err.strip().splitlines() == [
        "error: -o - writes one report; a folder of recordings needs an output folder"]


def test_preprocess_dash_output_streams_the_hdf5_file(night, capfdbinary, tmp_path):
    import h5py

    capfdbinary.readouterr()
    assert main(["preprocess", str(night), "-o", "-", "--channels", "C4-M1", "ECG"]) == 0
    streamed = capfdbinary.readouterr().out
    assert main(["preprocess", str(night), "-o", "file.hdf5", "--channels", "C4-M1", "ECG"]) == 0
    (tmp_path / "streamed.hdf5").write_bytes(streamed)
    with h5py.File(tmp_path / "streamed.hdf5") as a, h5py.File(tmp_path / "file.hdf5") as b:
        assert sorted(a) == sorted(b) == ["C4-M1", "ECG"]
        for key in a:
            assert (a[key][()] == b[key][()]).all()
