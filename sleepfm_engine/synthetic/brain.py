"""EEG and EOG: shared cortical sources mixed into each derivation by a simple topography.

Each source is stationary shaped noise (or a train of event templates) multiplied by a
stage-dependent envelope; a derivation is a weighted sum of sources plus its own noise, so
frontal, central and occipital leads differ the way AASM describes:

- wake: posterior alpha waxing and waning with eyes closed, blinks and saccades with eyes open;
- N1: alpha replaced by low-amplitude mixed 4-7 Hz activity, vertex sharp waves, slow eye
  movements;
- N2: sleep spindles (11-16 Hz, 0.5-2 s, central) and K-complexes (frontal), little delta;
- N3: high-amplitude 0.5-2 Hz waves (> 75 µV) in at least a fifth of each epoch, frontal;
- REM: low-voltage mixed frequency, sawtooth waves, rapid conjugate eye movements.

Amplitudes are in µV for a typical adult and scaled by the sleeper's parameters.
"""
from __future__ import annotations

import numpy as np

from ._dsp import (add_templates, ar1, band, butter_mag, ctrl_from_epochs, fraction_mask,
                   gaussian_band, poisson_times, power_law, shaped_noise, to_rate,
                   unit_oscillation)
from .hypnogram import N1, N2, N3, R, W
from .timeline import Timeline

#: Region of each derivation this module can produce (F frontal, C central, O occipital, E eye).
REGIONS: dict[str, tuple[str, float]] = {
    # label: (region, hemisphere sign: +1 right, -1 left)
    "F4-M1": ("F", 1.0), "C4-M1": ("C", 1.0), "O2-M1": ("O", 1.0),
    "F3-M2": ("F", -1.0), "C3-M2": ("C", -1.0), "O1-M2": ("O", -1.0),
    "E1-M2": ("E", -1.0), "E2-M2": ("E", 1.0),
}

# Topography: gain of each source per region (central = 1 for most sources, occipital for alpha).
_GAIN = {
    #            F     C     O     E (in-phase leakage into both EOG leads)
    "pink":    (1.0, 1.0, 0.95, 0.45),
    "slow":    (1.1, 1.0, 0.8, 0.6),
    "delta":   (1.2, 1.0, 0.7, 0.6),
    "theta":   (0.9, 1.0, 0.75, 0.3),
    "alpha":   (0.3, 0.5, 1.0, 0.08),
    "beta":    (1.2, 1.0, 0.8, 0.35),
    "spindle": (0.75, 1.0, 0.45, 0.25),
    "kcomplex": (1.25, 1.0, 0.5, 0.6),
    "vertex":  (0.75, 1.0, 0.35, 0.3),
    "sawtooth": (0.9, 1.0, 0.5, 0.3),
    "eye":     (0.08, 0.02, 0.0, 1.0),
}
_COL = {"F": 0, "C": 1, "O": 2, "E": 3}

RATE_HZ_DEFAULT = 256


