"""Scored-event ground truth of a synthetic night with a :class:`~.severity.Severity`.

The events are drawn first and the signals are generated from them, so each event is in the
signals the way the AASM Manual describes it and a validated scorer can find it:

- obstructive apnea: oronasal flow near-flat (>= 90 % drop of the excursion, no residual
  breathing) while thoracic and abdominal effort continues and grows, out of phase;
- central apnea: flow and effort both stop; mixed apnea: no effort at first, then effort
  resumes against the closed airway;
- hypopnea: flow excursion reduced by 30-90 %, effort continuing;
- each respiratory event is followed by a desaturation (>= 3.5 %, nadir 20-32 s after the
  event ends: circulation delay) and most by a terminating arousal (EEG alpha/beta burst,
  chin EMG and heart-rate surge, 4-12 s);
- spontaneous arousals (3.5-12 s, after >= 10 s of sleep, away from respiratory events);
- periodic limb movements in NREM: series of >= 4 leg-EMG bursts of 0.8-4 s, 15-40 s apart,
  labelled by the AASM rules after drawing (movements within 0.5 s of a respiratory event
  are not PLMs; what is left of a series must still have 4 movements 5-90 s apart);
- body position changes at arousals and awakenings, coded in the position channel with the
  NSRR/Compumedics codes (:func:`sleepfm_engine.position.position_table` ``"nsrr"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..contract import EPOCH_SECONDS
from ..position import position_table
from .hypnogram import N1, N2, N3, R, W
from .severity import Severity

#: The position table the position channel is written in.
POSITION_TABLE = position_table("nsrr")
_CODE = {name: code for code, name in POSITION_TABLE.codes.items()}
# the sleeper lies down at lights off and turns between these
_LYING = {"supine": 0.34, "left": 0.3, "right": 0.3, "prone": 0.06}

#: Annotation text written for each ground-truth event type (NSRR-style wording).
LABELS: dict[str, str] = {
    "apnea_obstructive": "Obstructive apnea",
    "apnea_central": "Central apnea",
    "apnea_mixed": "Mixed apnea",
    "hypopnea": "Hypopnea",
    "desaturation": "SpO2 desaturation",
    "arousal_spontaneous": "Arousal (spontaneous)",
    "arousal_respiratory": "Arousal (respiratory)",
    "arousal_limb": "Arousal (limb movement)",
    "limb_movement_left": "Limb movement (left)",
    "limb_movement_right": "Limb movement (right)",
    "periodic_limb_movement": "Periodic limb movement",
    "limb_movement": "Limb movement (both)",
    "position_change": "Position change",
}

# Channels each event is scored on (the synthetic montage's labels).
_FLOW, _EFFORT, _SPO2, _EEG, _LEGS = ("Airflow",), ("Thor", "Abdo"), ("SpO2",), ("C4-M1",), {
    "left": ("LLeg",), "right": ("RLeg",), "both": ("LLeg", "RLeg")}


@dataclass(frozen=True)
class RespiratoryTruth:
    """One apnea or hypopnea and what it does to the signals.

    Attributes
    ----------
    onset, duration : float
        Seconds from the recording start; the flow reduction lasts exactly this long.
    kind : str
        ``apnea_obstructive``, ``apnea_central``, ``apnea_mixed`` or ``hypopnea``.
    flow_drop : float
        Fractional drop of the flow excursion (0.3-0.9 hypopnea, >= 0.97 apnea).
    no_effort : float
        Leading fraction of the event without respiratory effort (1 central, 0 obstructive).
    desat_start, desat_nadir, desat_depth : float
        When the SpO2 starts to fall and reaches its nadir (s), and the drop (%).
    arousal : bool
        Whether a respiratory arousal terminates it.
    """

    onset: float
    duration: float
    kind: str
    flow_drop: float
    no_effort: float
    desat_start: float
    desat_nadir: float
    desat_depth: float
    arousal: bool

    @property
    def end(self) -> float:
        return self.onset + self.duration


@dataclass
class NightTruth:
    """Everything drawn for one night: respiratory events, arousals, limb movements, positions.

    Attributes
    ----------
    respiratory : list of RespiratoryTruth
    arousals : list of (onset, duration, kind)
        ``kind`` is the event type value (``arousal_spontaneous`` ...).
    limb_movements : list of (onset, duration, side, amplitude µV, periodic)
        ``side`` is left, right or both; ``periodic`` says whether AASM counts it as a PLM.
    positions : list of (time s, from code, to code)
    """

    respiratory: list[RespiratoryTruth] = field(default_factory=list)
    arousals: list[tuple[float, float, str]] = field(default_factory=list)
    limb_movements: list[tuple[float, float, str, float, bool]] = field(default_factory=list)
    positions: list[tuple[float, int, int]] = field(default_factory=list)


def draw_truth(tl, severity: Severity) -> NightTruth:
    """Draw the scored events of the night ``tl`` (a :class:`~.timeline.Timeline`)."""
    truth = NightTruth()
    truth.respiratory = _respiratory(tl, severity)
    lms = _limb_movements(tl, severity, truth.respiratory)
    truth.limb_movements = lms
    truth.arousals = _arousals(tl, severity, truth.respiratory, lms)
    truth.positions = _positions(tl, truth.arousals)
    return truth


# ----------------------------------------------------------------------------- helpers

def _sleep_seconds(stages: np.ndarray) -> float:
    return float(np.count_nonzero(stages != W) * EPOCH_SECONDS)


def _all_in(tl, start: float, stop: float, allowed: tuple[int, ...]) -> bool:
    """Whether every epoch touched by ``[start, stop]`` has a stage in ``allowed``."""
    if start < 0 or stop >= tl.duration:
        return False
    a, b = int(start // EPOCH_SECONDS), int(stop // EPOCH_SECONDS)
    return bool(np.all(np.isin(tl.stages[a:b + 1], allowed)))


def _free(intervals: list[tuple[float, float]], start: float, stop: float) -> bool:
    return all(stop <= a or start >= b for a, b in intervals)


# ----------------------------------------------------------------------------- respiratory

_SLEEP = (N1, N2, N3, R)
_PRE_S = 15.0   # normal breathing before an event: the pre-event baseline scorers read
_POST_S = 25.0  # recovery breathing after it before the next event may start


def _respiratory(tl, sev: Severity) -> list[RespiratoryTruth]:
    if sev.ahi <= 0:
        return []
    rng = tl.rng("truth-respiratory")
    n_target = int(round(sev.ahi * _sleep_seconds(tl.stages) / 3600.0))
    if n_target == 0:
        return []
    # Rare in N3 (stable breathing), as in real OSA; a walk through the night with gaps sized
    # so that the events asked for fit in the sleep there is.
    n3_accept = 0.35
    avail = (np.count_nonzero(np.isin(tl.stages, (N1, N2, R)))
             + n3_accept * np.count_nonzero(tl.stages == N3)) * EPOCH_SECONDS
    mean_dur = 21.0
    slack = max(avail / n_target - mean_dur - _PRE_S - _POST_S, 0.0)
    out: list[RespiratoryTruth] = []
    t = _PRE_S + rng.exponential(slack + 1.0)
    while t < tl.duration - 90.0 and len(out) < n_target:
        stage = tl.stages[int(t // EPOCH_SECONDS)]
        if stage == W or (stage == N3 and rng.random() > n3_accept):
            t += 5.0
            continue
        r = rng.random()
        if r < sev.hypopnea_share:
            kind = "hypopnea"
        else:
            u = rng.random()
            kind = ("apnea_central" if u < sev.central_share else
                    "apnea_mixed" if u < sev.central_share + sev.mixed_share else
                    "apnea_obstructive")
        mean = 25.0 if stage == R else 19.0
        dur = float(np.clip(rng.lognormal(np.log(mean), 0.28), 11.0, 60.0))
        if not _all_in(tl, t - 10.0, t + dur + 5.0, _SLEEP):
            t += 5.0
            continue
        if kind == "hypopnea":
            drop = float(rng.uniform(0.5, 0.8))
            depth = float(rng.uniform(4.0, 7.0))
        else:
            drop = float(rng.uniform(0.97, 1.0))
            depth = float(np.clip(3.0 + 0.22 * dur * rng.uniform(0.8, 1.25), 4.0, 16.0))
        no_effort = {"apnea_central": 1.0, "apnea_mixed": float(rng.uniform(0.3, 0.55))
                     }.get(kind, 0.0)
        nadir = t + dur + float(rng.uniform(20.0, 32.0))
        start = min(t + float(rng.uniform(10.0, 16.0)), nadir - 10.0)
        out.append(RespiratoryTruth(
            onset=round(float(t), 2), duration=round(dur, 2), kind=kind,
            flow_drop=round(drop, 3), no_effort=round(no_effort, 3),
            desat_start=round(float(start), 2), desat_nadir=round(float(nadir), 2),
            desat_depth=round(depth, 2),
            arousal=bool(rng.random() < sev.respiratory_arousal_share)))
        t = t + dur + _POST_S + _PRE_S + rng.exponential(slack + 1.0)
    return out


# ----------------------------------------------------------------------------- limb movements

def _limb_movements(tl, sev: Severity, resp: list[RespiratoryTruth]
                    ) -> list[tuple[float, float, str, float, bool]]:
    rng = tl.rng("truth-legs")
    moves: list[tuple[float, float, str, float]] = []
    n_target = int(round(sev.plmi * _sleep_seconds(tl.stages) / 3600.0))
    nrem = np.flatnonzero(np.isin(tl.stages, (N1, N2, N3)))
    spans: list[tuple[float, float]] = []
    placed = tries = 0
    while placed < n_target and nrem.size and tries < 200:
        tries += 1
        e0 = int(rng.choice(nrem))
        t = e0 * EPOCH_SECONDS + float(rng.uniform(0, EPOCH_SECONDS))
        n = int(rng.integers(4, 17))
        gaps = rng.uniform(15.0, 40.0, n - 1)
        times = t + np.r_[0.0, np.cumsum(gaps)]
        if not _free(spans, times[0] - 90.0, times[-1] + 90.0):
            continue
        series = []
        for tt in times:
            if not _all_in(tl, tt, tt + 5.0, (N1, N2, N3)):
                break
            series.append(float(tt))
        if len(series) < 4:
            continue
        spans.append((series[0], series[-1]))
        for tt in series:
            side = str(rng.choice(["left", "right", "both"], p=[0.35, 0.35, 0.3]))
            moves.append((round(tt, 2), round(float(rng.uniform(0.8, 4.0)), 2), side,
                          float(rng.uniform(20.0, 70.0))))
        placed += len(series)
    # isolated movements in wake (turning over, fidgeting)
    wake = np.flatnonzero(tl.stages == W)
    n_wake = int(rng.poisson(0.6 * wake.size * EPOCH_SECONDS / 60.0))
    for e in rng.choice(wake, size=n_wake) if wake.size else []:
        t = float(e * EPOCH_SECONDS + rng.uniform(0, EPOCH_SECONDS - 5.0))
        moves.append((round(t, 2), round(float(rng.uniform(1.0, 5.0)), 2),
                      str(rng.choice(["left", "right"])), float(rng.uniform(15.0, 60.0))))
    moves.sort()
    periodic = _aasm_plm(tl, moves, resp)
    return [(*m, p) for m, p in zip(moves, periodic)]


def _aasm_plm(tl, moves, resp: list[RespiratoryTruth]) -> list[bool]:
    """AASM PLM labelling: runs of >= 4 sleep LMs 5-90 s apart, none near a respiratory event."""
    near_resp = [(r.onset - 0.5, r.end + 0.5) for r in resp]
    cand = [i for i, (on, dur, _s, _a) in enumerate(moves)
            if 0.5 <= dur <= 10.0 and _all_in(tl, on, on + dur, _SLEEP)
            and _free(near_resp, on, on + dur)]
    out = [False] * len(moves)
    run: list[int] = []
    for i in cand + [None]:
        if i is not None and run and 5.0 <= moves[i][0] - moves[run[-1]][0] <= 90.0:
            run.append(i)
            continue
        if len(run) >= 4:
            for j in run:
                out[j] = True
        run = [] if i is None else [i]
    return out


# ----------------------------------------------------------------------------- arousals

def _arousals(tl, sev: Severity, resp: list[RespiratoryTruth], lms) -> list[
        tuple[float, float, str]]:
    rng = tl.rng("truth-arousals")
    out: list[tuple[float, float, str]] = []
    taken: list[tuple[float, float]] = []

    def add(on: float, dur: float, kind: str) -> bool:
        # >= 10 s of sleep before and no other arousal within 10 s (AASM)
        if not _all_in(tl, on - 10.0, on + dur, _SLEEP) or not _free(taken, on - 10.0,
                                                                      on + dur + 10.0):
            return False
        out.append((round(on, 2), round(dur, 2), kind))
        taken.append((on, on + dur))
        return True

    for r in resp:
        if r.arousal:
            add(r.end + float(rng.uniform(-1.0, 1.5)), float(rng.uniform(4.0, 12.0)),
                "arousal_respiratory")
    for on, _dur, _side, _amp, periodic in lms:
        if periodic and rng.random() < 0.25:
            add(on + float(rng.uniform(0.0, 0.5)), float(rng.uniform(3.5, 8.0)), "arousal_limb")
    rate = (sev.arousal_index if sev.arousal_index is not None
            else tl.subject.arousals_per_h)
    n_target = int(round(rate * _sleep_seconds(tl.stages) / 3600.0))
    sleep = np.flatnonzero(tl.stages != W)
    busy = [(r.onset - 5.0, r.end + 20.0) for r in resp]
    placed = tries = 0
    while placed < n_target and sleep.size and tries < 50 * n_target:
        tries += 1
        e = int(rng.choice(sleep))
        if tl.stages[e] == N3 and rng.random() > 0.3:
            continue
        on = e * EPOCH_SECONDS + float(rng.uniform(0, EPOCH_SECONDS))
        dur = float(rng.uniform(3.5, 12.0))
        if _free(busy, on, on + dur) and add(on, dur, "arousal_spontaneous"):
            placed += 1
    out.sort()
    return out


# ----------------------------------------------------------------------------- position

def _positions(tl, arousals) -> list[tuple[float, int, int]]:
    rng = tl.rng("truth-position")
    cands = np.sort(np.concatenate([
        np.array([a[0] for a in arousals], dtype=float),
        np.flatnonzero(tl.stages == W) * float(EPOCH_SECONDS) + 1.0]))
    if not cands.size:
        return []
    k = min(int(rng.integers(3, 9)), cands.size)
    times = np.sort(rng.choice(cands, size=k, replace=False))
    pos = "supine"
    out = []
    for t in times:
        others = [p for p in _LYING if p != pos]
        w = np.array([_LYING[p] for p in others])
        new = str(rng.choice(others, p=w / w.sum()))
        out.append((round(float(t), 2), _CODE[pos], _CODE[new]))
        pos = new
    return out


def position_signal(truth: NightTruth, n: int, fs: float) -> np.ndarray:
    """The position channel (NSRR codes) at ``fs`` Hz: supine at lights off, then each change."""
    x = np.full(n, float(_CODE["supine"]), dtype=np.float32)
    for t, _old, new in truth.positions:
        x[int(t * fs):] = new
    return x


# ----------------------------------------------------------------------------- event set

def truth_records(truth: NightTruth) -> list[dict]:
    """The ground truth as plain event records (onset, duration, type, channels, attributes).

    Respiratory events come with their desaturation and terminating arousal, which point to
    the event through ``attributes["parent"]`` (the respiratory event's id).
    """
    recs: list[dict] = []
    for i, r in enumerate(truth.respiratory):
        rid = f"truth-resp-{i:04d}"
        attrs = {"flow_drop_pct": round(100 * r.flow_drop, 1),
                 "rule": "AASM v3 apnea" if r.kind != "hypopnea" else "AASM v3 rule 1A"}
        if r.kind == "apnea_mixed":
            attrs["central_part_pct"] = round(100 * r.no_effort, 1)
        recs.append(dict(id=rid, onset=r.onset, duration=r.duration, type=r.kind,
                         channels=_FLOW + _EFFORT, attributes=attrs))
        recs.append(dict(id=f"truth-desat-{i:04d}", onset=r.desat_start,
                         duration=round(r.desat_nadir - r.desat_start + 8.0, 2),
                         type="desaturation", channels=_SPO2,
                         attributes={"drop_pct": r.desat_depth, "parent": rid,
                                     "nadir_delay_s": round(r.desat_nadir - r.end, 2)}))
    resp_ids = {round(r.end, 0): f"truth-resp-{i:04d}" for i, r in enumerate(truth.respiratory)}
    for i, (on, dur, kind) in enumerate(truth.arousals):
        attrs = {}
        if kind == "arousal_respiratory":
            parent = min(resp_ids, key=lambda e: abs(e - on))
            attrs["parent"] = resp_ids[parent]
        recs.append(dict(id=f"truth-arousal-{i:04d}", onset=on, duration=dur, type=kind,
                         channels=_EEG, attributes=attrs))
    for i, (on, dur, side, _amp, periodic) in enumerate(truth.limb_movements):
        kind = ("periodic_limb_movement" if periodic else
                "limb_movement_left" if side == "left" else
                "limb_movement_right" if side == "right" else "limb_movement")
        recs.append(dict(id=f"truth-lm-{i:04d}", onset=on, duration=dur, type=kind,
                         channels=_LEGS[side], attributes={"side": side}))
    for i, (t, old, new) in enumerate(truth.positions):
        recs.append(dict(id=f"truth-pos-{i:04d}", onset=t, duration=0.0, type="position_change",
                         channels=("Position",),
                         attributes={"from": POSITION_TABLE.codes[old],
                                     "to": POSITION_TABLE.codes[new]}))
    recs.sort(key=lambda r: (r["onset"], r["id"]))
    return recs

