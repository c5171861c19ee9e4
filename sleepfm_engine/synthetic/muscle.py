"""Chin and leg EMG: band-limited (10-100 Hz) noise under a tone envelope, plus bursts.

Chin tone is highest in wake, lower in NREM and lowest in REM (atonia), where short phasic
twitches come with the rapid eye movements; arousals and movements raise it. Leg EMG is quiet
apart from limb movements. Both carry a little ECG, as real bipolar EMG leads do.
"""
from __future__ import annotations

import numpy as np

from ._dsp import add_templates, ar1, band, boxcar_ctrl, poisson_times, shaped_noise, smooth, \
    to_rate
from .timeline import Timeline

CHIN = "Chin1-Chin2"
LEGS = {"LLeg": "left", "RLeg": "right"}


def generate_muscle(tl: Timeline, labels: list[str], fs: int = 256) -> dict[str, np.ndarray]:
    """Chin and leg EMG in µV for the wanted ``labels``."""
    out: dict[str, np.ndarray] = {}
    n = int(round(tl.duration * fs))
    if CHIN in labels:
        out[CHIN] = _chin(tl, n, fs)
    for lb, side in LEGS.items():
        if lb in labels:
            out[lb] = _leg(tl, n, fs, side)
    if out:
        qrs = _ecg_leak(tl, n, fs)
        for lb, x in out.items():
            x += np.float32(2.5 if lb == CHIN else 1.5) * qrs
    return out


def _chin(tl: Timeline, n: int, fs: int) -> np.ndarray:
    s = tl.subject
    rng = tl.rng("chin")
    is_wake = tl.by_stage([1, 0, 0, 0, 0], 1.0)
    # Tone falls gradually through NREM and drops abruptly at REM onset (short ramp).
    tone = tl.by_stage([13.0, 8.5, 6.5, 5.8, 2.0], 1.0)
    tone = tone * s.chin_tone * np.exp(0.15 * ar1(rng, tl.n_ctrl, 240.0))
    tone = tone + 4.0 * tl.wake_open_ctrl * is_wake + 14.0 * tl.arousal_ctrl
    # body movements in wake: 1-4 s bursts
    mv = poisson_times(rng, is_wake * 0.5 / 60.0)
    if mv.size:
        tone = tone + smooth(boxcar_ctrl(tl.n_ctrl, mv, rng.uniform(1.0, 4.0, mv.size),
                                         rng.uniform(20.0, 60.0, mv.size)), 0.5)
    env = to_rate(np.maximum(tone, 1.0).astype(np.float32), fs, n)
    # phasic REM twitches: 50-250 ms bursts, with about a third of the rapid eye movements
    tr, _ = tl.rem_saccades
    with_eyes = tr[rng.random(tr.size) < 0.3]
    tw = np.concatenate([with_eyes + rng.uniform(-0.2, 0.2, with_eyes.size),
                         poisson_times(rng, tl.by_stage([0, 0, 0, 0, 4.0], 0.0) / 60.0)])
    if tw.size:
        length = int(0.25 * fs)
        t = np.arange(length, dtype=np.float32)
        dur = rng.uniform(0.05, 0.25, tw.size)[:, None] * fs
        tmpl = np.where(t[None, :] < dur, np.sin(np.pi * t[None, :] / dur), 0.0)
        add_templates(env, np.round(tw * fs).astype(np.int64), tmpl.astype(np.float32),
                      rng.uniform(5.0, 16.0, tw.size) * s.chin_tone)
    return shaped_noise(tl.rng("chin-noise"), n, fs, band(10.0, 100.0, 4)) * env


def _leg(tl: Timeline, n: int, fs: int, side: str) -> np.ndarray:
    rng = tl.rng("leg-" + side)
    tone = tl.by_stage([3.5, 2.6, 2.2, 2.0, 1.6], 2.0) * np.exp(
        0.15 * ar1(rng, tl.n_ctrl, 300.0)) + 3.0 * tl.arousal_ctrl
    lm = [(on, dur, amp) for on, dur, sd, amp in tl.limb_movements if sd == side]
    if lm:
        a = np.array(lm, dtype=np.float64)
        tone = tone + smooth(boxcar_ctrl(tl.n_ctrl, a[:, 0], a[:, 1], a[:, 2]), 0.5)
    env = to_rate(np.maximum(tone, 0.8).astype(np.float32), fs, n)
    return shaped_noise(tl.rng("leg-noise-" + side), n, fs, band(10.0, 100.0, 4)) * env


def _ecg_leak(tl: Timeline, n: int, fs: int) -> np.ndarray:
    """A unit QRS at every heartbeat (the cardiac field picked up by EMG electrodes)."""
    x = np.zeros(n, dtype=np.float32)
    length = int(0.08 * fs)
    t = np.arange(length, dtype=np.float32) / fs - 0.04
    qrs = (np.exp(-0.5 * (t / 0.008) ** 2) - 0.3 * np.exp(-0.5 * ((t - 0.02) / 0.01) ** 2))
    onsets = np.round((tl.beats - 0.04) * fs).astype(np.int64)
    add_templates(x, onsets, qrs.astype(np.float32))
    return x
