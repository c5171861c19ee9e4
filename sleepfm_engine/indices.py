"""Clinical PSG indices (AHI, ODI, arousal and PLMS indices, SpO2 and heart-rate statistics)
from any event set -- manual scoring, a file, a detector -- and a hypnogram.

:data:`INDEX_DEFINITIONS` says, per key, exactly which events count and what the denominator
is; :func:`compute_indices` computes them all into an :class:`IndexTable`. The rules shared by
every per-hour index:

- An event counts when its **onset** falls in a sleep epoch (N1, N2, N3 or R) of the
  hypnogram; unscored and artefact epochs are not sleep. Events beginning outside sleep are
  left out, and the table's notes say how many.
- The denominator is total sleep time (TST: sleep epochs x epoch length), or the time in the
  stage (NREM, REM) or in the position (supine, non-supine) during sleep.
- No denominator (no hypnogram, no sleep, no time in that stage or position) gives None --
  never 0. A real 0 (sleep, but no such event) is 0.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from .events.model import Event, EventSet
from .events.vocabulary import (APNEA_TYPES, AROUSAL_TYPES, HYPOPNEA_TYPES, EventType)
from .hypnogram import SLEEP_CODES, UNSCORED, Hypnogram
from .position import NON_SUPINE, POSITION_CODES, BodyPosition
from .sleep_stats import MISSING


class IndexDefinition(NamedTuple):
    """What one index is and how it is printed.

    Attributes
    ----------
    key : str
        Stable key (written to files and reports).
    name : str
        Display name.
    unit : str
        ``"/h"``, ``"%"``, ``"min"``, ``"h"``, ``"bpm"``, ``"count"`` or ``""`` (a category).
    decimals : int
        Decimals when printed for a reader (exports keep the unrounded value).
    definition : str
        Exactly which events count and the denominator.
    section : str
        Report section: ``"sleep"``, ``"respiratory"``, ``"oxygen"``, ``"arousal"``,
        ``"limb"`` or ``"cardiac"``.
    """

    key: str
    name: str
    unit: str
    decimals: int
    definition: str
    section: str


#: Thresholds of the AASM adult OSA severity scale, on AHI (/h): (lower bound, category).
SEVERITY_CATEGORIES: tuple[tuple[float, str], ...] = (
    (0.0, "normal"), (5.0, "mild"), (15.0, "moderate"), (30.0, "severe"))
#: SpO2 samples outside this range (%) are artefact.
SPO2_VALID_RANGE: tuple[float, float] = (50.0, 100.0)
#: Heart-rate samples outside this range (bpm) are artefact.
HR_VALID_RANGE: tuple[float, float] = (20.0, 250.0)
#: An arousal belongs to a PLM when they overlap or lie less than this many seconds apart (AASM).
PLM_AROUSAL_GAP_S: float = 0.5

_IN_SLEEP = ("an event counts when its onset falls in a sleep epoch (N1, N2, N3, R) of the "
             "hypnogram")
_PER_TST = "per hour of total sleep time (TST); None when TST is 0 or unknown"


def _d(key: str, name: str, unit: str, decimals: int, definition: str,
       section: str) -> tuple[str, IndexDefinition]:
    return key, IndexDefinition(key, name, unit, decimals, definition, section)


_APNEAS = "apneas of any kind (obstructive, central, mixed, unclassified)"
_HYPOPNEAS = "hypopneas (unspecified, obstructive or central)"

#: Every key of :func:`compute_indices`, in report order.
INDEX_DEFINITIONS: dict[str, IndexDefinition] = dict([
    _d("TST_h", "Total sleep time", "h", 2,
       "Denominator of the per-hour indices: hypnogram epochs of N1, N2, N3 or R x epoch "
       "length; unscored and artefact epochs are not sleep. None without a hypnogram", "sleep"),
    _d("NREM_h", "NREM sleep time", "h", 2, "Epochs of N1, N2 or N3 x epoch length", "sleep"),
    _d("REM_h", "REM sleep time", "h", 2, "Epochs of R x epoch length", "sleep"),
    _d("sleep_supine_h", "Sleep time supine", "h", 2,
       "Sleep time with the decoded body position supine (position samples in sleep epochs); "
       "None without a position channel", "sleep"),
    _d("sleep_nonsupine_h", "Sleep time non-supine", "h", 2,
       "Sleep time with a known body position other than supine (left, right, prone, upright); "
       "sleep with an unknown position counts in neither", "sleep"),
    _d("AHI", "Apnea-hypopnea index", "/h", 1,
       f"{_APNEAS.capitalize()} plus {_HYPOPNEAS}, {_PER_TST}; {_IN_SLEEP}", "respiratory"),
    _d("AHI_NREM", "AHI in NREM", "/h", 1,
       "Apneas and hypopneas (as AHI) whose onset falls in an N1, N2 or N3 epoch, per hour of "
       "NREM sleep; None without NREM sleep", "respiratory"),
    _d("AHI_REM", "AHI in REM", "/h", 1,
       "Apneas and hypopneas whose onset falls in an R epoch, per hour of REM sleep; None "
       "without REM sleep", "respiratory"),
    _d("AHI_supine", "AHI supine", "/h", 1,
       "Apneas and hypopneas with onset in sleep while the position at their onset is supine, "
       "per hour of sleep supine; None without a position channel or supine sleep",
       "respiratory"),
    _d("AHI_nonsupine", "AHI non-supine", "/h", 1,
       "Apneas and hypopneas with onset in sleep while the position at their onset is known and "
       "not supine, per hour of non-supine sleep; None without a position channel or "
       "non-supine sleep", "respiratory"),
    _d("AHI_severity", "OSA severity (AASM)", "", 0,
       "AASM adult category of AHI: normal < 5, mild 5 to < 15, moderate 15 to < 30, severe >= "
       "30 /h; None when AHI is None", "respiratory"),
    _d("AI", "Apnea index", "/h", 1, f"{_APNEAS.capitalize()}, {_PER_TST}; {_IN_SLEEP}",
       "respiratory"),
    _d("OAI", "Obstructive apnea index", "/h", 1,
       f"Obstructive apneas, {_PER_TST}; {_IN_SLEEP}", "respiratory"),
    _d("CAI", "Central apnea index", "/h", 1, f"Central apneas, {_PER_TST}; {_IN_SLEEP}",
       "respiratory"),
    _d("MAI", "Mixed apnea index", "/h", 1, f"Mixed apneas, {_PER_TST}; {_IN_SLEEP}",
       "respiratory"),
    _d("HI", "Hypopnea index", "/h", 1, f"{_HYPOPNEAS.capitalize()}, {_PER_TST}; {_IN_SLEEP}",
       "respiratory"),
    _d("RDI", "Respiratory disturbance index", "/h", 1,
       f"{_APNEAS.capitalize()}, {_HYPOPNEAS} and RERAs, {_PER_TST}; {_IN_SLEEP}",
       "respiratory"),
    _d("n_apneas", "Apneas", "count", 0, f"Number of {_APNEAS} with onset in sleep",
       "respiratory"),
    _d("n_hypopneas", "Hypopneas", "count", 0, f"Number of {_HYPOPNEAS} with onset in sleep",
       "respiratory"),
    _d("n_reras", "RERAs", "count", 0, "Number of RERAs with onset in sleep", "respiratory"),
    _d("ODI3", "Oxygen desaturation index 3 %", "/h", 1,
       "SpO2 desaturation events with a drop of >= 3 percentage points, per hour of TST; "
       f"{_IN_SLEEP}. The drop is the event's drop_pct attribute, else baseline_pct - "
       "nadir_pct; desaturations with neither are not counted (the notes say how many)",
       "oxygen"),
    _d("ODI4", "Oxygen desaturation index 4 %", "/h", 1,
       "As ODI3 with a drop of >= 4 percentage points", "oxygen"),
    _d("n_desaturations_3", "Desaturations >= 3 %", "count", 0,
       "Number of desaturation events counted in ODI3", "oxygen"),
    _d("n_desaturations_4", "Desaturations >= 4 %", "count", 0,
       "Number of desaturation events counted in ODI4", "oxygen"),
    _d("SpO2_baseline", "SpO2 baseline", "%", 1,
       "90th percentile of the valid SpO2 samples during sleep (samples in sleep epochs; "
       "values < 50 % or > 100 %, non-finite values and samples inside SpO2-artefact events "
       "are artefact and excluded)", "oxygen"),
    _d("SpO2_mean", "Mean SpO2", "%", 1, "Mean of the valid SpO2 samples during sleep",
       "oxygen"),
    _d("SpO2_nadir", "SpO2 nadir", "%", 1, "Lowest valid SpO2 sample during sleep", "oxygen"),
    _d("T90_min", "Time SpO2 < 90 %", "min", 1,
       "Minutes of valid sleep SpO2 samples below 90 %", "oxygen"),
    _d("T90_pct", "Time SpO2 < 90 % (% of sleep)", "%", 1,
       "Valid sleep SpO2 samples below 90 %, as percent of all valid sleep SpO2 samples",
       "oxygen"),
    _d("T88_min", "Time SpO2 < 88 %", "min", 1,
       "Minutes of valid sleep SpO2 samples below 88 %", "oxygen"),
    _d("T88_pct", "Time SpO2 < 88 % (% of sleep)", "%", 1,
       "Valid sleep SpO2 samples below 88 %, as percent of all valid sleep SpO2 samples",
       "oxygen"),
    _d("SpO2_artefact_pct", "SpO2 artefact in sleep", "%", 1,
       "Sleep SpO2 samples excluded as artefact, as percent of all sleep SpO2 samples", "oxygen"),
    _d("ArI", "Arousal index", "/h", 1,
       f"Arousals of every kind (spontaneous, respiratory, limb-movement, unspecified), "
       f"{_PER_TST}; {_IN_SLEEP}", "arousal"),
    _d("ArI_respiratory", "Respiratory arousal index", "/h", 1,
       f"Respiratory arousals, {_PER_TST}; {_IN_SLEEP}", "arousal"),
    _d("ArI_limb", "Limb-movement arousal index", "/h", 1,
       f"Limb-movement arousals, {_PER_TST}; {_IN_SLEEP}", "arousal"),
    _d("ArI_spontaneous", "Spontaneous arousal index", "/h", 1,
       f"Spontaneous arousals, {_PER_TST}; {_IN_SLEEP}. Unspecified arousals count only in ArI",
       "arousal"),
    _d("n_arousals", "Arousals", "count", 0, "Number of arousals of every kind with onset in sleep",
       "arousal"),
    _d("PLMSI", "PLMS index", "/h", 1,
       f"Periodic limb movements (events of type periodic_limb_movement), {_PER_TST}; "
       f"{_IN_SLEEP}", "limb"),
    _d("PLMS_ArI", "PLMS-arousal index", "/h", 1,
       "Periodic limb movements in sleep (as PLMSI) with an arousal of any kind that overlaps "
       "them or lies less than 0.5 s from them (AASM association rule), per hour of TST",
       "limb"),
    _d("n_plms", "PLMS", "count", 0, "Number of periodic limb movements with onset in sleep",
       "limb"),
    _d("HR_mean", "Mean heart rate in sleep", "bpm", 0,
       "Mean of the heart-rate samples in sleep epochs; values < 20 or > 250 bpm and "
       "non-finite values are artefact and excluded", "cardiac"),
    _d("HR_min", "Lowest heart rate in sleep", "bpm", 0, "Lowest valid heart-rate sample in sleep",
       "cardiac"),
    _d("HR_max", "Highest heart rate in sleep", "bpm", 0,
       "Highest valid heart-rate sample in sleep", "cardiac"),
])


def ahi_severity(ahi: float | None) -> str | None:
    """AASM adult severity category of an AHI (/h): normal, mild, moderate, severe; None for
    None."""
    if ahi is None or not math.isfinite(ahi):
        return None
    category = SEVERITY_CATEGORIES[0][1]
    for lower, name in SEVERITY_CATEGORIES:
        if ahi >= lower:
            category = name
    return category


def format_index(key: str, value: Any, *, with_unit: bool = False, missing: str = MISSING) -> str:
    """How an index's value is printed for a reader: rounded to its definition's decimals;
    None/NaN print as ``missing``; categories print as they are."""
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return missing
    if isinstance(value, str):
        return value
    definition = INDEX_DEFINITIONS.get(key)
    unit, decimals = (definition.unit, definition.decimals) if definition else ("", 1)
    text = f"{float(value):.{decimals}f}"
    if with_unit and unit and unit != "count":
        text += unit if unit == "/h" else f" {unit}"
    return text


class SampledSignal(NamedTuple):
    """A signal for :func:`compute_indices`: samples, their rate (Hz) and the time of the first
    sample in seconds from the recording start. A plain ``(values, rate)`` tuple works too."""

    values: Any
    rate: float
    onset: float = 0.0


class IndexTable(Mapping[str, Any]):
    """Indices by key (:data:`INDEX_DEFINITIONS` order), with the notes of what was excluded.

    Attributes
    ----------
    notes : tuple of str
        What was left out and why (events outside sleep, artefact samples, desaturations
        without a drop...).
    sources : tuple of str
        The event sources the indices were computed from (manual scorer, file, detector).
    """

    def __init__(self, values: Mapping[str, Any], notes: Iterable[str] = (),
                 sources: Iterable[str] = ()):
        unknown = set(values) - set(INDEX_DEFINITIONS)
        if unknown:
            raise KeyError(f"not index keys: {sorted(unknown)}")
        self._values = {k: values.get(k) for k in INDEX_DEFINITIONS}
        self.notes: tuple[str, ...] = tuple(notes)
        self.sources: tuple[str, ...] = tuple(sources)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={format_index(k, self._values[k])}"
                          for k in ("AHI", "ODI3", "ArI", "PLMSI"))
        return f"IndexTable({shown})"

    def format(self, key: str, *, with_unit: bool = False) -> str:
        """The value of ``key`` as printed for a reader (see :func:`format_index`)."""
        return format_index(key, self._values[key], with_unit=with_unit)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: values, notes and sources."""
        return {"values": dict(self._values), "notes": list(self.notes),
                "sources": list(self.sources)}

    def to_dataframe(self) -> Any:
        """One row per index: key, name, value, unit, section, definition (pandas)."""
        import pandas as pd  # optional heavy dependency: only this conversion needs it

        return pd.DataFrame(
            [{"key": k, "name": d.name, "value": self._values[k], "unit": d.unit,
              "section": d.section, "definition": d.definition}
             for k, d in INDEX_DEFINITIONS.items()],
            columns=["key", "name", "value", "unit", "section", "definition"])


