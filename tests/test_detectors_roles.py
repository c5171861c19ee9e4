"""Channel roles for event detectors from vendor labels, transducers and modalities."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sleepfm_engine.channels import ChannelMap
from sleepfm_engine.detectors.psgscoring import _name_for, _to_rate
from sleepfm_engine.detectors.roles import assign_roles


def recording(*channels):
    chans = [SimpleNamespace(label=lb, original_label=lb, transducer=tr, rate=rate, unit=unit)
             for lb, tr, rate, unit in channels]
    return SimpleNamespace(channels=chans, path=None)


COMPUMEDICS = recording(("SaO2", "", 1, "%"), ("PR", "", 1, "bpm"), ("THOR RES", "", 10, "uV"),
                        ("ABDO RES", "", 10, "uV"), ("Airflow", "Thermistor", 10, ""),
                        ("NEW AIR", "Nasal pressure", 10, ""), ("EEG", "", 125, "uV"),
                        ("EEG(sec)", "", 125, "uV"), ("EMG", "", 125, "uV"),
                        ("Leg L", "", 100, "uV"), ("Leg R", "", 100, "uV"),
                        ("POSITION", "", 1, ""), ("EOG(L)", "", 50, "uV"), ("ECG", "", 250, "mV"))


def test_vendor_labels_and_transducers_find_their_roles():
    roles = assign_roles(COMPUMEDICS)
    assert roles["spo2"] == ["SaO2"] and roles["pulse"] == ["PR"]
    assert roles["thorax"] == ["THOR RES"] and roles["abdomen"] == ["ABDO RES"]
    assert roles["flow_thermistor"] == ["Airflow"] and roles["flow_pressure"] == ["NEW AIR"]
    assert roles["leg_l"] == ["Leg L"] and roles["leg_r"] == ["Leg R"]
    assert roles["position"] == ["POSITION"] and roles["ecg"] == ["ECG"]


def test_modality_overrides_steer_the_roles():
    cmap = ChannelMap.from_labels([c.label for c in COMPUMEDICS.channels],
                                  overrides={"SaO2": "other"})
    assert "spo2" not in assign_roles(COMPUMEDICS, cmap)


def test_occipital_leads_are_left_out_when_psgscoring_could_take_them_for_spo2():
    taken: set[str] = set()
    assert _name_for("eeg", "O2-M1", have_spo2=False, taken=taken) is None
    assert _name_for("eeg", "C4-M1", have_spo2=False, taken=taken) == "EEG C4"
    assert _name_for("eeg", "O2-M1", have_spo2=True, taken=taken) == "EEG O2"
    assert _name_for("spo2", "SaO2", have_spo2=True, taken=taken) == "SpO2"


@pytest.mark.parametrize("fs_in", [1.0, 10.0, 32.0, 256.0, 512.0])
def test_signals_reach_the_common_rate_with_levels_held(fs_in):
    x = np.arange(int(fs_in * 20), dtype=float) % 7
    out = _to_rate(x, fs_in, 128.0, 128 * 20, hold=True)
    assert out.size == 128 * 20 and set(np.unique(out)) <= set(np.unique(x))
    if fs_in < 10:
        return  # a 1-Hz channel is a level (SpO2, position), never a breathing waveform
    t = np.arange(int(fs_in * 20)) / fs_in
    wave = np.sin(2 * np.pi * 0.25 * t)
    up = _to_rate(wave, fs_in, 128.0, 128 * 20, hold=False)
    ref = np.sin(2 * np.pi * 0.25 * np.arange(128 * 20) / 128.0)
    assert np.abs(up[256:-256] - ref[256:-256]).max() < 0.02
