"""BIDS ``*_events.tsv``: tab-separated, ``onset`` and ``duration`` first (seconds), the label
in ``trial_type`` (or ``value``), ``n/a`` for a missing value, optional ``channel``.

A missing duration reads as 0 flagged ``duration_missing``. Rows whose label names a sleep
stage are the hypnogram (:func:`read`), the others the events. Written as ``onset``,
``duration``, ``trial_type`` and, when an event has channels, ``channel`` (its first).
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ..errors import EventsError
from ..events import EVENT_TYPES, EventSet
from ..hypnogram import Hypnogram
from ._event_rows import file_label
from ._event_table import TableSpec, format_table, read_table_events, read_table_hypnogram
from .registry import FileFormat, Probe

NAME = "bids-tsv"
#: BIDS spelling of a missing value.
MISSING = "n/a"
SPEC = TableSpec(NAME, "\t", "onset", "duration", ("trial_type", "value"), "channel",
                 missing=("", MISSING))


def sniff(probe: Probe) -> bool:
    """True for a tab-separated header ``onset duration ... trial_type|value``."""
    return SPEC.header_matches(probe)


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read the events (non-stage rows) of a BIDS events TSV.

    Raises
    ------
    EventsError
        For a missing column, a bad onset or duration, or a ragged row (names the line).
    """
    return read_table_events(path, SPEC, start)


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read the hypnogram of the stage rows of a BIDS events TSV.

    Raises
    ------
    NoStagesError
        If no row names a stage; HypnogramError for malformed content.
    """
    return read_table_hypnogram(path, SPEC, epoch_length)


def write_events(events: EventSet, path: Path) -> None:
    """Write the events as a BIDS events TSV (atomic)."""
    from ..atomic import write_text_atomic

    with_channels = any(e.channels for e in events)
    rows = []
    for e in events:
        label = file_label(e)
        if label.strip() in SPEC.missing:  # the text BIDS reads as missing
            label = EVENT_TYPES[e.type].label
        row = [repr(e.onset), repr(e.duration), label]
        if with_channels:
            channel = e.channels[0] if e.channels else MISSING
            if channel.strip() in SPEC.missing and e.channels:
                raise EventsError(None, f"event {e.id}: channel name {channel!r} reads as missing")
            row.append(channel)
        rows.append(row)
    header = ["onset", "duration", "trial_type"] + (["channel"] if with_channels else [])
    write_text_atomic(path, format_table(header, rows, "\t"))


FORMAT = FileFormat(NAME, "BIDS events TSV", (".tsv",), sniff, aliases=("bids",), priority=57,
                    read_hypnogram=read, read_events=read_events, write_events=write_events,
                    event_save_suffix=".tsv", event_keeps=frozenset({"label", "channel"}))