# -- computation ------------------------------------------------------------------------------
class _Timeline:
    """Stage and position lookups at arbitrary times."""

    def __init__(self, hypnogram: Hypnogram):
        self.hyp = hypnogram

    def stage_at(self, times: np.ndarray) -> np.ndarray:
        h = self.hyp
        idx = np.floor((np.asarray(times, dtype=np.float64) - h.offset) / h.epoch_length + 1e-9)
        inside = np.isfinite(idx) & (idx >= 0) & (idx < h.n_epochs)
        out = np.full(idx.shape, UNSCORED, dtype=np.int64)
        out[inside] = h.stages[idx[inside].astype(np.int64)]
        return out

    def hours(self, codes: Iterable[int]) -> float:
        return float(np.isin(self.hyp.stages, list(codes)).sum()) * self.hyp.epoch_length / 3600


def _as_signal(value: Any, name: str) -> SampledSignal | None:
    if value is None:
        return None
    if not isinstance(value, tuple) or len(value) not in (2, 3):
        raise TypeError(f"{name} must be a SampledSignal or a (values, rate) tuple, got "
                        f"{type(value).__name__}")
    sig = SampledSignal(*value)
    values = np.asarray(sig.values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} values must be one-dimensional, got shape {values.shape}")
    rate = float(sig.rate)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{name} rate must be a positive number of Hz, got {sig.rate!r}")
    return SampledSignal(values, rate, float(sig.onset))


