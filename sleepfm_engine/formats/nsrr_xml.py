"""NSRR XML annotations (sleepdata.org: SHHS, MESA, CHAT, ...).

``<PSGAnnotation><ScoredEvents><ScoredEvent>`` with ``EventType`` ``Stages|Stages`` and
``EventConcept`` such as ``Wake|0``, ``Stage 1 sleep|1``, ``Stage 2 sleep|2``, ``Stage 3 sleep|3``,
``Stage 4 sleep|4`` (N3), ``REM sleep|5``, ``Movement|6`` (artefact), ``Unscored|9``.
``Start`` and ``Duration`` are seconds from the recording start; one event may span several
epochs. The ``EpochLength`` element, when present, is the scoring grid.

Scored events (:func:`read_events`, :func:`write_events`) are the other ``ScoredEvent``
elements: typed from ``EventConcept`` (``Obstructive apnea|Obstructive Apnea``; an unknown
concept stays a note keeping its text), channel from ``SignalLocation``, a desaturation's
``SpO2Nadir`` and ``SpO2Baseline`` as attributes ``nadir_pct``, ``baseline_pct`` and
``drop_pct`` (their difference). The ``Recording Start Time`` entry is not an event: its
``ClockTime`` (``dd.mm.yy hh.mm.ss``; date ``00.00.00`` when unknown) is the set's start.
Writing gives one ``ScoredEvent`` per event (the first channel only), the start entry when the
start is known to the second, and no stages.
"""
from __future__ import annotations

from pathlib import Path

import datetime as _dt
import re
import warnings

from ..errors import EventsError, HypnogramError, NoStagesError
from ..events import EVENT_TYPES, EventSet, is_stage_label
from ..hypnogram import ARTEFACT, UNSCORED, Hypnogram, parse_stage
from ._common import parse_float
from ._event_rows import (as_events_error, check_xml_text, duration, event_set, file_event,
                          file_label, number, xml_element)
from ._xml import Node, parse_xml
from .registry import FileFormat, Probe

NAME = "nsrr-xml"
ROOT = "PSGAnnotation"
#: NSRR concept number -> stage code.
CODES = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: ARTEFACT, 9: UNSCORED}


def _concept_code(concept: str) -> int | None:
    name, _, number = concept.partition("|")
    if number.strip().lstrip("-").isdigit():
        return CODES.get(int(number))
    code = parse_stage(name)
    if code is None and "movement" in name.lower():
        code = ARTEFACT
    return code


def sniff(probe: Probe) -> bool:
    """True for XML whose root element is ``<PSGAnnotation>``."""
    return probe.xml_root is not None and probe.xml_root.tag == ROOT


