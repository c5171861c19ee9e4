"""The clinical-events part of a report: respiratory, oxygen, arousal, limb-movement and
heart-rate sections, and the data of the overview figure.

Every figure comes from :func:`sleepfm_engine.indices.compute_indices` and is printed through
:func:`sleepfm_engine.indices.format_index` with the unit of its
:data:`~sleepfm_engine.indices.INDEX_DEFINITIONS` entry; a section lists the indices whose
definition names it. A section appears only when the events or the signal it speaks for exist
(no SpO2 channel and no desaturation: no oxygen section), and names where its events came from
(manual scoring, a file, a detector with its version and profile). Beside that source, a
section whose events a model detector scored says whether the detector judged the night like
its training nights, as the detector's record says (:mod:`sleepfm_engine.detection_provenance`:
the application keeps it with the detector's layer, ``sleepfm events detect`` writes it beside
its events file); without a record nothing is said.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from ..channels import MIN_WAVEFORM_HZ
from ..events import EVENT_TYPES, EventSet, EventSource, types_of_family
from ..hypnogram import Hypnogram
from ..indices import (HR_VALID_RANGE, INDEX_DEFINITIONS, SPO2_VALID_RANGE, IndexTable,
                       SampledSignal, compute_indices, format_index)
from ..position import UNKNOWN_POSITION, BodyPosition, position_table
from ..detection_provenance import EVENT_SOURCES, OOD_RECORD
from ..event_head_ood import NOT_AVAILABLE
from ..provenance import DETECTOR, FILE, MANUAL, SEVERAL, Provenance, ResultSource

__all__ = ["DEFAULT_POSITION_TABLE", "EVENT_SECTIONS", "SectionSpec", "NightSignals",
           "EventsSection", "EventsReport", "DetectorFit", "EVENT_HEAD_UNLIKE", "EVENT_HEAD_LIKE",
           "read_night_signals", "recording_events", "on_recording_timeline",
           "build_events_report", "describe_source", "result_source", "detector_fit",
           "denominator_text", "overview_ticks", "trend"]

#: What the report says of a night the event head flagged, before the reasons.
EVENT_HEAD_UNLIKE = "The SleepFM event head judged this night unlike its training nights"
#: ... and of a night it checked and found like them.
EVENT_HEAD_LIKE = "The SleepFM event head judged this night like its training nights"
#: Position table used to decode a recording's position channel when none is named.
DEFAULT_POSITION_TABLE = "nsrr"
#: Units a heart-rate channel may carry (case-folded).
_RATE_UNITS = frozenset({"bpm", "1/min", "/min", "beats/min", "b/min"})


class SectionSpec(NamedTuple):
    """One events section of the report.

    Attributes
    ----------
    title : str
        Heading printed.
    families : tuple of str
        Event families (:data:`~sleepfm_engine.events.FAMILIES`) whose events it counts and
        whose presence makes it appear.
    signal : str
        The :class:`NightSignals` attribute whose presence also makes it appear (``""``: none).
    """

    title: str
    families: tuple[str, ...]
    signal: str = ""


#: Report sections of events, in print order; keys are the ``section`` of
#: :data:`~sleepfm_engine.indices.INDEX_DEFINITIONS` entries.
EVENT_SECTIONS: dict[str, SectionSpec] = {
    "respiratory": SectionSpec("Respiratory events", ("respiratory",)),
    "oxygen": SectionSpec("Oxygen saturation", ("oxygen",), "spo2"),
    "arousal": SectionSpec("Arousals", ("arousal",)),
    "limb": SectionSpec("Limb movements", ("limb",)),
    "cardiac": SectionSpec("Heart rate", ("cardiac",), "heart_rate"),
}


@dataclass(frozen=True)
class NightSignals:
    """The level signals of a night that the indices and the overview read.

    Attributes
    ----------
    spo2 : SampledSignal or None
        SpO2 in %.
    heart_rate : SampledSignal or None
        Heart (pulse) rate in bpm, from a rate channel (not derived from the ECG).
    position : BodyPosition or None
        Decoded body position.
    channels : dict
        Signal name -> channel label read.
    notes : tuple of str
        Channels found but not used, and why.
    """

    spo2: SampledSignal | None = None
    heart_rate: SampledSignal | None = None
    position: BodyPosition | None = None
    channels: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        """Whether any signal was read."""
        return any(s is not None for s in (self.spo2, self.heart_rate, self.position))


def read_night_signals(recording: Any, channel_map: Any = None,
                       position_table_name: str = DEFAULT_POSITION_TABLE) -> NightSignals:
    """SpO2, heart rate and body position of a recording, found by the detectors' channel
    roles (:func:`sleepfm_engine.detectors.roles.assign_roles`).

    A heart-rate channel must carry a rate (unit bpm, or sampled below
    :data:`~sleepfm_engine.channels.MIN_WAVEFORM_HZ`): a pulse waveform is not read as beats
    per minute. Voltage channels are never read as SpO2.

    Parameters
    ----------
    recording : Recording
    channel_map : ChannelMap, optional
        The user's modalities (default: classified automatically).
    position_table_name : str
        Registered position table (:func:`sleepfm_engine.position.position_tables`) that decodes
        the position channel.

    Raises
    ------
    KeyError
        If ``position_table_name`` is not a registered table.
    """
    from ..detectors.roles import assign_roles

    table = position_table(position_table_name)
    roles = assign_roles(recording, channel_map)
    found: dict[str, Any] = {}
    used: dict[str, str] = {}
    notes: list[str] = []
    for role, name in (("spo2", "spo2"), ("pulse", "heart_rate"), ("position", "position")):
        labels = roles.get(role)
        if not labels:
            continue
        ch = recording.channel(labels[0])
        if name == "spo2" and ch.is_voltage:
            notes.append(f"channel {ch.label} looks like SpO2 but is a voltage; not used")
            continue
        if name == "heart_rate" and not (ch.rate < MIN_WAVEFORM_HZ
                                         or ch.raw_unit.strip().casefold() in _RATE_UNITS):
            notes.append(f"channel {ch.label} ({ch.rate:g} Hz, unit {ch.raw_unit or 'none'}) is "
                         "a pulse waveform, not a rate; heart rate not read from it")
            continue
        values = recording.read_channel(ch.label)
        if name == "position":
            decoded = BodyPosition.decode(values, ch.rate, table)
            if not (decoded.codes != UNKNOWN_POSITION).any():
                notes.append(f"channel {ch.label}: no value matches the '{table.name}' position "
                             "code table; body position not used")
                continue
            found[name] = decoded
        else:
            lo, hi = SPO2_VALID_RANGE if name == "spo2" else HR_VALID_RANGE
            with np.errstate(invalid="ignore"):
                if not ((values >= lo) & (values <= hi)).any():
                    # No data is no section: a channel of artefact alone says nothing.
                    notes.append(f"channel {ch.label} has no sample in the valid range "
                                 f"{lo:g}-{hi:g} {ch.raw_unit or ''}; not used".replace(" ;", ";"))
                    continue
            found[name] = SampledSignal(values, ch.rate, 0.0)
        used[name] = ch.label
    return NightSignals(found.get("spo2"), found.get("heart_rate"), found.get("position"),
                        used, tuple(notes))


def recording_events(recording: Any) -> EventSet | None:
    """The scored events among a recording's own EDF+ annotations (every annotation that is not
    a sleep stage, read by the ``edf`` events format), or None when it has no annotations.

    Raises
    ------
    EventsError
        If the annotations cannot be read.
    """
    from ..formats import read_events

    path = getattr(recording, "path", None)
    if path is None or not getattr(recording, "annotations", None):
        return None
    return read_events(path, fmt="edf")


def describe_source(source: EventSource, deid: Any = None) -> str:
    """Who or what scored events, for a reader: ``"manual scoring (J. Doe)"``, ``"file
    night.xml"``, ``"psgscoring 0.37.0, profile aasm_v3_rec"``.

    A de-identifier (:class:`~sleepfm_engine.deidentify.Deidentifier`) hides a human scorer's
    name and a file's name.
    """
    if source.kind == "manual":
        name = deid.scorer(source.name) if deid is not None else source.name
        return "manual scoring" + (f" ({name})" if name else "")
    if source.kind == "file":
        name = deid.file_name(source.name) if deid is not None else Path(source.name).name
        return f"file {name}"
    text = " ".join(p for p in (source.name, source.version) if p)
    profile = source.settings.get("profile")
    if profile:
        text += f", profile {profile}"
    return text


def result_source(sources: list[EventSource], deid: Any = None) -> ResultSource | None:
    """The provenance record's source of a night's scored events (None without events)."""
    if not sources:
        return None
    if len(sources) > 1:
        return ResultSource(SEVERAL, "; ".join(describe_source(s, deid) for s in sources))
    src = sources[0]
    if src.kind == "file":
        return ResultSource(FILE, deid.file_name(src.name) if deid is not None and deid.enabled
                            else src.name)
    if src.kind == "manual":
        return ResultSource(MANUAL, deid.scorer(src.name) if deid is not None else src.name)
    return ResultSource(DETECTOR, describe_source(src, deid))


class DetectorFit(NamedTuple):
    """A model detector's verdict on the night, from its run record.

    Attributes
    ----------
    detector : str
        The detector's name.
    sentence : str
        The verdict with its reasons (:data:`EVENT_HEAD_UNLIKE`, :data:`EVENT_HEAD_LIKE`, or
        :data:`~sleepfm_engine.event_head_ood.NOT_AVAILABLE`).
    flagged : bool
        The night is unlike the detector's training nights.
    checked : bool
        Every check could be made (a clean, fully checked night needs no warning).
    """

    detector: str
    sentence: str
    flagged: bool
    checked: bool


def _fit_of(detector: str, ood: Mapping) -> DetectorFit:
    reasons = [str(r) for r in ood.get("reasons") or []]
    flagged, available = bool(ood.get("flagged")), bool(ood.get("available"))
    if flagged:
        sentence = f"{EVENT_HEAD_UNLIKE}: " + "; ".join(reasons)
    elif not available:
        sentence = NOT_AVAILABLE
    else:
        sentence = f"{EVENT_HEAD_LIKE}: " + "; ".join(reasons)
    return DetectorFit(detector, sentence, flagged, available and not ood.get("unavailable"))


def _record_key(source: EventSource) -> str | None:
    """The key of :func:`detector_fit`'s records an event source is looked up under."""
    if source.kind == "detector":
        return source.name
    if source.kind == "file":
        return Path(source.name).name
    return None


