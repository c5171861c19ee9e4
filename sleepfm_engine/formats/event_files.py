"""Scored-event files through the format registry: detect, read, write, list, filter.

Everything here derives from the registered :class:`~.registry.FileFormat` entries that fill
``read_events`` / ``write_events``: which formats read and write events, which suffix picks a
format when saving, and the file-dialog filters. A file may hold stages and events at once
(NSRR and Profusion XML, EDF+, tabular annotation files with ``Sleep stage`` rows): its
hypnogram is :func:`~sleepfm_engine.formats.read_hypnogram`'s, its events are
:func:`read_events`'s.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from ..errors import EventsError, HypnogramError
from ..events import EventSet
from .registry import FileFormat, detect, get_format, registered_formats

__all__ = ["read_events", "write_events", "detect_events_format", "event_read_formats",
           "event_write_formats", "event_suffixes", "event_format_for_path",
           "events_dialog_filter"]


def _readers() -> list[FileFormat]:
    return [f for f in registered_formats() if f.read_events is not None]


def _writers() -> list[FileFormat]:
    return [f for f in registered_formats() if f.write_events is not None]


def event_read_formats() -> tuple[str, ...]:
    """Names of the formats scored events are read from, in sniff order."""
    return tuple(f.name for f in _readers())


def event_write_formats() -> tuple[str, ...]:
    """Names of the formats scored events are written in, in sniff order."""
    return tuple(f.name for f in _writers())


def event_suffixes() -> tuple[str, ...]:
    """Suffixes of every format that reads events (for open dialogs and file searches)."""
    return tuple(dict.fromkeys(s for f in _readers() for s in f.suffixes))


def event_format_for_path(path: str | os.PathLike) -> FileFormat | None:
    """The writable events format whose :attr:`~.registry.FileFormat.event_save_suffix` ends
    the file name of ``path`` (the longest such ending wins: ``x.events.json`` over ``.json``),
    or None."""
    name = Path(path).name.lower()
    matches = [f for f in _writers() if f.event_save_suffix and name.endswith(f.event_save_suffix)]
    return max(matches, key=lambda f: len(f.event_save_suffix), default=None)


def events_dialog_filter(mode: str = "read") -> str:
    """A file-dialog filter string for opening (``"read"``) or saving (``"write"``) events.

    Opening: one entry with every readable suffix, one per format, then ``All files (*)``.
    Saving: one entry per format picked by its name ending (``event_save_suffix``).

    Raises
    ------
    ValueError
        For another ``mode``.
    """
    if mode == "read":
        every = " ".join("*" + s for s in event_suffixes())
        return ";;".join([f"Scored events ({every})"] + [f.dialog_filter for f in _readers()]
                         + ["All files (*)"])
    if mode == "write":
        return ";;".join(f"{f.description} (*{f.event_save_suffix})" for f in _writers()
                         if f.event_save_suffix)
    raise ValueError(f"mode must be 'read' or 'write', got {mode!r}")


def detect_events_format(path: str | os.PathLike) -> str:
    """Name of the events format of ``path``, from its content (the formats that read events
    are asked in their registry priority order).

    Raises
    ------
    EventsError
        If the file is missing, empty or in no events format (names the file and line).
    """
    return _detect(Path(path)).name


def _detect(path: Path) -> FileFormat:
    try:
        return detect(path, _readers())
    except HypnogramError as exc:
        problem = exc.problem.replace("unrecognised hypnogram format", "unrecognised events format")
        hypnogram_only = [f for f in registered_formats()
                          if f.read_events is None and f.read_hypnogram is not None]
        try:
            other = detect(path, hypnogram_only)
        except HypnogramError:
            raise EventsError(path, problem, line=exc.line) from None
        raise EventsError(path, f"is a hypnogram file ({other.description}); it holds no "
                                "scored events") from None


def read_events(path: str | os.PathLike, fmt: str | None = None, *,
                start: _dt.datetime | None = None) -> EventSet:
    """Read the scored events of a file of any registered events format (detected from its
    content).

    Parameters
    ----------
    path : str or PathLike
        The file.
    fmt : str, optional
        Force a format name (or alias) instead of detecting it.
    start : datetime, optional
        The recording's clock start, for files whose onsets are clock times and which carry no
        start of their own (MNE CSV, EDFbrowser CSV with time stamps): onsets then count from
        it. Without it they count from the first event (as MNE does). Other formats ignore it.

    Returns
    -------
    EventSet
        Onsets in seconds from the recording start; ``source`` is the path, ``file_format``
        the format name; sleep stages are left out (they are the hypnogram's). Unknown labels
        are ``note`` events keeping their text; events whose file gave no duration have
        duration 0 and the attribute ``duration_missing``.

    Raises
    ------
    EventsError
        If the file is missing, unrecognised or malformed (names the file and, for text and
        XML, the line).
    ValueError
        For an unknown ``fmt`` or one that holds no events.
    """
    path = Path(path)
    entry = get_format(fmt) if fmt else _detect(path)
    if entry.read_events is None:
        raise ValueError(f"format {entry.name!r} holds no scored events; events formats: "
                         f"{', '.join(event_read_formats())}")
    return entry.read_events(path, start)


def write_events(events: EventSet, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``events`` to ``path`` atomically and return the path.

    Like :func:`~sleepfm_engine.formats.write_hypnogram` this replaces an existing file; asking
    before overwriting is the caller's (the command line's ``--force``, the dialog's).

    Parameters
    ----------
    fmt : str, optional
        A writable events format (:func:`event_write_formats`) or alias; by default the one
        whose save suffix ends the file name (:func:`event_format_for_path`): ``.json`` this
        engine's lossless JSON, ``.edf`` EDF+ annotations, ``.xml`` NSRR XML, ``.csv`` MNE CSV,
        ``.tsv`` BIDS events.

    Raises
    ------
    ValueError
        For a format that cannot be written or no format picked by the name.
    EventsError
        For an event the format cannot hold (names the event and the file).
    """
    if not isinstance(events, EventSet):
        raise TypeError(f"expected an EventSet, got {type(events).__name__}")
    path = Path(path)
    if fmt is None:
        entry = event_format_for_path(path)
        if entry is None:
            raise ValueError(f"no events format is picked by the name {path.name!r}; name one of "
                             f"{', '.join(event_write_formats())} or end the name with "
                             f"{', '.join(f.event_save_suffix for f in _writers() if f.event_save_suffix)}")
    else:
        entry = get_format(fmt)
        if entry.write_events is None:
            raise ValueError(f"cannot write events in format {entry.name!r}; choose one of "
                             f"{', '.join(event_write_formats())}")
    try:
        entry.write_events(events, path)
    except EventsError as exc:
        if exc.path is None:
            raise EventsError(path, exc.problem, row=exc.row, line=exc.line) from None
        raise
    return path
