"""``sleepfm hypnogram FILE [--json] [--epoch-length S]``."""
from __future__ import annotations

import json

from sleepfm_engine.cli import main


def _csv(tmp_path):
    path = tmp_path / "night.csv"
    path.write_text("onset,duration,stage\n0,60,W\n60,120,N2\n180,30,W\n210,60,R\n270,30,W\n")
    return path


def test_json_output_has_epochs_counts_and_statistics(tmp_path, capsys):
    assert main(["hypnogram", str(_csv(tmp_path)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "csv" and out["epoch_length"] == 30 and out["n_epochs"] == 10
    assert out["stage_counts"] == {"W": 4, "N1": 0, "N2": 4, "N3": 0, "R": 2, "?": 0, "A": 0}
    s = out["statistics"]
    assert s["TST"] == 3.0 and s["SOL"] == 1.0 and s["WASO"] == 0.5 and s["awakenings"] == 1
    assert s["REM_latency"] == 2.5


def test_text_output(tmp_path, capsys):
    assert main(["hypnogram", str(_csv(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "epoch length  30 s" in out and "epochs        10" in out
    assert "TST" in out and "3.0 min" in out and "Sleep efficiency" in out


def test_epoch_length_resamples(tmp_path, capsys):
    assert main(["hypnogram", str(_csv(tmp_path)), "--json", "--epoch-length", "60"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epoch_length"] == 60 and out["n_epochs"] == 5


def test_malformed_file_exits_1_naming_the_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("onset,duration,stage\n0,30,W\n30,30,Zzz\n")
    assert main(["hypnogram", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 3" in err and "Zzz" in err and str(path) in err
