"""YASA event tables: detection summaries (``sw_detect(...).summary()``,
``spindles_detect``, ``rem_detect``) and ``Hypnogram.as_events()``-style tables saved as CSV.

Columns ``Start`` and ``End`` or ``Duration`` (seconds from the recording start), optional
``Channel``, ``Stage`` (YASA's integer) and the detector's measures. The label is a
``Description``/``Event``/``Type``/``Annotation`` column when there is one, otherwise the kind
of detection the columns show (``Spindle``, ``Slow wave``, ``Rapid eye movement``); such
labels are notes in the event vocabulary. ``Stage`` and every other measure are kept as
attributes (numbers where they parse). Read only.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

from ..errors import EventsError
from ..events import EventSet
from ._event_rows import duration, event_set, file_event, number
from ._event_table import read_cells, table_text
from .registry import FileFormat, Probe

NAME = "yasa-events"
#: Columns that name the event, first present wins.
LABEL_COLUMNS = ("description", "event", "type", "annotation")
#: A column only one YASA detector writes -> the label of its events.
DETECTION_KINDS = (("oscillations", "Spindle"), ("negpeak", "Slow wave"),
                   ("locabsvalpeak", "Rapid eye movement"))
_TIMING = ("start", "end", "duration", "channel", "idxchannel", "")
_DELIMS = (",", ";", "\t")


def _delimiter(line: str) -> str:
    return max(_DELIMS, key=line.count)


def sniff(probe: Probe) -> bool:
    """True for a header with ``Start`` and ``End`` or ``Duration`` (and no ``Stop``, which is
    the sleepfm label CSV's)."""
    line = probe.first_line
    if line is None:
        return False
    cells = {c.strip().strip('"').strip().lower() for c in line.split(_delimiter(line))}
    return "start" in cells and bool({"end", "duration"} & cells) and "stop" not in cells


def _value(text: str) -> float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read a YASA event table; ``start`` is ignored (onsets are seconds).

    Raises
    ------
    EventsError
        For a missing Start/End/Duration column, a bad number, End before Start or a ragged
        row (names the line).
    """
    text = table_text(path)
    head = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    header, header_line, rows = read_cells(path, _delimiter(head) if head else ",")
    lower = [c.lower() for c in header]
    if "start" not in lower or not {"end", "duration"} & set(lower):
        raise EventsError(path, "a YASA event table needs Start and End or Duration columns",
                          line=header_line)
    col = {name: i for i, name in enumerate(lower)}
    label_col = next((c for c in LABEL_COLUMNS if c in col), None)
    kind = next((label for marker, label in DETECTION_KINDS if marker in col), "YASA event")
    events = []
    for first, cells in rows:
        if len(cells) != len(header):
            raise EventsError(path, f"expected {len(header)} cells, found {len(cells)}", line=first)
        onset = number(cells[col["start"]], path, first, "Start")
        if "duration" in col:
            length = duration(cells[col["duration"]], path, first)
        else:
            end = number(cells[col["end"]], path, first, "End")
            if end < onset:
                raise EventsError(path, f"End {end:g} is before Start {onset:g}", line=first)
            length = end - onset
        channel = cells[col["channel"]].strip() if "channel" in col else ""
        attributes = {name: _value(cells[i].strip()) for i, name in enumerate(header)
                      if lower[i] not in _TIMING and lower[i] != label_col and cells[i].strip()}
        label = cells[col[label_col]] if label_col else kind
        events.append(file_event(path, onset, length, label, channels=(channel,) if channel else (),
                                 attributes=attributes, line=first))
    return event_set(path, events, NAME)


FORMAT = FileFormat(NAME, "YASA event table", (".csv", ".tsv"), sniff, aliases=("yasa-csv",),
                    priority=58, read_events=read_events)
