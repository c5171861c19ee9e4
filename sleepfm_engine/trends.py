"""Whole-night trends: SpO2, heart rate, body position and event density, binned for display.

A night's level signals are found and read once by
:func:`sleepfm_engine.report.events.read_night_signals` (the same channel roles, validity
ranges and position tables as the report and the indices), then reduced to fixed bins
(:func:`bin_level`, :func:`bin_position`) so that a whole night is a few thousand points
whatever the sampling rate. Event density (:func:`event_density`) needs no signal and is
recomputed from the events whenever they change.
:func:`trends_job` wraps the reading as a :class:`~sleepfm_engine.jobs.Job` with progress and
cancellation, so a viewer computes trends off its first page.

No data is no trend: a bin without a valid sample is NaN (or unknown position), never zero.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .events import EVENT_TYPES, Event, EventType
from .indices import HR_VALID_RANGE, SPO2_VALID_RANGE
from .jobs import Job, TaskState
from .position import POSITIONS, UNKNOWN_POSITION, BodyPosition

__all__ = ["DEFAULT_BIN_SECONDS", "DEFAULT_DENSITY_MINUTES", "DENSITY_FAMILIES", "LevelTrend",
           "PositionTrend", "EventDensity", "Trends", "bin_level", "bin_position",
           "event_density", "compute_trends", "trends_job"]

#: Width of a signal bin: one scoring epoch, so trend bins line up with the hypnogram's epochs.
DEFAULT_BIN_SECONDS: float = 30.0
#: Width of an event-density bin.
DEFAULT_DENSITY_MINUTES: float = 10.0
#: Event families counted in the density (lights, notes and artefacts are not events of sleep).
DENSITY_FAMILIES: tuple[str, ...] = ("respiratory", "oxygen", "arousal", "limb", "cardiac")


@dataclass(frozen=True, eq=False)
class LevelTrend:
    """A level signal (SpO2, heart rate) reduced to bins.

    Attributes
    ----------
    name : str
        ``"spo2"`` or ``"heart_rate"``.
    unit : str
        Unit of the values (``"%"``, ``"bpm"``).
    channel : str
        Label of the channel read.
    bin_seconds : float
        Width of a bin; bin ``i`` covers ``[i * bin_seconds, (i + 1) * bin_seconds)`` seconds
        from the recording start.
    mean, low, high : numpy.ndarray
        Mean, minimum and maximum of the valid samples in each bin (NaN: no valid sample).
    """

    name: str
    unit: str
    channel: str
    bin_seconds: float
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        """Start of each bin, seconds from the recording start."""
        return np.arange(self.mean.shape[0]) * self.bin_seconds


@dataclass(frozen=True, eq=False)
class PositionTrend:
    """Body position reduced to bins: the most frequent known position in each bin.

    Attributes
    ----------
    channel : str
    table : str
        Position code table it was decoded with.
    bin_seconds : float
    codes : numpy.ndarray of int8
        Index into :data:`~sleepfm_engine.position.POSITIONS`, or
        :data:`~sleepfm_engine.position.UNKNOWN_POSITION` where no sample of the bin is known.
    """

    channel: str
    table: str
    bin_seconds: float
    codes: np.ndarray


@dataclass(frozen=True, eq=False)
class EventDensity:
    """Events per type counted in fixed bins (by onset).

    Attributes
    ----------
    bin_seconds : float
    counts : dict
        :class:`~sleepfm_engine.events.EventType` -> int array, one count per bin; only the
        types that occur, in vocabulary order.
    """

    bin_seconds: float
    counts: dict[EventType, np.ndarray]

    @property
    def n_bins(self) -> int:
        return next(iter(self.counts.values())).shape[0] if self.counts else 0

    def per_hour(self, kind: EventType) -> np.ndarray:
        """Rate of ``kind`` in each bin, events per hour."""
        return self.counts[kind] * (3600.0 / self.bin_seconds)


@dataclass(frozen=True, eq=False)
class Trends:
    """The trends of one night.

    Attributes
    ----------
    duration : float
        Seconds of the recording.
    spo2, heart_rate : LevelTrend or None
    position : PositionTrend or None
    density : EventDensity or None
        None when no events were given.
    notes : tuple of str
        Why a trend is missing (channel found but unusable, no channel at all).
    """

    duration: float
    spo2: LevelTrend | None = None
    heart_rate: LevelTrend | None = None
    position: PositionTrend | None = None
    density: EventDensity | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _n_bins(duration: float, bin_seconds: float) -> int:
    if not (math.isfinite(bin_seconds) and bin_seconds > 0):
        raise ValueError(f"bin width must be a positive number of seconds, got {bin_seconds!r}")
    return max(0, int(math.ceil(duration / bin_seconds - 1e-9)))


def _bin_index(n_samples: int, rate: float, onset: float, bin_seconds: float) -> np.ndarray:
    t = onset + np.arange(n_samples) / rate
    return np.floor(t / bin_seconds + 1e-9).astype(np.int64)


def bin_level(values: Any, rate: float, valid: tuple[float, float], duration: float,
              bin_seconds: float = DEFAULT_BIN_SECONDS,
              onset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, minimum and maximum of the valid samples of a level signal in each bin.

    Parameters
    ----------
    values : array-like
        Samples.
    rate : float
        Samples per second.
    valid : (float, float)
        Samples outside this closed range, or not finite, are artefact and ignored.
    duration : float
        Seconds covered by the bins (the recording's duration).
    bin_seconds : float
    onset : float
        Time of the first sample, seconds from the recording start.

    Returns
    -------
    (mean, low, high) : three float64 arrays of ``ceil(duration / bin_seconds)`` values,
        NaN in a bin without a valid sample.
    """
    n = _n_bins(duration, bin_seconds)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    idx = _bin_index(v.shape[0], float(rate), float(onset), bin_seconds)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(v) & (v >= valid[0]) & (v <= valid[1]) & (idx >= 0) & (idx < n)
    v, idx = v[ok], idx[ok]
    count = np.bincount(idx, minlength=n).astype(np.float64)
    total = np.bincount(idx, weights=v, minlength=n)
    mean = np.divide(total, count, out=np.full(n, np.nan), where=count > 0)
    low = np.full(n, np.inf)
    high = np.full(n, -np.inf)
    np.minimum.at(low, idx, v)
    np.maximum.at(high, idx, v)
    low[count == 0] = np.nan
    high[count == 0] = np.nan
    return mean, low, high


