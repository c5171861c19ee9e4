"""One stage per line, as YASA's integer hypnograms (text file).

Integer convention (YASA's, not this package's): 0 = W, 1 = N1, 2 = N2, 3 = N3, 4 = R,
-1 = artefact (YASA "ART"), -2 = unscored (YASA "UNS"). Lines may also hold stage names
(``W``, ``N1``, ``REM``, ``WAKE``, ``ART``, ``UNS``...). The file carries no epoch length: it is
an argument (default 30 s). Lines starting with ``#`` are comments.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from ..contract import EPOCH_SECONDS
from ..errors import HypnogramError
from ..hypnogram import ARTEFACT, UNSCORED, Hypnogram, parse_stage
from ._common import check_one_value_lines, read_text_lines
from .registry import FileFormat, Probe

NAME = "yasa"
#: YASA integer -> stage code (YASA swaps the two negative codes relative to ours).
CODES = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, -1: ARTEFACT, -2: UNSCORED}
_INT = re.compile(r"^[+-]?\d+(\.0*)?$")


def sniff(probe: Probe) -> bool:
    """True if the first content line is a single integer or stage name."""
    if probe.first_line is None:
        return False
    s = probe.first_line.strip()
    return bool(_INT.match(s)) or (len(s.split()) <= 3 and "," not in s and parse_stage(s) is not None)


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read one stage per line; ``epoch_length`` is the file's epoch (default 30 s).

    Raises
    ------
    HypnogramError
        If a line is neither a YASA integer code nor a stage name (the message names the line).
    """
    lines = read_text_lines(path)
    stages = []
    for line, text in check_one_value_lines(lines, 0, path):
        if _INT.match(text):
            number = float(text)
            # A huge number (one 5-MB line of digits) is inf as a float: no code, not a crash.
            value = int(number) if math.isfinite(number) else None
            if value not in CODES:
                raise HypnogramError(path, f"{value if value is not None else text[:40] + '...'} is not a YASA stage code (0 W, 1 N1, 2 N2, "
                                           "3 N3, 4 R, -1 artefact, -2 unscored)", line)
            stages.append(CODES[value])
        else:
            code = parse_stage(text)
            if code is None:
                raise HypnogramError(path, f"{text[:40]!r} is neither a YASA stage code nor a "
                                           "stage name", line)
            stages.append(code)
    if not stages:
        raise HypnogramError(path, "no stages in the file")
    return Hypnogram(stages, float(epoch_length or EPOCH_SECONDS), source=str(path), file_format=NAME)


def write(hyp: Hypnogram, path: Path) -> None:
    """Write one YASA integer per line (atomic)."""
    from ..atomic import write_text_atomic

    inverse = {v: k for k, v in CODES.items()}
    write_text_atomic(path, "".join(f"{inverse[int(c)]}\n" for c in hyp.stages))


FORMAT = FileFormat(NAME, "One stage per line (YASA integers or names)", (".txt",), sniff,
                    aliases=("txt",), priority=70, save_suffix=".txt",
                    keeps=frozenset({"artefact"}), read_hypnogram=read, write_hypnogram=write)