def _per_hour(count: int | None, hours: float | None) -> float | None:
    if count is None or hours is None or hours <= 0:
        return None
    return count / hours


def _drop_pct(event: Event) -> float | None:
    attrs = event.attributes
    drop = attrs.get("drop_pct")
    if isinstance(drop, (int, float)) and not isinstance(drop, bool):
        return float(drop)
    base, nadir = attrs.get("baseline_pct"), attrs.get("nadir_pct")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (base, nadir)):
        return float(base) - float(nadir)
    return None


#: Seconds before a desaturation whose SpO2 forms its baseline, and seconds after its end in
#: which its nadir may still fall (SpO2 lags the event it follows).
DESAT_BASELINE_S = 120.0
DESAT_NADIR_LAG_S = 30.0


def _signal_drop_pct(sig: SampledSignal, event: Event) -> float | None:
    """Drop of a desaturation measured on the SpO2 signal: the median valid SpO2 of the
    :data:`DESAT_BASELINE_S` before the event minus the lowest valid value from its onset to
    :data:`DESAT_NADIR_LAG_S` after its end; None where either window has no valid sample."""
    v = sig.values
    lo, hi = SPO2_VALID_RANGE

    def window(t0: float, t1: float) -> np.ndarray:
        i0 = max(0, int(math.floor((t0 - sig.onset) * sig.rate)))
        i1 = min(v.shape[0], int(math.ceil((t1 - sig.onset) * sig.rate)))
        w = v[i0:i1] if i1 > i0 else v[:0]
        with np.errstate(invalid="ignore"):
            return w[np.isfinite(w) & (w >= lo) & (w <= hi)]

    base = window(event.onset - DESAT_BASELINE_S, event.onset)
    low = window(event.onset, event.end + DESAT_NADIR_LAG_S)
    if base.shape[0] == 0 or low.shape[0] == 0:
        return None
    return max(0.0, float(np.median(base)) - float(low.min()))