def generate_brain(tl: Timeline, labels: list[str], fs: int = RATE_HZ_DEFAULT,
                   progress=None) -> dict[str, np.ndarray]:
    """EEG and EOG derivations in µV.

    Parameters
    ----------
    tl : Timeline
        The night.
    labels : list of str
        Derivations wanted (keys of :data:`REGIONS`).
    fs : int
        Sampling rate (Hz).
    progress : callable, optional
        Called with a fraction in [0, 1] between sources.
    """
    labels = [lb for lb in labels if lb in REGIONS]
    if not labels:
        return {}
    s = tl.subject
    n = int(round(tl.duration * fs))
    # Sources are summed per region; each derivation is then its region's sum times a small
    # electrode-specific gain, plus the eye signal (EOG) and its own noise.
    regions = sorted({REGIONS[lb][0] for lb in labels})
    acc = {r: np.zeros(n, dtype=np.float32) for r in regions}
    sc = s.eeg_scale
    eyes_open = tl.wake_open_ctrl
    is_wake = tl.by_stage([1, 0, 0, 0, 0], 1.0)
    arousal = tl.arousal_ctrl
    # a scored night's arousals are the clear frequency shift a scorer marks (AASM: abrupt,
    # >= 3 s); the plain night keeps its subtler ones unchanged
    arousal_gain = 1.0 if tl.truth is None else 2.0

    def mix(source: str, x: np.ndarray) -> None:
        for r in regions:
            g = _GAIN[source][_COL[r]]
            if g:
                acc[r] += np.float32(g) * x  # noqa: F821 (a closure; `del acc` below frees it after the last call)

    def modulate(name: str, sd: float, tau: float) -> np.ndarray:
        return np.exp(sd * ar1(tl.rng(name + "-mod"), tl.n_ctrl, tau)).astype(np.float32)

    steps = 12
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / steps)

    # -- background: 1/f mixed-frequency activity and slower 1/f^2 activity
    env = tl.by_stage([5.5, 6.5, 7.5, 7.5, 6.0]) * sc * modulate("pink", 0.12, 60.0)
    env = env * (1.0 + 0.25 * eyes_open * is_wake)
    mix("pink", shaped_noise(tl.rng("pink"), n, fs, power_law(1.0, 0.3, 35.0), f_max=32.0)
        * to_rate(env, fs, n))
    tick()
    env = tl.by_stage([2.0, 4.5, 10.0, 11.0, 3.5]) * sc * modulate("slow", 0.15, 45.0)
    mix("slow", shaped_noise(tl.rng("slow"), n, fs, power_law(1.5, 1.0, 8.0), f_max=10.0)
        * to_rate(env, fs, n))
    tick()

    # -- delta: high-amplitude 0.5-2 Hz waves for an exact fraction of each epoch
    mix("delta", _delta(tl, n, fs))
    tick()

    # -- theta (N1 and REM), waxing and waning
    env = tl.by_stage([1.5, 7.5, 4.5, 3.5, 6.5]) * sc * modulate("theta", 0.3, 4.0)
    env = env * (1.0 - 0.5 * arousal)
    mix("theta", shaped_noise(tl.rng("theta"), n, fs, gaussian_band(5.5, 1.4), f_max=11.0)
        * to_rate(env, fs, n))
    tick()

    # -- alpha: posterior, eyes-closed wake; fragments in drowsiness; bursts with arousals
    mix("alpha", _alpha(tl, n, fs))
    tick()

    # -- beta: wake (more with eyes open) and arousals
    env = (tl.by_stage([3.0, 1.8, 1.3, 1.1, 2.2]) + 1.5 * eyes_open * is_wake
           + 2.5 * arousal_gain * arousal) * sc * modulate("beta", 0.2, 5.0)
    mix("beta", shaped_noise(tl.rng("beta"), n, fs, power_law(0.5, 16.0, 32.0))
        * to_rate(env, fs, n))
    tick()

    # -- graphoelements
    ev = _spindles(tl, n, fs)
    mix("spindle", ev)
    tick()
    ev[:] = 0.0
    _kcomplexes(tl, ev, fs)
    mix("kcomplex", ev)
    tick()
    ev[:] = 0.0
    _vertex_waves(tl, ev, fs)
    mix("vertex", ev)
    tick()
    ev[:] = 0.0
    _sawtooth(tl, ev, fs)
    mix("sawtooth", ev)
    tick()
    del ev

    # -- derivations: regional sum x electrode gain, eyes, own noise
    gain_rng = tl.rng("electrode-gain")
    gains = {lb: float(np.exp(gain_rng.normal(0.0, 0.05))) for lb in REGIONS}
    eye = _eye_movements(tl, n, fs) if any(r in ("E", "F") for r in regions) else None
    if eye is not None and "F" in acc:
        acc["F"] += np.float32(_GAIN["eye"][0]) * eye
    tick()
    out: dict[str, np.ndarray] = {}
    for lb in labels:
        region, side = REGIONS[lb]
        x = acc[region] * np.float32(gains[lb])
        if region == "E":
            # E1 (below the left canthus) and E2 (above the right) see the eyes in opposite phase
            x += np.float32(side * gains[lb]) * eye
        lvl = 3.0 if region == "E" else 2.2
        x += np.float32(lvl * sc) * shaped_noise(tl.rng("own-" + lb), n, fs,
                                                 power_law(1.0, 0.3, 35.0), f_max=32.0)
        out[lb] = x
    del acc, eye
    tick()
    return out


# ------------------------------------------------------------------------- sources

