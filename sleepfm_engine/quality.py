"""Signal quality per channel and per 30-s epoch, with reasons a technologist understands.

A recording can be read without error and still be unfit for scoring: an electrode that came
off all night, an amplifier that saturates, an EEG exported in millivolts under a microvolt
label, a lead that carries more mains hum than brain. SleepFM z-scores every channel, so such a
channel reaches the model looking like any other; this module says so before it does.

Checks are registries: :data:`CHANNEL_CHECKS` (one verdict per channel: flat or disconnected,
clipped, implausible amplitude, mains noise, mostly high-frequency artefact, artefact-ridden
epochs) and :data:`EPOCH_CHECKS` (one flag per 30-s epoch: flat, clipped, extreme amplitude).
Each entry names the modalities it applies to and its function; every number they compare with
lives in :class:`Thresholds` (:data:`THRESHOLDS`). Amplitude expectations depend on what the
channel carries, an EEG/EOG, an EMG, an ECG or an effort belt (:class:`SignalProfile`); channels
of other kinds (airflow, SpO2, snoring) get the checks that need no expectation.

Channels are read one at a time at their native rate and released before the next, so an 8-h
night never sits in memory whole. Amplitude statistics use every sample (decimating would
shave off the very peaks and rails they look for); spectra average a bounded, evenly spread
sample of 2-s segments, which estimates a night-long spectrum as well as all of them would.
"""
from __future__ import annotations

import enum
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .channels import EFFORT_WORDS, MIN_WAVEFORM_HZ, ChannelMap, label_says
from .contract import EPOCH_SECONDS, MODALITIES
from .jobs import TaskState
from .recording import _VOLT_SCALE, Channel, Recording

__all__ = ["CHANNEL_CHECKS", "EPOCH_CHECKS", "EXCLUDING_CHECKS", "THRESHOLDS", "ChannelCheck",
           "ChannelQuality", "EpochCheck", "EpochFlags", "Finding", "QualityReport",
           "QualityWarning", "Severity", "SignalProfile", "Thresholds", "assess_channel",
           "assess_recording"]

REPORT_FORMAT = "sleepfm-quality"
REPORT_VERSION = 1


class QualityWarning(RuntimeWarning):
    """A channel's signal quality changed what the engine does with it (it was left out)."""


