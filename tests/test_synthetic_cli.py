"""``sleepfm synth`` writes a night and its hypnogram."""
from __future__ import annotations

import pytest
from edfio import read_edf

from sleepfm_engine.cli import main


def test_synth_writes_edf_and_sidecar(tmp_path, capsys):
    out = tmp_path / "night.edf"
    code = main(["synth", "-o", str(out), "--hours", "0.25", "--seed", "2",
                 "--montage", "minimal", "--apnea"])
    assert code == 0
    edf = read_edf(out)
    assert [s.label for s in edf.signals] == ["C4-M1", "E1-M2", "Chin1-Chin2", "ECG", "Airflow",
                                              "SpO2"]
    assert edf.duration == pytest.approx(900.0)
    assert (tmp_path / "night.hypnogram.csv").read_text().startswith("onset,duration,stage\n")
    printed = capsys.readouterr().out
    assert "wrote" in printed and "epochs: W" in printed


def test_synth_is_reproducible_from_the_command_line(tmp_path):
    for name in ("a.edf", "b.edf"):
        assert main(["synth", "-o", str(tmp_path / name), "--hours", "0.1", "--seed", "4",
                     "--montage", "eeg-only"]) == 0
    assert (tmp_path / "a.edf").read_bytes() == (tmp_path / "b.edf").read_bytes()


@pytest.mark.parametrize("args", [["--hours", "0"], ["--hours", "abc"],
                                  ["--montage", "everything"]])
def test_synth_rejects_bad_arguments(tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "-o", str(tmp_path / "x.edf"), *args])
    assert exc.value.code == 2
    assert not (tmp_path / "x.edf").exists()
    assert "error" in capsys.readouterr().err
