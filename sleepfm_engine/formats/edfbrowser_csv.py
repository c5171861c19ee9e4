"""EDFbrowser's "export annotations" CSV: ``Onset,Duration,Annotation``.

Onsets are seconds from the recording start (or ISO 8601 clock times, an export option, read
as in :mod:`.mne_csv`); an empty duration is missing (the event reads as duration 0 flagged
``duration_missing``). Rows whose annotation names a sleep stage are the hypnogram
(:func:`read`), the others the events. Written with onsets and durations in seconds at full
precision; it has no channels.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ..events import EventSet
from ..hypnogram import Hypnogram
from ._event_rows import file_label
from ._event_table import TableSpec, format_table, read_table_events, read_table_hypnogram
from .registry import FileFormat, Probe

NAME = "edfbrowser-csv"
SPEC = TableSpec(NAME, ",", "onset", "duration", ("annotation",))


def sniff(probe: Probe) -> bool:
    """True for a comma-separated header ``Onset,Duration,Annotation`` (any case)."""
    return SPEC.header_matches(probe)


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read the events (non-stage rows) of an EDFbrowser annotations CSV.

    Raises
    ------
    EventsError
        For a missing column, a bad onset or duration, or a ragged row (names the line).
    """
    return read_table_events(path, SPEC, start)


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read the hypnogram of the stage rows of an EDFbrowser annotations CSV.

    Raises
    ------
    NoStagesError
        If no row names a stage; HypnogramError for malformed content.
    """
    return read_table_hypnogram(path, SPEC, epoch_length)


def write_events(events: EventSet, path: Path) -> None:
    """Write the events as an EDFbrowser annotations CSV (atomic; seconds from the start)."""
    from ..atomic import write_text_atomic

    rows = []
    for e in events:
        label = file_label(e)
        rows.append([repr(e.onset), repr(e.duration), label])
    write_text_atomic(path, format_table(["Onset", "Duration", "Annotation"], rows, ","))


FORMAT = FileFormat(NAME, "EDFbrowser annotations CSV", (".csv",), sniff, aliases=("edfbrowser",),
                    priority=56, read_hypnogram=read, read_events=read_events,
                    write_events=write_events, event_keeps=frozenset({"label"}))
