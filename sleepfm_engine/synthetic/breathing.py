"""Respiration: nasal pressure, thoracic and abdominal effort, snoring, SpO2 and body position.

Channels are read from the timeline's breathing model: rate and regularity depend on the stage
(regular in N2/N3, irregular in wake and REM), the thoracic belt loses amplitude in REM
(intercostal atonia), and with ``apnea`` obstructive events keep effort against a closed airway
(paradox), central events stop both, hypopneas reduce flow; each event is followed by recovery
breaths and, after the circulation delay, a desaturation.
"""
from __future__ import annotations

import numpy as np

from ._dsp import CTRL_HZ, ar1, band, shaped_noise, to_rate
from .hypnogram import W
from .timeline import RESP_HZ, Timeline

FLOW, THOR, ABDO, SNORE, SPO2, POSITION = "Airflow", "Thor", "Abdo", "Snore", "SpO2", "Position"
#: Body position codes written in the Position channel.
POSITION_CODES = {0: "upright", 1: "supine", 2: "left", 3: "right", 4: "prone"}
_TI = 0.42  # inspiratory fraction of the breath


def _volume(phi: np.ndarray) -> np.ndarray:
    """Lung volume over one breath (0..1 phase), zero-mean, inspiration rising."""
    p = phi % 1.0
    v = np.where(p < _TI, 0.5 * (1 - np.cos(np.pi * p / _TI)),
                 0.5 * (1 + np.cos(np.pi * (p - _TI) / (1 - _TI))))
    return (v - 0.5).astype(np.float32)


def _flow(phi: np.ndarray) -> np.ndarray:
    """Airflow (derivative of volume), inspiratory peak 1, inspiration positive."""
    p = phi % 1.0
    f = np.where(p < _TI, np.sin(np.pi * p / _TI),
                 -(_TI / (1 - _TI)) * np.sin(np.pi * (p - _TI) / (1 - _TI)))
    return f.astype(np.float32)


def generate_breathing(tl: Timeline, labels: list[str], rates: dict[str, float]
                       ) -> dict[str, np.ndarray]:
    """Respiratory channels for the wanted ``labels`` at ``rates[label]`` Hz."""
    out: dict[str, np.ndarray] = {}
    want = [lb for lb in (FLOW, THOR, ABDO, SNORE, SPO2, POSITION) if lb in labels]
    if not want:
        return out
    br = tl.breathing
    n = br["phase"].size

    def at_resp(ctrl):
        return to_rate(ctrl.astype(np.float32), RESP_HZ, n)

    phase = br["phase"]
    tidal = at_resp(br["tidal"])
    if FLOW in want:
        rng = tl.rng("flow")
        fg = at_resp(br["flow_gain"])
        f = _flow(phase)
        # inspiratory flow limitation (flattened top) when the airway narrows
        limit = 1.0 - 0.6 * np.clip(1.0 - fg, 0, 1)
        f = np.where(f > 0, np.minimum(f, limit), f)
        p = f * np.sqrt(np.abs(f) + 1e-3)  # nasal pressure ~ flow^2 (square-root law)
        if tl.truth is None:
            x = 0.9 * tidal * fg * p + 0.015 * shaped_noise(rng, n, RESP_HZ, band(0.05, 10.0))
        else:
            # a scored night's cannula is quiet: during an apnea nothing is left that a scorer
            # (or a second-derivative check) could take for residual breathing
            x = 0.9 * tidal * fg * p + 0.003 * shaped_noise(rng, n, RESP_HZ, band(0.05, 10.0))
        x += 0.03 * at_resp(ar1(rng, tl.n_ctrl, 30.0))
        out[FLOW] = _resample(x, RESP_HZ, rates[FLOW])
    if THOR in want or ABDO in want:
        eg = at_resp(br["effort_gain"])
        if tl.truth is not None:
            cardiac_phase = np.cumsum(at_resp(tl.heart_rate / 60.0).astype(np.float64)) / RESP_HZ
        par = at_resp(br["paradox"])
        for lb, amp, lead, rem_factor in ((THOR, 0.35, 0.03, 0.6), (ABDO, 0.5, 0.0, 1.1)):
            if lb not in want:
                continue
            rng = tl.rng("belt-" + lb)
            stage_f = at_resp(tl.by_stage([1.0, 1.0, 1.0, 1.0, rem_factor], 10.0))
            shift = lead + (0.5 * par if lb == THOR else 0.0)
            x = amp * tidal * eg * stage_f * _volume(phase + shift)
            if tl.truth is None:
                x += 0.02 * at_resp(ar1(rng, tl.n_ctrl, 40.0))
            else:
                # belts of a scored night: little drift, and the cardiogenic oscillation both
                # belts see in phase, which is all that is left of them in a central apnea
                x += 0.005 * at_resp(ar1(rng, tl.n_ctrl, 40.0))
                x += 0.04 * amp * np.cos(2 * np.pi * cardiac_phase).astype(np.float32)
            x += 0.004 * shaped_noise(rng, n, RESP_HZ, band(0.05, 10.0))
            out[lb] = _resample(x, RESP_HZ, rates[lb])
    if SNORE in want:
        out[SNORE] = _snore(tl, rates[SNORE])
    if SPO2 in want:
        out[SPO2] = _spo2(tl, rates[SPO2])
    if POSITION in want:
        out[POSITION] = _position(tl, rates[POSITION])
    return out


