"""Pseudonymous study IDs of de-identified outputs, and the map back to the source files.

Outputs written with ``--deidentify`` are named ``study-0001``, ``study-0002``... in the
order of their inputs. The map from ID to source file is the only link back to the patient:
it is written only to the file the user names (``--id-map``), never beside the outputs, and
read back on a later run so a recording keeps its ID.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

from .atomic import write_text_atomic
from .errors import IdMapError

__all__ = ["STUDY_ID_PREFIX", "ID_MAP_COLUMNS", "source_key", "assign_study_ids", "read_id_map",
           "write_id_map"]

#: Study IDs are this prefix and a zero-padded number.
STUDY_ID_PREFIX = "study-"
#: Columns of an ID map file.
ID_MAP_COLUMNS = ("study_id", "source")
_ID = re.compile(re.escape(STUDY_ID_PREFIX) + r"(\d+)$")


def source_key(path: str | os.PathLike) -> str:
    """How a source file is named in an ID map: its absolute, resolved path."""
    return str(Path(path).resolve())


def assign_study_ids(sources: Iterable[str | os.PathLike],
                     known: Mapping[str, str] | None = None) -> dict[str, str]:
    """Study IDs of ``sources``: a source already in ``known`` keeps its ID, new ones take the
    next free numbers in the order given.

    Returns
    -------
    dict
        :func:`source_key` -> study ID, for ``known`` and every source.
    """
    out = dict(known or {})
    numbers = [int(m.group(1)) for m in map(_ID.match, out.values()) if m]
    nxt = max(numbers, default=0) + 1
    for src in sources:
        key = source_key(src)
        if key not in out:
            out[key] = f"{STUDY_ID_PREFIX}{nxt:04d}"
            nxt += 1
    return out


def read_id_map(path: str | os.PathLike) -> dict[str, str]:
    """An ID map written by :func:`write_id_map` (source -> study ID); empty when absent.

    Raises
    ------
    IdMapError
        If the file is not such a map or gives one ID to two sources.
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IdMapError(path, f"not a study-ID map ({exc})") from None
    if not rows or tuple(rows[0]) != ID_MAP_COLUMNS:
        raise IdMapError(path, f"not a study-ID map (expected the header {','.join(ID_MAP_COLUMNS)})")
    out: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not _ID.match(row[0]) or not row[1]:
            raise IdMapError(path, f"line {n}: expected '{STUDY_ID_PREFIX}NNNN,<source file>'")
        if row[0] in out.values() or row[1] in out:
            raise IdMapError(path, f"line {n}: {row[0]} or its source appears twice")
        out[row[1]] = row[0]
    return out


def write_id_map(path: str | os.PathLike, mapping: Mapping[str, str]) -> Path:
    """Write source -> study ID as CSV (``study_id,source``, by ID), atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ID_MAP_COLUMNS)
    for src, sid in sorted(mapping.items(), key=lambda kv: kv[1]):
        writer.writerow([sid, src])
    return write_text_atomic(Path(path), buf.getvalue())
