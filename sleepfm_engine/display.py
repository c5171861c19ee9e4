"""Signals as a trace viewer shows them: display kinds, filters, derivations, min/max decimation.

A viewer asks :class:`PageSource` for one window of some channels and gets back at most two
points per pixel column, already filtered and re-referenced, so drawing an 8-hour study costs
what drawing one page costs. Nothing here imports Qt: the same code serves the desktop viewer,
figures and tests.

Display filters follow the AASM manual's recommended settings (zero-phase here, so events stay
where they happened): EEG and EOG 0.3–35 Hz, EMG 10–100 Hz, ECG 0.3–70 Hz, respiration
(airflow, effort) 0.1–15 Hz, snoring 10–100 Hz. Level channels (SpO2, heart or pulse rate,
body position) and channels SleepFM does not use are never filtered. A cut-off at or above
0.95 × Nyquist is dropped rather than distorting the trace (a 10–100 Hz EMG filter on a 50-Hz
channel becomes a 10-Hz high-pass). A channel sampled below
:data:`~sleepfm_engine.channels.MIN_WAVEFORM_HZ` is a level too. What a label's words say is read
with the one label vocabulary of :mod:`sleepfm_engine.channels`.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .channels import (ELECTRODE_HEADS, EOG_WORDS, LEVEL_UNITS, LEVEL_WORDS, MIN_WAVEFORM_HZ,
                       MODALITY_PREFIX, SNORE_WORDS, label_says)
from .contract import EPOCH_SECONDS, MODALITIES, OTHER

__all__ = [
    "AASM_FILTERS", "DISPLAY_KINDS", "FILTERABLE_KINDS", "KIND_COLORS", "KIND_DESCRIPTIONS",
    "Derivation", "DisplayChannel", "FilterSpec", "PageSource", "Trace",
    "build_display_channels", "display_kind", "display_scale", "electrode_name", "epoch_envelope",
    "filter_padding", "filter_response", "filter_signal", "minmax_decimate", "robust_range",
    "suggest_derivations",
]

#: What a trace is, for filtering and colour; finer than a SleepFM modality.
DISPLAY_KINDS: tuple[str, ...] = ("EEG", "EOG", "EMG", "ECG", "RESP", "SNORE", "LEVEL", "OTHER")
KIND_DESCRIPTIONS: dict[str, str] = {
    "EEG": "electroencephalogram", "EOG": "electro-oculogram", "EMG": "electromyogram",
    "ECG": "electrocardiogram", "RESP": "respiration (airflow, effort)", "SNORE": "snoring",
    "LEVEL": "level or rate (SpO2, heart rate, position)", "OTHER": "not used by SleepFM",
}
#: Trace colours (hex RGB): brain signals in blues and greens, muscle purple, heart red,
#: breathing browns, levels teal.
KIND_COLORS: dict[str, str] = {
    "EEG": "#1F3B73", "EOG": "#2A7F62", "EMG": "#7B3FA0", "ECG": "#B22222", "RESP": "#8A5A00",
    "SNORE": "#A0522D", "LEVEL": "#00707A", "OTHER": "#555555",
}
#: Kinds the display filters act on.
FILTERABLE_KINDS: tuple[str, ...] = ("EEG", "EOG", "EMG", "ECG", "RESP", "SNORE")
# Stacking order of the modalities, top to bottom (the usual PSG montage order).
_MODALITY_ORDER: tuple[str, ...] = ("BAS", "EMG", "EKG", "RESP", OTHER)
# A cut-off this close to Nyquist is dropped.
_NYQUIST_MARGIN = 0.95
# Butterworth order of each edge; applied as if forward and backward (magnitude squared).
_ORDER = 2
# Quality factor of the mains notch.
_NOTCH_Q = 30.0
# Longest real-data padding read on each side of a window for the filters to settle.
_MAX_PAD_S = 15.0


@dataclass(frozen=True)
class FilterSpec:
    """A band of a display filter: high-pass at ``low`` Hz, low-pass at ``high`` Hz (None = off)."""

    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"filter {name} cut-off must be a positive number of Hz or None, "
                                 f"got {v!r}")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"filter high-pass {self.low} Hz must be below the low-pass "
                             f"{self.high} Hz")

    @property
    def enabled(self) -> bool:
        return self.low is not None or self.high is not None

    def describe(self) -> str:
        """``"0.3–35 Hz"``, ``"≥ 10 Hz"``, ``"≤ 15 Hz"`` or ``"off"``."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g} Hz"
        if self.low is not None:
            return f"≥ {self.low:g} Hz"
        if self.high is not None:
            return f"≤ {self.high:g} Hz"
        return "off"


