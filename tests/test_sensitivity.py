"""Calibrated display without Qt: the sensitivity table and ladder, the µV/mm maths of a
calibrated row, scale bars, clipping limits and their persistence in the display state."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edf_factory import Sig, write_edf
from sleepfm_engine.display_model import GAIN_STEP, DisplayModel
from sleepfm_engine.recording import open_recording
from sleepfm_engine.sensitivity import (SCALE_BAR_FILL, SENSITIVITY_DEFAULTS, SENSITIVITY_MANTISSAS,
                                        default_sensitivity, format_amount, format_sensitivity,
                                        scale_bar_value, sensitivity_class, snap_sensitivity,
                                        step_sensitivity)

RATE = 128
SECONDS = 300


@pytest.fixture
def rec(tmp_path):
    """5 minutes: a C4-M1 carrying a 1-Hz wave of 75 µV peak to peak (0.1 µV per digit), E1-M2,
    chin and leg EMG, ECG, airflow in arbitrary units and a 1-Hz SpO2."""
    t = np.arange(SECONDS * RATE) / RATE
    rng = np.random.default_rng(1)
    wave = (375 * np.sin(2 * np.pi * 1.0 * t)).astype(int)  # 37.5 µV amplitude
    noise = rng.integers(-300, 300, t.size)
    sigs = [Sig("C4-M1", RATE, wave), Sig("E1-M2", RATE, noise), Sig("Chin1-Chin2", RATE, noise),
            Sig("LLeg", RATE, noise), Sig("ECG", RATE, noise),
            Sig("Airflow", RATE, noise, unit="", pmin=-1, pmax=1, dmin=-32768, dmax=32767),
            Sig("SpO2", 1, rng.integers(930, 990, SECONDS), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    r = open_recording(write_edf(tmp_path / "psg.edf", sigs))
    yield r
    r.close()


@pytest.fixture
def model(rec):
    m = DisplayModel()
    m.set_recording(rec)
    return m


def test_the_defaults_table_holds_the_clinical_sensitivities_in_microvolts_per_mm():
    per_mm = {k: (d.per_mm, d.unit) for k, d in SENSITIVITY_DEFAULTS.items()}
    assert per_mm == {"EEG": (7.0, "µV"), "EOG": (7.0, "µV"), "EMG": (2.0, "µV"),
                      "LEG": (5.0, "µV"), "ECG": (100.0, "µV")}
    assert SENSITIVITY_DEFAULTS["EEG"].bar == 75.0  # the AASM slow-wave amplitude
    assert SENSITIVITY_DEFAULTS["ECG"].bar == 1000.0  # the 1-mV calibration pulse
    for d in SENSITIVITY_DEFAULTS.values():
        assert snap_sensitivity(d.per_mm) == d.per_mm  # every default is a step of the ladder


def test_a_leg_emg_is_told_from_a_chin_emg_by_its_label():
    assert sensitivity_class("EMG", "Chin1-Chin2") == "EMG"
    for label in ("LLeg", "Leg R", "Tib-L", "LAT", "PLMr"):
        assert sensitivity_class("EMG", label) == "LEG", label
    assert sensitivity_class("EEG", "C4-M1") == "EEG"


def test_only_traces_in_the_tables_unit_have_a_clinical_default():
    assert default_sensitivity("EEG", "C4-M1", "µV").per_mm == 7.0
    assert default_sensitivity("EEG", "C4-M1", "") is None  # arbitrary units: no µV/mm
    for kind in ("RESP", "SNORE", "LEVEL", "OTHER"):
        assert default_sensitivity(kind, "x", "µV") is None


def test_the_sensitivity_ladder_steps_through_1_1_5_2_3_5_7_per_decade():
    assert [step_sensitivity(7.0, n) for n in (-3, -2, -1, 0, 1, 2, 3)] == [
        2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0]
    assert step_sensitivity(1.0, -1) == 0.7 and step_sensitivity(700.0, 1) == 1000.0
    assert snap_sensitivity(8.2) == 7.0 and snap_sensitivity(0.013) == 0.015
    with pytest.raises(ValueError, match="positive"):
        snap_sensitivity(0.0)


@given(st.floats(1e-3, 1e6), st.integers(-8, 8))
def test_stepping_and_stepping_back_returns_to_the_snapped_sensitivity(value, n):
    there = step_sensitivity(value, n)
    assert there > 0
    mantissa = there / 10.0 ** math.floor(math.log10(there) + 1e-9)
    assert any(abs(mantissa - m) < 1e-6 for m in SENSITIVITY_MANTISSAS)
    assert step_sensitivity(there, -n) == pytest.approx(snap_sensitivity(value))


def test_a_75_microvolt_wave_at_7_microvolts_per_mm_spans_75_over_7_mm(model):
    model.set_row_mm(12.0)
    model.set_calibrated(True, "C4-M1")
    assert model.row_state("C4-M1").sensitivity == 7.0
    x, _ = model.read_row("C4-M1", 10.0, 20.0)
    model.fit("C4-M1", x)
    center, k = model.row_transform("C4-M1")
    drawn_rows = (x.max() - x.min()) * abs(k)  # in row heights
    assert drawn_rows * model.row_mm == pytest.approx(75.0 / 7.0, rel=0.01)
    # A row height stands for 7 µV/mm × 12 mm whatever the row's gain or automatic scale.
    model.set_gain("C4-M1", 3.0)
    assert model.amplitude_per_row("C4-M1") == (84.0, "µV")
    # Twice the screen mm per row, half the rows for the same 75/7 mm.
    model.set_row_mm(24.0)
    assert abs(model.row_transform("C4-M1")[1]) == pytest.approx(abs(k) / 2)


def test_gain_steps_a_calibrated_rows_sensitivity_and_an_automatic_rows_gain(model):
    model.set_calibrated(True, "C4-M1")
    model.gain_up("C4-M1")
    assert model.row_state("C4-M1").sensitivity == 5.0
    assert model.sensitivity_text("C4-M1") == "5 µV/mm"
    model.gain_down("C4-M1")
    model.gain_down("C4-M1")
    assert model.row_state("C4-M1").sensitivity == 10.0
    model.gain_up("ECG")
    assert model.row_state("ECG").gain == pytest.approx(GAIN_STEP)
    assert model.sensitivity_text("ECG") is None
    model.auto_scale("C4-M1")
    assert model.row_state("C4-M1").sensitivity is None


def test_calibrating_the_display_gives_each_trace_its_default_and_leaves_levels_alone(model, rec):
    model.set_calibrated(True)
    sens = {r.key: model.row_state(r.key).sensitivity for r in model.rows}
    assert sens == {"C4-M1": 7.0, "E1-M2": 7.0, "Chin1-Chin2": 2.0, "LLeg": 5.0, "ECG": 100.0,
                    "Airflow": None, "SpO2": None}
    assert model.sensitivity_text("ECG") == "100 µV/mm"
    # A recording opened later starts calibrated too.
    again = DisplayModel()
    again.restore(model.to_dict())
    again.set_recording(rec)
    assert again.row_state("C4-M1").sensitivity == 7.0
    model.set_calibrated(False)
    assert all(model.row_state(r.key).sensitivity is None for r in model.rows)


def test_a_trace_without_a_clinical_default_is_calibrated_from_its_automatic_scale(model):
    model.set_row_mm(10.0)
    model.fit("Airflow", np.empty(0))
    per_row, unit = model.amplitude_per_row("Airflow")
    model.set_calibrated(True, "Airflow")
    per_mm = model.row_state("Airflow").sensitivity
    assert per_mm == snap_sensitivity(per_row / 10.0) and unit == ""
    assert model.sensitivity_text("Airflow") == f"{format_amount(per_mm, '')}/mm"
    model.set_calibrated(True, "SpO2")  # a level: nothing to calibrate
    assert model.row_state("SpO2").sensitivity is None
    with pytest.raises(ValueError, match="level row"):
        model.set_sensitivity("SpO2", 1.0)
    with pytest.raises(ValueError, match="positive"):
        model.set_sensitivity("C4-M1", -7.0)


def test_scale_bars_show_75_microvolts_on_eeg_when_it_fits_else_a_round_value(model):
    model.set_row_mm(15.0)
    model.set_calibrated(True)
    bar = model.scale_bar("C4-M1")  # a row is 7 × 15 = 105 µV: 75 µV takes 0.71 of it
    assert bar.text == "50 µV" and bar.height == pytest.approx(50 / 105)
    model.set_row_mm(20.0)  # 140 µV a row: 75 µV fits
    bar = model.scale_bar("C4-M1")
    assert (bar.value, bar.unit, bar.text) == (75.0, "µV", "75 µV")
    assert bar.height == pytest.approx(75 / 140)
    assert model.scale_bar("ECG").text == "1 mV"  # 2000 µV a row: the 1-mV pulse
    assert model.scale_bar("SpO2") is None
    assert scale_bar_value(3.3) == 1.0 and scale_bar_value(0.0) is None
    for per_row in (0.37, 4.0, 99.0, 1234.0):
        assert scale_bar_value(per_row) <= SCALE_BAR_FILL * per_row


def test_sensitivities_read_with_their_unit():
    assert format_sensitivity(7.0, "µV") == "7 µV/mm"
    assert format_sensitivity(1500.0, "µV") == "1.5 mV/mm"
    assert format_sensitivity(0.02, "") == "0.02/mm"
    assert format_amount(1000.0, "µV") == "1 mV" and format_amount(150.0, "%") == "150 %"


def test_rows_are_clipped_to_their_own_height():
    assert DisplayModel.row_limits(0) == (-0.5, 0.5)
    assert DisplayModel.row_limits(3) == (-3.5, -2.5)
    m = DisplayModel()
    assert m.clip
    m.set_clip(False)
    assert not m.clip and m.to_dict()["clip"] is False


def test_sensitivities_clip_and_calibration_survive_to_dict_and_restore(model, rec):
    model.set_calibrated(True)
    model.gain_up("C4-M1")
    model.set_calibrated(False, "ECG")
    model.set_clip(False)
    data = json.loads(json.dumps(model.to_dict(rows=True)))
    assert data["rows"]["C4-M1"]["sensitivity"] == 5.0 and data["rows"]["ECG"]["sensitivity"] is None
    again = DisplayModel.from_dict(data, rec)
    assert again.to_dict(rows=True) == model.to_dict(rows=True)
    assert again.row_state("C4-M1").sensitivity == 5.0 and not again.clip and again.calibrated


def test_a_bad_or_misplaced_sensitivity_is_skipped_by_restore(model):
    skipped = model.restore({"rows": {"C4-M1": {"sensitivity": -2}, "SpO2": {"sensitivity": 1},
                                      "ECG": {"sensitivity": "x"}}})
    text = " | ".join(skipped)
    assert "row 'C4-M1'" in text and "row 'SpO2'" in text and "row 'ECG'" in text
    assert all(model.row_state(k).sensitivity is None for k in ("C4-M1", "SpO2", "ECG"))
    # An entry of the version before sensitivities leaves a calibrated row calibrated.
    model.set_calibrated(True, "C4-M1")
    assert model.restore({"rows": {"C4-M1": {"gain": 2.0}}}) == []
    assert model.row_state("C4-M1").sensitivity == 7.0
