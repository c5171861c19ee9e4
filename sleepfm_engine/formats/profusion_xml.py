"""Compumedics Profusion XML (``<CMPStudyConfig>``), as distributed by NSRR for some cohorts.

``<EpochLength>30</EpochLength>`` and ``<SleepStages><SleepStage>n</SleepStage>...`` with one
value per epoch from the recording start: 0 W, 1 N1, 2 N2, 3 N3, 4 N4 (-> N3), 5 REM,
9 unscored.

Scored events (:func:`read_events`): ``<ScoredEvents><ScoredEvent>`` with ``Name`` (typed by
the event vocabulary; an unknown name stays a note keeping its text), ``Start`` and
``Duration`` (s) and ``Input`` (the channel); a desaturation's ``LowestSpO2`` and
``Desaturation`` become the attributes ``nadir_pct`` and ``drop_pct``. The body-position
coding of the study (``StepChannels``: the position channel's labels in code order) is
:func:`read_position_table`. :func:`write_events` writes the events (first channel as
``Input``) without stages or clock time, which Profusion files do not carry with events.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from ..contract import EPOCH_SECONDS
import datetime as _dt

from ..errors import EventsError, HypnogramError, NoStagesError
from ..events import EventSet
from ..hypnogram import UNSCORED, Hypnogram
from ..position import PositionTable, table_from_labels
from ._common import parse_float, parse_int
from ._event_rows import (as_events_error, check_xml_text, duration, event_set, file_event,
                          file_label, number, xml_element)
from ._xml import Node, parse_xml
from .registry import FileFormat, Probe

NAME = "profusion-xml"
ROOT = "CMPStudyConfig"
#: Profusion stage value -> stage code.
CODES = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 9: UNSCORED}


def sniff(probe: Probe) -> bool:
    """True for XML whose root element is ``<CMPStudyConfig>``."""
    return probe.xml_root is not None and probe.xml_root.tag == ROOT


def read(path: Path, epoch_length: float | None = None, root: Node | None = None) -> Hypnogram:
    """Read the stages of a Profusion XML file.

    Raises
    ------
    HypnogramError
        For an unknown stage value, a bad EpochLength or no stages (names the line).
    """
    root = root or parse_xml(path)
    if root.tag != ROOT:
        raise HypnogramError(path, f"root element is <{root.tag}>, expected <{ROOT}>", root.line)
    node = root.find("EpochLength")
    if node is None or not node.text.strip():
        warnings.warn(f"{path}: no <EpochLength>; assuming {EPOCH_SECONDS} s", stacklevel=3)
        length = float(EPOCH_SECONDS)
    else:
        length = parse_float(node.text.strip(), path, node.line, "EpochLength")
        if length <= 0:
            raise HypnogramError(path, f"EpochLength must be positive, got {length:g}", node.line)
    container = root.find("SleepStages")
    if container is None:
        raise NoStagesError(path, "no <SleepStages> element", root.line)
    stages = []
    for st in container.findall("SleepStage"):
        value = parse_int(st.text.strip(), path, st.line, "Profusion sleep stage")
        if value not in CODES:
            raise HypnogramError(path, f"{value} is not a Profusion sleep stage (0 W, 1-4 NREM, "
                                       "5 REM, 9 unscored)", st.line)
        stages.append(CODES[value])
    if not stages:
        raise NoStagesError(path, "<SleepStages> holds no <SleepStage>", container.line)
    hyp = Hypnogram(stages, length, source=str(path), file_format=NAME)
    if epoch_length is not None and float(epoch_length) != length:
        hyp = hyp.resample(float(epoch_length))
    return hyp


#: Profusion element -> event attribute, for desaturations.
SPO2_ELEMENTS = {"LowestSpO2": "nadir_pct", "Desaturation": "drop_pct"}


def _root(path: Path) -> Node:
    try:
        root = parse_xml(path)
    except HypnogramError as exc:
        raise as_events_error(exc) from None
    if root.tag != ROOT:
        raise EventsError(path, f"root element is <{root.tag}>, expected <{ROOT}>", line=root.line)
    return root


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read the scored events (not the stages) of a Profusion XML file; ``start`` is ignored
    (Profusion files carry no clock time).

    Raises
    ------
    EventsError
        For malformed XML, another root, or a bad Start, Duration or SpO2 value (names the
        line).
    """
    root = _root(path)
    container = root.find("ScoredEvents")
    events = []
    for ev in [] if container is None else container.findall("ScoredEvent"):
        node = ev.find("Start")
        if node is None or not node.text.strip():
            raise EventsError(path, "event without <Start>", line=ev.line)
        onset = number(node.text, path, node.line, "Start")
        node = ev.find("Duration")
        length = None if node is None else duration(node.text, path, node.line)
        attributes = {}
        for tag, key in SPO2_ELEMENTS.items():
            node = ev.find(tag)
            if node is not None and node.text.strip():
                attributes[key] = number(node.text, path, node.line, tag)
        channel = ev.findtext("Input")
        events.append(file_event(path, onset, length, ev.findtext("Name") or "",
                                 channels=(channel,) if channel else (), attributes=attributes,
                                 line=ev.line))
    return event_set(path, events, NAME)


def read_position_table(path: Path) -> PositionTable | None:
    """The body-position coding of a Profusion study: its position ``StepChannel``'s labels in
    code order (from 0), or None when the file has no position step channel.

    Raises
    ------
    EventsError
        For malformed XML or a position label that names no known position (names the line).
    """
    root = _root(path)
    steps = root.find("StepChannels")
    for channel in [] if steps is None else steps.findall("StepChannel"):
        if "position" not in (channel.findtext("Input") or "").lower():
            continue
        labels_node = channel.find("Labels")
        labels = [] if labels_node is None else labels_node.findall("Label")
        try:
            return table_from_labels(f"profusion:{path.name}", [n.text.strip() for n in labels],
                                     description=f"StepChannel labels of {path.name}")
        except ValueError as exc:
            raise EventsError(path, str(exc), line=channel.line) from None
    return None


def format_events(events: EventSet) -> str:
    """The Profusion XML text of an event set: ``EpochLength`` and ``ScoredEvents``.

    Raises
    ------
    EventsError
        For a label or channel XML cannot hold unchanged.
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<{ROOT}>",
           xml_element("EpochLength", EPOCH_SECONDS), "<ScoredEvents>"]
    for e in events:
        parts = [xml_element("Name", check_xml_text(file_label(e), "label")),
                 xml_element("Start", repr(e.onset)), xml_element("Duration", repr(e.duration))]
        if e.channels:
            parts.append(xml_element("Input", check_xml_text(e.channels[0], "channel")))
        for tag, key in SPO2_ELEMENTS.items():
            value = e.attributes.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append(xml_element(tag, repr(float(value))))
        out.append("<ScoredEvent>" + "".join(parts) + "</ScoredEvent>")
    out += ["</ScoredEvents>", f"</{ROOT}>"]
    return "\n".join(out) + "\n"


def write_events(events: EventSet, path: Path) -> None:
    """Write the events as Profusion XML atomically (see :func:`format_events`)."""
    from ..atomic import write_text_atomic

    try:
        text = format_events(events)
    except EventsError as exc:
        raise EventsError(path, exc.problem) from None
    write_text_atomic(path, text)


FORMAT = FileFormat(NAME, "Compumedics Profusion XML", (".xml",), sniff, aliases=("profusion",),
                    priority=21, read_hypnogram=read, read_events=read_events,
                    write_events=write_events, event_keeps=frozenset({"label", "channel"}))
