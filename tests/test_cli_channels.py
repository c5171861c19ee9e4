"""``sleepfm channels RECORDING [--json] [--overrides FILE]`` on a recording written in tmp_path."""
from __future__ import annotations

import json

import edfio
import numpy as np
import pytest

from sleepfm_engine.cli import main

# label, rate, unit, expected modality, typical size (standard deviation in the unit)
SIGNALS = [
    ("EEG C4-A1", 256, "uV", "BAS", 15.0),
    ("EOG horizontal", 256, "uV", "BAS", 20.0),
    ("ECG", 256, "mV", "EKG", 0.3),
    ("EMG submental", 256, "uV", "EMG", 5.0),
    ("Pleth", 64, "", "RESP", 50.0),
    ("SpO2", 1, "%", "RESP", 1.0),
    ("Position", 1, "", "other", 0.0),
]
SECONDS = 60


def _trace(rate: int, std: float, seed: int) -> np.ndarray:
    """Drift-free brown noise of ``std`` (white below 10 Hz): a plausible trace of its kind."""
    rng = np.random.default_rng(seed)
    if rate < 10:
        return rng.normal(0, std, rate * SECONDS)
    walk = np.cumsum(rng.normal(0, 1, rate * SECONDS))
    walk -= np.convolve(walk, np.ones(rate) / rate, mode="same")
    return walk / walk.std() * std


def _write(path, flat: tuple[str, ...] = ()):
    signals = []
    for seed, (label, rate, unit, _, std) in enumerate(SIGNALS):
        x = np.full(rate * SECONDS, 3.0) if label in flat else _trace(rate, std, seed)
        if unit == "%":
            x = x + 96.0
        signals.append(edfio.EdfSignal(x, sampling_frequency=rate, label=label,
                                       physical_dimension=unit, physical_range=(-500, 500)))
    edfio.Edf(signals).write(path)
    return path


@pytest.fixture
def recording(tmp_path):
    return _write(tmp_path / "night.edf")


def test_channels_json_lists_every_channel_with_required_keys(recording, capsys):
    assert main(["channels", str(recording), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == [s[0] for s in SIGNALS]
    for row, (label, rate, unit, modality, _) in zip(rows, SIGNALS):
        assert set(row) == {"label", "rate", "unit", "modality", "reason", "quality"}
        assert row["quality"]["status"] == ("not checked" if modality == "other" else "ok"), row
        assert row["quality"]["findings"] == [] and row["quality"]["usable"]
        assert row["modality"] == modality, row
        assert row["rate"] == pytest.approx(rate)
        assert row["reason"]
    by_label = {r["label"]: r for r in rows}
    assert by_label["SpO2"]["unit"] == "%"
    assert by_label["EEG C4-A1"]["reason"] == "reference channel_groups.json: BAS"


def test_channels_table_shows_label_rate_unit_modality_and_reason(recording, capsys):
    assert main(["channels", str(recording)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["LABEL", "RATE", "(Hz)", "UNIT", "MODALITY", "QUALITY"]
    assert len(lines) == 1 + len(SIGNALS)            # a clean night: no findings section
    spo2 = next(line for line in lines if line.startswith("SpO2"))
    assert spo2.split()[:5] == ["SpO2", "1", "%", "RESP", "ok"]
    position = next(line for line in lines if line.startswith("Position"))
    assert position.split()[3:6] == ["other", "not", "checked"]
    assert spo2.endswith("reference channel_groups.json: RESP")
    emg = next(line for line in lines if line.startswith("EMG submental"))
    assert "Sleep-EDF rule" in emg and " EMG " in emg


def test_channels_applies_overrides_file(recording, tmp_path, capsys):
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"Position": "RESP", "SpO2": "other"}))
    assert main(["channels", str(recording), "--json", "--overrides", str(overrides)]) == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["Position"]["modality"] == "RESP"
    assert rows["SpO2"]["modality"] == "other"
    assert rows["SpO2"]["reason"].startswith("user override")
    assert rows["ECG"]["modality"] == "EKG"


def test_channels_quality_column_and_findings_name_a_flat_channel(tmp_path, capsys):
    path = _write(tmp_path / "flat.edf", flat=("EEG C4-A1",))
    assert main(["channels", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    eeg = next(line for line in lines if line.startswith("EEG C4-A1"))
    assert eeg.split()[5:7] == ["error:", "flat"]       # the label holds a space
    at = lines.index("signal quality findings:")
    assert lines[at - 1] == "" and lines[at + 1].startswith(
        "  EEG C4-A1: error: flat or disconnected: peak-to-peak 0 µV over the whole night")
    assert main(["channels", str(path), "--json"]) == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out)}
    quality = rows["EEG C4-A1"]["quality"]
    assert quality["status"] == "error" and not quality["usable"]
    assert [f["check"] for f in quality["findings"]] == ["flat"]
    assert quality["epoch_flags"]["flags"]["flat"] == [0, 1]
    assert quality["use_despite_quality"] is False


def test_channels_shows_a_flat_channel_used_anyway_by_override(tmp_path, capsys):
    path = _write(tmp_path / "flat.edf", flat=("EEG C4-A1",))
    overrides = tmp_path / "o.json"
    overrides.write_text(json.dumps({"EEG C4-A1": {"use_despite_quality": True}}))
    assert main(["channels", str(path), "--overrides", str(overrides)]) == 0
    eeg = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("EEG C4-A1"))
    assert "error: flat (used anyway)" in eeg


def test_channels_no_quality_skips_the_checks(recording, capsys):
    assert main(["channels", str(recording), "--json", "--no-quality"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all("quality" not in r for r in rows)
    assert main(["channels", str(recording), "--no-quality"]) == 0
    spo2 = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("SpO2"))
    assert spo2.split()[:5] == ["SpO2", "1", "%", "RESP", "-"]


def test_channels_bad_overrides_file_exits_1_naming_file_and_entry(recording, tmp_path, capsys):
    overrides = tmp_path / "bad.json"
    overrides.write_text(json.dumps({"ECG": "HEART"}))
    assert main(["channels", str(recording), "--overrides", str(overrides)]) == 1
    err = capsys.readouterr().err
    assert str(overrides) in err and "'ECG'" in err and "'HEART'" in err


def test_channels_missing_recording_exits_1_with_message(tmp_path, capsys):
    missing = tmp_path / "absent.edf"
    assert main(["channels", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err


def test_recoverable_faults_are_one_line_warnings_not_source_locations(tmp_path):
    import subprocess
    import sys

    import numpy as np
    from edf_factory import Sig, write_edf

    path = write_edf(tmp_path / "uv.edf", [Sig("C4-M1", 64, np.zeros(64 * 4, dtype=int), unit="UV")])
    # A real console run: pytest records warnings itself, so only a process shows the output.
    proc = subprocess.run([sys.executable, "-m", "sleepfm_engine.cli", "channels", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "warning: " in proc.stderr and "'UV' read as 'uV'" in proc.stderr
    assert "self._parse()" not in proc.stderr and ".py:" not in proc.stderr
