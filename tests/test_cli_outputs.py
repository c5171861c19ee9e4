"""No lost files and no tracebacks at the command line: an output that is an input, exists,
is a folder or cannot be written is one ``error:`` line naming it."""
from __future__ import annotations

import numpy as np
import pytest

from sleepfm_engine.cli import guard_output, main
from sleepfm_engine.errors import OutputError
from sleepfm_engine.formats import write_hypnogram
from sleepfm_engine.hypnogram import Hypnogram

from edf_factory import Sig, write_edf


def _edf(path):
    rng = np.random.default_rng(0)
    return write_edf(path, [Sig("C3-M2", 128, rng.integers(-2000, 2000, 128 * 40)),
                            Sig("ECG", 128, rng.integers(-2000, 2000, 128 * 40))])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_guard_refuses_an_output_that_is_an_input_even_with_overwrite(tmp_path):
    src = _edf(tmp_path / "x.edf")
    with pytest.raises(OutputError, match="replace its own input"):
        guard_output(src, [src], overwrite=True)
    with pytest.raises(OutputError, match="replace its own input"):
        guard_output(tmp_path / "." / "x.edf", [src], overwrite=True)


def test_guard_refuses_a_hard_link_to_an_input(tmp_path):
    src = _edf(tmp_path / "x.edf")
    (tmp_path / "y.hdf5").hardlink_to(src)
    with pytest.raises(OutputError, match="replace its own input"):
        guard_output(tmp_path / "y.hdf5", [src], overwrite=True)


def test_preprocess_refuses_to_replace_its_recording_with_hdf5(tmp_path, capsys):
    src = _edf(tmp_path / "x.edf")
    before = src.read_bytes()
    assert main(["preprocess", str(src), "-o", str(src), "--overwrite"]) == 1
    assert "replace its own input" in _one_error_line(capsys)
    assert src.read_bytes() == before


def test_preprocess_naming_a_missing_channel_is_one_error_line(tmp_path, capsys):
    src = _edf(tmp_path / "x.edf")
    assert main(["preprocess", str(src), "-o", str(tmp_path / "x.hdf5"), "--channels", "Fpz"]) == 1
    line = _one_error_line(capsys)
    assert "no channel 'Fpz'" in line and "C3-M2" in line
    assert not (tmp_path / "x.hdf5").exists()


def test_preprocess_into_a_folder_is_one_error_line(tmp_path, capsys):
    src = _edf(tmp_path / "x.edf")
    (tmp_path / "out.hdf5").mkdir()
    assert main(["preprocess", str(src), "-o", str(tmp_path / "out.hdf5")]) == 1
    assert "is a folder" in _one_error_line(capsys)


def test_unreadable_input_is_one_error_line(tmp_path, capsys, monkeypatch):
    from sleepfm_engine import recording

    src = _edf(tmp_path / "x.edf")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(recording, "open", refuse, raising=False)
    assert main(["channels", str(src)]) == 1
    assert "Permission denied" in _one_error_line(capsys)


def test_an_operating_system_failure_is_one_error_line_naming_the_file(tmp_path, capsys,
                                                                        monkeypatch):
    from sleepfm_engine.cli import cmd_hypnogram

    def fail(args):
        raise IsADirectoryError(21, "Is a directory", str(tmp_path / "out"))

    # register() binds the module's run when main builds its parser
    monkeypatch.setattr(cmd_hypnogram, "run", fail)
    assert main(["hypnogram", str(tmp_path / "h.csv")]) == 1
    assert _one_error_line(capsys) == f"error: {tmp_path / 'out'}: Is a directory"


def test_synth_refuses_to_overwrite_an_existing_recording_without_the_flag(tmp_path, capsys):
    out = _edf(tmp_path / "night.edf")
    before = out.read_bytes()
    assert main(["synth", "-o", str(out), "--hours", "0.05"]) == 1
    assert "exists (use --overwrite" in _one_error_line(capsys)
    assert out.read_bytes() == before


def test_synth_refuses_when_only_its_hypnogram_sidecar_exists(tmp_path, capsys):
    (tmp_path / "night.hypnogram.csv").write_text("keep me")
    assert main(["synth", "-o", str(tmp_path / "night.edf"), "--hours", "0.05"]) == 1
    assert "night.hypnogram.csv: exists" in _one_error_line(capsys)
    assert (tmp_path / "night.hypnogram.csv").read_text() == "keep me"


def test_synth_with_overwrite_replaces_the_night(tmp_path, capsys):
    out = _edf(tmp_path / "night.edf")
    assert main(["synth", "-o", str(out), "--hours", "0.05", "--overwrite"]) == 0
    assert (tmp_path / "night.hypnogram.csv").exists()


def test_export_refuses_an_output_that_is_its_input(tmp_path, capsys):
    hyp = write_hypnogram(Hypnogram([0, 1, 2], 30.0), tmp_path / "h.csv")
    before = hyp.read_bytes()
    assert main(["export", "hypnogram", str(hyp), "-o", str(hyp), "--overwrite"]) == 1
    assert "replace its own input" in _one_error_line(capsys)
    assert hyp.read_bytes() == before


def test_report_refuses_to_overwrite_its_hypnogram(tmp_path, capsys):
    src = _edf(tmp_path / "x.edf")
    hyp = tmp_path / "x.pdf"
    hyp.write_bytes(b"%PDF- pretend hypnogram")
    assert main(["report", str(src), "--hypnogram", str(hyp), "-o", str(hyp), "--overwrite"]) == 1
    assert "replace its own input" in _one_error_line(capsys)