def read(path: Path, epoch_length: float | None = None, root: Node | None = None) -> Hypnogram:
    """Read the sleep stages of an NSRR XML file.

    Raises
    ------
    HypnogramError
        For an unknown stage concept, a missing or bad Start/Duration, or no stage events
        (names the line).
    """
    root = root or parse_xml(path)
    if root.tag != ROOT:
        raise HypnogramError(path, f"root element is <{root.tag}>, expected <{ROOT}>", root.line)
    events = root.find("ScoredEvents")
    if events is None:
        raise HypnogramError(path, "no <ScoredEvents> element", root.line)
    onsets, durations, codes = [], [], []
    for ev in events.findall("ScoredEvent"):
        etype = (ev.findtext("EventType") or "").lower()
        concept = ev.findtext("EventConcept") or ""
        if not etype.startswith("stages"):
            continue
        code = _concept_code(concept)
        if code is None:
            node = ev.find("EventConcept")
            raise HypnogramError(path, f"unknown sleep-stage concept {concept!r}",
                                 ev.line if node is None else node.line)
        for tag in ("Start", "Duration"):
            if ev.find(tag) is None:
                raise HypnogramError(path, f"stage event without <{tag}>", ev.line)
        start_node, dur_node = ev.find("Start"), ev.find("Duration")
        start = parse_float(start_node.text.strip(), path, start_node.line, "Start")
        dur = parse_float(dur_node.text.strip(), path, dur_node.line, "Duration")
        if dur < 0:
            raise HypnogramError(path, f"negative Duration {dur:g}", dur_node.line)
        if start < 0:
            # Starts are seconds from the recording start: a stage before it scores nothing.
            raise HypnogramError(path, f"negative Start {start:g} (stage events start at 0 s or "
                                       "later, from the recording start)", start_node.line)
        onsets.append(start)
        durations.append(dur)
        codes.append(code)
    if not codes:
        raise NoStagesError(path, "no sleep-stage events (EventType 'Stages|Stages')")
    grid = None
    epoch_node = root.find("EpochLength")
    if epoch_node is not None and epoch_node.text.strip():
        grid = parse_float(epoch_node.text.strip(), path, epoch_node.line, "EpochLength")
        if grid <= 0:
            raise HypnogramError(path, f"EpochLength must be positive, got {grid:g}", epoch_node.line)
        # Keep the file's grid only if the events sit on it; otherwise the events are re-epoched
        # onto the declared length (never onto a grid of their own, say 45 s, silently).
        first = min(onsets)
        off = [o for o in onsets
               if abs(((o - first) / grid) - round((o - first) / grid)) * grid > 1e-3]
        if off:
            warnings.warn(f"{path}: {len(off)} stage events are off the declared {grid:g}-s "
                          f"epochs (first at {off[0]:g} s); re-epoched to {grid:g} s by majority",
                          UserWarning, stacklevel=3)
            epoch_length = grid if epoch_length is None else epoch_length
            grid = None
    try:
        return Hypnogram.from_events(onsets, durations, codes, None, epoch_length, grid=grid,
                                     source=str(path), file_format=NAME)
    except ValueError as exc:
        raise HypnogramError(path, str(exc)) from None


#: The concept of the entry that holds the recording's clock start (not an event).
START_CONCEPT = "Recording Start Time"
_CLOCK = re.compile(r"^(\d\d)\.(\d\d)\.(\d\d) (\d\d)\.(\d\d)\.(\d\d)$")
#: Event family -> NSRR EventType written.
EVENT_TYPE_NAMES = {"respiratory": "Respiratory|Respiratory", "oxygen": "Respiratory|Respiratory",
                    "arousal": "Arousals|Arousals", "limb": "Limb Movement|Limb Movement",
                    "position": "Position|Position", "lights": "Lights|Lights",
                    "artefact": "Technician Notes|Technician Notes", "cardiac": "Cardiac|Cardiac",
                    "note": "Technician Notes|Technician Notes"}
#: NSRR element -> event attribute, for desaturations.
SPO2_ELEMENTS = {"SpO2Nadir": "nadir_pct", "SpO2Baseline": "baseline_pct"}


def _clock_time(text: str, path: Path, line: int) -> _dt.datetime | None:
    m = _CLOCK.match(text.strip())
    if not m:
        raise EventsError(path, f"ClockTime {text.strip()[:40]!r} is not 'dd.mm.yy hh.mm.ss'",
                          line=line)
    day, month, year, hour, minute, second = (int(g) for g in m.groups())
    if (day, month, year) == (0, 0, 0):
        return None  # NSRR's de-identified files keep the time of day only
    try:
        return _dt.datetime(1900 + year if year >= 85 else 2000 + year, month, day,
                            hour, minute, second)
    except ValueError as exc:
        raise EventsError(path, f"ClockTime {text.strip()!r}: {exc}", line=line) from None


