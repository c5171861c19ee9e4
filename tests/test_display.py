"""Display-side signal handling (no Qt): kinds, filters, decimation, derivations, pages."""
from __future__ import annotations

import numpy as np
import pytest

from edf_factory import Sig, write_edf
from sleepfm_engine.display import (AASM_FILTERS, Derivation, FilterSpec, PageSource,
                                    build_display_channels, display_kind, electrode_name,
                                    epoch_envelope, filter_response, filter_signal,
                                    minmax_decimate, robust_range, suggest_derivations)
from sleepfm_engine.channels import MIN_WAVEFORM_HZ, classify_channel
from sleepfm_engine.recording import open_recording

RATE = 256


def _psg(tmp_path, seconds=120, name="psg.edf"):
    """EDF with referential electrodes, an EMG, ECG, airflow and a 1-Hz SpO2."""
    rng = np.random.default_rng(1)
    n = seconds * RATE
    walk = lambda: np.clip(np.cumsum(rng.normal(0, 40, n)), -20000, 20000).astype(int)  # noqa: E731
    sigs = [Sig("C4", RATE, walk()), Sig("M1", RATE, walk()), Sig("C3", RATE, walk()),
            Sig("M2", RATE, walk()), Sig("E1", RATE, walk()),
            Sig("Chin1-Chin2", RATE, rng.integers(-3000, 3000, n)),
            Sig("ECG", RATE, walk()), Sig("Airflow", RATE, walk()),
            Sig("SpO2", 1, rng.integers(900, 1000, seconds), unit="%")]
    return write_edf(tmp_path / name, sigs)


def test_display_kind_uses_modality_label_unit_and_rate():
    assert display_kind("EEG C3-A2", "BAS", "uV", 256) == "EEG"
    assert display_kind("LOC", "BAS", "uV", 256) == "EOG"
    assert display_kind("EOG1-A1", "BAS", "uV", 50) == "EOG"
    assert display_kind("Chin", "EMG", "uV", 256) == "EMG"
    assert display_kind("ECG", "EKG", "mV", 256) == "ECG"
    assert display_kind("Thor", "RESP", "uV", 32) == "RESP"
    assert display_kind("PHONO", "RESP", "mV", 50) == "SNORE"
    assert display_kind("SAO2", "RESP", "%", 50) == "LEVEL"
    assert display_kind("PR", "RESP", "BPM", 50) == "LEVEL"
    assert display_kind("Flow", "RESP", "", 1) == "LEVEL"
    assert display_kind("POS", "other", "", 50) == "OTHER"
    with pytest.raises(ValueError, match="unknown modality"):
        display_kind("C3", "EEG")


def test_filter_response_is_minus_6db_at_each_cutoff_and_drops_edges_above_nyquist():
    g = filter_response(np.array([0.3, 35.0, 10.0, 0.0]), 256.0, AASM_FILTERS["EEG"])
    assert g[0] == pytest.approx(0.5, abs=1e-3)
    assert g[1] == pytest.approx(0.5, abs=1e-3)
    assert g[2] == pytest.approx(1.0, abs=0.01)
    assert g[3] == 0.0
    # 10-100 Hz at 50 Hz: the low-pass is beyond Nyquist and is dropped, the high-pass stays.
    g50 = filter_response(np.array([10.0, 24.0]), 50.0, AASM_FILTERS["EMG"])
    assert g50[0] == pytest.approx(0.5, abs=1e-3) and g50[1] > 0.99
    assert filter_response(np.array([1.0]), 256.0, FilterSpec()) is None


def test_filter_matches_scipy_zero_phase_butterworth_away_from_the_ends():
    signal = pytest.importorskip("scipy.signal", reason="scipy gives the reference filter")
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(2, 20000)), axis=1)
    sos = np.vstack([signal.butter(2, 0.3, "highpass", fs=256, output="sos"),
                     signal.butter(2, 35, "lowpass", fs=256, output="sos"),
                     signal.tf2sos(*signal.iirnotch(50, 30, fs=256))])
    ref = signal.sosfiltfilt(sos, x)
    got = filter_signal(x, 256.0, AASM_FILTERS["EEG"], notch=50.0)
    mid = slice(4000, -4000)
    assert np.abs(got[:, mid] - ref[:, mid]).max() < 1e-6 * np.abs(ref[:, mid]).max()


def test_filter_keeps_gaps_as_gaps_and_removes_the_mains():
    t = np.arange(10 * 256) / 256
    x = np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 5 * t)
    y = filter_signal(x, 256.0, FilterSpec(), notch=50.0)
    core = slice(512, -512)
    assert np.abs(y[core] - np.sin(2 * np.pi * 5 * t[core])).max() < 0.05
    x[1000:1100] = np.nan
    y = filter_signal(x, 256.0, AASM_FILTERS["EEG"])
    assert np.isnan(y[1000:1100]).all() and np.isfinite(np.delete(y, range(1000, 1100))).all()


def test_minmax_decimation_keeps_every_peak_and_leaves_short_traces_alone():
    y = np.zeros(10_000)
    y[1234], y[8765] = 9.0, -7.0
    pos, vals = minmax_decimate(y, 500)
    assert vals.size == 1000 and vals.max() == 9.0 and vals.min() == -7.0
    assert pos[np.argmax(vals)] == pytest.approx(1234, abs=10)
    pos, vals = minmax_decimate(np.arange(50.0), 500)
    assert np.array_equal(vals, np.arange(50.0)) and np.array_equal(pos, np.arange(50.0))
    with pytest.raises(ValueError):
        minmax_decimate(y, 0)