def bin_position(position: BodyPosition, duration: float,
                 bin_seconds: float = DEFAULT_BIN_SECONDS) -> np.ndarray:
    """Most frequent known position code in each bin (ties: the lower code), unknown where the
    bin holds no known sample."""
    n = _n_bins(duration, bin_seconds)
    codes = position.codes.astype(np.int64)
    idx = _bin_index(codes.shape[0], position.rate, position.onset, bin_seconds)
    ok = (codes != UNKNOWN_POSITION) & (idx >= 0) & (idx < n)
    table = np.zeros((n, len(POSITIONS)), dtype=np.int64)
    np.add.at(table, (idx[ok], codes[ok]), 1)
    out = np.argmax(table, axis=1).astype(np.int8)
    out[table.sum(axis=1) == 0] = UNKNOWN_POSITION
    return out


def event_density(events: Iterable[Event], duration: float,
                  bin_minutes: float = DEFAULT_DENSITY_MINUTES,
                  families: tuple[str, ...] = DENSITY_FAMILIES) -> EventDensity:
    """Count the events of ``families`` per type in bins of ``bin_minutes`` (by onset).

    Events whose onset lies outside ``[0, duration)`` are not counted.
    """
    bin_seconds = float(bin_minutes) * 60.0
    n = _n_bins(duration, bin_seconds)
    onsets: dict[EventType, list[float]] = {}
    for e in events:
        if EVENT_TYPES[e.type].family in families:
            onsets.setdefault(e.type, []).append(e.onset)
    counts: dict[EventType, np.ndarray] = {}
    for kind in EVENT_TYPES:  # vocabulary order: stable colours and legend
        if kind not in onsets:
            continue
        t = np.asarray(onsets[kind])
        t = t[(t >= 0) & (t < duration)]
        counts[kind] = np.bincount(np.floor(t / bin_seconds + 1e-9).astype(np.int64),
                                   minlength=n)[:n]
    return EventDensity(bin_seconds, counts)