def compute_indices(events: EventSet, hypnogram: Hypnogram | None, *, spo2: Any = None,
                    position: BodyPosition | None = None, heart_rate: Any = None) -> IndexTable:
    """Every index of :data:`INDEX_DEFINITIONS` from an event set and a hypnogram.

    Parameters
    ----------
    events : EventSet
        Scored events, onsets in seconds from the recording start (rejected candidates are
        never counted).
    hypnogram : Hypnogram or None
        On the same time line (``offset`` = seconds from the recording start to epoch 0).
        Without it nothing per hour can be computed: those indices are None.
    spo2 : SampledSignal or (values, rate) tuple, optional
        The SpO2 channel in %; its samples in sleep give the SpO2 statistics.
    position : BodyPosition, optional
        The decoded position channel (:meth:`~sleepfm_engine.position.BodyPosition.decode`),
        for supine / non-supine AHI.
    heart_rate : SampledSignal or (values, rate) tuple, optional
        Heart rate in bpm.

    Returns
    -------
    IndexTable

    Raises
    ------
    TypeError
        If an argument has the wrong type (a raw position channel must be decoded first).
    """
    if not isinstance(events, EventSet):
        raise TypeError(f"events must be an EventSet, got {type(events).__name__}")
    if hypnogram is not None and not isinstance(hypnogram, Hypnogram):
        raise TypeError(f"hypnogram must be a Hypnogram, got {type(hypnogram).__name__}")
    if position is not None and not isinstance(position, BodyPosition):
        raise TypeError("position must be a BodyPosition: decode the raw channel with "
                        "BodyPosition.decode(values, rate, table) so its vendor codes are explicit")
    spo2_sig = _as_signal(spo2, "spo2")
    hr_sig = _as_signal(heart_rate, "heart_rate")
    values: dict[str, Any] = {}
    notes: list[str] = []
    sources = tuple(str(s) for s in events.sources)
    if hypnogram is None:
        notes.append("no hypnogram: total sleep time is unknown, so no index can be computed")
        return IndexTable(values, notes, sources)

    line = _Timeline(hypnogram)
    tst = line.hours(SLEEP_CODES)
    values["TST_h"] = tst
    values["NREM_h"] = line.hours((1, 2, 3))
    values["REM_h"] = line.hours((4,))
    if tst == 0:
        notes.append("the hypnogram has no sleep epoch: per-hour indices are undefined")

    def in_sleep(evs: list[Event]) -> tuple[list[Event], np.ndarray]:
        if not evs:
            return [], np.zeros(0, dtype=np.int64)
        stages = line.stage_at(np.array([e.onset for e in evs]))
        keep = np.isin(stages, SLEEP_CODES)
        return [e for e, k in zip(evs, keep) if k], stages[keep]

    def count_note(evs: list[Event], kept: list[Event], what: str) -> None:
        left_out = len(evs) - len(kept)
        if left_out:
            notes.append(f"{left_out} {what} began outside sleep epochs and are not counted")

    # respiratory
    resp_all = events.of_type(*APNEA_TYPES, *HYPOPNEA_TYPES)
    resp, resp_stages = in_sleep(resp_all)
    count_note(resp_all, resp, "apneas/hypopneas")
    n_ah = len(resp)
    values["AHI"] = _per_hour(n_ah, tst)
    values["AHI_NREM"] = _per_hour(int(np.isin(resp_stages, (1, 2, 3)).sum()), values["NREM_h"])
    values["AHI_REM"] = _per_hour(int((resp_stages == 4).sum()), values["REM_h"])
    values["AHI_severity"] = ahi_severity(values["AHI"])
    apneas = [e for e in resp if e.type in APNEA_TYPES]
    values["n_apneas"] = len(apneas)
    values["n_hypopneas"] = n_ah - len(apneas)
    values["AI"] = _per_hour(len(apneas), tst)
    for key, t in (("OAI", EventType.apnea_obstructive), ("CAI", EventType.apnea_central),
                   ("MAI", EventType.apnea_mixed)):
        values[key] = _per_hour(sum(e.type is t for e in apneas), tst)
    values["HI"] = _per_hour(values["n_hypopneas"], tst)
    reras_all = events.of_type(EventType.rera)
    reras, _ = in_sleep(reras_all)
    count_note(reras_all, reras, "RERAs")
    values["n_reras"] = len(reras)
    values["RDI"] = _per_hour(n_ah + len(reras), tst)

    if position is not None:
        _positional(values, notes, line, position, resp)

    # oxygen
    desats_all = events.of_type(EventType.desaturation)
    desats, _ = in_sleep(desats_all)
    count_note(desats_all, desats, "desaturations")
    drops = [_drop_pct(e) for e in desats]
    measured = 0
    if spo2_sig is not None:
        for i, e in enumerate(desats):
            if drops[i] is None:
                drops[i] = _signal_drop_pct(spo2_sig, e)
                measured += drops[i] is not None
    if measured:
        notes.append(f"{measured} desaturations had no drop in their source; it was measured on "
                     f"the SpO2 signal ({DESAT_BASELINE_S:g}-s pre-event baseline to the nadir "
                     f"within the event and {DESAT_NADIR_LAG_S:g} s after it)")
    no_drop = sum(d is None for d in drops)
    if no_drop:
        # A count that silently leaves out desaturations of unknown depth would look like a
        # real (too low) ODI: give no number instead.
        notes.append(f"{no_drop} desaturations in sleep have no drop (no drop_pct, no "
                     "baseline_pct/nadir_pct, no usable SpO2 signal): ODI is not given")
    for pct in (3, 4):
        n = None if no_drop else sum(d >= pct for d in drops)
        values[f"n_desaturations_{pct}"] = n
        values[f"ODI{pct}"] = _per_hour(n, tst)
    if spo2_sig is not None:
        _spo2_statistics(values, notes, line, spo2_sig, events.of_type(EventType.spo2_artefact))

    # arousals
    arousals_all = events.of_type(*AROUSAL_TYPES)
    arousals, _ = in_sleep(arousals_all)
    count_note(arousals_all, arousals, "arousals")
    values["n_arousals"] = len(arousals)
    values["ArI"] = _per_hour(len(arousals), tst)
    for key, t in (("ArI_respiratory", EventType.arousal_respiratory),
                   ("ArI_limb", EventType.arousal_limb),
                   ("ArI_spontaneous", EventType.arousal_spontaneous)):
        values[key] = _per_hour(sum(e.type is t for e in arousals), tst)

    # limb movements
    plms_all = events.of_type(EventType.periodic_limb_movement)
    plms, _ = in_sleep(plms_all)
    count_note(plms_all, plms, "periodic limb movements")
    values["n_plms"] = len(plms)
    values["PLMSI"] = _per_hour(len(plms), tst)
    with_arousal = sum(
        bool(events.overlapping(e.onset - PLM_AROUSAL_GAP_S, e.end + PLM_AROUSAL_GAP_S,
                                types=AROUSAL_TYPES)) for e in plms)
    values["PLMS_ArI"] = _per_hour(with_arousal, tst)

    if hr_sig is not None:
        _heart_rate_statistics(values, notes, line, hr_sig)
    return IndexTable(values, notes, sources)