def _delta(tl: Timeline, n: int, fs: int) -> np.ndarray:
    """0.5-2 Hz waves whose on-time per epoch follows AASM: >= 20 % in N3, < 20 % in N2."""
    rng = tl.rng("delta-frac")
    s = tl.subject
    ne = tl.n_epochs
    drift = ar1(rng, ne * 4, 10.0)[::4][:ne] if ne else np.zeros(0)
    frac = np.zeros(ne, dtype=np.float32)
    n3 = tl.stages == N3
    n2 = tl.stages == N2
    frac[n3] = np.clip(0.6 + 0.15 * drift[n3] + 0.1 * (s.n3_scale - 0.8), 0.4, 0.85)
    # N2 next to N3 carries more (but < 20 %) delta: deepening and lightening sleep
    # ("full" then centre: mode="same" returns the kernel's length for nights under 7 epochs)
    near = np.convolve(n3.astype(float), np.ones(7), mode="full")[3:3 + ne] > 0
    frac[n2] = np.clip(0.04 + 0.02 * drift[n2] + 0.05 * near[n2], 0.0, 0.12)
    g = ar1(tl.rng("delta-when"), tl.n_ctrl, 1.5)
    mask = fraction_mask(g, frac, 0.6)
    # peak amplitude (µV, central): N3 waves of 100-150 µV peak to peak, frontal larger; N2's
    # occasional slow waves are smaller and do not grow with the sleeper's overall EEG
    # amplitude, so that N2 stays below the N3 threshold (20 % of the epoch)
    amp = 62.0 * s.delta_amp * np.exp(0.2 * ar1(tl.rng("delta-amp"), tl.n_ctrl, 1.0)) \
        * tl.by_stage([0.0, 0.0, 0.6, np.sqrt(s.eeg_scale), 0.0], 2.0)
    # between the large waves N3 keeps slow activity of lower amplitude
    floor = tl.by_stage([0.0, 0.0, 0.0, 0.3, 0.0], 2.0)
    env = (mask + (1.0 - mask) * floor) * amp
    # polymorphic 0.5-2 Hz waves (a 1/f slice, not one sinusoid) of even height
    x = unit_oscillation(tl.rng("delta"), n, fs, _delta_shape, f_max=4.0)
    return x * to_rate(env.astype(np.float32), fs, n)


def _delta_shape(f: np.ndarray) -> np.ndarray:
    return (butter_mag(f, 0.45, 2.0, 3) / np.sqrt(np.maximum(f, 0.1))).astype(np.float32)


def _alpha(tl: Timeline, n: int, fs: int) -> np.ndarray:
    s = tl.subject
    rng = tl.rng("alpha-frac")
    eyes_open = tl.eyes_open_epoch
    st = tl.stages
    frac = np.select(
        [(st == W) & ~eyes_open, (st == W) & eyes_open, st == N1, st == R],
        [rng.uniform(0.6, 0.95, st.size), rng.uniform(0.0, 0.15, st.size),
         rng.uniform(0.0, 0.3, st.size), rng.uniform(0.0, 0.15, st.size)], 0.0)
    g = ar1(tl.rng("alpha-when"), tl.n_ctrl, 2.5)
    mask = fraction_mask(g, frac.astype(np.float32), 0.8)
    amp = tl.by_stage([12.0, 8.0, 4.0, 2.0, 6.0], 1.0) * s.alpha_amp * s.eeg_scale
    # the narrow band already waxes and wanes; this adds slower drifts of the alpha level
    wax = np.exp(0.15 * ar1(tl.rng("alpha-wax"), tl.n_ctrl, 5.0))
    gain = 10.0 if tl.truth is None else 20.0
    env = mask * amp * wax + gain * s.alpha_amp * tl.arousal_ctrl
    x = shaped_noise(tl.rng("alpha"), n, fs, gaussian_band(s.alpha_hz, 0.45),
                     f_max=s.alpha_hz + 2.0)
    return x * to_rate(env.astype(np.float32), fs, n)


