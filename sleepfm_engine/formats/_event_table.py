"""Tabular onset/duration/label files (MNE CSV, EDFbrowser CSV, BIDS ``events.tsv``): one
reader driven by a :class:`TableSpec` per format, giving the events (non-stage rows) and the
hypnogram (stage rows) of the same file, and one writer.

Cells are parsed with the :mod:`csv` module (quoted cells may hold delimiters and line breaks).
Onsets are seconds, or ISO 8601 clock times (MNE writes those) counted from the recording start
as :func:`~._event_rows.clock_origin` says.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import EventsError, HypnogramError
from ..events import EventSet, is_stage_label
from ..hypnogram import Hypnogram
from ._event_rows import (clock_origin, duration, event_set, file_event, number, parse_clock,
                          seconds_between, stage_hypnogram)
from .registry import Probe


@dataclass(frozen=True)
class TableSpec:
    """Where a tabular format keeps what (column names lower case).

    Attributes
    ----------
    name : str
        The format's name.
    delimiter : str
        Cell separator.
    onset, duration : str
        Column names.
    labels : tuple of str
        Label columns, first present and non-missing wins (BIDS ``trial_type`` then ``value``).
    channels : str
        Channel column ('' for none).
    split_channels : callable
        Cell text -> channel names.
    missing : tuple of str
        Cell spellings of a missing value (BIDS ``n/a``).
    """

    name: str
    delimiter: str
    onset: str
    duration: str
    labels: tuple[str, ...]
    channels: str = ""
    split_channels: Callable[[str], list[str]] = lambda text: [text] if text else []
    missing: tuple[str, ...] = ("",)

    def header_matches(self, probe: Probe) -> bool:
        """Whether the first content line is this format's header."""
        if probe.first_line is None or self.delimiter not in probe.first_line:
            return False
        cells = [c.strip().strip('"').strip().lower() for c in probe.first_line.split(self.delimiter)]
        return (cells[:2] == [self.onset, self.duration]
                and any(label in cells for label in self.labels))


@dataclass(frozen=True)
class Row:
    """One data row: its first line, onset text, duration (None: missing), label, channels."""

    line: int
    onset: str
    duration: float | None
    label: str
    channels: tuple[str, ...]


def table_text(path: Path) -> str:
    """The file's text (UTF-8 or Latin-1).

    Raises
    ------
    EventsError
        If the file is missing, a folder or binary.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EventsError(path, "no such file") from None
    except IsADirectoryError:
        raise EventsError(path, "is a folder, not an events file") from None
    if b"\x00" in data:
        raise EventsError(path, "not a text file (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_cells(path: Path, delimiter: str) -> tuple[list[str], int, list[tuple[int, list[str]]]]:
    """(header cells, header line, [(first line, cells)] of the data rows) of a table.

    Blank rows are skipped, and ``#`` comment rows before the header.

    Raises
    ------
    EventsError
        For unbalanced quotes or no header (names the line).
    """
    reader = csv.reader(io.StringIO(table_text(path), newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    rows = []
    line = 1
    try:
        for cells in reader:
            first, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                if cells[0].lstrip().startswith("#"):
                    continue
                header, header_line = [c.strip() for c in cells], first
                continue
            rows.append((first, cells))
    except csv.Error as exc:
        raise EventsError(path, f"unreadable table row: {exc}", line=line) from None
    if header is None:
        raise EventsError(path, "no header row")
    return header, header_line, rows


def read_rows(path: Path, spec: TableSpec) -> list[Row]:
    """The data rows of a table in ``spec``'s layout.

    Raises
    ------
    EventsError
        For a missing column, a row of the wrong width, a bad number or unbalanced quotes
        (names the line).
    """
    header, header_line, rows = read_cells(path, spec.delimiter)
    header = [c.lower() for c in header]
    absent = [c for c in (spec.onset, spec.duration) if c not in header]
    if absent or not any(label in header for label in spec.labels):
        raise EventsError(path, f"the header has no {', '.join(absent) or ' or '.join(spec.labels)} "
                                "column", line=header_line)
    col = {name: header.index(name) for name in header}
    out = []
    for first, cells in rows:
        if len(cells) != len(header):
            raise EventsError(path, f"expected {len(header)} cells, found {len(cells)}", line=first)
        onset = cells[col[spec.onset]].strip()
        if onset in spec.missing:
            raise EventsError(path, "row without onset", line=first)
        label = next((cells[col[c]] for c in spec.labels
                      if c in col and cells[col[c]].strip() not in spec.missing), "")
        channels = ()
        if spec.channels in col and cells[col[spec.channels]].strip() not in spec.missing:
            channels = tuple(spec.split_channels(cells[col[spec.channels]]))
        out.append(Row(first, onset, duration(cells[col[spec.duration]], path, first, spec.missing),
                       label, channels))
    return out


def _onsets(path: Path, rows: Sequence[Row], start: _dt.datetime | None
            ) -> tuple[list[float], _dt.datetime | None]:
    """Onsets in seconds from the time origin, and the set's start (clock-time onsets)."""
    clocks = [parse_clock(r.onset) for r in rows]
    if rows and all(c is not None for c in clocks):
        origin, clock_start = clock_origin(clocks, start)
        return [seconds_between(origin, c) for c in clocks], clock_start
    for row, clock in zip(rows, clocks):
        if clock is not None:
            raise EventsError(path, f"onset {row.onset!r} is a clock time among onsets in seconds",
                              line=row.line)
    return [number(r.onset, path, r.line, "onset") for r in rows], None


def read_table_events(path: Path, spec: TableSpec, start: _dt.datetime | None) -> EventSet:
    """The events of a table (rows that name no sleep stage)."""
    rows = read_rows(path, spec)
    onsets, clock_start = _onsets(path, rows, start)
    events = [file_event(path, onset, row.duration, row.label, channels=row.channels, line=row.line)
              for row, onset in zip(rows, onsets) if not is_stage_label(row.label)]
    return event_set(path, events, spec.name, clock_start)


def read_table_hypnogram(path: Path, spec: TableSpec, epoch_length: float | None) -> Hypnogram:
    """The hypnogram of a table's stage rows (NoStagesError when it has none)."""
    try:
        rows = read_rows(path, spec)
        onsets, clock_start = _onsets(path, rows, None)
    except EventsError as exc:
        raise HypnogramError(path, exc.problem, exc.line) from None
    return stage_hypnogram(path, ((o, r.duration, r.label) for o, r in zip(onsets, rows)),
                           epoch_length, spec.name, clock_start)


def _cell(text: str, delimiter: str) -> str:
    # Quote any cell with a delimiter, quote or line-break character (csv's own writer leaves
    # a lone carriage return bare, which a reader takes for a line end), or edge white space.
    if (any(c in text for c in (delimiter, '"', "\n", "\r")) or text != text.strip()):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], delimiter: str) -> str:
    """Table text, cells quoted where needed, ``\n`` line ends.

    Raises
    ------
    EventsError
        For a cell with a NUL character (no text table can carry one).
    """
    lines = []
    for row in (header, *rows):
        if any("\x00" in cell for cell in row):
            raise EventsError(None, f"a label or channel holds a NUL character: {list(row)!r}")
        lines.append(delimiter.join(_cell(cell, delimiter) for cell in row))
    return "\n".join(lines) + "\n"