def compute_trends(recording: Any, channel_map: Any = None, events: Iterable[Event] | None = None,
                   state: TaskState | None = None, *,
                   bin_seconds: float = DEFAULT_BIN_SECONDS,
                   density_minutes: float = DEFAULT_DENSITY_MINUTES,
                   position_table: str | None = None) -> Trends:
    """The trends of a recording.

    Parameters
    ----------
    recording : Recording
        Read from (a worker should pass its own handle, ``recording.clone()``).
    channel_map : ChannelMap, optional
        The user's modalities, which steer the channel roles.
    events : iterable of Event, optional
        Events whose density is binned (an EventSet or a list; None: no density).
    state : TaskState, optional
        Progress and cancellation.
    bin_seconds : float
        Width of a signal bin.
    density_minutes : float
        Width of an event-density bin.
    position_table : str, optional
        Registered position code table (default: the report's).

    Raises
    ------
    JobCancelled
        If ``state`` asks to stop.
    """
    from .report.events import DEFAULT_POSITION_TABLE, read_night_signals

    state = state or TaskState()
    duration = float(recording.duration)
    _n_bins(duration, bin_seconds)  # a bad width is refused before anything is read
    state.set_status("reading SpO2, heart rate and body position")
    signals = read_night_signals(recording, channel_map, position_table or DEFAULT_POSITION_TABLE)
    state.set_progress(0.7)
    state.check_cancelled()
    notes = list(signals.notes)
    levels: dict[str, LevelTrend | None] = {}
    for name, unit, valid in (("spo2", "%", SPO2_VALID_RANGE), ("heart_rate", "bpm", HR_VALID_RANGE)):
        sig = getattr(signals, name)
        if sig is None:
            levels[name] = None
            continue
        state.set_status(f"binning {name.replace('_', ' ')}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = bin_level(sig.values, sig.rate, valid, duration, bin_seconds,
                                        sig.onset)
        levels[name] = LevelTrend(name, unit, signals.channels[name], bin_seconds, mean, low, high)
        state.check_cancelled()
    for name, what in (("spo2", "SpO2"), ("heart_rate", "heart-rate"), ("position", "position")):
        if name not in signals.channels:
            notes.append(f"no usable {what} channel")
    position = None
    if signals.position is not None:
        position = PositionTrend(signals.channels["position"], signals.position.table, bin_seconds,
                                 bin_position(signals.position, duration, bin_seconds))
    state.set_progress(0.9)
    density = None
    if events is not None:
        state.set_status("counting events")
        density = event_density(events, duration, density_minutes)
    state.set_progress(1.0)
    return Trends(duration, levels["spo2"], levels["heart_rate"], position, density, tuple(notes))


def trends_job(recording: Any, channel_map: Any = None, events: Iterable[Event] | None = None,
               **kwargs: Any) -> Job:
    """A :class:`~sleepfm_engine.jobs.Job` computing :func:`compute_trends` on its own handle.

    Parameters
    ----------
    recording : Recording
        Cloned when the job runs (:meth:`~sleepfm_engine.recording.Recording.clone`), so the
        caller may page or close its handle meanwhile; the clone is closed when the job ends.
    channel_map, events, **kwargs
        As :func:`compute_trends`.
    """
    def run(state: TaskState) -> Trends:
        own = recording.clone()
        try:
            return compute_trends(own, channel_map, events, state, **kwargs)
        finally:
            own.close()

    return Job("Whole-night trends", run)
