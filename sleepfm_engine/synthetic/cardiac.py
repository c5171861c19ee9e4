"""ECG (lead II, mV) built from the timeline's beats.

Each beat is a P-QRS-T complex (sum of Gaussian waves, ECGSYN-like); the T wave moves with the
RR interval (QT ~ sqrt(RR)), the R amplitude and the baseline follow breathing, and the heart
rate carries the stage, respiratory sinus arrhythmia and arousal effects of the timeline.
"""
from __future__ import annotations

import numpy as np

from ._dsp import add_templates, ar1, power_law, shaped_noise, to_rate
from .timeline import RESP_HZ, Timeline

ECG = "ECG"

# (centre s relative to the R peak, width s, amplitude mV)
_PQRS = ((-0.17, 0.022, 0.12), (-0.028, 0.007, -0.12), (0.0, 0.009, 1.0), (0.03, 0.008, -0.28))


def generate_ecg(tl: Timeline, fs: int = 512) -> np.ndarray:
    """ECG lead II in mV at ``fs`` Hz."""
    rng = tl.rng("ecg")
    n = int(round(tl.duration * fs))
    x = np.zeros(n, dtype=np.float32)
    beats = tl.beats
    if beats.size:
        br = tl.breathing
        ph = np.interp(beats, np.arange(br["phase"].size) / RESP_HZ, br["phase"])
        resp_mod = 1.0 + 0.07 * np.sin(2 * np.pi * ph)
        amp = resp_mod * rng.lognormal(0.0, 0.02, beats.size)
        pre = 0.25
        length = int(0.35 * fs)
        t = np.arange(length, dtype=np.float32) / fs - pre
        pqrs = sum(a * np.exp(-0.5 * ((t - c) / w) ** 2) for c, w, a in _PQRS)
        add_templates(x, np.round((beats - pre) * fs).astype(np.int64), pqrs.astype(np.float32),
                      amp)
        rr = np.diff(beats, prepend=beats[0] - 60.0 / tl.subject.hr_bpm)
        t_peak = 0.29 * np.sqrt(np.clip(rr, 0.4, 1.6))
        tl_len = int(0.3 * fs)
        tt = np.arange(tl_len, dtype=np.float32) / fs - 0.15
        twave = 0.28 * np.exp(-0.5 * (tt / 0.045) ** 2)
        add_templates(x, np.round((beats + t_peak - 0.15) * fs).astype(np.int64),
                      twave.astype(np.float32), amp)
    # baseline wander with breathing and electrode drift; muscle noise higher in wake
    br = tl.breathing
    vol = np.cos(2 * np.pi * br["phase"]).astype(np.float32)
    wander = 0.04 * vol[:: RESP_HZ // 4][: tl.n_ctrl] + 0.04 * ar1(rng, tl.n_ctrl, 20.0)
    x += to_rate(wander.astype(np.float32), fs, n)
    noise_lvl = tl.by_stage([0.012, 0.008, 0.006, 0.006, 0.006]) + 0.01 * tl.arousal_ctrl
    x += shaped_noise(tl.rng("ecg-noise"), n, fs, power_law(0.5, 0.5, 60.0), f_max=64.0) * to_rate(
        noise_lvl.astype(np.float32), fs, n)
    return x
