"""Night assembly: the public :func:`make_night` and the objects it returns."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..contract import EPOCH_SECONDS
from ..events import Event, EventSet, EventSource, EventType, map_label
from ..jobs import TaskState
from .hypnogram import STAGE_NAMES, make_hypnogram
from .montage import POSITION_NSRR, ChannelSpec, resolve_montage
from .severity import Severity
from .subject import make_subject
from .timeline import Timeline


@dataclass
class SyntheticSignal:
    """One channel of a synthetic night.

    Attributes
    ----------
    label : str
        EDF label, e.g. ``"C4-M1"``.
    rate : float
        Sampling rate (Hz).
    unit : str
        Physical unit of ``data`` (``"uV"``, ``"mV"``, ``"%"``, ...).
    data : numpy.ndarray
        float32 samples in ``unit``.
    transducer, prefilter : str
        EDF header fields.
    physical_range : tuple of float
        EDF physical minimum and maximum.
    """

    label: str
    rate: float
    unit: str
    data: np.ndarray
    transducer: str = ""
    prefilter: str = ""
    physical_range: tuple[float, float] = (-3276.8, 3276.7)


@dataclass
class SyntheticNight:
    """A synthetic polysomnogram with its ground truth.

    Attributes
    ----------
    signals : list of SyntheticSignal
    stages : numpy.ndarray
        int8 SleepFM stage codes per 30-s epoch (0 W, 1 N1, 2 N2, 3 N3, 4 R).
    epoch_length : float
        Seconds per stage epoch (30).
    events : EventSet
        Apneas, hypopneas, desaturations, limb movements, arousals (and, with a severity,
        position changes), each with its annotation text as ``label``. With a severity they
        are the scored ground truth (types, channels, desaturation depth, the respiratory
        event each desaturation and arousal belongs to).
    start : datetime.datetime
        Recording start (lights off), fixed per seed.
    patient : dict
        EDF+ patient fields: code, sex, birthdate, name, additional.
    recording : dict
        EDF+ recording fields: startdate, admin_code, technician, equipment, additional.
    seed : int
    montage : str
    subject : dict
        The sleeper's parameters (age, cycle length, alpha frequency, ...).
    severity : Severity or None
        The event rates the night was drawn with, or None for a night without ground truth.
    """

    signals: list[SyntheticSignal]
    stages: np.ndarray
    epoch_length: float = float(EPOCH_SECONDS)
    events: EventSet = field(default_factory=EventSet)
    start: _dt.datetime = _dt.datetime(2024, 1, 1, 22, 0)
    patient: dict = field(default_factory=dict)
    recording: dict = field(default_factory=dict)
    seed: int = 0
    montage: str = "full"
    subject: dict = field(default_factory=dict)
    severity: Severity | None = None

    @property
    def annotations(self) -> list[tuple[float, float, str]]:
        """The events as EDF+ annotations: (onset s, duration s, text), in event order."""
        return [(e.onset, e.duration, e.label) for e in self.events]

    @property
    def duration(self) -> float:
        """Length of the night (s)."""
        return float(self.stages.size * self.epoch_length)

    @property
    def labels(self) -> list[str]:
        """Channel labels in file order."""
        return [s.label for s in self.signals]

    @property
    def stage_names(self) -> list[str]:
        """AASM names (W, N1, N2, N3, R) per epoch."""
        return [STAGE_NAMES[int(c)] for c in self.stages]

    def signal(self, label: str) -> SyntheticSignal:
        """The channel called ``label``.

        Raises
        ------
        KeyError
            If the night has no such channel.
        """
        for s in self.signals:
            if s.label == label:
                return s
        raise KeyError(f"no channel {label!r}; channels: {self.labels}")


def make_night(hours: float = 8.0, seed: int = 0, montage: str | Sequence[str] = "full",
               apnea: bool = False, *, stages: Sequence[int] | np.ndarray | None = None,
               severity: Severity | None = None,
               state: TaskState | None = None) -> SyntheticNight:
    """Generate a seeded synthetic polysomnogram with its hypnogram and events.

    Parameters
    ----------
    hours : float
        Recording length (lights off to lights on), rounded to whole 30-s epochs.
    seed : int
        Night seed: the same seed gives the same sleeper, hypnogram and signals.
    montage : str or sequence of str
        ``"full"``, ``"eeg-only"``, ``"minimal"``, ``"no-resp"`` or a list of channel labels
        (see :data:`sleepfm_engine.synthetic.montage.CHANNELS`).
    apnea : bool
        Give the sleeper sleep apnea at the sleeper's own AHI (12-40 /h) and PLM index, with
        scored ground truth (as ``severity=Severity(ahi=..., plmi=...)`` would).
    stages : sequence of int, optional
        Impose this hypnogram (stage codes per epoch) instead of drawing one; ``hours`` is
        then ignored. Useful for short tests that need every stage.
    severity : Severity, optional
        Draw apneas, hypopneas, desaturations, arousals, periodic limb movements and position
        changes at these rates, with ground truth in :attr:`SyntheticNight.events`. Without it
        (and without ``apnea``) the night is the plain one, unchanged.
    state : TaskState, optional
        Receives progress and is checked for cancellation between channels.

    Returns
    -------
    SyntheticNight

    Raises
    ------
    ValueError
        For a non-positive length, an unknown montage or invalid stage codes.
    """
    state = state or TaskState()
    seed = int(seed)
    specs = resolve_montage(montage)
    subject = make_subject(seed)
    if stages is not None:
        hyp = np.asarray(stages)
        if hyp.ndim != 1 or hyp.size == 0:
            raise ValueError("stages must be a non-empty 1-D sequence of stage codes")
        if not np.all(np.isin(hyp, np.arange(len(STAGE_NAMES)))):
            raise ValueError(f"stage codes must be in 0..{len(STAGE_NAMES) - 1} (W N1 N2 N3 R)")
        hyp = hyp.astype(np.int8)
    else:
        if not np.isfinite(hours) or hours <= 0:
            raise ValueError(f"hours must be positive, got {hours}")
        n_epochs = max(1, int(round(hours * 3600.0 / EPOCH_SECONDS)))
        hyp = make_hypnogram(n_epochs, seed, subject)
    if apnea and severity is None:
        severity = Severity(ahi=round(subject.ahi, 1), plmi=round(subject.plm_per_h, 1))
    if severity is not None:
        specs = [POSITION_NSRR if s.kind == "position" else s for s in specs]
    tl = Timeline(seed, subject, hyp, apnea, severity)
    state.set_status("synthesising signals")
    data = _generate(tl, specs, state)
    signals = []
    for spec in specs:
        x = data.pop(spec.label)
        lo, hi = spec.physical_range
        np.clip(x, lo, hi, out=x)
        signals.append(SyntheticSignal(spec.label, float(spec.rate), spec.unit, x,
                                       spec.transducer, spec.prefilter, spec.physical_range))
    state.set_progress(1.0)
    return SyntheticNight(
        signals=signals,
        stages=hyp,
        epoch_length=float(EPOCH_SECONDS),
        events=_event_set(tl, seed, subject.lights_off),
        start=subject.lights_off,
        patient=_patient(seed, subject),
        recording=_recording(seed, subject),
        seed=seed,
        montage=montage if isinstance(montage, str) else "custom",
        subject=subject.as_dict(),
        severity=severity,
    )


def _event_set(tl: Timeline, seed: int, start: _dt.datetime) -> EventSet:
    """The night's events as an :class:`EventSet` (typed ground truth when drawn from a severity)."""
    from .truth import LABELS, truth_records

    if tl.truth is None:
        # the plain night: its annotation texts, typed through the shared label vocabulary
        source = EventSource.manual("synthetic night")
        return EventSet([Event(onset=on, duration=dur, type=map_label(desc), source=source,
                               label=desc, id=f"syn-{i:05d}")
                         for i, (on, dur, desc) in enumerate(tl.events())], start=start)
    source = EventSource("manual", "synthetic ground truth",
                         settings={"seed": seed, **tl.severity.as_dict()})
    return EventSet([Event(onset=r["onset"], duration=r["duration"], type=EventType(r["type"]),
                           channels=tuple(r["channels"]), source=source,
                           attributes=r["attributes"], label=LABELS[r["type"]], id=r["id"])
                     for r in truth_records(tl.truth)], start=start, source=source.name)