def _resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    if fs_out == fs_in:
        return x.astype(np.float32)
    n_out = int(round(x.size * fs_out / fs_in))
    t_out = np.arange(n_out) / fs_out
    return np.interp(t_out, np.arange(x.size) / fs_in, x).astype(np.float32)


def _snore(tl: Timeline, fs: int) -> np.ndarray:
    """Snoring sound: 40-150 Hz bursts on inspiration, in sleep, most with a narrowed airway."""
    rng = tl.rng("snore")
    br = tl.breathing
    n = int(round(tl.duration * fs))
    base = 0.7 if tl.apnea else (0.5 if rng.random() < 0.4 else 0.1)
    prop = tl.by_stage([0.0, 0.5, 1.0, 1.0, 0.6], 10.0) * base
    prop = prop * (1.0 + 1.5 * (1.0 - br["flow_gain"])) * np.clip(br["flow_gain"] * 3, 0, 1)
    prop = prop * np.exp(0.4 * ar1(rng, tl.n_ctrl, 60.0))
    insp = (br["phase"] % 1.0 < _TI).astype(np.float32)
    env = _resample(insp, RESP_HZ, fs) * to_rate(prop.astype(np.float32), fs, n)
    env = env[:n]
    x = shaped_noise(tl.rng("snore-noise"), n, fs, band(40.0, 150.0, 3)) * (60.0 * env + 1.0)
    return x


def _spo2(tl: Timeline, fs: float) -> np.ndarray:
    """Oxygen saturation (%), integer steps as oximeters report; dips after respiratory events."""
    rng = tl.rng("spo2")
    n = int(round(tl.duration * fs))
    t = np.arange(n) / fs
    base = tl.subject.spo2_base + 0.35 * ar1(rng, tl.n_ctrl, 90.0) - tl.by_stage(
        [0.0, 0.2, 0.3, 0.3, 0.6], 30.0)
    x = np.interp(t, np.arange(tl.n_ctrl) / CTRL_HZ, base)
    for start, dur, depth in tl.desat_events:
        # linear fall to the nadir, then a quick exponential recovery
        fall = dur - 8.0
        a = max(int(np.ceil(start * fs)), 0)
        b = min(int(np.ceil((start + fall) * fs)), n)
        c = min(int(np.ceil((start + dur + 20.0) * fs)), n)
        x[a:b] -= depth * (t[a:b] - start) / fall
        x[b:c] -= depth * np.exp(-(t[b:c] - start - fall) / 4.0)
    x += 0.3 * rng.standard_normal(n)
    return np.clip(np.round(x), 50.0, 100.0).astype(np.float32)


def _position(tl: Timeline, fs: float) -> np.ndarray:
    """Body position code (see :data:`POSITION_CODES`): changes during wake and arousals.

    A night with scored-event ground truth writes the NSRR/Compumedics codes of its drawn
    position changes instead (:data:`.truth.POSITION_CODES`).
    """
    n = int(round(tl.duration * fs))
    if tl.truth is not None:
        from .truth import position_signal

        return position_signal(tl.truth, n, fs)
    rng = tl.rng("position")
    moments = [on for on, _d in tl.arousals]
    wake = np.flatnonzero(tl.stages == W) * 30.0
    cands = np.sort(np.concatenate([np.asarray(moments, dtype=float), wake]))
    k = int(rng.integers(3, 9))
    x = np.full(n, 1.0, dtype=np.float32)
    if cands.size:
        times = np.sort(rng.choice(cands, size=min(k, cands.size), replace=False))
        pos = 1
        for t0 in times:
            # mostly supine and lateral; prone is rare
            others = [p for p in (1, 2, 3, 4) if p != pos]
            w = np.array([{1: 0.4, 2: 0.27, 3: 0.27, 4: 0.06}[p] for p in others])
            pos = int(rng.choice(others, p=w / w.sum()))
            x[int(t0 * fs):] = pos
    return x

