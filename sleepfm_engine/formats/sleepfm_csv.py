"""The sleepfm-clinical staging label CSV: one row per 5-s token.

Header ``Start,Stop,StageName,StageNumber`` with an optional ``EmbeddingNumber`` (token index).
Start and Stop are seconds from the recording start. StageNumber: 0 Wake, 1 Stage 1, 2 Stage 2,
3 Stage 3, 4 REM, -1 Unknown. -1 is read as unscored, never as Wake (the reference trains it as
Wake, a defect this package does not repeat). Artefact epochs are written as -1 "Unknown".
"""
from __future__ import annotations

import math
from pathlib import Path

from ..contract import TOKEN_SECONDS
from ..errors import HypnogramError
from ..hypnogram import UNSCORED, Hypnogram, parse_stage
from ._common import parse_float, parse_int, read_text_lines
from .registry import FileFormat, Probe

NAME = "sleepfm"
COLUMNS = ("Start", "Stop", "StageName", "StageNumber", "EmbeddingNumber")
#: StageNumber -> StageName as the reference writes them.
STAGE_NAMES = {0: "Wake", 1: "Stage 1", 2: "Stage 2", 3: "Stage 3", 4: "REM", -1: "Unknown"}


def _is_header(line: str) -> bool:
    cells = {c.strip().lower() for c in line.split(",")}
    return {"start", "stop"} <= cells and bool({"stagenumber", "stagename"} & cells)


def sniff(probe: Probe) -> bool:
    """True for a header with Start, Stop and StageNumber or StageName."""
    return probe.first_line is not None and _is_header(probe.first_line)


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read a sleepfm-clinical label CSV (5-s epochs unless ``epoch_length`` asks otherwise).

    Raises
    ------
    HypnogramError
        For a missing column, a bad number, an unknown stage number, a name that contradicts
        its number, or Stop <= Start (the message names the line).
    """
    lines = read_text_lines(path)
    rows = [(i + 1, raw) for i, raw in enumerate(lines) if raw.strip()]
    header_line, header = rows[0]
    cells = [c.strip().lower() for c in header.split(",")]
    if not _is_header(header):
        raise HypnogramError(path, "expected a header Start,Stop,StageName,StageNumber", header_line)
    idx = {name.lower(): cells.index(name.lower()) for name in COLUMNS if name.lower() in cells}
    onsets, durations, codes = [], [], []
    for line, raw in rows[1:]:
        c = [x.strip() for x in raw.split(",")]
        if len(c) < len(cells):
            raise HypnogramError(path, f"expected {len(cells)} columns, found {len(c)}", line)
        start = parse_float(c[idx["start"]], path, line, "Start")
        stop = parse_float(c[idx["stop"]], path, line, "Stop")
        if stop <= start:
            raise HypnogramError(path, f"Stop ({stop:g}) must be after Start ({start:g})", line)
        code = None
        if "stagenumber" in idx:
            number = parse_int(c[idx["stagenumber"]], path, line, "StageNumber")
            if number not in STAGE_NAMES:
                raise HypnogramError(path, f"StageNumber {number} is not one of -1 (Unknown), 0 Wake, "
                                           "1, 2, 3 (stages 1-3), 4 (REM)", line)
            code = UNSCORED if number == -1 else number
        if "stagename" in idx:
            name = c[idx["stagename"]]
            named = parse_stage(name)
            if named is None:
                raise HypnogramError(path, f"unknown StageName {name[:40]!r}", line)
            if named < 0:
                named = UNSCORED
            if code is not None and named != code:
                raise HypnogramError(path, f"StageName {name!r} contradicts StageNumber {number}", line)
            code = named
        onsets.append(start)
        durations.append(stop - start)
        codes.append(code)
    if not codes:
        raise HypnogramError(path, "no rows after the header")
    widths = {round(d, 6) for d in durations}
    grid = widths.pop() if len(widths) == 1 else None
    try:
        return Hypnogram.from_events(onsets, durations, codes, None, epoch_length, grid=grid,
                                     source=str(path), file_format=NAME)
    except ValueError as exc:
        raise HypnogramError(path, str(exc)) from None


def format_csv(hyp: Hypnogram) -> str:
    """Token rows from the recording start (t = 0) to the end of the last epoch.

    Tokens the hypnogram does not cover (before its offset) are -1 "Unknown"; tokens take the
    stage covering most of them (see :meth:`Hypnogram.regrid`).
    """
    end = hyp.offset + hyp.duration
    n_tokens = max(0, int(math.floor(end / TOKEN_SECONDS + 1e-9)))
    tokens = hyp.regrid(TOKEN_SECONDS, 0.0, n_tokens)
    out = [",".join(COLUMNS)]
    for k, code in enumerate(tokens.stages):
        number = int(code) if code >= 0 else -1
        out.append(f"{k * TOKEN_SECONDS},{(k + 1) * TOKEN_SECONDS},{STAGE_NAMES[number]},{number},{k}")
    return "\n".join(out) + "\n"


def write(hyp: Hypnogram, path: Path) -> None:
    """Write the sleepfm-clinical CSV atomically."""
    from ..atomic import write_text_atomic

    write_text_atomic(path, format_csv(hyp))


FORMAT = FileFormat(NAME, "sleepfm-clinical label CSV (5-s tokens)", (".csv",), sniff,
                    aliases=("sleepfm-csv", "sleepfm-clinical"), priority=50,
                    read_hypnogram=read, write_hypnogram=write)
