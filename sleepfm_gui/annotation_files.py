"""Reading and writing event lists for the trace view (Qt-free).

Accepted files:

- EDF+/BDF+ (annotation-only files or full recordings): their annotations;
- text tables (``.csv``, ``.tsv``, ``.txt``) with ``onset, duration, description`` columns in
  that order, an optional header line, comma, semicolon or tab separated. An onset is seconds
  from the recording start or a clock time ``HH:MM:SS`` (after midnight when earlier than the
  recording start).

Written files are CSV with a header, onsets in seconds, atomically.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import re
from pathlib import Path
from typing import Iterable

from sleepfm_engine.atomic import write_text_atomic
from sleepfm_engine.recording import Annotation

__all__ = ["read_annotation_file", "write_annotation_file", "AnnotationFileError"]

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


class AnnotationFileError(ValueError):
    """An event file cannot be read; the message names the file and the line."""


def _onset(text: str, start: _dt.datetime | None, path: Path, line: int) -> float:
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        if start is None:
            return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        sec = float(m.group(3))
        t = start.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=int(sec),
                          microsecond=int(round((sec - int(sec)) * 1e6)) % 1_000_000)
        if t < start:
            t += _dt.timedelta(days=1)
        return (t - start).total_seconds()
    try:
        return float(text)
    except ValueError:
        raise AnnotationFileError(f"{path}, line {line}: onset {text!r} is neither seconds nor "
                                  "a clock time HH:MM:SS") from None


def read_annotation_file(path: str | os.PathLike,
                         start: _dt.datetime | None = None) -> list[Annotation]:
    """Events of an EDF+ file or a text table, onsets in seconds from the recording start.

    Parameters
    ----------
    path : str or PathLike
    start : datetime, optional
        Start of the recording the events belong to: clock-time onsets are converted with it,
        and EDF+ files starting at another time are shifted onto it.

    Raises
    ------
    AnnotationFileError
        If the file is unreadable or malformed (the message names the file and line).
    RecordingError
        If an EDF+ file is corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationFileError(f"{path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:1] == b"0" or head[:8] == b"\xffBIOSEMI":
        from sleepfm_engine.recording import open_recording

        with open_recording(path) as rec:
            anns = list(rec.annotations)
            shift = (rec.start - start).total_seconds() if start is not None else 0.0
        return [Annotation(a.onset + shift, a.duration, a.description) for a in anns]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    lines = text.splitlines()
    sample = "\n".join(lines[:5])
    delim = "\t" if "\t" in sample else (";" if sample.count(";") > sample.count(",") else ",")
    out: list[Annotation] = []
    for n, row in enumerate(csv.reader(io.StringIO(text), delimiter=delim), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if n == 1 and not re.match(r"^\s*[\d:.+-]", row[0]):
            continue  # a header line
        if len(row) < 3:
            raise AnnotationFileError(f"{path}, line {n}: expected onset, duration, description "
                                      f"separated by {delim!r}, got {len(row)} field(s)")
        onset = _onset(row[0], start, path, n)
        dur_text = row[1].strip()
        try:
            duration = float(dur_text) if dur_text else 0.0
        except ValueError:
            raise AnnotationFileError(f"{path}, line {n}: duration {dur_text!r} is not a number "
                                      "of seconds") from None
        if duration < 0:
            raise AnnotationFileError(f"{path}, line {n}: negative duration {duration}")
        out.append(Annotation(onset, duration, delim.join(row[2:]).strip()))
    out.sort(key=lambda a: a.onset)
    return out


def write_annotation_file(annotations: Iterable[Annotation], path: str | os.PathLike) -> Path:
    """Write events as ``onset,duration,description`` CSV (seconds), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["onset", "duration", "description"])
    for a in annotations:
        w.writerow([f"{a.onset:.3f}", f"{(a.duration or 0.0):.3f}", a.description])
    return write_text_atomic(path, buf.getvalue())
