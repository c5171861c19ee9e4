"""Helpers shared by the event-file format modules: events from vendor labels, the label a
vendor file gets, stage rows turned into a hypnogram, clock-time onsets and XML-safe text.

Every event read from a vendor file is typed from its label by
:meth:`~sleepfm_engine.events.Event.from_label` (an unknown label stays a ``note`` keeping its
text), its source is the file, and an event whose file gives no duration keeps duration 0 with
the attribute :data:`DURATION_MISSING` set, so that nothing downstream takes it for an instant
the scorer meant.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from xml.sax.saxutils import escape

from ..errors import EventsError, HypnogramError, NoStagesError
from ..events import EVENT_TYPES, Event, EventSet, EventSource, describe_label, is_stage_label
from ..hypnogram import Hypnogram, parse_stage

#: Attribute set on events whose file gave no duration (read as 0).
DURATION_MISSING = "duration_missing"
# Characters XML 1.0 cannot hold (control characters other than tab, LF, CR; surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def file_event(path: Path, onset: float, duration: float | None, label: str, *,
               channels: Sequence[str] = (), attributes: Mapping[str, Any] | None = None,
               line: int | None = None) -> Event:
    """An event read from ``path``, typed from its ``label``.

    ``duration`` None (the file has none) gives 0 and the :data:`DURATION_MISSING` flag.

    Raises
    ------
    EventsError
        If onset or duration is invalid (names the file and line).
    """
    attrs = dict(attributes or {})
    if duration is None:
        duration = 0.0
        attrs[DURATION_MISSING] = True
    try:
        return Event.from_label(onset, duration, label, channels=tuple(channels),
                                source=EventSource.file(path), attributes=attrs)
    except (TypeError, ValueError) as exc:
        raise EventsError(path, str(exc), line=line) from None


def file_label(event: Event) -> str:
    """The label a vendor file gets for ``event``: its own text when that still names its type
    and is not a sleep-stage label (a reader would take it for a stage), otherwise the type's
    display label, or that label with ``event`` after it where the display label alone reads
    as a stage (``Artefact``)."""
    display = EVENT_TYPES[event.type].label
    for text in (event.label.strip(), display, f"{display} event"):
        if text and describe_label(text).type == event.type and not is_stage_label(text):
            return text
    raise EventsError(None, f"no label names event type {event.type.value!r} in a file")


def event_set(path: Path, events: Iterable[Event], name: str,
              start: _dt.datetime | None = None) -> EventSet:
    """The set of events read from ``path`` in format ``name``."""
    try:
        return EventSet(events, start=start, source=str(path), file_format=name)
    except ValueError as exc:
        raise EventsError(path, str(exc)) from None


def number(text: str, path: Path, line: int | None, what: str) -> float:
    """A finite number, or EventsError naming the file and line."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise EventsError(path, f"{what} {str(text)[:40]!r} is not a number", line=line) from None
    if not math.isfinite(value):
        raise EventsError(path, f"{what} {str(text)[:40]!r} is not a finite number", line=line)
    return value


def duration(text: str, path: Path, line: int | None, missing: Iterable[str] = ("",)) -> float | None:
    """A duration (>= 0 s), or None where the file leaves it out (``missing`` spellings)."""
    if str(text).strip() in missing:
        return None
    value = number(text, path, line, "duration")
    if value < 0:
        raise EventsError(path, f"negative duration {value:g}", line=line)
    return value


def as_events_error(exc: HypnogramError) -> EventsError:
    """An EventsError saying what a shared (XML, text) reader's HypnogramError said."""
    return EventsError(exc.path, exc.problem, line=exc.line)


def check_xml_text(text: str, what: str) -> str:
    """``text`` if XML can hold it unchanged (no control characters, no edge white space).

    Raises
    ------
    EventsError
        Naming what cannot be written.
    """
    if _NOT_XML.search(text) or text != text.strip():
        raise EventsError(None, f"{what} {text[:40]!r} cannot be written to XML unchanged "
                                "(control characters or leading/trailing white space)")
    return text


def xml_element(tag: str, value: object) -> str:
    """``<tag>value</tag>`` with the value escaped."""
    # a bare carriage return would come back as a line feed (XML line-end normalisation)
    return f"<{tag}>{escape(str(value), {chr(13): '&#13;'})}</{tag}>"


def stage_hypnogram(path: Path, rows: Iterable[tuple[float, float | None, str]],
                    epoch_length: float | None, name: str,
                    start: _dt.datetime | None = None) -> Hypnogram:
    """The hypnogram of the stage rows among (onset, duration, label) rows of an events file.

    Rows whose label is no sleep stage are left to the events reader. A row without duration
    lasts until the next stage row.

    Raises
    ------
    NoStagesError
        If no row names a stage (an events file, not a hypnogram).
    HypnogramError
        If the stage rows do not make a hypnogram.
    """
    onsets, durations, codes = [], [], []
    for onset, dur, label in rows:
        code = parse_stage(str(label).split("|")[0], strict=True)
        if code is None:
            continue
        onsets.append(onset)
        durations.append(dur if dur else None)
        codes.append(code)
    if not codes:
        raise NoStagesError(path, "holds scored events but no sleep-stage rows")
    try:
        return Hypnogram.from_events(onsets, durations, codes, None, epoch_length, start=start,
                                     source=str(path), file_format=name)
    except ValueError as exc:
        raise HypnogramError(path, str(exc)) from None


# -- clock-time onsets ---------------------------------------------------------------------
#: MNE writes annotations without an origin as clock times from this instant.
UNIX_EPOCH = _dt.datetime(1970, 1, 1)
# Clock times before this are taken as seconds counted from UNIX_EPOCH (MNE, no origin).
_EPOCH_BASED_BEFORE = _dt.datetime(1971, 1, 1)


def parse_clock(text: str) -> _dt.datetime | None:
    """An ISO 8601 date-time (naive UTC when it has a zone), or None if ``text`` is not one."""
    s = str(text).strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]", s):
        return None
    try:
        value = _dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return value


def clock_origin(clocks: Sequence[_dt.datetime], start: _dt.datetime | None
                 ) -> tuple[_dt.datetime, _dt.datetime | None]:
    """(time origin that onsets count from, the set's start) for clock-time onsets.

    Clock times in 1970 are MNE's annotations without an origin: seconds from the UNIX epoch,
    start unknown. Otherwise the recording ``start`` when the caller knows it, else the first
    onset (as MNE itself does when reading such a file).
    """
    if start is not None and start.tzinfo is not None:
        start = start.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    if clocks and min(clocks) < _EPOCH_BASED_BEFORE:
        return UNIX_EPOCH, None
    if start is not None:
        return start, start
    origin = min(clocks) if clocks else UNIX_EPOCH
    return origin, (origin if clocks else None)


def seconds_between(origin: _dt.datetime, clock: _dt.datetime) -> float:
    """Seconds from ``origin`` to ``clock`` (exact to the microsecond)."""
    # integer microseconds, then one correctly rounded division
    return ((clock - origin) // _dt.timedelta(microseconds=1)) / 1_000_000
