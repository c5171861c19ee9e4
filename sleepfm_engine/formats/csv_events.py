"""Plain CSV hypnograms: ``onset,duration,stage`` (+ ``p_W,p_N1,p_N2,p_N3,p_R``).

Reading
    A header row naming ``onset``, ``duration`` and ``stage`` (any order, any case; comma,
    semicolon or tab separated) or no header and those three columns in that order. ``onset``
    and ``duration`` are seconds from the start of the recording; a row may span several epochs.
    ``stage`` is a name (``W N1 N2 N3 R REM Wake ? A``, Sleep-EDF spellings...) or this
    package's integer code (0 W, 1 N1, 2 N2, 3 N3, 4 R, -1 unscored, -2 artefact).
    Probability columns, when present, must be all five.
    Leading ``# key: value`` lines carry metadata: ``start`` (ISO 8601 clock time of the time
    origin), ``scorer``, ``epoch_length`` (s) and ``scoring`` (``automatic`` for a model's
    staging, ``manual`` otherwise; absent means manual).

Writing
    One row per epoch; stage names ``W N1 N2 N3 R ? A``; probability columns when the hypnogram
    has probabilities (empty cells where unknown); ``# scoring: automatic`` for an automatic
    hypnogram (:attr:`Hypnogram.automatic`), so reading it back never makes it a manual scoring.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

import numpy as np

from ..errors import HypnogramError
from ..hypnogram import CODE_NAMES, STAGES, Hypnogram, parse_stage
from ._common import parse_float, read_text_lines
from .registry import FileFormat, Probe

NAME = "csv"
PROB_COLUMNS = tuple(f"p_{s}" for s in STAGES)
#: Values of the ``# scoring:`` header line -> Hypnogram.automatic.
SCORING = {"automatic": True, "manual": False}
_DELIMS = (",", ";", "\t")


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in _DELIMS}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def _split(line: str, delim: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in line.split(delim)]


def sniff(probe: Probe) -> bool:
    """True for a header naming onset/duration/stage, or a headerless ``number,number,stage``."""
    if probe.first_line is None:
        return False
    first_line = probe.first_line
    cells = [c.lower() for c in _split(first_line, _delimiter(first_line))]
    if {"onset", "duration", "stage"} <= set(cells):
        return True
    if len(cells) >= 3:
        try:
            float(cells[0]), float(cells[1])
        except ValueError:
            return False
        return True
    return False


def _parse_meta(lines: list[str]) -> dict[str, str]:
    meta = {}
    for raw in lines:
        s = raw.strip()
        if not s:
            continue
        if not s.startswith("#"):
            break
        key, sep, value = s[1:].partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip()
    return meta


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read a plain CSV hypnogram.

    Raises
    ------
    HypnogramError
        For a missing column, a bad number, an unknown stage or a short row (names the line).
    """
    lines = read_text_lines(path)
    meta = _parse_meta(lines)
    rows = [(i + 1, raw) for i, raw in enumerate(lines) if raw.strip() and not raw.strip().startswith("#")]
    if not rows:
        raise HypnogramError(path, "no rows")
    first_line, first = rows[0]
    delim = _delimiter(first)
    cells = [c.lower() for c in _split(first, delim)]
    if {"onset", "duration", "stage"} <= set(cells):
        col = {name: cells.index(name) for name in ("onset", "duration", "stage")}
        present = [p for p in PROB_COLUMNS if p.lower() in cells]
        if present and len(present) != len(PROB_COLUMNS):
            missing = [p for p in PROB_COLUMNS if p not in present]
            raise HypnogramError(path, f"probability columns incomplete: missing {missing}", first_line)
        prob_cols = [cells.index(p.lower()) for p in present]
        rows = rows[1:]
    else:
        col = {"onset": 0, "duration": 1, "stage": 2}
        prob_cols = []
    width = max(max(col.values()), max(prob_cols, default=0)) + 1
    onsets, durations, codes, probs = [], [], [], []
    for line, raw in rows:
        c = _split(raw, delim)
        if len(c) < width:
            raise HypnogramError(path, f"expected at least {width} columns, found {len(c)}", line)
        onsets.append(parse_float(c[col["onset"]], path, line, "onset"))
        d = parse_float(c[col["duration"]], path, line, "duration")
        if d <= 0:
            raise HypnogramError(path, f"duration must be positive, got {d:g}", line)
        durations.append(d)
        text = c[col["stage"]]
        code = None
        try:
            value = float(text)
            if value == int(value) and int(value) in CODE_NAMES:
                code = int(value)
        except ValueError:
            code = parse_stage(text)
        if code is None:
            raise HypnogramError(path, f"unknown stage {text[:40]!r} (expected W, N1, N2, N3, R, ?, A "
                                       "or a code -2..4)", line)
        codes.append(code)
        if prob_cols:
            probs.append([np.nan if c[j] == "" else parse_float(c[j], path, line, PROB_COLUMNS[k])
                          for k, j in enumerate(prob_cols)])
    if not codes:
        raise HypnogramError(path, "no stage rows after the header")
    start = None
    if meta.get("start"):
        try:
            start = _dt.datetime.fromisoformat(meta["start"])
        except ValueError:
            raise HypnogramError(path, f"bad start date-time {meta['start']!r} in the header comment") from None
    grid = None
    if "epoch_length" in meta:
        try:
            grid = float(meta["epoch_length"])
        except ValueError:
            raise HypnogramError(path, f"bad epoch_length {meta['epoch_length']!r} in the header comment") from None
    scoring = meta.get("scoring", "manual").lower()
    if scoring not in SCORING:
        raise HypnogramError(path, f"bad scoring {meta['scoring']!r} in the header comment "
                                   f"(expected {' or '.join(SCORING)})")
    try:
        hyp = Hypnogram.from_events(onsets, durations, codes, probs if prob_cols else None,
                                    epoch_length, grid=grid, start=start,
                                    scorer=meta.get("scorer", ""), source=str(path), file_format=NAME)
    except ValueError as exc:
        raise HypnogramError(path, str(exc)) from None
    hyp.automatic = SCORING[scoring]
    return hyp


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def format_csv(hyp: Hypnogram) -> str:
    """The CSV text of a hypnogram (see the module docstring)."""
    out = []
    if hyp.start is not None:
        out.append(f"# start: {hyp.start.isoformat()}")
    if hyp.scorer:
        out.append(f"# scorer: {hyp.scorer.splitlines()[0] if hyp.scorer.strip() else ''}")
    out.append(f"# epoch_length: {_num(hyp.epoch_length)}")
    if hyp.automatic:
        out.append("# scoring: automatic")
    header = ["onset", "duration", "stage"]
    if hyp.probabilities is not None:
        header += list(PROB_COLUMNS)
    out.append(",".join(header))
    dur = _num(hyp.epoch_length)
    for i, (onset, code) in enumerate(zip(hyp.onsets, hyp.stages)):
        row = [_num(round(float(onset), 6)), dur, CODE_NAMES[int(code)]]
        if hyp.probabilities is not None:
            row += ["" if not math.isfinite(p) else f"{p:.6g}" for p in hyp.probabilities[i]]
        out.append(",".join(row))
    return "\n".join(out) + "\n"


def write(hyp: Hypnogram, path: Path) -> None:
    """Write a CSV hypnogram atomically."""
    from ..atomic import write_text_atomic

    write_text_atomic(path, format_csv(hyp))


FORMAT = FileFormat(
    NAME, "CSV onset,duration,stage", (".csv", ".tsv"), sniff, priority=60, save_suffix=".csv",
    keeps=frozenset({"artefact", "epoch_length", "offset", "start", "scorer", "probabilities",
                     "automatic"}),
    read_hypnogram=read, write_hypnogram=write)