def _timing(ev: Node, path: Path) -> tuple[float, float | None]:
    node = ev.find("Start")
    if node is None or not node.text.strip():
        raise EventsError(path, "event without <Start>", line=ev.line)
    onset = number(node.text, path, node.line, "Start")
    node = ev.find("Duration")
    return onset, None if node is None else duration(node.text, path, node.line)


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read the scored events (not the stages) of an NSRR XML file; ``start`` is ignored
    (the file's ``Recording Start Time`` gives the start when its date is known).

    Raises
    ------
    EventsError
        For malformed XML, another root, or a bad Start, Duration, ClockTime or SpO2 value
        (names the line).
    """
    try:
        root = parse_xml(path)
    except HypnogramError as exc:
        raise as_events_error(exc) from None
    if root.tag != ROOT:
        raise EventsError(path, f"root element is <{root.tag}>, expected <{ROOT}>", line=root.line)
    container = root.find("ScoredEvents")
    if container is None:
        raise EventsError(path, "no <ScoredEvents> element", line=root.line)
    clock = None
    events = []
    for ev in container.findall("ScoredEvent"):
        concept = ev.findtext("EventConcept") or ""
        if (ev.findtext("EventType") or "").lower().startswith("stages") or is_stage_label(concept):
            continue
        if concept.lower() == START_CONCEPT.lower():
            node = ev.find("ClockTime")
            if node is not None and node.text.strip():
                clock = _clock_time(node.text, path, node.line)
            continue
        onset, length = _timing(ev, path)
        attributes = {}
        for tag, key in SPO2_ELEMENTS.items():
            node = ev.find(tag)
            if node is not None and node.text.strip():
                attributes[key] = number(node.text, path, node.line, tag)
        if len(attributes) == 2:
            attributes["drop_pct"] = round(attributes["baseline_pct"] - attributes["nadir_pct"], 6)
        location = ev.findtext("SignalLocation")
        events.append(file_event(path, onset, length, concept,
                                 channels=(location,) if location else (),
                                 attributes=attributes, line=ev.line))
    return event_set(path, events, NAME, clock)


def format_events(events: EventSet) -> str:
    """The NSRR XML text of an event set (see the module docstring).

    Raises
    ------
    EventsError
        For a label or channel XML cannot hold unchanged.
    """
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>', "<PSGAnnotation>",
           "<SoftwareVersion>SleepFM Studio</SoftwareVersion>", "<EpochLength>30</EpochLength>",
           "<ScoredEvents>"]
    start = events.start
    if start is not None and start.microsecond == 0 and 1985 <= start.year <= 2084:
        end = max((e.end for e in events), default=0.0)
        out.append("<ScoredEvent><EventType/>" + xml_element("EventConcept", START_CONCEPT)
                   + xml_element("Start", 0) + xml_element("Duration", repr(max(end, 0.0)))
                   + xml_element("ClockTime", start.strftime("%d.%m.%y %H.%M.%S"))
                   + "</ScoredEvent>")
    for e in events:
        label = check_xml_text(file_label(e), "label")
        parts = [xml_element("EventType", EVENT_TYPE_NAMES[EVENT_TYPES[e.type].family]),
                 xml_element("EventConcept", label), xml_element("Start", repr(e.onset)),
                 xml_element("Duration", repr(e.duration))]
        if e.channels:
            parts.append(xml_element("SignalLocation", check_xml_text(e.channels[0], "channel")))
        for tag, key in SPO2_ELEMENTS.items():
            value = e.attributes.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append(xml_element(tag, repr(float(value))))
        out.append("<ScoredEvent>" + "".join(parts) + "</ScoredEvent>")
    out += ["</ScoredEvents>", "</PSGAnnotation>"]
    return "\n".join(out) + "\n"


def write_events(events: EventSet, path: Path) -> None:
    """Write the events as NSRR XML atomically (see :func:`format_events`)."""
    from ..atomic import write_text_atomic

    try:
        text = format_events(events)
    except EventsError as exc:
        raise EventsError(path, exc.problem) from None
    write_text_atomic(path, text)


FORMAT = FileFormat(NAME, "NSRR XML annotations", (".xml",), sniff, aliases=("nsrr",),
                    priority=20, read_hypnogram=read, read_events=read_events,
                    write_events=write_events, event_save_suffix=".xml",
                    event_keeps=frozenset({"label", "channel", "spo2", "start"}))
