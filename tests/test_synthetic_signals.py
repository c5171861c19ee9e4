"""Each stage of a synthetic night carries the physiological signature AASM scoring relies on."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from sleepfm_engine.synthetic import make_night

W, N1, N2, N3, R = 0, 1, 2, 3, 4
# 24 minutes that visit every stage, in blocks long enough for spectra
STAGES = [W] * 8 + [N1] * 6 + [N2] * 10 + [N3] * 10 + [N2] * 2 + [R] * 10 + [W] * 2
EPOCH = 30


@pytest.fixture(scope="module")
def night():
    return make_night(seed=7, montage="full", stages=STAGES)


def epochs(night, label):
    sig = night.signal(label)
    n = int(sig.rate * EPOCH)
    return sig.data[: night.stages.size * n].reshape(-1, n).astype(np.float64), sig.rate


def band_power(night, label, lo, hi):
    """Mean Welch power (µV²/Hz summed over the band) per epoch."""
    x, fs = epochs(night, label)
    f, p = sps.welch(x, fs, nperseg=int(4 * fs), axis=1)
    return p[:, (f >= lo) & (f < hi)].sum(axis=1)


def per_stage(values, stages, k):
    return float(np.mean(values[np.asarray(stages) == k]))


def test_stages_are_the_imposed_ones(night):
    assert night.stages.dtype == np.int8
    assert night.stages.tolist() == STAGES
    assert night.duration == len(STAGES) * EPOCH


def test_n3_delta_power_exceeds_wake_n1_and_n2(night):
    delta = band_power(night, "C4-M1", 0.5, 2.0)
    d = {k: per_stage(delta, night.stages, k) for k in range(5)}
    assert d[N3] > 8 * d[W]
    assert d[N3] > 4 * d[N1]
    assert d[N3] > 1.5 * d[N2] > d[W]


def high_amplitude_delta_fraction(x, fs):
    """AASM N3 rule: share of each epoch covered by 0.5-2 Hz waves > 75 µV peak to peak."""
    wave = sps.sosfiltfilt(sps.butter(2, [0.5, 2.0], "bandpass", fs=fs, output="sos"), x)
    slow = sps.sosfiltfilt(sps.butter(2, [0.3, 3.0], "bandpass", fs=fs, output="sos"), x)
    up = np.flatnonzero((wave[:-1] < 0) & (wave[1:] >= 0))
    covered = np.zeros(x.size, dtype=bool)
    if up.size > 1:
        pp = np.maximum.reduceat(slow, up)[:-1] - np.minimum.reduceat(slow, up)[:-1]
        dur = np.diff(up) / fs
        for a, b, p, d in zip(up[:-1], up[1:], pp, dur):
            if p > 75.0 and 0.5 <= d <= 2.0:
                covered[a:b] = True
    n = int(EPOCH * fs)
    return covered[: x.size // n * n].reshape(-1, n).mean(axis=1)


def test_every_n3_epoch_has_a_fifth_of_high_amplitude_delta_and_n2_less(night):
    sig = night.signal("F4-M1")
    frac = high_amplitude_delta_fraction(sig.data.astype(np.float64), sig.rate)
    st = night.stages
    assert np.all(frac[st == N3] >= 0.2), frac[st == N3]
    assert np.median(frac[st == N2]) < 0.2
    assert np.all(frac[(st == W) | (st == R)] < 0.2)


def sigma_bursts_per_epoch(night, label="C4-M1", threshold=8.0):
    """Count 0.5-2 s bursts of 11-16 Hz activity whose envelope exceeds ``threshold`` µV."""
    sig = night.signal(label)
    fs = sig.rate
    x = sps.sosfiltfilt(sps.butter(4, [11.0, 16.0], "bandpass", fs=fs, output="sos"),
                        sig.data.astype(np.float64))
    env = np.abs(sps.hilbert(x))
    above = np.r_[False, env > threshold, False].astype(int)
    st = np.flatnonzero(np.diff(above) == 1)
    en = np.flatnonzero(np.diff(above) == -1)
    dur = (en - st) / fs
    keep = st[(dur >= 0.5) & (dur <= 2.0)]
    return np.bincount((keep / fs // EPOCH).astype(int), minlength=night.stages.size)


def test_n2_has_spindle_bursts_that_wake_and_rem_lack(night):
    counts = sigma_bursts_per_epoch(night)
    st = night.stages
    n2_rate = counts[st == N2].mean()
    assert n2_rate >= 0.5  # at least one spindle per minute
    assert n2_rate > 4 * max(counts[st == W].mean(), counts[st == R].mean(), 0.05)


@pytest.mark.parametrize("seed", [7, 8])
def test_n2_has_frontal_k_complexes(seed):
    """Sharp negative waves > 75 µV followed by a positive one, frontal, in N2 (not REM)."""
    night = make_night(seed=seed, montage=["F4-M1"], stages=[N2] * 20 + [R] * 10)
    sig = night.signal("F4-M1")
    fs = sig.rate
    x = sps.sosfiltfilt(sps.butter(2, [0.5, 4.0], "bandpass", fs=fs, output="sos"),
                        sig.data.astype(np.float64))
    peaks, _ = sps.find_peaks(-x, height=50.0, distance=int(fs))
    big = [p for p in peaks if x[p:p + int(0.8 * fs)].max() - x[p] > 75.0]
    ep = np.bincount(np.asarray(big, dtype=int) // int(EPOCH * fs), minlength=30)
    assert ep[:20].sum() >= 3  # at least one every 3-4 minutes of N2
    assert ep[20:].sum() == 0


def test_wake_alpha_is_posterior_and_exceeds_n2(night):
    alpha_o = band_power(night, "O2-M1", 8.0, 12.0)
    alpha_f = band_power(night, "F4-M1", 8.0, 12.0)
    st = night.stages
    assert per_stage(alpha_o, st, W) > 4 * per_stage(alpha_o, st, N2)
    assert per_stage(alpha_o, st, W) > 2 * per_stage(alpha_f, st, W)


def test_n1_and_rem_theta_exceed_wake(night):
    theta = band_power(night, "C4-M1", 4.0, 7.5)
    st = night.stages
    assert per_stage(theta, st, N1) > 2 * per_stage(theta, st, W)
    assert per_stage(theta, st, R) > 1.5 * per_stage(theta, st, W)


def test_chin_emg_highest_in_wake_and_atonic_in_rem(night):
    x, _ = epochs(night, "Chin1-Chin2")
    rms = np.sqrt(np.median(x ** 2, axis=1))  # median: robust to phasic twitches
    st = night.stages
    w, n2, r = (per_stage(rms, st, k) for k in (W, N2, R))
    assert w > n2 > r
    assert r < 0.5 * n2


def test_rem_has_phasic_chin_twitches(night):
    x, fs = epochs(night, "Chin1-Chin2")
    st = night.stages
    peak_to_median = np.abs(x).max(axis=1) / np.median(np.abs(x), axis=1)
    assert np.median(peak_to_median[st == R]) > np.median(peak_to_median[st == N2])


def test_eog_opposite_phase_in_rem_in_phase_in_n3(night):
    e1, _ = epochs(night, "E1-M2")
    e2, _ = epochs(night, "E2-M2")
    st = night.stages
    r = [np.corrcoef(a, b)[0, 1] for a, b in zip(e1, e2)]
    r = np.asarray(r)
    # conjugate eye movements: opposite deflections; EEG delta reaches both leads alike
    rem_with_moves = (st == R) & (np.abs(e1).max(axis=1) > 80)
    assert rem_with_moves.any()
    assert np.median(r[rem_with_moves]) < -0.3
    assert np.median(r[st == N3]) > 0.3


def test_n1_has_slow_rolling_eye_movements(night):
    slow = band_power(night, "E1-M2", 0.1, 0.6)
    st = night.stages
    assert per_stage(slow, st, N1) > 3 * per_stage(slow, st, N2)


def heart_rate_per_epoch(night):
    sig = night.signal("ECG")
    fs = sig.rate
    peaks, _ = sps.find_peaks(sig.data, height=0.5, distance=int(0.33 * fs))
    return np.bincount((peaks / fs // EPOCH).astype(int), minlength=night.stages.size) * 2.0


def test_heart_rate_faster_in_wake_than_n3(night):
    hr = heart_rate_per_epoch(night)
    st = night.stages
    assert 40 < per_stage(hr, st, N3) < per_stage(hr, st, W) < 110
    # heart beats never skip or double: every epoch holds a plausible count
    assert np.all((hr > 35) & (hr < 140))


def breath_periods(night, label="Abdo"):
    sig = night.signal(label)
    x = sig.data - np.median(sig.data)
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0)) / sig.rate
    return up[1:], np.diff(up)


def test_breathing_is_regular_in_n3_and_irregular_in_rem(night):
    t, period = breath_periods(night)
    st = night.stages[(t // EPOCH).astype(int)]
    cv = {k: np.std(period[st == k]) / np.mean(period[st == k]) for k in (N3, R)}
    assert cv[N3] < 0.5 * cv[R]
    rate = 60.0 / np.mean(period)
    assert 8 < rate < 24


def test_spo2_is_steady_without_apnea(night):
    spo2 = night.signal("SpO2")
    assert spo2.rate == 1.0
    assert np.all((spo2.data >= 90) & (spo2.data <= 100))
    assert np.ptp(spo2.data) <= 4
    assert not [e for e in night.annotations if "apnea" in e[2].lower() or "Hypopnea" in e[2]]


@pytest.fixture(scope="module")
def apnea_night():
    return make_night(seed=11, montage="minimal", apnea=True, stages=[W] * 2 + [N2] * 30 + [R] * 20)


def test_apneas_are_followed_by_desaturations(apnea_night):
    ev = apnea_night.annotations
    apneas = [e for e in ev if e[2] in ("Obstructive apnea", "Central apnea", "Mixed apnea",
                                        "Hypopnea")]
    desats = [e for e in ev if e[2] == "SpO2 desaturation"]
    assert len(apneas) >= 5
    assert len(desats) >= 3
    spo2 = apnea_night.signal("SpO2").data
    base = np.percentile(spo2, 90)
    drops = []
    for on, dur, kind in apneas:
        if kind == "Hypopnea":
            continue
        a, b = int(on + dur), int(on + dur + 45)
        drops.append(base - spo2[a:b].min())
    assert np.median(drops) >= 3


def test_obstructive_apnea_stops_flow_but_not_effort(apnea_night):
    # minimal montage has no belts: regenerate the same night with flow and abdominal effort
    night = make_night(seed=11, montage=["Airflow", "Abdo"], apnea=True,
                       stages=apnea_night.stages)
    flow, abdo = night.signal("Airflow"), night.signal("Abdo")
    obstructive = [e for e in night.annotations if e[2] == "Obstructive apnea" and e[1] >= 15]
    assert obstructive
    for on, dur, _ in obstructive:
        mid = slice(int((on + 5) * flow.rate), int((on + dur - 3) * flow.rate))
        before = slice(int((on - 25) * flow.rate), int((on - 5) * flow.rate))
        assert np.std(flow.data[mid]) < 0.2 * np.std(flow.data[before])
        assert np.std(abdo.data[mid]) > 0.5 * np.std(abdo.data[before])
    # the same night's channels do not depend on the montage asked for
    np.testing.assert_array_equal(flow.data, apnea_night.signal("Airflow").data)


def test_arousals_and_events_lie_inside_the_night(apnea_night):
    for on, dur, desc in apnea_night.annotations:
        assert 0 <= on and on + dur <= apnea_night.duration + 30, (on, dur, desc)
        assert isinstance(on, float) and isinstance(dur, float) and isinstance(desc, str)


@pytest.mark.parametrize("seed", range(6))
def test_n3_rule_holds_for_every_sleeper(seed):
    night = make_night(seed=seed, montage=["F4-M1"], stages=[N2] * 3 + [N3] * 8 + [N2] * 3)
    sig = night.signal("F4-M1")
    frac = high_amplitude_delta_fraction(sig.data.astype(np.float64), sig.rate)
    assert np.all(frac[3:11] >= 0.2), frac
    assert np.all(frac[[0, 1, 12, 13]] < 0.2), frac
    # a slow wave straddling the N2/N3 boundary counts in both epochs
    assert np.all(frac[[2, 11]] < 0.3), frac
