"""This engine's scored-events file: every field of an :class:`~sleepfm_engine.events.EventSet`
in one JSON object, read back exactly as written (EventSet equality).

::

    {"format": "sleepfm-studio events", "format_version": 1,
     "start": "2024-01-01T22:00:00" | null,
     "events": [{"onset": 4021.2, "duration": 17.4, "type": "apnea_obstructive",
                 "channels": ["Airflow"], "label": "Obstructive apnea",
                 "source": {"kind": "detector", "name": "psgscoring", "version": "0.37",
                            "settings": {"profile": "aasm_v3_rec"}},
                 "confidence": 0.93, "attributes": {"rule": "1A"}, "id": "3f2a9c01b7de"}, ...],
     "rejected": [{"event": {...same keys...}, "reason": "MMSD too high"}, ...]}

``format`` comes first so that a glance at the file (and the format sniffer) names it. Onsets
and durations are seconds from the recording start whose clock time is ``start``; ``type`` is
an :class:`~sleepfm_engine.events.EventType` value; ``confidence`` is null when the source gives
none; ``attributes`` and ``settings`` are JSON objects. Numbers are written at full precision.
The event keys are those of :meth:`Event.to_dict`.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any

from ..errors import EventsError, HypnogramError
from ..events import Event, EventSet, RejectedCandidate
from ._common import read_text_lines
from ._event_rows import as_events_error
from .registry import FileFormat, Probe

NAME = "events-json"
#: Value of the ``format`` key of files written here.
FORMAT_TAG = "sleepfm-studio events"
FORMAT_VERSION = 1
_TAG_RE = re.compile(rb'^\s*\{\s*"format"\s*:\s*"' + re.escape(FORMAT_TAG.encode()) + rb'"')
# Field -> JSON types an event object may hold there (null where None is allowed).
_EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "onset": (int, float), "duration": (int, float), "type": (str,), "channels": (list,),
    "source": (dict,), "confidence": (int, float, type(None)), "attributes": (dict,),
    "label": (str,), "id": (str,)}


def sniff(probe: Probe) -> bool:
    """True for a JSON object whose first key is ``"format": "sleepfm-studio events"``."""
    return bool(_TAG_RE.match(probe.head.lstrip(b"\xef\xbb\xbf")))


def _event(path: Path, item: Any, where: str) -> Event:
    if not isinstance(item, dict):
        raise EventsError(path, f"{where} is not a JSON object")
    for key, types in _EVENT_FIELDS.items():
        if key in item and (not isinstance(item[key], types) or isinstance(item[key], bool)):
            raise EventsError(path, f"{where}: {key!r} has the wrong JSON type "
                                    f"({type(item[key]).__name__})")
    if not all(isinstance(c, str) for c in item.get("channels") or ()):
        raise EventsError(path, f"{where}: 'channels' must be a list of strings")
    try:
        return Event.from_dict(item)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise EventsError(path, f"{where}: {exc}") from None


def read(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read an events JSON file (``start`` is ignored: the file carries its own).

    Raises
    ------
    EventsError
        For invalid JSON (names the line), another kind of object, or an invalid event (names
        its index).
    """
    try:
        text = "\n".join(read_text_lines(path))
    except HypnogramError as exc:
        raise as_events_error(exc) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventsError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_TAG:
        raise EventsError(path, f"not a {FORMAT_TAG!r} JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise EventsError(path, f"format_version {version!r} is not {FORMAT_VERSION} "
                                "(written by a newer version?)")
    for key in ("events", "rejected"):
        if not isinstance(data.get(key, []), list):
            raise EventsError(path, f"{key!r} must be a list")
    events = [_event(path, item, f"event {i}") for i, item in enumerate(data.get("events", []))]
    rejected = []
    for i, item in enumerate(data.get("rejected", [])):
        if not isinstance(item, dict) or not isinstance(item.get("reason", ""), str):
            raise EventsError(path, f"rejected candidate {i} must be an object with a text reason")
        rejected.append(RejectedCandidate(_event(path, item.get("event"), f"rejected candidate {i}"),
                                          item.get("reason", "")))
    clock = data.get("start")
    try:
        start_time = None if clock is None else _dt.datetime.fromisoformat(clock)
    except (TypeError, ValueError):
        raise EventsError(path, f"bad start date-time {clock!r}") from None
    try:
        return EventSet(events, start=start_time, rejected=rejected, source=str(path),
                        file_format=NAME)
    except (TypeError, ValueError) as exc:
        raise EventsError(path, str(exc)) from None


def format_json(events: EventSet) -> str:
    """The JSON text of an event set (see the module docstring)."""
    body = events.to_dict()
    data = {"format": FORMAT_TAG, "format_version": FORMAT_VERSION, "start": body["start"],
            "events": body["events"], "rejected": body["rejected"]}
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def write(events: EventSet, path: Path) -> None:
    """Write an events JSON file atomically."""
    from ..atomic import write_text_atomic

    write_text_atomic(path, format_json(events))


FORMAT = FileFormat(
    NAME, "SleepFM Studio events (JSON)", (".json",), sniff, aliases=("events",), priority=29,
    read_events=read, write_events=write, event_save_suffix=".json",
    event_keeps=frozenset({"label", "channels", "channel", "spo2", "attributes", "source",
                           "confidence", "id", "start", "rejected"}))