def detector_fit(sources: Any, records: Mapping[str, Provenance] | None) -> list[DetectorFit]:
    """The verdicts of the model detectors that scored events of ``sources``.

    Parameters
    ----------
    sources : iterable of EventSource
    records : mapping
        Detector name (or events file name) -> the :class:`~sleepfm_engine.provenance.Provenance`
        of the run that scored them (:func:`sleepfm_engine.detection_provenance.detector_records`).

    Returns
    -------
    list of DetectorFit
        One per detector whose record holds an out-of-distribution check, in the order first
        met; empty without records (nothing is said that the records do not hold).
    """
    fits: dict[str, DetectorFit] = {}
    for src in sources:
        record = (records or {}).get(_record_key(src) or "")
        if record is None:
            continue
        names = [src.name] if src.kind == "detector" else list(record.detections)
        for name in names:
            run = record.detections.get(name) or {}
            # A detector's events speak for the run whose record names their source: events
            # of an earlier run (another model) never take a later run's verdict.
            if src.kind == "detector" and src.to_dict() not in run.get(EVENT_SOURCES, []):
                continue
            ood = run.get(OOD_RECORD)
            if isinstance(ood, Mapping) and name not in fits:
                fits[name] = _fit_of(name, ood)
    return list(fits.values())


@dataclass
class EventsSection:
    """One printed events section.

    Attributes
    ----------
    key : str
        Key of :data:`EVENT_SECTIONS`.
    title : str
    source : str
        Where its events came from (or the channel its signal was read from).
    counts : list of (label, code, count)
        Events of the section's families by type, whole recording.
    rows : list of (key, name, unit, value text)
        Its indices (:data:`INDEX_DEFINITIONS` entries of this section with a value).
    fits : list of DetectorFit
        The verdicts of the model detectors that scored its events (empty: none known).
    """

    key: str
    title: str
    source: str
    counts: list[tuple[str, str, int]]
    rows: list[tuple[str, str, str, str]]
    fits: list[DetectorFit] = field(default_factory=list)