def _spindles(tl: Timeline, n: int, fs: int) -> np.ndarray:
    """Sleep spindles: 11-16 Hz, 0.5-2 s, waxing-waning; mostly N2, fewer in N3."""
    s = tl.subject
    rng = tl.rng("spindles")
    per_min = tl.by_stage([0.0, 0.3, s.spindle_per_min, 0.45 * s.spindle_per_min, 0.0], 0.0)
    times = poisson_times(rng, per_min / 60.0)
    x = np.zeros(n, dtype=np.float32)
    if times.size == 0:
        return x
    dur = np.clip(rng.lognormal(np.log(0.9), 0.3, times.size), 0.5, 2.0)
    freq = np.clip(s.spindle_hz + rng.normal(0, 0.5, times.size), 11.0, 16.0)
    amp = 24.0 * s.spindle_amp * s.eeg_scale * rng.lognormal(0, 0.25, times.size)
    length = int(2.0 * fs)
    t = np.arange(length, dtype=np.float32) / fs
    # waxing-waning envelope: a Hann window stretched to each spindle's duration
    u = np.clip(t[None, :] / dur[:, None], 0.0, 1.0)
    env = np.sin(np.pi * u) ** 2
    env[t[None, :] > dur[:, None]] = 0.0
    phase = rng.uniform(0, 2 * np.pi, times.size)
    tmpl = env * np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])
    add_templates(x, np.round(times * fs).astype(np.int64), tmpl.astype(np.float32), amp)
    return x


def _kcomplexes(tl: Timeline, x: np.ndarray, fs: int) -> None:
    """K-complexes: a sharp negative wave then a slower positive one, >= 0.5 s, frontal max.

    Some follow arousals' onsets and about a third run into a spindle.
    """
    s = tl.subject
    rng = tl.rng("kcomplex")
    per_min = tl.by_stage([0.0, 0.1, s.kc_per_min, 0.3, 0.0], 0.0)
    times = poisson_times(rng, per_min / 60.0)
    if times.size == 0:
        return
    length = int(1.6 * fs)
    t = np.arange(length, dtype=np.float32) / fs
    w = rng.uniform(0.8, 1.25, times.size)[:, None]
    neg = np.exp(-0.5 * ((t[None, :] - 0.30 * w) / (0.085 * w)) ** 2)
    pos = np.exp(-0.5 * ((t[None, :] - 0.72 * w) / (0.2 * w)) ** 2)
    pre = np.exp(-0.5 * ((t[None, :] - 0.12 * w) / (0.04 * w)) ** 2)
    tmpl = -neg + 0.55 * pos + 0.15 * pre
    amp = rng.uniform(50.0, 100.0, times.size) * s.delta_amp
    add_templates(x, np.round(times * fs).astype(np.int64), tmpl.astype(np.float32), amp)
    # a spindle riding on the positive phase of some K-complexes
    with_sp = times[rng.random(times.size) < 0.35] + 0.55
    if with_sp.size:
        sl = int(0.8 * fs)
        tt = np.arange(sl, dtype=np.float32) / fs
        sp = (np.sin(np.pi * tt / tt[-1]) ** 2 * np.sin(2 * np.pi * s.spindle_hz * tt))
        add_templates(x, np.round(with_sp * fs).astype(np.int64), sp.astype(np.float32),
                      12.0 * s.spindle_amp * s.eeg_scale)


def _vertex_waves(tl: Timeline, x: np.ndarray, fs: int) -> None:
    """Vertex sharp waves: sharply contoured negative waves < 0.5 s, central max (N1)."""
    rng = tl.rng("vertex")
    s = tl.subject
    per_min = tl.by_stage([0.0, 3.0, 0.4, 0.0, 0.0], 0.0)
    times = poisson_times(rng, per_min / 60.0)
    if times.size == 0:
        return
    length = int(0.5 * fs)
    t = np.arange(length, dtype=np.float32) / fs
    w = rng.uniform(0.8, 1.2, times.size)[:, None]
    tmpl = (-np.exp(-0.5 * ((t[None, :] - 0.17 * w) / (0.035 * w)) ** 2)
            + 0.3 * np.exp(-0.5 * ((t[None, :] - 0.29 * w) / (0.06 * w)) ** 2))
    amp = rng.uniform(45.0, 90.0, times.size) * s.eeg_scale
    add_templates(x, np.round(times * fs).astype(np.int64), tmpl.astype(np.float32), amp)


