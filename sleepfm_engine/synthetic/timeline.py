"""The night's shared timeline: stages, wake states, arousals and events that couple modalities.

An apnea ends in an arousal that shows in the EEG, the chin EMG and the heart rate; a rapid eye
movement burst comes with chin twitches. These cross-modal facts are drawn once here and read
by every signal generator, each quantity from its own random stream.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ..contract import EPOCH_SECONDS
from ._dsp import CTRL_HZ, ar1, boxcar_ctrl, ctrl_from_epochs, rng_for, smooth
from .hypnogram import N1, N2, N3, R, W
from .severity import Severity
from .subject import Subject

#: Breathing is simulated on this grid (Hz); flow and effort channels are read from it.
RESP_HZ: int = 32


class Timeline:
    """Stages and cross-modal events of one night.

    Parameters
    ----------
    seed : int
        Night seed.
    subject : Subject
        The sleeper.
    stages : numpy.ndarray
        Stage code per 30-s epoch.
    apnea : bool
        Whether the sleeper has obstructive sleep apnea.
    severity : Severity, optional
        Draw the night's scored events from these rates (:mod:`.truth`): the respiratory,
        arousal, limb and position events then follow the AASM rules exactly and carry ground
        truth. Without it the night keeps its original, unscored event model.
    """

    def __init__(self, seed: int, subject: Subject, stages: np.ndarray, apnea: bool,
                 severity: Severity | None = None):
        self.seed = int(seed)
        self.subject = subject
        self.stages = np.asarray(stages, dtype=np.int8)
        self.severity = severity
        self.apnea = bool(apnea) or (severity is not None and severity.ahi > 0)
        self.n_epochs = int(self.stages.size)
        self.duration = float(self.n_epochs * EPOCH_SECONDS)
        self.n_ctrl = int(round(self.duration * CTRL_HZ))
        self.stage_ctrl = np.repeat(self.stages, EPOCH_SECONDS * CTRL_HZ)

    # ---------------------------------------------------------------- helpers
    def rng(self, name: str) -> np.random.Generator:
        """The random stream of quantity ``name`` for this night."""
        return rng_for(self.seed, name)

    def by_stage(self, table, ramp_s: float = 2.0) -> np.ndarray:
        """A control-grid series holding ``table[stage]`` in each epoch."""
        return ctrl_from_epochs(np.asarray(table, dtype=np.float32)[self.stages], ramp_s)

    def epoch_in_ctrl(self, t_s: np.ndarray) -> np.ndarray:
        """Stage code at times ``t_s`` (s)."""
        idx = np.clip((np.asarray(t_s) // EPOCH_SECONDS).astype(int), 0, self.n_epochs - 1)
        return self.stages[idx]

    # ---------------------------------------------------------------- wake
    @cached_property
    def eyes_open_epoch(self) -> np.ndarray:
        """Per epoch: True where the sleeper lies awake with eyes open (wake epochs only).

        Relaxed eyes-closed wake (posterior alpha) dominates at lights off; eyes open (blinks,
        saccades, more muscle tone) becomes likelier during long awakenings and at the end.
        """
        rng = self.rng("eyes")
        n = self.n_epochs
        sleep_idx = np.flatnonzero(self.stages != W)
        first_sleep = sleep_idx[0] if sleep_idx.size else n
        last_sleep = sleep_idx[-1] if sleep_idx.size else n
        out = np.zeros(n, dtype=bool)
        state = rng.random() < 0.35
        for e in range(n):
            if self.stages[e] != W:
                state = False
                continue
            p_open = 0.35 if e < first_sleep else (0.7 if e > last_sleep else 0.5)
            if rng.random() < 0.25:  # switch with persistence across epochs
                state = rng.random() < p_open
            out[e] = state
        return out

    @cached_property
    def wake_open_ctrl(self) -> np.ndarray:
        """0..1 on the control grid: awake with eyes open."""
        return ctrl_from_epochs(self.eyes_open_epoch.astype(np.float32), 1.0)

    # ---------------------------------------------------------------- REM phasic activity
    @cached_property
    def rem_saccades(self) -> tuple[np.ndarray, np.ndarray]:
        """Times (s) and signed amplitudes (µV) of rapid eye movements in REM sleep.

        They come in bursts (phasic REM) separated by tonic stretches; REM density rises in
        later REM periods, as it does across a real night.
        """
        rng = self.rng("rems")
        is_rem = self.stages == R
        if not is_rem.any():
            return np.zeros(0), np.zeros(0)
        # REM period index per epoch -> density grows across the night
        start = np.flatnonzero(np.diff(np.r_[0, is_rem.astype(int)]) == 1)
        period = np.searchsorted(start, np.arange(self.n_epochs), side="right")
        phasic = rng.random(self.n_epochs) < 0.75
        bursts_per_min = np.where(is_rem & phasic,
                                  rng.uniform(1.2, 3.0, self.n_epochs) * (1.0 + 0.15 * period),
                                  np.where(is_rem, 0.15, 0.0))
        rate = ctrl_from_epochs(bursts_per_min / 60.0, 0.0)
        hit = np.flatnonzero(rng.random(rate.size) < rate / CTRL_HZ)
        t0 = (hit + rng.random(hit.size)) / CTRL_HZ
        counts = 1 + rng.poisson(2.5, t0.size)
        times, amps = [], []
        for t, c in zip(t0, counts):
            gaps = rng.uniform(0.25, 0.9, c)
            tt = t + np.cumsum(gaps) - gaps[0]
            sign = rng.choice((-1.0, 1.0))
            alt = sign * np.where(rng.random(c) < 0.7, (-1.0) ** np.arange(c), 1.0)
            times.append(tt)
            amps.append(alt * rng.uniform(60.0, 220.0, c))
        if not times:
            return np.zeros(0), np.zeros(0)
        t = np.concatenate(times)
        a = np.concatenate(amps)
        keep = (t < self.duration) & (self.epoch_in_ctrl(t) == R)
        return t[keep], a[keep]

    # ---------------------------------------------------------------- scored-event truth
    @cached_property
    def truth(self):
        """The scored events drawn from :attr:`severity` (a :class:`.truth.NightTruth`), or None."""
        from .truth import draw_truth

        return None if self.severity is None else draw_truth(self, self.severity)

    # ---------------------------------------------------------------- respiratory events
    @cached_property
    def resp_events(self) -> list[tuple[float, float, str]]:
        """Apneas and hypopneas (onset s, duration s, kind); empty unless ``apnea``."""
        if self.truth is not None:
            from .truth import LABELS

            return [(r.onset, r.duration, LABELS[r.kind]) for r in self.truth.respiratory]
        if not self.apnea:
            return []
        rng = self.rng("apnea")
        s = self.subject
        rate_stage = np.array([0.0, 1.1, 1.0, 0.25, 2.0])  # REM-dominant, rare in N3
        per_s = s.ahi / 3600.0 * rate_stage[self.stages]
        out = []
        t = 0.0
        while t < self.duration - 60:
            e = min(int(t // EPOCH_SECONDS), self.n_epochs - 1)
            if per_s[e] <= 0:
                t = (e + 1) * EPOCH_SECONDS
                continue
            if rng.random() < per_s[e] * 5.0:
                stage = self.stages[e]
                kind = rng.choice(["Obstructive apnea", "Hypopnea", "Central apnea"],
                                  p=[0.55, 0.35, 0.10] if stage != R else [0.6, 0.38, 0.02])
                mean = 26.0 if stage == R else 19.0
                dur = float(np.clip(rng.lognormal(np.log(mean), 0.3), 10.0, 70.0))
                end = t + dur
                if end < self.duration - 30 and np.all(self.epoch_in_ctrl([t, end]) != W):
                    out.append((round(float(t), 2), round(dur, 2), str(kind)))
                    t = end + rng.uniform(12.0, 30.0)
                    continue
            t += 5.0
        return out

    # ---------------------------------------------------------------- limb movements
    @cached_property
    def limb_movements(self) -> list[tuple[float, float, str, float]]:
        """Leg movements (onset s, duration s, side 'left'/'right', amplitude µV).

        Periodic limb movements in sleep come in series of 4+ at 20-40 s intervals in light
        NREM sleep; isolated movements occur in wake and with respiratory arousals.
        """
        if self.truth is not None:
            out = []
            for on, dur, side, amp, _periodic in self.truth.limb_movements:
                for sd in (("left", "right") if side == "both" else (side,)):
                    out.append((on, dur, sd, amp))
            return sorted(out)
        rng = self.rng("legs")
        s = self.subject
        out = []
        if s.plm_per_h > 0:
            light = np.isin(self.stages, (N1, N2))
            sleep_h = np.count_nonzero(self.stages != W) * EPOCH_SECONDS / 3600.0
            n_series = int(rng.poisson(s.plm_per_h * sleep_h / 12.0))
            cands = np.flatnonzero(light)
            for e0 in rng.choice(cands, size=min(n_series, cands.size), replace=False) \
                    if cands.size else []:
                t = e0 * EPOCH_SECONDS + rng.uniform(0, EPOCH_SECONDS)
                for _ in range(int(rng.integers(4, 25))):
                    if t >= self.duration or self.epoch_in_ctrl([t])[0] not in (N1, N2, N3):
                        break
                    side = rng.choice(["left", "right", "both"], p=[0.35, 0.35, 0.3])
                    dur = float(rng.uniform(0.8, 4.0))
                    amp = float(rng.uniform(20.0, 70.0))
                    for sd in (("left", "right") if side == "both" else (side,)):
                        out.append((round(float(t), 2), round(dur, 2), str(sd), amp))
                    t += rng.uniform(18.0, 40.0)
        # isolated movements: wake and respiratory event terminations
        wake_rate = ctrl_from_epochs(np.where(self.stages == W, 0.6 / 60.0, 0.0), 0.0)
        for t in (np.flatnonzero(rng.random(self.n_ctrl) < wake_rate / CTRL_HZ) / CTRL_HZ):
            out.append((round(float(t), 2), round(float(rng.uniform(1.0, 5.0)), 2),
                        str(rng.choice(["left", "right"])), float(rng.uniform(15.0, 60.0))))
        for on, dur, _kind in self.resp_events:
            if rng.random() < 0.25:
                out.append((round(float(on + dur), 2), round(float(rng.uniform(1.0, 3.0)), 2),
                            str(rng.choice(["left", "right"])), float(rng.uniform(15.0, 50.0))))
        out.sort()
        return out

    # ---------------------------------------------------------------- arousals
    @cached_property
    def arousals(self) -> list[tuple[float, float]]:
        """Cortical arousals (onset s, duration s): spontaneous, respiratory and movement-related.

        Each lasts 3-15 s, so it never changes the epoch's stage (AASM).
        """
        if self.truth is not None:
            return [(on, dur) for on, dur, _kind in self.truth.arousals]
        rng = self.rng("arousals")
        s = self.subject
        rate = ctrl_from_epochs(np.where(self.stages == W, 0.0,
                                         np.where(self.stages == N3, 0.3, 1.0))
                                * s.arousals_per_h / 3600.0, 0.0)
        t_sp = np.flatnonzero(rng.random(self.n_ctrl) < rate / CTRL_HZ) / CTRL_HZ
        out = [(float(t), float(rng.uniform(3.0, 12.0))) for t in t_sp]
        for on, dur, kind in self.resp_events:
            p = {"Obstructive apnea": 0.85, "Hypopnea": 0.65}.get(kind, 0.5)
            if rng.random() < p:
                out.append((on + dur - 1.0, float(rng.uniform(4.0, 12.0))))
        for on, dur, _side, _amp in self.limb_movements:
            if self.epoch_in_ctrl([on])[0] != W and rng.random() < 0.3:
                out.append((on, float(rng.uniform(3.0, 8.0))))
        out = [(round(float(a), 2), round(float(d), 2)) for a, d in sorted(out)
               if a + d < self.duration and self.epoch_in_ctrl([a])[0] != W]
        # merge overlaps so each arousal is one annotation
        merged: list[tuple[float, float]] = []
        for a, d in out:
            if merged and a <= merged[-1][0] + merged[-1][1] + 1.0:
                pa, pd = merged[-1]
                merged[-1] = (pa, round(min(max(pd, a + d - pa), 15.0), 2))
            else:
                merged.append((a, d))
        return merged

    @cached_property
    def arousal_ctrl(self) -> np.ndarray:
        """0..1 on the control grid: inside a cortical arousal."""
        if not self.arousals:
            return np.zeros(self.n_ctrl, dtype=np.float32)
        a = np.array(self.arousals)
        return np.minimum(smooth(boxcar_ctrl(self.n_ctrl, a[:, 0], a[:, 1]), 1.0), 1.0)

    # ---------------------------------------------------------------- breathing
    @cached_property
    def breathing(self) -> dict[str, np.ndarray]:
        """Breathing on the :data:`RESP_HZ` grid.

        Returns a dict with ``phase`` (cycles, monotonic), ``tidal`` (relative tidal volume),
        ``flow_gain`` (upper-airway patency: 0 obstructed .. 1 open), ``effort_gain``
        (central drive) and ``paradox`` (0..1 thoraco-abdominal paradox).
        """
        from ._dsp import to_rate

        rng = self.rng("breathing")
        s = self.subject
        n = int(round(self.duration * RESP_HZ))
        base = s.breaths_per_min / 60.0
        rate_f = self.by_stage([1.06, 1.0, 0.96, 0.95, 1.07], 10.0)
        irreg = self.by_stage([0.10, 0.08, 0.035, 0.025, 0.13], 10.0)
        fast = self.by_stage([0.08, 0.05, 0.015, 0.01, 0.12], 10.0)
        f = base * rate_f * (1.0 + irreg * ar1(rng, self.n_ctrl, 25.0)
                             + fast * ar1(rng, self.n_ctrl, 3.0))
        f = np.clip(f, 0.12, 0.6)
        # sleepers with sleep apnea breathe less regularly between events than healthy ones
        tid_sd = self.by_stage([0.18, 0.14, 0.05, 0.035, 0.22] if self.truth is None
                               else [0.2, 0.2, 0.14, 0.1, 0.25], 10.0)
        tidal = self.by_stage([1.0, 0.92, 0.86, 0.9, 0.82], 10.0) * np.exp(
            tid_sd * ar1(rng, self.n_ctrl, 6.0))
        if self.truth is not None:
            # and their breathing waxes and wanes over tens of seconds
            tidal = tidal * np.exp(0.2 * ar1(self.rng("breathing-waxing"), self.n_ctrl, 40.0))
        # sighs in wake
        sighs = np.flatnonzero(rng.random(self.n_ctrl) < self.by_stage(
            [1.0 / 180, 0, 0, 0, 0]) / CTRL_HZ) / CTRL_HZ
        tidal = tidal + 1.2 * smooth(boxcar_ctrl(self.n_ctrl, sighs, np.full(sighs.size, 4.0)), 2)
        flow_gain = np.ones(self.n_ctrl, dtype=np.float32)
        effort_gain = np.ones(self.n_ctrl, dtype=np.float32)
        paradox = np.zeros(self.n_ctrl, dtype=np.float32)
        recovery = np.zeros(self.n_ctrl, dtype=np.float32)
        gain_smooth = 3.0
        if self.truth is not None:
            self._scored_breathing(flow_gain, effort_gain, paradox, recovery)
            gain_smooth = 1.5
        for on, dur, kind in ([] if self.truth is not None else self.resp_events):
            a = int(on * CTRL_HZ)
            b = int((on + dur) * CTRL_HZ)
            if kind == "Obstructive apnea":
                flow_gain[a:b] = 0.04
                # effort continues and builds against the closed airway
                effort_gain[a:b] = np.linspace(0.8, 1.5, b - a)
                paradox[a:b] = np.linspace(0.4, 1.0, b - a)
            elif kind == "Hypopnea":
                flow_gain[a:b] = 0.45
                effort_gain[a:b] = 0.8
                paradox[a:b] = 0.2
            else:
                flow_gain[a:b] = 0.03
                effort_gain[a:b] = 0.05
            recovery[b:b + int(12 * CTRL_HZ)] = 0.9
        flow_gain = smooth(flow_gain, gain_smooth)
        effort_gain = smooth(effort_gain, gain_smooth)
        paradox = smooth(paradox, gain_smooth)
        tidal = tidal * (1.0 + smooth(recovery, 4.0))
        phase = np.cumsum(to_rate(f.astype(np.float32), RESP_HZ, n).astype(np.float64)) / RESP_HZ
        phase += rng.random()
        return {
            "phase": phase,
            "freq": f,
            "tidal": tidal.astype(np.float32),
            "flow_gain": flow_gain,
            "effort_gain": effort_gain,
            "paradox": paradox,
        }

    def _scored_breathing(self, flow_gain: np.ndarray, effort_gain: np.ndarray,
                          paradox: np.ndarray, recovery: np.ndarray) -> None:
        """Write the ground-truth respiratory events into the breathing gains (in place).

        During an apnea the airflow is near-flat (no residual breathing a scorer could take
        for a hypopnea); effort is absent for the central part and continues, growing and out
        of phase, against the closed airway for the obstructive part.
        """
        for r in self.truth.respiratory:
            a = int(round(r.onset * CTRL_HZ))
            b = int(round(r.end * CTRL_HZ))
            flow_gain[a:b] = 1.0 - r.flow_drop
            if r.kind == "hypopnea":
                effort_gain[a:b] = 0.85
                paradox[a:b] = 0.25
            else:
                c = a + int(round(r.no_effort * (b - a)))
                effort_gain[a:c] = 0.03
                if b > c:
                    effort_gain[c:b] = np.linspace(0.8, 1.4, b - c)
                    # a whole obstructive apnea's effort builds up against the closed airway
                    # and goes out of phase; the short resumed effort of a mixed one hardly
                    if r.kind == "apnea_obstructive":
                        paradox[c:b] = np.linspace(0.4, 1.0, b - c)
                    else:
                        paradox[c:b] = np.linspace(0.0, 0.15, b - c)
            recovery[b:b + int(6 * CTRL_HZ)] = 1.5

    # ---------------------------------------------------------------- heart
    @cached_property
    def heart_rate(self) -> np.ndarray:
        """Instantaneous heart rate (bpm) on the control grid.

        Stage means (faster in wake and REM, slowest in N3), slow drift, a 0.1-Hz (LF) rhythm,
        respiratory sinus arrhythmia (faster on inspiration, strongest in N3), irregular surges
        in REM and a tachycardia with every arousal.
        """
        rng = self.rng("heart")
        s = self.subject
        hr = s.hr_bpm + self.by_stage([7.0, 3.0, 0.0, -2.5, 3.5], 15.0)
        hr = hr + 2.0 * ar1(rng, self.n_ctrl, 300.0)
        lf_amp = self.by_stage([1.8, 1.5, 1.0, 0.5, 2.0], 15.0)
        lf_phase = np.cumsum(0.1 * (1 + 0.15 * ar1(rng, self.n_ctrl, 30.0))) / CTRL_HZ
        hr = hr + lf_amp * np.sin(2 * np.pi * lf_phase + rng.random() * 6.28).astype(np.float32)
        hr = hr + self.by_stage([1.5, 1.0, 0.5, 0.3, 2.5], 15.0) * ar1(rng, self.n_ctrl, 8.0)
        rsa = s.rsa_bpm * self.by_stage([0.7, 0.8, 1.0, 1.15, 0.6], 15.0)
        resp_phase = self.breathing["phase"][:: RESP_HZ // CTRL_HZ][: self.n_ctrl]
        hr = hr - 0.5 * rsa * np.cos(2 * np.pi * resp_phase).astype(np.float32)
        hr = hr + 12.0 * self.arousal_ctrl
        return np.clip(hr, 38.0, 140.0).astype(np.float32)

    @cached_property
    def beats(self) -> np.ndarray:
        """R-peak times (s) integrated from :attr:`heart_rate`."""
        cyc = np.cumsum(self.heart_rate.astype(np.float64) / 60.0 / CTRL_HZ)
        tc = np.arange(1, self.n_ctrl + 1, dtype=np.float64) / CTRL_HZ
        k = np.arange(np.ceil(cyc[0]), np.floor(cyc[-1]) + 1)
        off = self.rng("heart-offset").random() * 0.8
        return np.interp(k, cyc, tc) - off

    # ---------------------------------------------------------------- annotations
    def events(self) -> list[tuple[float, float, str]]:
        """All scored events as (onset s, duration s, description), sorted by onset."""
        if self.truth is not None:
            from .truth import LABELS, truth_records

            return [(r["onset"], r["duration"], LABELS[r["type"]])
                    for r in truth_records(self.truth)]
        out = [(on, dur, kind) for on, dur, kind in self.resp_events]
        out += [(on, dur, "SpO2 desaturation") for on, dur in self.desaturations]
        out += [(on, dur, f"Limb movement ({side})") for on, dur, side, _a in self.limb_movements
                if dur >= 0.5]
        out += [(on, dur, "Arousal") for on, dur in self.arousals]
        out.sort(key=lambda e: (e[0], e[2]))
        return out

    @cached_property
    def desaturations(self) -> list[tuple[float, float]]:
        """Desaturation intervals (onset s, duration s) that follow respiratory events."""
        return [(on, dur) for on, dur, _depth in self.desat_events]

    @cached_property
    def desat_events(self) -> list[tuple[float, float, float]]:
        """(onset of the fall s, fall + recovery duration s, depth %) per respiratory event.

        Circulation delay puts the nadir some 20 s after the event ends; depth grows with event
        length (apneas more than hypopneas).
        """
        if self.truth is not None:
            return [(r.desat_start, round(r.desat_nadir - r.desat_start + 8.0, 2), r.desat_depth)
                    for r in self.truth.respiratory]
        rng = self.rng("desat")
        out = []
        for on, dur, kind in self.resp_events:
            k = 0.3 if kind != "Hypopnea" else 0.13
            depth = float(np.clip(k * dur * rng.uniform(0.6, 1.3), 2.0, 18.0))
            if depth < 3.0:
                continue
            fall_start = on + 12.0 + rng.uniform(-2.0, 3.0)
            nadir = on + dur + 18.0 + rng.uniform(-3.0, 4.0)
            out.append((round(float(fall_start), 2), round(float(nadir - fall_start + 8.0), 2),
                        depth))
        return out