class Severity(str, enum.Enum):
    """How much a finding matters: ``error`` makes a channel unusable, ``warning`` deserves a
    look, ``info`` is worth knowing."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.INFO, Severity.WARNING, Severity.ERROR)


# --------------------------------------------------------------------------------------------
# Thresholds, in one place

@dataclass(frozen=True)
class SignalProfile:
    """What a kind of biopotential or transducer output looks like, in its display unit.

    Attributes
    ----------
    name : str
        Shown in reasons: ``"EEG/EOG"``.
    unit : str
        Display unit of the figures below (``"µV"`` or ``"mV"``).
    volts : float
        Volts per display unit.
    typical : tuple of float
        Typical peak-to-peak amplitude of a 30-s epoch (low, high).
    flat_below : float
        An epoch whose peak-to-peak is below this carries no signal.
    extreme_above : float
        An epoch whose peak-to-peak is above this is an artefact (movement, electrode pop).
    """

    name: str
    unit: str
    volts: float
    typical: tuple[float, float]
    flat_below: float
    extreme_above: float


#: Profiles of the voltage channels whose amplitude is known. Typical ranges are peak-to-peak
#: per 30-s epoch (a whole epoch, so they sit above textbook wave amplitudes: an epoch holds the
#: largest K complex, slow wave or eye movement of its 30 s).
PROFILES: dict[str, SignalProfile] = {
    "eeg": SignalProfile("EEG/EOG", "µV", 1e-6, (20.0, 500.0), 2.0, 1000.0),
    "emg": SignalProfile("EMG", "µV", 1e-6, (3.0, 300.0), 0.5, 2000.0),
    "ecg": SignalProfile("ECG", "mV", 1e-3, (0.3, 5.0), 0.02, 10.0),
    "effort": SignalProfile("respiratory effort belt", "mV", 1e-3, (0.05, 20.0), 0.005, 200.0),
}


@dataclass(frozen=True)
class Thresholds:
    """Every number the checks compare with.

    Attributes
    ----------
    epoch_seconds : float
        Length of an epoch for the per-epoch flags (the clinical 30 s).
    waveform_min_hz : float
        Channels sampled slower carry a level or a rate (SpO2, heart rate), not a waveform;
        per-epoch flatness and artefact flags do not apply to them.
    flat_night_fraction : float
        A channel flat in at least this fraction of its epochs is flat (and left out of
        inference).
    flat_max_steps : float
        A small epoch that still spans this many quantisation steps is a waveform at the wrong
        scale (see the amplitude check), not a flat line.
    flat_steps_unprofiled : float
        Without a profile, an epoch (or a slow channel's night) spanning at most this many
        quantisation steps is flat.
    clip_night_fraction : float
        A channel with at least this fraction of its samples at its extremes is clipped.
    clip_epoch_fraction : float
        An epoch with at least this fraction of its samples at the channel's extremes is clipped.
    clip_min_steps : float
        Clipping is judged only on channels spanning at least this many quantisation steps
        (a coarsely quantised signal repeats its extremes without saturating).
    extreme_relative : float
        Without a profile, an epoch whose peak-to-peak exceeds this multiple of the channel's
        median epoch is an extreme-amplitude artefact.
    amplitude_margin : float
        A channel's median epoch amplitude is implausible beyond its profile's typical range
        divided or multiplied by this.
    unit_factor : float
        The factor a wrong voltage prefix makes (µV for mV): tried to explain an implausible
        amplitude.
    mains_hz : tuple of float
        Mains frequencies.
    mains_half_width_hz : float
        Half-width of the band counted as mains around each.
    mains_fraction : float
        A channel with at least this fraction of its power in a mains band is dominated by it.
    hf_hz : float
        Power above this frequency (mains excluded) is high-frequency artefact for an EEG/ECG.
    hf_fraction : float
        A channel with at least this fraction of its power above ``hf_hz`` is mostly artefact.
    spectrum_floor_hz : float
        Power below this (offset, drift) is left out of spectral fractions.
    spectrum_segment_seconds : float
        Length of the segments whose spectra are averaged (0.5-Hz resolution at 2 s).
    spectrum_max_segments : int
        Segments averaged at most, spread evenly over the night.
    epoch_warning_fraction : float
        Artefact epochs below this fraction are ``info``, at or above it a ``warning``.
    """

    epoch_seconds: float = float(EPOCH_SECONDS)
    waveform_min_hz: float = MIN_WAVEFORM_HZ
    flat_night_fraction: float = 0.9
    flat_max_steps: float = 100.0
    flat_steps_unprofiled: float = 1.0
    clip_night_fraction: float = 0.005
    clip_epoch_fraction: float = 0.01
    clip_min_steps: float = 20.0
    extreme_relative: float = 20.0
    amplitude_margin: float = 3.0
    unit_factor: float = 1000.0
    mains_hz: tuple[float, ...] = (50.0, 60.0)
    mains_half_width_hz: float = 1.0
    mains_fraction: float = 0.5
    hf_hz: float = 35.0
    hf_fraction: float = 0.5
    spectrum_floor_hz: float = 0.5
    spectrum_segment_seconds: float = 2.0
    spectrum_max_segments: int = 1024
    epoch_warning_fraction: float = 0.2
    profiles: Mapping[str, SignalProfile] = field(default_factory=lambda: dict(PROFILES))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy (tuples as lists), saved with every report."""
        return json.loads(json.dumps(asdict(self)))


#: The thresholds the engine uses.
THRESHOLDS = Thresholds()


# --------------------------------------------------------------------------------------------
# Records

@dataclass(frozen=True)
class Finding:
    """One thing wrong with one channel.

    Attributes
    ----------
    check : str
        Key of the check in :data:`CHANNEL_CHECKS` (``"flat"``, ``"clipped"`` ...).
    channel : str
        The channel's label.
    severity : Severity
    reason : str
        What was measured against what was expected, in words and units:
        ``"flat or disconnected: peak-to-peak 0 µV over the whole night (EEG/EOG typically
        20–500 µV per 30-s epoch)"``.
    value : float
        The figure the check compared with its threshold (a fraction or an amplitude in the
        unit the reason gives).
    """

    check: str
    channel: str
    severity: Severity
    reason: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "channel": self.channel, "severity": self.severity.value,
                "reason": self.reason, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Finding":
        return cls(str(data["check"]), str(data["channel"]), Severity(data["severity"]),
                   str(data["reason"]), float(data["value"]))


@dataclass(frozen=True)
class EpochFlags:
    """Per-epoch artefact flags of one channel.

    Attributes
    ----------
    epoch_seconds : float
    n_epochs : int
        Whole epochs the channel covers (a trailing part shorter than an epoch has no flag).
    flags : dict
        Key of :data:`EPOCH_CHECKS` → sorted indices of the flagged epochs (epoch ``i`` covers
        ``[i * epoch_seconds, (i + 1) * epoch_seconds)`` from the recording start).
    """

    epoch_seconds: float
    n_epochs: int
    flags: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def mask(self, key: str | None = None) -> np.ndarray:
        """Boolean per epoch: flagged by ``key``, or by any flag when ``key`` is None."""
        out = np.zeros(self.n_epochs, dtype=bool)
        for k, idx in self.flags.items():
            if key is None or k == key:
                out[list(idx)] = True
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"epoch_seconds": self.epoch_seconds, "n_epochs": self.n_epochs,
                "flags": {k: list(v) for k, v in self.flags.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EpochFlags":
        return cls(float(data["epoch_seconds"]), int(data["n_epochs"]),
                   {str(k): tuple(int(i) for i in v) for k, v in data["flags"].items()})


@dataclass(frozen=True)
class ChannelQuality:
    """The quality of one channel: what was checked and what was found.

    Attributes
    ----------
    label, modality : str
    profile : str or None
        Key of the :class:`SignalProfile` its amplitude was judged against, if any.
    checked : tuple of str
        Keys of the channel checks that applied to it (the others could not: no expectation
        for its kind, a rate too low for a spectrum ...).
    findings : tuple of Finding
    epochs : EpochFlags
    """

    label: str
    modality: str
    profile: str | None
    checked: tuple[str, ...]
    findings: tuple[Finding, ...]
    epochs: EpochFlags

    @property
    def severity(self) -> Severity | None:
        """The worst finding's severity, None when nothing was found."""
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    @property
    def status(self) -> str:
        """``"ok"``, ``"info"``, ``"warning"``, ``"error"`` or ``"not checked"``."""
        if not self.checked:
            return "not checked"
        return "ok" if self.severity is None else self.severity.value

    @property
    def excluding(self) -> tuple[Finding, ...]:
        """Findings that leave the channel out of inference (see :data:`EXCLUDING_CHECKS`)."""
        return tuple(f for f in self.findings if f.check in EXCLUDING_CHECKS)

    @property
    def usable(self) -> bool:
        """Whether inference may use the channel as it is."""
        return not self.excluding

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "modality": self.modality, "profile": self.profile,
                "status": self.status, "usable": self.usable, "checked": list(self.checked),
                "findings": [f.to_dict() for f in self.findings],
                "epoch_flags": self.epochs.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChannelQuality":
        return cls(str(data["label"]), str(data["modality"]), data["profile"],
                   tuple(data["checked"]), tuple(Finding.from_dict(f) for f in data["findings"]),
                   EpochFlags.from_dict(data["epoch_flags"]))


@dataclass(frozen=True)
class QualityReport:
    """Signal quality of the channels of one recording.

    Attributes
    ----------
    source : str
        The recording's path.
    channels : tuple of ChannelQuality
        In file order.
    thresholds : dict
        The :class:`Thresholds` used (:meth:`Thresholds.as_dict`), so a saved report says what
        its verdicts meant.
    """

    source: str
    channels: tuple[ChannelQuality, ...]
    thresholds: Mapping[str, Any]

    def channel(self, label: str) -> ChannelQuality:
        """The quality of one channel.

        Raises
        ------
        KeyError
            If the report does not cover that channel.
        """
        for c in self.channels:
            if c.label == label:
                return c
        raise KeyError(f"{self.source}: no quality for channel {label!r} (checked: "
                       f"{', '.join(c.label for c in self.channels) or 'none'})")

    @property
    def findings(self) -> list[Finding]:
        """Every finding, channel by channel in file order."""
        return [f for c in self.channels for f in c.findings]

    @property
    def unusable(self) -> list[str]:
        """Labels of the channels inference leaves out (unless the user overrides)."""
        return [c.label for c in self.channels if not c.usable]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for output metadata; :meth:`from_dict` reads it back."""
        return {"format": REPORT_FORMAT, "version": REPORT_VERSION, "source": self.source,
                "thresholds": dict(self.thresholds),
                "channels": [c.to_dict() for c in self.channels]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QualityReport":
        """Rebuild a report saved with :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data`` is not a quality report of a version this engine reads.
        """
        if data.get("format") != REPORT_FORMAT or data.get("version") != REPORT_VERSION:
            raise ValueError(f"not a {REPORT_FORMAT} report of version {REPORT_VERSION} "
                             f"(format {data.get('format')!r}, version {data.get('version')!r})")
        return cls(str(data["source"]), tuple(ChannelQuality.from_dict(c) for c in data["channels"]),
                   dict(data["thresholds"]))


# --------------------------------------------------------------------------------------------
# One channel's signal and the statistics the checks share

_UNIT_NAMES = {"v": "V", "mv": "mV", "uv": "µV", "µv": "µV", "μv": "µV", "nv": "nV"}
# Voltage prefixes from small to large: a wrong prefix moves a value one rung (×1000).
_UNIT_LADDER = ("nV", "µV", "mV", "V")
# (modality, label words that must match or None, profile key); the first match wins.
_PROFILE_RULES: tuple[tuple[str, Any, str], ...] = (
    ("BAS", None, "eeg"),
    ("EMG", None, "emg"),
    ("EKG", None, "ecg"),
    ("RESP", EFFORT_WORDS, "effort"),
)


def _number(value: float) -> str:
    """A figure as a technologist writes it: 0, 0.2, 3.5, 98, 1470 (never 1.47e+03)."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.3g}"


class ChannelSignal:
    """One channel's samples and the per-epoch statistics every check reads.

    Parameters
    ----------
    channel : Channel
    modality : str
    values : numpy.ndarray
        The whole channel as :meth:`Recording.read` returns it (volts for voltages; NaN in
        the gaps of an EDF+D file).
    thresholds : Thresholds
    """

    def __init__(self, channel: Channel, modality: str, values: np.ndarray, thresholds: Thresholds):
        self.channel = channel
        self.label = channel.label
        self.modality = modality
        self.rate = channel.rate
        self.t = thresholds
        self.volts_per_raw = _VOLT_SCALE.get(channel.raw_unit.strip().lower())
        self.profile_key = self._profile_key()
        self.profile = None if self.profile_key is None else thresholds.profiles[self.profile_key]
        self.is_waveform = self.rate >= thresholds.waveform_min_hz
        degenerate = (channel.physical_max == channel.physical_min
                      or channel.digital_max == channel.digital_min)
        raw_step = 1.0 if degenerate else abs((channel.physical_max - channel.physical_min)
                                              / (channel.digital_max - channel.digital_min))
        self.to_read = self.volts_per_raw or 1.0          # raw unit → the unit values are read in
        self.step = raw_step * self.to_read
        self.bipolar = not degenerate and channel.physical_min < 0 < channel.physical_max
        self.declared = None if degenerate else (channel.physical_min * self.to_read,
                                                 channel.physical_max * self.to_read)

        per_epoch = thresholds.epoch_seconds * self.rate
        self.n_epochs = int(np.floor(len(values) / per_epoch + 1e-9)) if per_epoch > 0 else 0
        if self.n_epochs:
            bounds = np.floor(np.arange(self.n_epochs + 1) * per_epoch + 1e-9).astype(np.int64)
        else:  # shorter than one epoch: the whole channel is one segment for channel verdicts
            bounds = np.array([0, len(values)], dtype=np.int64)
        self.x = values[:bounds[-1]]
        self.starts = bounds[:-1]
        self.lengths = np.diff(bounds)
        self.emin, self.emax = self._segment_extremes()
        self.ptp = self.emax - self.emin           # NaN where a segment holds only gaps
        self.valid = np.isfinite(self.ptp)
        self.hi = float(np.max(self.emax[self.valid])) if self.valid.any() else math.nan
        self.lo = float(np.min(self.emin[self.valid])) if self.valid.any() else math.nan
        self.epoch_masks: dict[str, np.ndarray] = {}

    def _segment_extremes(self) -> tuple[np.ndarray, np.ndarray]:
        """Minimum and maximum of each segment, ignoring gaps (NaN where only gaps)."""
        if not self.x.size:
            nan = np.full(len(self.starts), np.nan)
            return nan, nan
        if np.all(self.lengths == self.lengths[0]):
            # Equal segments (an integer number of samples per epoch): a reshaped min/max is
            # several times faster than reduceat; it propagates NaN, so gaps fall back below.
            grid = self.x.reshape(len(self.starts), -1)
            lo, hi = grid.min(axis=1), grid.max(axis=1)
            if not (np.isnan(lo).any()):
                return lo, hi
        return np.fmin.reduceat(self.x, self.starts), np.fmax.reduceat(self.x, self.starts)

    def _profile_key(self) -> str | None:
        if self.volts_per_raw is None or self.rate < self.t.waveform_min_hz:
            return None
        for modality, words, key in _PROFILE_RULES:
            if modality == self.modality and (
                    words is None or label_says(words, self.label)
                    or label_says(words, self.channel.transducer)):
                return key
        return None

    # -- figures in words ------------------------------------------------------------------
    def display(self, value: float) -> float:
        """A value in read units (volts for voltages) in the unit reasons are written in."""
        if self.profile is not None:
            return value / self.profile.volts
        return value / self.to_read

    @property
    def unit(self) -> str:
        if self.profile is not None:
            return self.profile.unit
        raw = self.channel.raw_unit.strip()
        return _UNIT_NAMES.get(raw.lower(), raw)

    def amount(self, value: float) -> str:
        """``"3.5 µV"``: a value in read units, converted and with its unit."""
        unit = self.unit
        return f"{_number(self.display(value))} {unit}".rstrip()

    def expectation(self) -> str:
        """``" (EEG/EOG typically 20–500 µV per 30-s epoch)"``, or nothing without a profile."""
        p = self.profile
        if p is None:
            return ""
        return (f" ({p.name} typically {_number(p.typical[0])}–{_number(p.typical[1])} {p.unit} "
                f"peak-to-peak per {_number(self.t.epoch_seconds)}-s epoch)")

    # -- shared statistics -----------------------------------------------------------------
    @cached_property
    def median_ptp(self) -> float:
        return float(np.median(self.ptp[self.valid])) if self.valid.any() else math.nan

    @cached_property
    def amplitude_plausible(self) -> bool:
        """Whether the median epoch amplitude fits the profile (within the margin)."""
        p = self.profile
        if p is None:
            return False
        lo, hi = self.plausible_range
        return lo <= self.display(self.median_ptp) <= hi

    @property
    def plausible_range(self) -> tuple[float, float]:
        """The profile's typical range widened by the margin, in the display unit."""
        p = self.profile
        return p.typical[0] / self.t.amplitude_margin, p.typical[1] * self.t.amplitude_margin

    @property
    def night_ptp(self) -> float:
        return self.hi - self.lo

    @cached_property
    def flat(self) -> bool:
        """Flat or disconnected for (nearly) the whole night."""
        if not self.valid.any():
            return False
        if not self.is_waveform or not self.n_epochs:
            return self.night_ptp <= self.t.flat_steps_unprofiled * self.step
        flat = self.epoch_masks.get("flat")
        if flat is None:
            flat = _epoch_flat(self)
        return float(flat[self.valid].mean()) >= self.t.flat_night_fraction

    @cached_property
    def extreme_hits(self) -> tuple[np.ndarray, float, float]:
        """Per-segment count of samples piled at the night's extremes; fractions at max and min.

        Only runs of two or more samples count: a saturated amplifier holds its rail, while an
        unclipped peak (even of a strictly periodic signal) touches the extreme for one sample.
        """
        at_hi = _runs(np.flatnonzero(self.x == self.hi))
        at_lo = _runs(np.flatnonzero(self.x == self.lo))
        piled = np.union1d(at_hi, at_lo)
        segment = np.searchsorted(self.starts, piled, side="right") - 1
        counts = np.bincount(segment, minlength=len(self.starts))
        n = max(int(self.lengths.sum()) - int(np.isnan(self.x).sum()), 1)
        return counts, at_hi.size / n, at_lo.size / n

    @cached_property
    def spectrum(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(frequencies, mean power) over evenly spread segments without gaps, or None."""
        nper = int(round(self.t.spectrum_segment_seconds * self.rate))
        nseg = self.x.size // nper if nper >= 8 else 0
        if nseg == 0:
            return None
        pick = np.unique(np.linspace(0, nseg - 1, min(nseg, self.t.spectrum_max_segments))
                         .astype(np.int64))
        segs = self.x[:nseg * nper].reshape(nseg, nper)[pick]
        segs = segs[np.isfinite(segs).all(axis=1)]
        if not len(segs):
            return None
        segs = (segs - segs.mean(axis=1, keepdims=True)) * np.hanning(nper)
        power = (np.abs(np.fft.rfft(segs, axis=1)) ** 2).mean(axis=0)
        return np.fft.rfftfreq(nper, 1.0 / self.rate), power

    def band_fraction(self, lo: float, hi: float, exclude: Sequence[tuple[float, float]] = ()
                      ) -> float:
        """Fraction of the power above the spectrum floor that lies in ``[lo, hi]``."""
        freqs, power = self.spectrum
        above = freqs >= self.t.spectrum_floor_hz
        total = power[above].sum()
        if total <= 0:
            return 0.0
        band = above & (freqs >= lo) & (freqs <= hi)
        for a, b in exclude:
            band &= ~((freqs >= a) & (freqs <= b))
        return float(power[band].sum() / total)

    def mains_bands(self) -> list[tuple[float, float]]:
        w = self.t.mains_half_width_hz
        return [(f - w, f + w) for f in self.t.mains_hz]


def _runs(index: np.ndarray) -> np.ndarray:
    """Of sorted sample indices, those with a neighbouring index (runs of two or more)."""
    pair = np.diff(index) == 1
    member = np.zeros(index.size, dtype=bool)
    member[1:] |= pair
    member[:-1] |= pair
    return index[member]


# --------------------------------------------------------------------------------------------
# Per-epoch checks

def _epoch_flat(s: ChannelSignal) -> np.ndarray:
    steps = s.ptp / s.step
    if s.profile is not None:
        return (s.display(s.ptp) < s.profile.flat_below) & (steps < s.t.flat_max_steps)
    return steps <= s.t.flat_steps_unprofiled


def _clipping_applies(s: ChannelSignal) -> bool:
    return (s.is_waveform and s.bipolar and s.valid.any() and not s.flat
            and s.night_ptp >= s.t.clip_min_steps * s.step)


def _epoch_clipped(s: ChannelSignal) -> np.ndarray:
    counts, _, _ = s.extreme_hits
    return counts >= s.t.clip_epoch_fraction * s.lengths


def _extreme_limit(s: ChannelSignal) -> float:
    """Peak-to-peak (read units) above which an epoch is an extreme-amplitude artefact."""
    # A profile's absolute limit holds only where the channel's amplitude fits the profile; a
    # channel under a wrong unit would have every epoch flagged (the amplitude check says why).
    if s.profile is not None and s.amplitude_plausible:
        return s.profile.extreme_above * s.profile.volts
    return s.t.extreme_relative * max(s.median_ptp, s.step)


def _epoch_extreme(s: ChannelSignal) -> np.ndarray:
    return s.ptp > _extreme_limit(s)


@dataclass(frozen=True)
class EpochCheck:
    """One per-epoch artefact flag of :data:`EPOCH_CHECKS`.

    Attributes
    ----------
    key : str
    modalities : frozenset of str
        Modalities whose channels it applies to.
    function : callable
        ``function(signal) -> bool array``, one value per epoch.
    applies : callable
        ``applies(signal) -> bool``: whether the flag means anything for this channel.
    description : callable
        ``description(signal) -> str``: what a flagged epoch is, for reasons.
    """

    key: str
    modalities: frozenset[str]
    function: Callable[[ChannelSignal], np.ndarray]
    applies: Callable[[ChannelSignal], bool]
    description: Callable[[ChannelSignal], str]


_ALL = frozenset(MODALITIES)

#: Per-epoch artefact flags, by key.
EPOCH_CHECKS: dict[str, EpochCheck] = {c.key: c for c in (
    EpochCheck("flat", _ALL, _epoch_flat, lambda s: s.is_waveform,
               lambda s: "flat"),
    EpochCheck("clipped", _ALL, _epoch_clipped, _clipping_applies,
               lambda s: "clipped"),
    EpochCheck("extreme", _ALL, _epoch_extreme, lambda s: s.is_waveform and not s.flat,
               lambda s: f"extreme amplitude (> {s.amount(_extreme_limit(s))} peak-to-peak)"),
)}


# --------------------------------------------------------------------------------------------
# Per-channel checks; each returns (severity, reason, value) or None when all is well

_Verdict = tuple[Severity, str, float]


def _check_flat(s: ChannelSignal) -> _Verdict | None:
    if not s.flat:
        return None
    flat = s.epoch_masks.get("flat")
    if flat is None or flat[s.valid].all():
        return (Severity.ERROR, f"flat or disconnected: peak-to-peak {s.amount(s.night_ptp)} over "
                                f"the whole night{s.expectation()}", s.display(s.night_ptp))
    k, n = int(flat[s.valid].sum()), int(s.valid.sum())
    return (Severity.ERROR, f"flat or disconnected in {k} of {n} epochs ({100 * k / n:.0f} %): "
                            f"median peak-to-peak {s.amount(s.median_ptp)}{s.expectation()}",
            s.display(s.median_ptp))


def _check_clipped(s: ChannelSignal) -> _Verdict | None:
    _, at_hi, at_lo = s.extreme_hits
    total = at_hi + at_lo
    if total < s.t.clip_night_fraction:
        return None
    sides = []
    for frac, value, declared, name in ((at_hi, s.hi, s.declared and s.declared[1], "maximum"),
                                        (at_lo, s.lo, s.declared and s.declared[0], "minimum")):
        if frac >= s.t.clip_night_fraction / 2:
            rail = (" (the file's physical " + name + ")"
                    if declared is not None and abs(value - declared) <= s.step else "")
            sides.append(f"{100 * frac:.1f} % at {s.amount(value)}{rail}")
    return (Severity.WARNING, f"clipped: {100 * total:.1f} % of samples sit at the extremes "
                              f"({'; '.join(sides)}); the amplifier or the export saturated and "
                              "peaks beyond are lost", total)


def _unit_hint(s: ChannelSignal, value: float, lo: float, hi: float) -> str:
    """Why an amplitude might be off by a wrong voltage prefix, or nothing."""
    unit = _UNIT_NAMES.get(s.channel.raw_unit.strip().lower())
    if unit not in _UNIT_LADDER:
        return ""
    rung = _UNIT_LADDER.index(unit)
    f = s.t.unit_factor
    for scaled, other in ((value * f, rung + 1), (value / f, rung - 1)):
        if lo <= scaled <= hi and 0 <= other < len(_UNIT_LADDER):
            return (f"; the numbers look like {_UNIT_LADDER[other]} labelled {unit} "
                    f"(check the unit in the file's header)")
    return ""


def _check_amplitude(s: ChannelSignal) -> _Verdict | None:
    if s.amplitude_plausible:
        return None
    p = s.profile
    m = s.display(s.median_ptp)
    lo, hi = s.plausible_range
    size = "small" if m < lo else "large"
    return (Severity.WARNING, f"amplitude implausibly {size} for {p.name}: median peak-to-peak "
                              f"{_number(m)} {p.unit} per epoch{s.expectation()}"
                              f"{_unit_hint(s, m, lo, hi)}", m)


def _check_mains(s: ChannelSignal) -> _Verdict | None:
    fractions = [(s.band_fraction(a, b), f) for (a, b), f in zip(s.mains_bands(), s.t.mains_hz)]
    frac, hz = max(fractions)
    if frac < s.t.mains_fraction:
        return None
    return (Severity.WARNING, f"dominated by mains noise: {100 * frac:.0f} % of the signal's power "
                              f"is at {_number(hz)} Hz (a loose or high-impedance electrode, or no "
                              "notch filter)", frac)


def _check_high_frequency(s: ChannelSignal) -> _Verdict | None:
    frac = s.band_fraction(s.t.hf_hz, s.rate / 2, exclude=s.mains_bands())
    if frac < s.t.hf_fraction:
        return None
    what = s.profile.name if s.profile is not None else s.modality
    return (Severity.WARNING, f"mostly high-frequency artefact: {100 * frac:.0f} % of the power lies "
                              f"above {_number(s.t.hf_hz)} Hz, where {what} has little (muscle, "
                              "movement or electrode artefact)", frac)


def _check_epochs(s: ChannelSignal) -> _Verdict | None:
    masks = {k: m & s.valid for k, m in s.epoch_masks.items()}
    hit = np.zeros(len(s.valid), dtype=bool)
    for m in masks.values():
        hit |= m
    k, n = int(hit.sum()), int(s.valid.sum())
    if not k:
        return None
    parts = [f"{int(m.sum())} {EPOCH_CHECKS[key].description(s)}"
             for key, m in masks.items() if m.any()]
    severity = Severity.WARNING if k / n >= s.t.epoch_warning_fraction else Severity.INFO
    return (severity, f"artefacts in {k} of {n} epochs ({100 * k / n:.1f} %): {', '.join(parts)}",
            k / n)


def _spectral(s: ChannelSignal, top_hz: float) -> bool:
    return s.is_waveform and not s.flat and s.rate / 2 > top_hz and s.spectrum is not None


@dataclass(frozen=True)
class ChannelCheck:
    """One per-channel check of :data:`CHANNEL_CHECKS`.

    Attributes
    ----------
    key : str
    modalities : frozenset of str
        Modalities whose channels it applies to.
    function : callable
        ``function(signal) -> (severity, reason, value) or None``.
    applies : callable
        ``applies(signal) -> bool``: whether the check can judge this channel at all.
    excludes : bool
        Whether a finding leaves the channel out of inference.
    epoch_checks : tuple of str
        Keys of :data:`EPOCH_CHECKS` whose flags it reads (computed first).
    """

    key: str
    modalities: frozenset[str]
    function: Callable[[ChannelSignal], _Verdict | None]
    applies: Callable[[ChannelSignal], bool]
    excludes: bool = False
    epoch_checks: tuple[str, ...] = ()


#: Per-channel checks, by key, in the order they run and their findings are listed.
CHANNEL_CHECKS: dict[str, ChannelCheck] = {c.key: c for c in (
    ChannelCheck("flat", _ALL, _check_flat, lambda s: s.valid.any(), excludes=True,
                 epoch_checks=("flat",)),
    ChannelCheck("clipped", _ALL, _check_clipped, _clipping_applies),
    ChannelCheck("amplitude", _ALL, _check_amplitude,
                 lambda s: s.profile is not None and s.valid.any() and not s.flat),
    ChannelCheck("mains", _ALL, _check_mains,
                 lambda s: s.volts_per_raw is not None
                 and _spectral(s, max(s.t.mains_hz) + s.t.mains_half_width_hz)),
    ChannelCheck("high_frequency", frozenset({"BAS", "EKG"}), _check_high_frequency,
                 lambda s: _spectral(s, 1.5 * s.t.hf_hz)),
    ChannelCheck("epoch_artefacts", _ALL, _check_epochs,
                 lambda s: s.n_epochs > 0 and not s.flat, epoch_checks=tuple(EPOCH_CHECKS)),
)}

#: Keys of the checks whose finding leaves a channel out of inference.
EXCLUDING_CHECKS: frozenset[str] = frozenset(k for k, c in CHANNEL_CHECKS.items() if c.excludes)


# --------------------------------------------------------------------------------------------
# Assessment

def _select(keys: Iterable[str] | None) -> list[ChannelCheck]:
    if keys is None:
        return list(CHANNEL_CHECKS.values())
    keys = list(keys)
    unknown = [k for k in keys if k not in CHANNEL_CHECKS]
    if unknown:
        raise ValueError(f"unknown quality check(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(CHANNEL_CHECKS)}")
    return [CHANNEL_CHECKS[k] for k in CHANNEL_CHECKS if k in keys]


def _assess_signal(s: ChannelSignal, checks: list[ChannelCheck]) -> ChannelQuality:
    checks = [c for c in checks if s.modality in c.modalities]
    wanted = {k for c in checks for k in c.epoch_checks}
    # Flatness first: the applicability of the other epoch flags depends on it.
    for key in sorted(wanted, key=lambda k: k != "flat"):
        ec = EPOCH_CHECKS[key]
        if s.modality in ec.modalities and ec.applies(s):
            s.epoch_masks[key] = ec.function(s)
    checked, findings = [], []
    for check in checks:
        if not check.applies(s):
            continue
        checked.append(check.key)
        verdict = check.function(s)
        if verdict is not None:
            findings.append(Finding(check.key, s.label, *verdict))
    flags = {}
    if s.n_epochs:
        flags = {k: tuple(int(i) for i in np.flatnonzero(m & s.valid)) for k, m in s.epoch_masks.items()}
    return ChannelQuality(s.label, s.modality, s.profile_key, tuple(checked), tuple(findings),
                          EpochFlags(s.t.epoch_seconds, s.n_epochs, flags))


def assess_channel(rec: Recording, label: str, modality: str, *, checks: Iterable[str] | None = None,
                   thresholds: Thresholds = THRESHOLDS, values: np.ndarray | None = None) -> ChannelQuality:
    """Check one channel of a recording.

    Parameters
    ----------
    rec : Recording
    label : str
        The channel's label.
    modality : str
        Its modality (``"BAS"`` ... or ``"other"``: no check applies to other channels).
    checks : iterable of str, optional
        Keys of :data:`CHANNEL_CHECKS` to run (default: all).
    thresholds : Thresholds
    values : numpy.ndarray, optional
        The channel's samples when the caller has read them already (``rec.read_channel``
        of this channel; left unchanged), so that a channel checked and then preprocessed is
        read once.

    Returns
    -------
    ChannelQuality
    """
    selected = _select(checks)
    channel = rec.channel(label)
    if not any(modality in c.modalities for c in selected):
        return ChannelQuality(label, modality, None, (), (), EpochFlags(thresholds.epoch_seconds, 0))
    if values is None:
        values = rec.read_channel(channel.index)
    signal = ChannelSignal(channel, modality, values, thresholds)
    return _assess_signal(signal, selected)


def assess_recording(rec: Recording, channel_map: ChannelMap | None = None, *,
                     labels: Sequence[str] | None = None, checks: Iterable[str] | None = None,
                     thresholds: Thresholds = THRESHOLDS,
                     state: TaskState | None = None) -> QualityReport:
    """Check the channels of a recording, reading one channel at a time.

    Parameters
    ----------
    rec : Recording
    channel_map : ChannelMap, optional
        Modality of each channel (default: the automatic map).
    labels : sequence of str, optional
        Channels to check (default: all, in file order).
    checks : iterable of str, optional
        Keys of :data:`CHANNEL_CHECKS` to run (default: all). Inference runs only
        :data:`EXCLUDING_CHECKS`.
    thresholds : Thresholds
    state : TaskState, optional
        Progress per channel; cancellation is checked between channels.

    Returns
    -------
    QualityReport
    """
    cmap = channel_map if channel_map is not None else ChannelMap.from_recording(rec)
    labels = list(rec.labels if labels is None else labels)
    selected = _select(checks)
    out = []
    for i, label in enumerate(labels):
        if state is not None:
            state.check_cancelled()
            state.set_status(f"checking signal quality of {label}")
        out.append(assess_channel(rec, label, cmap.modality_of(label),
                                  checks=[c.key for c in selected], thresholds=thresholds))
        if state is not None:
            state.set_progress((i + 1) / len(labels))
    return QualityReport(str(rec.path), tuple(out), thresholds.as_dict())