def _generate(tl: Timeline, specs: list[ChannelSpec], state: TaskState) -> dict[str, np.ndarray]:
    from .brain import generate_brain
    from .breathing import generate_breathing
    from .cardiac import generate_ecg
    from .muscle import generate_muscle

    labels = [s.label for s in specs]
    kinds = {s.kind for s in specs}
    rate = {s.label: s.rate for s in specs}
    out: dict[str, np.ndarray] = {}
    # rough share of the work of each group, for the progress bar
    brain = [s for s in specs if s.kind in ("eeg", "eog")]
    share_brain = 0.7 if brain else 0.0
    if brain:
        fs = brain[0].rate
        sub = state.sub(0.0, share_brain)
        out.update(generate_brain(tl, [s.label for s in brain], fs,
                                  progress=lambda f: (sub.set_progress(f),
                                                      state.check_cancelled())))
    state.check_cancelled()
    emg = [s for s in specs if s.kind == "emg"]
    if emg:
        state.set_status("synthesising EMG")
        out.update(generate_muscle(tl, [s.label for s in emg], emg[0].rate))
    state.set_progress(share_brain + 0.15)
    state.check_cancelled()
    if "ecg" in kinds:
        state.set_status("synthesising ECG")
        ecg = next(s for s in specs if s.kind == "ecg")
        out[ecg.label] = generate_ecg(tl, ecg.rate)
    state.check_cancelled()
    resp_kinds = {"flow", "effort", "snore", "spo2", "position"}
    if kinds & resp_kinds:
        state.set_status("synthesising respiration")
        out.update(generate_breathing(tl, labels, rate))
    missing = [lb for lb in labels if lb not in out]
    if missing:  # a spec whose generator produced nothing is a programming error
        raise RuntimeError(f"no generator produced {missing}")
    return out


def _patient(seed: int, subject) -> dict:
    birth = (subject.lights_off.date().replace(day=1)
             - _dt.timedelta(days=int(365.25 * subject.age) + (seed * 37) % 300))
    return {"code": f"SYN{seed:05d}", "sex": subject.sex, "birthdate": birth,
            "name": "Synthetic_Sleeper", "additional": ["SleepFM_Studio_synthetic"]}


#: The EDF+ equipment code of every generated night: how a reader tells one from a real recording.
GENERATED_EQUIPMENT = "SleepFM_Studio_synth"


def _recording(seed: int, subject) -> dict:
    return {"startdate": subject.lights_off.date(), "admin_code": f"PSG{seed:05d}",
            "technician": "SYN", "equipment": GENERATED_EQUIPMENT,
            "additional": ["full_PSG_type_1"]}