@dataclass
class EventsReport:
    """The clinical-events part of a :class:`~sleepfm_engine.report.model.ReportModel`.

    Attributes
    ----------
    events : EventSet
        On the recording's time line (onsets in seconds from its start).
    indices : IndexTable
        Unrounded values (exports read these).
    sections : list of EventsSection
        In :data:`EVENT_SECTIONS` order; only those with events or signals.
    signals : NightSignals
    hypnogram_role : str or None
        Which hypnogram (``"manual"`` / ``"auto"``) gave the denominators.
    sources : list of str
        Every event source, described.
    notes : list of str
        What was left out and why (from the indices and the signals).
    fits : list of DetectorFit
        The verdicts of the model detectors whose events are reported (the trust section's).
    """

    events: EventSet
    indices: IndexTable
    sections: list[EventsSection]
    signals: NightSignals
    hypnogram_role: str | None
    sources: list[str]
    notes: list[str]
    fits: list[DetectorFit] = field(default_factory=list)

    def section(self, key: str) -> EventsSection | None:
        """The section ``key``, or None when it is not shown."""
        return next((s for s in self.sections if s.key == key), None)


def on_recording_timeline(events: EventSet, rec_start: _dt.datetime | None) -> EventSet:
    """``events`` with onsets from ``rec_start``: a set scored on a clock that starts elsewhere
    (its own ``start``) is shifted by the difference; otherwise returned as is."""
    if events.start is None or rec_start is None or events.start == rec_start:
        return events
    shift = (events.start - rec_start).total_seconds()
    return EventSet([e.replace(onset=e.onset + shift) for e in events], start=rec_start,
                    rejected=events.rejected, source=events.source,
                    file_format=events.file_format)


