"""MNE's ``Annotations.save("x.csv")`` table: ``onset,duration,description[,ch_names]``.

Reading
    ``onset`` is an ISO 8601 clock time (MNE writes those, from 1970-01-01 when the annotations
    have no origin) or seconds; clock times count from the recording start given to
    :func:`~sleepfm_engine.formats.read_events` (else from the first onset, as MNE does; 1970
    clock times are seconds from that epoch). ``ch_names`` holds the channels joined by ``:``
    (a ``:`` inside a name is written ``{COLON}``). Rows whose description names a sleep stage
    are the hypnogram (:func:`read_hypnogram`), the others the events.

Writing
    Onsets as clock times from the set's start (1970-01-01 when unknown) to the microsecond,
    the label, and ``ch_names`` when an event has channels; MNE reads the file back.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ..errors import EventsError
from ..events import EventSet
from ..hypnogram import Hypnogram
from ._event_rows import UNIX_EPOCH, file_label
from ._event_table import TableSpec, format_table, read_table_events, read_table_hypnogram
from .registry import FileFormat, Probe

NAME = "mne-csv"
_COLON = "{COLON}"


def _split(text: str) -> list[str]:
    return [c.replace(_COLON, ":") for c in text.split(":")] if text else []


SPEC = TableSpec(NAME, ",", "onset", "duration", ("description",), "ch_names", _split)


def sniff(probe: Probe) -> bool:
    """True for a comma-separated header ``onset,duration,description...``."""
    return SPEC.header_matches(probe)


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read the events (non-stage rows) of an MNE annotations CSV.

    Raises
    ------
    EventsError
        For a missing column, a bad onset or duration, or a ragged row (names the line).
    """
    return read_table_events(path, SPEC, start)


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read the hypnogram of the stage rows (``Sleep stage W``...) of an MNE annotations CSV.

    Raises
    ------
    NoStagesError
        If no row names a stage; HypnogramError for malformed content.
    """
    return read_table_hypnogram(path, SPEC, epoch_length)


def _channels(event) -> str:
    for c in event.channels:
        if not c.strip() or _COLON in c:
            raise EventsError(None, f"event {event.id}: channel name {c!r} cannot be written to "
                                    "an MNE CSV (blank, or holds '{COLON}')")
    return ":".join(c.replace(":", _COLON) for c in event.channels)


def write_events(events: EventSet, path: Path) -> None:
    """Write the events as an MNE annotations CSV (atomic)."""
    from ..atomic import write_text_atomic

    origin = events.start or UNIX_EPOCH
    if origin.tzinfo is not None:
        origin = origin.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    with_channels = any(e.channels for e in events)
    rows = []
    for e in events:
        clock = origin + _dt.timedelta(seconds=e.onset)
        label = file_label(e)
        row = [clock.isoformat(sep=" ", timespec="microseconds"), repr(e.duration), label]
        rows.append(row + [_channels(e)] if with_channels else row)
    header = ["onset", "duration", "description"] + (["ch_names"] if with_channels else [])
    write_text_atomic(path, format_table(header, rows, ","))


FORMAT = FileFormat(NAME, "MNE annotations CSV", (".csv",), sniff, aliases=("mne",), priority=55,
                    read_hypnogram=read, read_events=read_events, write_events=write_events,
                    event_save_suffix=".csv", event_keeps=frozenset({"label", "channels"}))