#: AASM recommended display filters per kind.
AASM_FILTERS: dict[str, FilterSpec] = {
    "EEG": FilterSpec(0.3, 35.0), "EOG": FilterSpec(0.3, 35.0), "EMG": FilterSpec(10.0, 100.0),
    "ECG": FilterSpec(0.3, 70.0), "RESP": FilterSpec(0.1, 15.0), "SNORE": FilterSpec(10.0, 100.0),
    "LEVEL": FilterSpec(), "OTHER": FilterSpec(),
}

def display_kind(label: str, modality: str, unit: str | None = None,
                 rate: float | None = None) -> str:
    """Return the display kind of a channel from its SleepFM modality, label, unit and rate.

    Parameters
    ----------
    label : str
        Channel label.
    modality : str
        SleepFM modality (``BAS``, ``RESP``, ``EKG``, ``EMG`` or ``other``), e.g. from
        :class:`~sleepfm_engine.channels.ChannelMap`.
    unit : str, optional
        Physical unit as written in the file (``"%"``, ``"bpm"``, ``"uV"``).
    rate : float, optional
        Sampling rate in Hz.

    Returns
    -------
    str
        One of :data:`DISPLAY_KINDS`.
    """
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, not {type(label).__name__}")
    if modality not in (*MODALITIES, OTHER):
        raise ValueError(f"unknown modality {modality!r}; expected one of "
                         f"{', '.join((*MODALITIES, OTHER))}")
    if modality == OTHER:
        return "OTHER"
    u = (unit or "").strip().casefold()
    slow = rate is not None and 0 < rate < MIN_WAVEFORM_HZ
    if modality == "RESP":
        if u in LEVEL_UNITS or label_says(LEVEL_WORDS, label) or slow:
            return "LEVEL"
        if label_says(SNORE_WORDS, label):
            return "SNORE"
        return "RESP"
    if slow:
        return "LEVEL"
    if modality == "BAS":
        return "EOG" if label_says(EOG_WORDS, label) else "EEG"
    if modality == "EMG":
        return "EMG"
    return "ECG"


# --------------------------------------------------------------------------------------------
# Filters

def _active_edges(rate: float, low: float | None, high: float | None,
                  notch: float | None) -> tuple[float | None, float | None, float | None]:
    limit = _NYQUIST_MARGIN * rate / 2.0
    keep = [v if v is not None and v < limit else None for v in (low, high, notch)]
    return keep[0], keep[1], keep[2]


def filter_response(freqs: np.ndarray, rate: float, spec: FilterSpec | None,
                    notch: float | None = None) -> np.ndarray | None:
    """Magnitude response of a display filter at ``freqs`` Hz, or None if nothing filters.

    The response is that of a 2nd-order Butterworth section per edge run forward and
    backward, ``1 / (1 + (f/fc)^4)`` for the low-pass and ``(f/fc)^4 / (1 + (f/fc)^4)`` for the
    high-pass (−6 dB at the cut-off, like ``sosfiltfilt`` of ``butter(2, fc)``), times the
    squared magnitude of a notch of quality factor 30.
    """
    if not rate > 0:
        raise ValueError(f"sampling rate must be positive, got {rate}")
    spec = spec or FilterSpec()
    low, high, notch = _active_edges(float(rate), spec.low, spec.high, notch)
    if low is None and high is None and notch is None:
        return None
    f = np.minimum(np.abs(np.asarray(freqs, dtype=np.float64)), rate / 2.0)
    # Frequencies warped as the bilinear transform warps them, so the response is the
    # digital Butterworth's and not merely the analog prototype's.
    w = np.tan(np.pi * f / rate)
    g = np.ones_like(f)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if low is not None:
            r = (w / math.tan(math.pi * low / rate)) ** (2 * _ORDER)
            g *= np.where(np.isfinite(r), r / (1.0 + r), 1.0)
        if high is not None:
            r = (w / math.tan(math.pi * high / rate)) ** (2 * _ORDER)
            g *= np.where(np.isfinite(r), 1.0 / (1.0 + r), 0.0)
    if notch is not None:
        # |H|^2 of the biquad notch scipy.signal.iirnotch designs, evaluated on the unit circle.
        w0 = 2.0 * math.pi * notch / rate
        beta = math.tan(w0 / _NOTCH_Q / 2.0)
        gain = 1.0 / (1.0 + beta)
        b = gain * np.array([1.0, -2.0 * math.cos(w0), 1.0])
        a = np.array([1.0, -2.0 * gain * math.cos(w0), 2.0 * gain - 1.0])
        z = np.exp(-1j * 2.0 * np.pi * f / rate)
        h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
        g *= np.abs(h) ** 2
    return g