def _unit_text(key: str) -> str:
    unit = INDEX_DEFINITIONS[key].unit
    return "" if unit == "count" else unit


def build_events_report(recording: Any, events: EventSet | None,
                        hypnograms: dict[str, Hypnogram], signals: NightSignals | None = None,
                        deid: Any = None, detections: Mapping[str, Provenance] | None = None
                        ) -> EventsReport | None:
    """The events part of a report, or None when no section has events or a signal (a body
    position channel alone makes no section).

    Parameters
    ----------
    recording : Recording or stand-in
        Its ``start`` and ``duration`` place the hypnogram and events.
    events : EventSet or None
    hypnograms : dict
        Role -> hypnogram; the manual one gives the denominators (TST, stage and position
        time), else the automatic one.
    signals : NightSignals, optional
    deid : Deidentifier, optional
    detections : mapping, optional
        Detector name (or events file name) -> the record of the run that scored the events
        (:func:`sleepfm_engine.detection_provenance.detector_records`); their verdicts on the
        night are printed beside the sources (:func:`detector_fit`).
    """
    signals = signals if signals is not None else NightSignals()
    events = events if events is not None else EventSet()
    # channel labels and free text may name the patient too
    clean = deid.text if deid is not None else str
    rec_start = getattr(recording, "start", None)
    events = on_recording_timeline(events, rec_start)
    role = next((r for r in ("manual", "auto") if r in hypnograms), None)
    hyp = None
    if role is not None:
        hyp = hypnograms[role]
        if getattr(recording, "channels", None):
            hyp = hyp.align_to(recording)
    table = compute_indices(events, hyp, spo2=signals.spo2, position=signals.position,
                            heart_rate=signals.heart_rate)
    sections = []
    for key, spec in EVENT_SECTIONS.items():
        types = types_of_family(*spec.families)
        present = [e for e in events if e.type in types]
        signal = getattr(signals, spec.signal) if spec.signal else None
        if not present and signal is None:
            continue
        counts = {}
        for e in present:
            counts[e.type] = counts.get(e.type, 0) + 1
        count_rows = [(EVENT_TYPES[t].label, EVENT_TYPES[t].code, n)
                      for t, n in sorted(counts.items(), key=lambda kv: list(EVENT_TYPES).index(kv[0]))]
        rows = [(k, d.name, _unit_text(k), format_index(k, table[k]))
                for k, d in INDEX_DEFINITIONS.items()
                if d.section == key and table[k] is not None]
        srcs = list(dict.fromkeys(describe_source(e.source, deid) for e in present))
        if signal is not None:
            srcs.append(f"channel {signals.channels[spec.signal]}")
        fits = [f._replace(sentence=clean(f.sentence))
                for f in detector_fit(dict.fromkeys(e.source for e in present), detections)]
        sections.append(EventsSection(key, spec.title, clean("; ".join(srcs)), count_rows, rows,
                                      fits))
    if not sections:
        return None
    notes = list(table.notes) + list(signals.notes)
    if signals.position is not None:
        table_desc = position_table(signals.position.table).description
        notes.append(f"Body position ({signals.channels['position']}) decoded with the "
                     f"'{signals.position.table}' code table: {table_desc}.")
    return EventsReport(events=events, indices=table, sections=sections, signals=signals,
                        hypnogram_role=role,
                        sources=[clean(describe_source(s, deid)) for s in events.sources],
                        notes=[clean(n) for n in notes],
                        fits=[f._replace(sentence=clean(f.sentence))
                              for f in detector_fit(events.sources, detections)])