def test_robust_range_ignores_outliers_and_never_returns_zero_span():
    y = np.r_[np.linspace(-1, 1, 1000), 1e6]
    centre, span = robust_range(y)
    assert abs(centre) < 0.01 and 1.8 < span < 2.1
    assert robust_range(np.full(10, 3.0))[1] > 0
    assert robust_range(np.array([np.nan]))[1] == 1.0


def test_electrode_names_and_aasm_derivations_from_referential_channels():
    assert electrode_name("EEG C4-REF") == "C4"
    assert electrode_name("m1") == "M1"
    assert electrode_name("LOC") == "E1"
    assert electrode_name("C4-M1") is None
    labels = ["C4", "M1", "C3", "A2", "E1", "ECG"]
    got = {d.label: (d.plus, d.minus) for d in suggest_derivations(labels)}
    assert got == {"C4-M1": ("C4", "M1"), "C3-A2": ("C3", "A2"), "E1-A2": ("E1", "A2")}
    # Different rates cannot be subtracted; an existing derivation is not proposed twice.
    assert suggest_derivations(["C4", "M1"], [256, 200]) == []
    assert suggest_derivations(["C4", "M1", "C4-M1"]) == []


def test_rows_are_grouped_by_modality_and_a_derivation_is_plus_minus_minus(tmp_path):
    rec = open_recording(_psg(tmp_path))
    rows = build_display_channels(rec, derivations=[Derivation("C4", "M1")])
    mods = [r.modality for r in rows]
    assert mods == sorted(mods, key=["BAS", "EMG", "EKG", "RESP", "other"].index)
    kinds = {r.key: r.kind for r in rows}
    assert kinds["C4-M1"] == "EEG" and kinds["SpO2"] == "LEVEL" and kinds["E1"] == "EOG"
    src = PageSource(rec)
    d = next(r for r in rows if r.key == "C4-M1")
    raw, first = src.read(d, 10.0, 20.0)
    c4, m1 = rec.read(["C4", "M1"], first / RATE, first / RATE + raw.size / RATE)
    assert np.allclose(raw, c4[:raw.size] - m1[:raw.size])
    with pytest.raises(ValueError, match="no channel 'Cz'"):
        build_display_channels(rec, derivations=[Derivation("Cz", "M1")])
    with pytest.raises(ValueError, match="sampled at"):
        build_display_channels(rec, derivations=[Derivation("C4", "SpO2")])


def test_a_page_equals_the_same_window_of_the_whole_signal_filtered(tmp_path):
    rec = open_recording(_psg(tmp_path))
    row = next(r for r in build_display_channels(rec) if r.key == "C4")
    src = PageSource(rec)
    tr = src.render([row], 60.0, 70.0, n_bins=100_000)[0]
    assert not tr.decimated
    assert tr.x[0] <= 60.0 and tr.x[-1] >= 70.0 and tr.x[0] > 59.9
    whole = filter_signal(rec.read_channel("C4"), RATE, AASM_FILTERS["EEG"])
    i0 = int(round(tr.x[0] * RATE))
    ref = whole[i0:i0 + tr.y.size]
    assert np.abs(tr.y - ref).max() < 0.01 * np.abs(ref).max()


def test_pages_are_decimated_to_the_pixel_width_cached_and_clipped_at_the_ends(tmp_path):
    rec = open_recording(_psg(tmp_path))
    rows = build_display_channels(rec)
    src = PageSource(rec)
    traces = src.render(rows, 0.0, 60.0, n_bins=400)
    eeg = traces[[r.key for r in rows].index("C4")]
    assert eeg.decimated and eeg.y.size == 800
    spo2 = traces[[r.key for r in rows].index("SpO2")]
    assert not spo2.decimated and spo2.y.min() >= 90.0  # a level channel is never filtered
    assert src.render(rows, 0.0, 60.0, n_bins=400)[0] is traces[0]
    end = src.render(rows[:1], 110.0, 130.0, n_bins=400)[0]
    assert end.x[-1] <= 120.0 + 1e-9
    with pytest.raises(ValueError):
        src.render(rows, 5.0, 5.0, 100)


def test_epoch_envelope_has_one_value_per_epoch_and_follows_the_amplitude(tmp_path):
    n = 90 * RATE
    amp = np.r_[np.full(30 * RATE, 100), np.full(30 * RATE, 1000), np.full(30 * RATE, 100)]
    rng = np.random.default_rng(3)
    path = write_edf(tmp_path / "env.edf", [Sig("C3", RATE, (rng.normal(size=n) * amp).astype(int))])
    env = epoch_envelope(open_recording(path), "C3", chunk_s=45)
    assert env.shape == (3,) and env[1] > 5 * env[0] and env[1] > 5 * env[2]


def test_display_kind_and_classification_share_one_waveform_threshold():
    below = MIN_WAVEFORM_HZ * 0.99
    # What classification still takes for a waveform, the viewer draws as one, and no slower.
    for rate in (below, MIN_WAVEFORM_HZ, 2 * MIN_WAVEFORM_HZ):
        modality = classify_channel("EEG aux", rate=rate)[0]
        kind = display_kind("EEG aux", "BAS", "uV", rate)
        assert (modality == "BAS") == (kind == "EEG")
    assert display_kind("Thor", "RESP", "", below) == "LEVEL"
    assert display_kind("Thor", "RESP", "", MIN_WAVEFORM_HZ) == "RESP"


def test_display_kind_reads_labels_with_the_channel_vocabulary():
    assert display_kind("HeartRate", "RESP", "", 50) == "LEVEL"
    assert display_kind("Pleth", "RESP", "", 50) == "RESP"
    assert display_kind("EOG E2", "BAS", "uV", 256) == "EOG"
    assert electrode_name("EEG/C3") == "C3"
    assert display_kind("EOGl:M2", "BAS", "uV", 256) == "EOG"