def _positional(values: dict, notes: list, line: _Timeline, position: BodyPosition,
                resp: list[Event]) -> None:
    sleep = np.isin(line.stage_at(position.times), SLEEP_CODES)
    supine_code = POSITION_CODES["supine"]
    non_supine = [POSITION_CODES[p] for p in NON_SUPINE]
    supine_h = float((sleep & (position.codes == supine_code)).sum()) / position.rate / 3600
    other_h = float((sleep & np.isin(position.codes, non_supine)).sum()) / position.rate / 3600
    values["sleep_supine_h"] = supine_h
    values["sleep_nonsupine_h"] = other_h
    unknown_h = (values["TST_h"] or 0.0) - supine_h - other_h
    if unknown_h > 1 / 60:
        notes.append(f"{unknown_h * 60:.0f} min of sleep have no known body position and count "
                     "in neither supine nor non-supine time")
    at_onset = position.at([e.onset for e in resp]) if resp else np.zeros(0, dtype=np.int8)
    values["AHI_supine"] = _per_hour(int((at_onset == supine_code).sum()), supine_h)
    values["AHI_nonsupine"] = _per_hour(int(np.isin(at_onset, non_supine).sum()), other_h)
    unplaced = int((~np.isin(at_onset, [supine_code, *non_supine])).sum())
    if unplaced:
        notes.append(f"{unplaced} apneas/hypopneas in sleep began at an unknown body position "
                     "and are in neither positional AHI")