def denominator_text(report: EventsReport) -> str:
    """One line saying what the per-hour indices are per (which hypnogram's sleep time)."""
    if report.hypnogram_role is None:
        return ("No hypnogram: total sleep time is unknown, so no per-hour index is given "
                "(event counts only).")
    tst = report.indices["TST_h"]
    who = "manual scoring" if report.hypnogram_role == "manual" else "SleepFM automatic staging"
    return (f"Per-hour indices are per hour of total sleep time "
            f"({format_index('TST_h', tst, with_unit=True)}, from the {who}); events count "
            "when they begin in a sleep epoch.")


def overview_ticks(events: EventSet) -> dict[str, list[tuple[float, float, str]]]:
    """Event ticks of the overview figure: family -> [(onset s, duration s, colour)] for the
    families of :data:`EVENT_SECTIONS` present, in that order."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for spec in EVENT_SECTIONS.values():
        for fam in spec.families:
            ticks = [(e.onset, e.duration, EVENT_TYPES[e.type].colour)
                     for e in events.of_family(fam)]
            if ticks:
                out[fam] = ticks
    return out


def trend(signal: SampledSignal, valid: tuple[float, float],
          max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """(hours from the recording start, values) of a level signal, values outside ``valid``
    (artefact, as the indices define it) blanked, decimated to at most ``max_points`` bins by
    their minimum (a desaturation's nadir stays visible)."""
    v = np.array(signal.values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        v[~((v >= valid[0]) & (v <= valid[1]))] = np.nan
    t = signal.onset + np.arange(v.shape[0]) / signal.rate
    if v.shape[0] > max_points:
        k = int(np.ceil(v.shape[0] / max_points))
        n = v.shape[0] // k * k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins stay NaN
            v = np.nanmin(v[:n].reshape(-1, k), axis=1)
        t = t[:n:k]
    return t / 3600.0, v
