"""``sleepfm channels RECORDING [--json] [--overrides FILE]`` on a recording written in tmp_path."""
from __future__ import annotations

import json

import edfio
import numpy as np
import pytest

from sleepfm_engine.cli import main

# label, rate, unit, expected modality
SIGNALS = [
    ("EEG C4-A1", 256, "uV", "BAS"),
    ("EOG horizontal", 256, "uV", "BAS"),
    ("ECG", 256, "mV", "EKG"),
    ("EMG submental", 256, "uV", "EMG"),
    ("Pleth", 64, "", "RESP"),
    ("SpO2", 1, "%", "RESP"),
    ("Position", 1, "", "other"),
]


@pytest.fixture
def recording(tmp_path):
    seconds = 10
    signals = [edfio.EdfSignal(np.zeros(rate * seconds), sampling_frequency=rate, label=label,
                               physical_dimension=unit, physical_range=(-500, 500))
               for label, rate, unit, _ in SIGNALS]
    path = tmp_path / "night.edf"
    edfio.Edf(signals).write(path)
    return path


def test_channels_json_lists_every_channel_with_required_keys(recording, capsys):
    assert main(["channels", str(recording), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == [s[0] for s in SIGNALS]
    for row, (label, rate, unit, modality) in zip(rows, SIGNALS):
        assert set(row) == {"label", "rate", "unit", "modality", "reason"}
        assert row["modality"] == modality, row
        assert row["rate"] == pytest.approx(rate)
        assert row["reason"]
    by_label = {r["label"]: r for r in rows}
    assert by_label["SpO2"]["unit"] == "%"
    assert by_label["EEG C4-A1"]["reason"] == "reference channel_groups.json: BAS"


def test_channels_table_shows_label_rate_unit_modality_and_reason(recording, capsys):
    assert main(["channels", str(recording)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["LABEL", "RATE", "(Hz)", "UNIT", "MODALITY"]
    assert len(lines) == 1 + len(SIGNALS)
    spo2 = next(line for line in lines if line.startswith("SpO2"))
    assert spo2.split()[:4] == ["SpO2", "1", "%", "RESP"]
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
