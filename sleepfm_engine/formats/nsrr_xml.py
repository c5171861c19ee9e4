"""NSRR XML annotations (sleepdata.org: SHHS, MESA, CHAT, ...).

``<PSGAnnotation><ScoredEvents><ScoredEvent>`` with ``EventType`` ``Stages|Stages`` and
``EventConcept`` such as ``Wake|0``, ``Stage 1 sleep|1``, ``Stage 2 sleep|2``, ``Stage 3 sleep|3``,
``Stage 4 sleep|4`` (N3), ``REM sleep|5``, ``Movement|6`` (artefact), ``Unscored|9``.
``Start`` and ``Duration`` are seconds from the recording start; one event may span several
epochs. Other events (arousals, respiratory events...) are ignored. The ``EpochLength`` element,
when present, is the scoring grid.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import HypnogramError
from ..hypnogram import ARTEFACT, UNSCORED, Hypnogram, parse_stage
from ._common import parse_float
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
        onsets.append(start)
        durations.append(dur)
        codes.append(code)
    if not codes:
        raise HypnogramError(path, "no sleep-stage events (EventType 'Stages|Stages')")
    grid = None
    epoch_node = root.find("EpochLength")
    if epoch_node is not None and epoch_node.text.strip():
        grid = parse_float(epoch_node.text.strip(), path, epoch_node.line, "EpochLength")
        if grid <= 0:
            raise HypnogramError(path, f"EpochLength must be positive, got {grid:g}", epoch_node.line)
        # Keep the file's grid only if the events sit on it.
        first = min(onsets)
        if any(abs(((o - first) / grid) - round((o - first) / grid)) * grid > 1e-3 for o in onsets):
            grid = None
    try:
        return Hypnogram.from_events(onsets, durations, codes, None, epoch_length, grid=grid,
                                     source=str(path), file_format=NAME)
    except ValueError as exc:
        raise HypnogramError(path, str(exc)) from None


FORMAT = FileFormat(NAME, "NSRR XML annotations", (".xml",), sniff, aliases=("nsrr",),
                    priority=20, read_hypnogram=read)