def _sawtooth(tl: Timeline, x: np.ndarray, fs: int) -> None:
    """Sawtooth waves: trains of triangular 2-6 Hz waves, fronto-central, in REM."""
    rng = tl.rng("sawtooth")
    s = tl.subject
    per_min = tl.by_stage([0.0, 0.0, 0.0, 0.0, 1.2], 0.0)
    times = poisson_times(rng, per_min / 60.0)
    if times.size == 0:
        return
    length = int(3.0 * fs)
    t = np.arange(length, dtype=np.float32) / fs
    f = rng.uniform(2.5, 4.0, times.size)[:, None]
    n_waves = rng.integers(3, 9, times.size)[:, None]
    ph = (t[None, :] * f) % 1.0
    # slow rise, sharp fall: the serrated "sawtooth" contour
    saw = np.where(ph < 0.8, ph / 0.8, (1.0 - ph) / 0.2) - 0.5
    on = t[None, :] * f < n_waves
    taper = np.clip(np.minimum(t[None, :] * f, n_waves - t[None, :] * f), 0, 1)
    tmpl = saw * on * taper
    amp = rng.uniform(35.0, 70.0, times.size) * s.eeg_scale
    add_templates(x, np.round(times * fs).astype(np.int64), tmpl.astype(np.float32), amp)


def _eye_movements(tl: Timeline, n: int, fs: int) -> np.ndarray:
    """Corneoretinal potential seen through a 0.3-Hz high-pass (µV; + toward E2).

    Blinks and saccades with eyes open; slow rolling movements in drowsiness and N1; bursts
    of rapid movements in REM.
    """
    rng = tl.rng("eyes-events")
    x = np.zeros(n, dtype=np.float32)
    tau_hp = 1.0 / (2 * np.pi * 0.3)
    open_w = tl.wake_open_ctrl * tl.by_stage([1, 0, 0, 0, 0], 1.0)
    closed_w = (1.0 - tl.wake_open_ctrl) * tl.by_stage([1, 0, 0, 0, 0], 1.0)

    # blinks: a fast up-stroke and slower return, 0.2-0.4 s
    rate = (open_w * 16.0 + closed_w * 1.5 + 0.3 * tl.arousal_ctrl) / 60.0
    tb = poisson_times(rng, rate)
    if tb.size:
        length = int(0.6 * fs)
        t = np.arange(length, dtype=np.float32) / fs
        tp = rng.uniform(0.07, 0.12, tb.size)[:, None]
        tmpl = (t[None, :] / tp) ** 2 * np.exp(2.0 * (1.0 - t[None, :] / tp))
        add_templates(x, np.round(tb * fs).astype(np.int64), tmpl.astype(np.float32),
                      rng.uniform(100.0, 260.0, tb.size))

    # saccades: steps of eye position, decaying through the high-pass
    ts = poisson_times(rng, open_w * 18.0 / 60.0)
    tr, ar = tl.rem_saccades
    times = np.concatenate([ts, tr])
    amps = np.concatenate([rng.choice((-1.0, 1.0), ts.size) * rng.uniform(40.0, 180.0, ts.size),
                           ar])
    if times.size:
        length = int(2.5 * fs)
        t = np.arange(length, dtype=np.float32) / fs
        rise = rng.uniform(0.02, 0.06, times.size)[:, None]
        tmpl = (1.0 - np.exp(-t[None, :] / rise)) * np.exp(-t[None, :] / tau_hp)
        tmpl *= np.minimum(1.0, (length - np.arange(length)) / (0.2 * fs))[None, :]
        add_templates(x, np.round(times * fs).astype(np.int64), tmpl.astype(np.float32), amps)

    # slow rolling eye movements: 0.1-0.6 Hz, large in N1 and drowsy wake, fading into N2
    st = tl.stages
    sem_ep = np.select([st == N1, (st == W) & ~tl.eyes_open_epoch], [45.0, 10.0],
                       0.0).astype(np.float32)
    # the first N2 epochs after N1 keep some rolling movements
    prev_n1 = np.r_[False, st[:-1] == N1]
    sem_ep[(st == N2) & prev_n1] = 20.0
    env = ctrl_from_epochs(sem_ep, 4.0) * np.exp(
        0.5 * ar1(tl.rng("sem-mod"), tl.n_ctrl, 4.0)).astype(np.float32)
    sem = shaped_noise(tl.rng("sem"), n, fs, band(0.1, 0.5, 2), f_max=2.0)
    x += sem * to_rate(env, fs, n)
    return x