def _sleep_samples(line: _Timeline, sig: SampledSignal) -> tuple[np.ndarray, np.ndarray]:
    times = sig.onset + np.arange(sig.values.shape[0]) / sig.rate
    return times, np.isin(line.stage_at(times), SLEEP_CODES)


def _spo2_statistics(values: dict, notes: list, line: _Timeline, sig: SampledSignal,
                     artefacts: list[Event]) -> None:
    times, sleep = _sleep_samples(line, sig)
    v = sig.values
    lo, hi = SPO2_VALID_RANGE
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(v) & (v >= lo) & (v <= hi)
    for e in artefacts:
        i0 = int(np.searchsorted(times, e.onset, side="left"))
        i1 = int(np.searchsorted(times, e.end, side="left"))
        valid[i0:i1] = False
    n_sleep = int(sleep.sum())
    good = v[sleep & valid]
    if n_sleep:
        excluded = n_sleep - good.shape[0]
        values["SpO2_artefact_pct"] = 100.0 * excluded / n_sleep
        if excluded:
            notes.append(f"{excluded} of {n_sleep} SpO2 samples in sleep are artefact (outside "
                         f"{lo:g}-{hi:g} %, not finite or in SpO2-artefact events) and excluded")
    if good.shape[0] == 0:
        notes.append("no valid SpO2 sample in sleep: SpO2 statistics are undefined")
        return
    values["SpO2_baseline"] = float(np.percentile(good, 90))
    values["SpO2_mean"] = float(good.mean())
    values["SpO2_nadir"] = float(good.min())
    for threshold in (90, 88):
        below = int((good < threshold).sum())
        values[f"T{threshold}_min"] = below / sig.rate / 60
        values[f"T{threshold}_pct"] = 100.0 * below / good.shape[0]


def _heart_rate_statistics(values: dict, notes: list, line: _Timeline,
                           sig: SampledSignal) -> None:
    _, sleep = _sleep_samples(line, sig)
    v = sig.values
    lo, hi = HR_VALID_RANGE
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(v) & (v >= lo) & (v <= hi)
    good = v[sleep & valid]
    excluded = int(sleep.sum()) - good.shape[0]
    if excluded:
        notes.append(f"{excluded} heart-rate samples in sleep are artefact (outside "
                     f"{lo:g}-{hi:g} bpm or not finite) and excluded")
    if good.shape[0] == 0:
        notes.append("no valid heart-rate sample in sleep: heart-rate statistics are undefined")
        return
    values["HR_mean"] = float(good.mean())
    values["HR_min"] = float(good.min())
    values["HR_max"] = float(good.max())