def filter_padding(spec: FilterSpec | None, notch: float | None = None) -> float:
    """Seconds of real signal to read on each side of a window so the filter has settled.

    About five time constants of the high-pass (the slowest part of the filter), at most
    15 s; half a second for a low-pass or a notch alone.
    """
    pad = 0.0
    if spec is not None and spec.low is not None:
        tau = 1.0 / (2.0 * math.pi * spec.low * math.sqrt(0.5))
        pad = 5.0 * tau
    if (spec is not None and spec.high is not None) or notch is not None:
        pad = max(pad, 0.5)
    return min(pad, _MAX_PAD_S)


def _fast_length(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (lengths numpy's FFT handles fastest)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@functools.lru_cache(maxsize=64)
def _gain(n_fft: int, rate: float, spec: FilterSpec | None, notch: float | None) -> np.ndarray | None:
    g = filter_response(np.fft.rfftfreq(n_fft, 1.0 / rate), rate, spec, notch)
    if g is not None:
        g.setflags(write=False)
    return g


def filter_signal(x: np.ndarray, rate: float, spec: FilterSpec | None,
                  notch: float | None = None, *, reflect: tuple[bool, bool] = (True, True)
                  ) -> np.ndarray:
    """Filter a channel (1-D) or same-rate channels (rows of a 2-D array) for display.

    Zero phase, applied in the frequency domain with the response of
    :func:`filter_response`. NaN samples (gaps of a discontinuous recording) stay NaN and do
    not spread. Uses numpy only: a trace viewer opens without paying for ``scipy.signal``.

    Parameters
    ----------
    x : numpy.ndarray
        Samples, 1-D or one channel per row.
    rate : float
        Sampling rate (Hz).
    spec : FilterSpec or None
        Band to keep.
    notch : float, optional
        Mains frequency to remove.
    reflect : (bool, bool)
        Extend the start/end by odd reflection (as ``filtfilt`` does) so they do not ring.
        A caller that already read :func:`filter_padding` seconds of real signal beyond an end
        passes False for it and saves the work.

    Returns
    -------
    numpy.ndarray
        A float64 array shaped like ``x`` (``x`` itself when nothing is to be done).
    """
    x = np.asarray(x, dtype=np.float64)
    spec = spec or FilterSpec()
    n = x.shape[-1]
    low, high, notch_hz = _active_edges(float(rate), spec.low, spec.high, notch)
    if (low is None and high is None and notch_hz is None) or n < 2:
        return x
    x2 = np.atleast_2d(x)
    finite = np.isfinite(x2)
    has_gaps = not finite.all()
    if has_gaps:
        sums = np.where(finite, x2, 0.0).sum(axis=-1, keepdims=True)
        counts = np.maximum(finite.sum(axis=-1, keepdims=True), 1)
        x2 = np.where(finite, x2, sums / counts)
    edge = min(n - 1, max(1, int(round(filter_padding(spec, notch) * rate))))
    parts = [x2]
    lead = 0
    if reflect[0]:
        parts.insert(0, 2 * x2[:, :1] - x2[:, edge:0:-1])
        lead = edge
    if reflect[1]:
        parts.append(2 * x2[:, -1:] - x2[:, -2:-edge - 2:-1])
    ext = np.concatenate(parts, axis=-1) if len(parts) > 1 else x2
    # The FFT treats the block as periodic: remove the straight line joining its ends so
    # the wrap-around carries no step (a line is restored exactly by what passes the filter).
    m = ext.shape[-1]
    ramp = np.linspace(0.0, 1.0, m)
    a0, a1 = ext[:, :1], ext[:, -1:]
    detrended = ext - (a0 + (a1 - a0) * ramp)
    n_fft = _fast_length(m)
    gain = _gain(n_fft, float(rate), FilterSpec(low, high), notch_hz)
    spectrum = np.fft.rfft(detrended, n_fft, axis=-1)
    spectrum *= gain
    y = np.fft.irfft(spectrum, n_fft, axis=-1)[:, lead:lead + n]
    if low is None:
        # Without a high-pass the line's offset and slope pass unchanged.
        y += (a0 + (a1 - a0) * ramp[lead:lead + n])
    y = np.ascontiguousarray(y)
    if has_gaps:
        y[~finite] = np.nan
    return y.reshape(x.shape)


# --------------------------------------------------------------------------------------------
# Decimation and scaling

def minmax_decimate(y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a trace to the minimum and maximum of each of ``n_bins`` bins.

    A line through these points looks exactly like the full trace drawn into ``n_bins`` pixel
    columns: every peak survives, unlike plain subsampling.

    Parameters
    ----------
    y : numpy.ndarray
        Samples.
    n_bins : int
        Number of bins (pixel columns), at least 1.

    Returns
    -------
    positions : numpy.ndarray
        Sample positions (float, the centre of each bin, each twice); ``arange(len(y))`` when
        ``y`` has no more than ``2 * n_bins`` samples (nothing to gain).
    values : numpy.ndarray
        Minimum then maximum of each bin (the samples themselves when not decimated).
    """
    y = np.asarray(y)
    n_bins = int(n_bins)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    n = y.shape[-1]
    if n <= 2 * n_bins:
        return np.arange(n, dtype=np.float64), y
    edges = (np.arange(n_bins, dtype=np.int64) * n) // n_bins
    mins = np.minimum.reduceat(y, edges)
    maxs = np.maximum.reduceat(y, edges)
    ends = np.append(edges[1:], n)
    centres = (edges + ends - 1) / 2.0
    values = np.empty(2 * n_bins, dtype=y.dtype)
    values[0::2] = mins
    values[1::2] = maxs
    return np.repeat(centres, 2), values


def robust_range(y: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> tuple[float, float]:
    """Centre and span of a trace, ignoring the most extreme samples and NaN.

    Returns
    -------
    (centre, span) : tuple of float
        The median and the distance between the two percentiles; the span is never 0
        (a flat trace gets span 1 of its unit, so a gain can still be derived).
    """
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return 0.0, 1.0
    lo, mid, hi = np.percentile(y, [low_pct, 50.0, high_pct])
    span = float(hi - lo)
    if not span > 0:
        span = max(abs(float(mid)) * 1e-3, 1e-12) if mid else 1.0
    return float(mid), span


def display_scale(unit: str) -> tuple[str, float]:
    """Unit shown to a reader and the factor from the engine's unit: volts are shown in µV."""
    if unit == "V":
        return "µV", 1e6
    return unit, 1.0


# --------------------------------------------------------------------------------------------
# Derivations

_ELECTRODE = re.compile(rf"^({ELECTRODE_HEADS})(z|\d{{1,2}})$|^(chin)(z|\d)$", re.IGNORECASE)
_REF_SUFFIX = re.compile(r"[\s\-:/_]*(ref|reference|cz ?ref)$", re.IGNORECASE)
# Mastoid electrodes go by two names: M1/M2 (AASM) and A1/A2 (10-20 earlobes).
_MASTOID_ALIASES = {"M1": "A1", "M2": "A2", "A1": "M1", "A2": "M2"}
#: The AASM recommended derivations (plus, minus), in montage order.
AASM_DERIVATIONS: tuple[tuple[str, str], ...] = (
    ("F4", "M1"), ("C4", "M1"), ("O2", "M1"), ("F3", "M2"), ("C3", "M2"), ("O1", "M2"),
    ("E1", "M2"), ("E2", "M1"), ("Chin1", "Chin2"), ("Chin1", "ChinZ"),
)


def electrode_name(label: str) -> str | None:
    """The single electrode a referential channel records, or None for a derivation.

    ``"C4"``, ``"EEG C4-REF"``, ``"C4:Ref"`` → ``"C4"``; ``"LOC"``/``"ROC"`` → ``"E1"``/``"E2"``;
    ``"C4-M1"`` → None (already a derivation).
    """
    text = MODALITY_PREFIX.sub("", label.strip())
    text = _REF_SUFFIX.sub("", text).strip()
    if text.upper() in ("LOC", "ROC"):
        return "E1" if text.upper() == "LOC" else "E2"
    m = _ELECTRODE.match(text.replace(" ", ""))
    if not m:
        return None
    if m.group(3):
        return "Chin" + m.group(4).upper()
    head, tail = m.group(1), m.group(2)
    return head[0].upper() + head[1:].lower() + tail.lower()


@dataclass(frozen=True)
class Derivation:
    """A bipolar derivation ``plus − minus`` of two channels recorded at the same rate."""

    plus: str
    minus: str
    label: str = ""

    def __post_init__(self) -> None:
        if not self.plus or not self.minus:
            raise ValueError("a derivation needs two channel labels")
        if self.plus == self.minus:
            raise ValueError(f"a derivation of {self.plus!r} against itself is flat")
        if not self.label:
            object.__setattr__(self, "label", f"{self.plus}-{self.minus}")

    def to_dict(self) -> dict:
        return {"plus": self.plus, "minus": self.minus, "label": self.label}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Derivation":
        return cls(str(data["plus"]), str(data["minus"]), str(data.get("label", "")))


def suggest_derivations(labels: Sequence[str],
                        rates: Sequence[float] | None = None) -> list[Derivation]:
    """The AASM derivations that can be computed from a recording's referential channels.

    Parameters
    ----------
    labels : sequence of str
        The recording's channel labels.
    rates : sequence of float, optional
        Their sampling rates; a pair recorded at different rates is skipped.

    Returns
    -------
    list of Derivation
        Labelled like ``"C4-M1"`` (with the mastoid name the file uses), skipping any whose
        label the recording already has.
    """
    rates = list(rates) if rates is not None else [None] * len(labels)
    if len(rates) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(rates)} rates")
    found: dict[str, tuple[str, float | None]] = {}
    for label, rate in zip(labels, rates):
        name = electrode_name(label)
        if name is not None:
            found.setdefault(name.upper(), (label, rate))
    existing = {lab.strip().upper().replace(" ", "") for lab in labels}
    out: list[Derivation] = []
    for plus, minus in AASM_DERIVATIONS:
        p = found.get(plus.upper())
        m = found.get(minus.upper())
        shown_minus = minus
        if m is None and minus in _MASTOID_ALIASES:
            shown_minus = _MASTOID_ALIASES[minus]
            m = found.get(shown_minus.upper())
        if p is None or m is None or p[0] == m[0]:
            continue
        if p[1] is not None and m[1] is not None and abs(p[1] - m[1]) > 1e-9:
            continue
        label = f"{plus}-{shown_minus}"
        if label.upper() in existing:
            continue
        out.append(Derivation(p[0], m[0], label))
    return out


# --------------------------------------------------------------------------------------------
# Display channels and pages

@dataclass(frozen=True)
class DisplayChannel:
    """One row of a trace viewer: a recorded channel or a derivation of two.

    Attributes
    ----------
    key : str
        Unique key (the recording label, or the derivation label).
    label : str
        What the row is called.
    rate : float
    unit : str
        The engine's unit (``"V"`` for voltages).
    modality : str
        SleepFM modality (grouping).
    kind : str
        Display kind (filter and colour), one of :data:`DISPLAY_KINDS`.
    plus : str
        Source channel label.
    minus : str or None
        Reference channel label of a derivation.
    order : int
        File position of the source channel (derivations after the recorded channels).
    """

    key: str
    label: str
    rate: float
    unit: str
    modality: str
    kind: str
    plus: str
    minus: str | None = None
    order: int = 0

    @property
    def is_derived(self) -> bool:
        return self.minus is not None

    @property
    def color(self) -> str:
        return KIND_COLORS[self.kind]


def _sort_key(ch: DisplayChannel) -> tuple:
    return (_MODALITY_ORDER.index(ch.modality) if ch.modality in _MODALITY_ORDER else 99,
            DISPLAY_KINDS.index(ch.kind), ch.order)


def build_display_channels(rec: Any, modalities: Mapping[str, str] | None = None,
                           derivations: Iterable[Derivation] = ()) -> list[DisplayChannel]:
    """Rows for every channel of a recording plus the derivations, grouped by modality.

    Parameters
    ----------
    rec : Recording
        Open recording (``rec.channels`` with label, rate, unit, raw_unit).
    modalities : mapping, optional
        ``{label: modality}`` (e.g. ``ChannelMap.as_dict()``); classified here when omitted.
    derivations : iterable of Derivation
        Extra rows; each must name two channels of the recording at the same rate.

    Returns
    -------
    list of DisplayChannel
        Grouped BAS (EEG, then EOG), EMG, EKG, RESP, other; file order inside a group.

    Raises
    ------
    ValueError
        If a derivation names a missing channel, mixes rates or reuses a label.
    """
    if modalities is None:
        from .channels import ChannelMap

        modalities = ChannelMap.from_recording(rec).as_dict()
    rows: list[DisplayChannel] = []
    by_label = {c.label: c for c in rec.channels}
    for c in rec.channels:
        modality = modalities.get(c.label, OTHER)
        kind = display_kind(c.original_label or c.label, modality, c.raw_unit, c.rate)
        rows.append(DisplayChannel(c.label, c.label, c.rate, c.unit, modality, kind, c.label,
                                   None, c.index))
    used = set(by_label)
    for i, d in enumerate(derivations):
        missing = [lab for lab in (d.plus, d.minus) if lab not in by_label]
        if missing:
            raise ValueError(f"derivation {d.label!r}: no channel {', '.join(map(repr, missing))} "
                             "in this recording")
        p, m = by_label[d.plus], by_label[d.minus]
        if abs(p.rate - m.rate) > 1e-9:
            raise ValueError(f"derivation {d.label!r}: {d.plus} is sampled at {p.rate:g} Hz but "
                             f"{d.minus} at {m.rate:g} Hz")
        if p.unit != m.unit:
            raise ValueError(f"derivation {d.label!r}: {d.plus} is in {p.unit!r} but {d.minus} "
                             f"in {m.unit!r}")
        if d.label in used:
            raise ValueError(f"derivation label {d.label!r} is already used by another channel")
        used.add(d.label)
        modality = modalities.get(d.plus, OTHER)
        kind = display_kind(d.label, modality, p.raw_unit, p.rate)
        rows.append(DisplayChannel(d.label, d.label, p.rate, p.unit, modality, kind, d.plus,
                                   d.minus, len(rec.channels) + i))
    rows.sort(key=_sort_key)
    return rows


@dataclass
class Trace:
    """What to draw for one row: times (s from the recording start) and values (engine unit)."""

    x: np.ndarray
    y: np.ndarray
    decimated: bool
    has_gaps: bool = False


class PageSource:
    """Windows of a recording prepared for drawing: read, re-referenced, filtered, decimated.

    Parameters
    ----------
    rec : Recording
        Open recording; only the requested windows are read.
    cache_size : int
        Rendered traces kept, so paging back and forth does not read or filter again.
    map_budget : int
        Bytes of the file read through the recording's memory map before the map is released
        (``rec.close()``; it reopens on the next read). The pages a memory map has touched count
        as the viewer's resident memory, so without this a night paged through end to end
        would hold the whole file. Only the thread that renders may use ``rec`` meanwhile.
    """

    def __init__(self, rec: Any, cache_size: int = 256, map_budget: int = 32 * 2**20):
        self.rec = rec
        self._cache: dict[tuple, Trace] = {}
        self._cache_size = int(cache_size)
        self._map_budget = int(map_budget)
        self._mapped = 0
        sample_bytes = 3 if str(getattr(rec, "format", "")).startswith("BDF") else 2
        # Data records interleave every channel: reading one channel touches all of them.
        self._bytes_per_s = sample_bytes * sum(c.rate for c in rec.channels)

    def clear_cache(self) -> None:
        self._cache.clear()

    def read(self, ch: DisplayChannel, start: float, stop: float) -> tuple[np.ndarray, int]:
        """Raw samples of a row from ``start`` to ``stop`` s (clipped to the recording).

        Returns
        -------
        (samples, first) : (numpy.ndarray, int)
            The samples (derivations subtracted) and the index of the first one.
        """
        rate = ch.rate
        n_total = self.rec.channel(ch.plus).n_samples
        i0 = max(0, int(math.floor(start * rate + 1e-9)))
        i1 = min(n_total, int(math.floor(stop * rate + 1e-9)) + 1)
        if i1 <= i0:
            return np.empty(0), i0
        t0, t1 = i0 / rate, i1 / rate
        if ch.minus is None:
            x = self.rec.read_channel(ch.plus, t0, t1)
        else:
            a, b = self.rec.read([ch.plus, ch.minus], t0, t1)
            n = min(a.size, b.size)
            x = a[:n] - b[:n]
        return x[: i1 - i0], i0

    def render(self, channels: Sequence[DisplayChannel], start: float, stop: float,
               n_bins: int, filters: Mapping[str, FilterSpec] | None = None,
               notch: float | None = None) -> list[Trace]:
        """Prepare ``[start, stop]`` of each row for a plot ``n_bins`` pixels wide.

        Parameters
        ----------
        channels : sequence of DisplayChannel
        start, stop : float
            Window in seconds from the recording start.
        n_bins : int
            Pixel columns of the plot; longer traces are min/max decimated to this.
        filters : mapping, optional
            Filter per display kind (:data:`AASM_FILTERS` when omitted); kinds outside
            :data:`FILTERABLE_KINDS` are never filtered.
        notch : float, optional
            Mains notch (Hz) applied to the filterable kinds.

        Returns
        -------
        list of Trace
            One per row, in the order given.
        """
        if not stop > start:
            raise ValueError(f"window stop {stop} must be after its start {start}")
        filters = AASM_FILTERS if filters is None else filters
        out: list[Trace | None] = [None] * len(channels)
        # Rows that share a rate and a filter are read, filtered and decimated together.
        groups: dict[tuple, list[tuple[int, DisplayChannel, tuple]]] = {}
        for i, ch in enumerate(channels):
            spec = filters.get(ch.kind) if ch.kind in FILTERABLE_KINDS else None
            ch_notch = notch if ch.kind in FILTERABLE_KINDS else None
            key = (ch, round(start, 6), round(stop, 6), int(n_bins), spec, ch_notch)
            cached = self._cache.get(key)
            if cached is not None:
                out[i] = cached
                continue
            groups.setdefault((ch.rate, spec, ch_notch), []).append((i, ch, key))
        for (rate, spec, ch_notch), members in groups.items():
            traces = self._render_group([m[1] for m in members], rate, start, stop, n_bins,
                                        spec, ch_notch)
            for (i, _, key), trace in zip(members, traces):
                out[i] = trace
                self._remember(key, trace)
        if groups:
            pad = max((filter_padding(spec, n) for _, spec, n in groups), default=0.0)
            self._mapped += int((stop - start + 2 * pad) * self._bytes_per_s)
            if self._mapped > self._map_budget and hasattr(self.rec, "close"):
                self.rec.close()
                self._mapped = 0
        return out  # type: ignore[return-value]

    def _remember(self, key: tuple, trace: Trace) -> None:
        if self._cache_size <= 0:
            return
        while len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = trace

    def _render_group(self, chans: list[DisplayChannel], rate: float, start: float, stop: float,
                      n_bins: int, spec: FilterSpec | None, notch: float | None) -> list[Trace]:
        active = (spec is not None and spec.enabled) or notch is not None
        pad = filter_padding(spec, notch) if active else 0.0
        reads = [self.read(ch, max(0.0, start - pad), stop + pad) for ch in chans]
        out: list[Trace] = []
        # Channels of one rate may still differ in length (a derivation's shorter partner).
        by_shape: dict[tuple[int, int], list[int]] = {}
        for j, (raw, first) in enumerate(reads):
            by_shape.setdefault((raw.size, first), []).append(j)
        result: dict[int, Trace] = {}
        for (size, first), idx in by_shape.items():
            if size == 0:
                for j in idx:
                    result[j] = Trace(np.empty(0), np.empty(0), False)
                continue
            block = np.stack([reads[j][0] for j in idx])
            if active:
                # Real signal read beyond an edge already absorbs the filter's transient.
                first_needed = int(math.floor(max(0.0, start) * rate + 1e-9))
                last_needed = int(math.floor(stop * rate + 1e-9)) + 1
                margin = int(pad * rate)
                reflect = (first_needed - first < margin, first + size - last_needed < margin)
                block = filter_signal(block, rate, spec, notch, reflect=reflect)
            # Keep the window and one sample beyond each edge, so lines reach both borders.
            a = max(0, int(math.floor(start * rate + 1e-9)) - 1 - first)
            b = min(size, int(math.floor(stop * rate + 1e-9)) + 2 - first)
            block = block[:, a:b]
            pos, vals = _minmax_rows(block, n_bins)
            x = (pos + first + a) / rate
            for row, j in enumerate(idx):
                y = np.ascontiguousarray(vals[row])
                result[j] = Trace(x, y, vals.shape[1] < block.shape[1],
                                  bool(np.isnan(y).any()))
        out = [result[j] for j in range(len(chans))]
        return out


def _minmax_rows(block: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`minmax_decimate` over the rows of a 2-D block at once."""
    n = block.shape[1]
    if n <= 2 * n_bins:
        return np.arange(n, dtype=np.float64), block
    edges = (np.arange(n_bins, dtype=np.int64) * n) // n_bins
    mins = np.minimum.reduceat(block, edges, axis=1)
    maxs = np.maximum.reduceat(block, edges, axis=1)
    ends = np.append(edges[1:], n)
    centres = (edges + ends - 1) / 2.0
    vals = np.empty((block.shape[0], 2 * n_bins), dtype=block.dtype)
    vals[:, 0::2] = mins
    vals[:, 1::2] = maxs
    return np.repeat(centres, 2), vals


def epoch_envelope(rec: Any, channel: str, epoch_length: float = float(EPOCH_SECONDS), *,
                   chunk_s: float = 1800.0, state: Any = None,
                   release_map: bool = False) -> np.ndarray:
    """Per-epoch amplitude (standard deviation) of one channel over the whole recording.

    An overview strip draws it under the hypnogram: wake, arousals and artefacts stand out
    before anything is scored. The channel is read in chunks, so memory stays at one chunk.

    Parameters
    ----------
    rec : Recording
    channel : str
        Channel label.
    epoch_length : float
        Seconds per value.
    chunk_s : float
        Seconds read at a time (rounded to whole epochs).
    state : TaskState, optional
        Progress and cancellation.
    release_map : bool
        Release the recording's memory map after each chunk (``rec.close()``; it reopens on
        the next read). Records interleave every channel, so reading one channel of a whole
        night touches the whole file; releasing keeps the resident memory at one chunk. Only
        for a recording no other thread is reading.

    Returns
    -------
    numpy.ndarray
        ``floor(duration / epoch_length)`` values (NaN where the epoch holds no data).
    """
    if not epoch_length > 0:
        raise ValueError(f"epoch_length must be positive, got {epoch_length}")
    ch = rec.channel(channel)
    n_epochs = int(math.floor(rec.duration / epoch_length + 1e-9))
    out = np.full(n_epochs, np.nan)
    if n_epochs == 0 or ch.rate <= 0:
        return out
    per_chunk = max(1, int(chunk_s // epoch_length))
    spe = ch.rate * epoch_length
    for e0 in range(0, n_epochs, per_chunk):
        if state is not None:
            state.check_cancelled()
            state.set_progress(e0 / n_epochs)
        e1 = min(n_epochs, e0 + per_chunk)
        x = rec.read_channel(ch.label, e0 * epoch_length, e1 * epoch_length)
        for k in range(e0, e1):
            seg = x[int(round((k - e0) * spe)):int(round((k - e0 + 1) * spe))]
            seg = seg[np.isfinite(seg)]
            if seg.size:
                out[k] = float(np.std(seg))
        if release_map:
            rec.close()
    if state is not None:
        state.set_progress(1.0)
    return out
