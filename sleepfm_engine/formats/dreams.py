"""DREAMS hypnogram text files (University of Mons DREAMS databases).

Layout: a first line ``[Hypnogram]`` (any bracketed name), then one value per 5 s:
Rechtschaffen & Kales codes 5 = wake, 4 = REM, 3 = S1, 2 = S2, 1 = S3, 0 = S4, -1 =
movement/unknown. S3 and S4 become N3, -1 becomes unscored. The 5-s epoch is kept;
``Hypnogram.resample(30)`` gives 30-s epochs.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import HypnogramError
from ..hypnogram import UNSCORED, Hypnogram
from ._common import check_one_value_lines, parse_int, read_text_lines
from .registry import FileFormat, Probe

NAME = "dreams"
#: Seconds per value in a DREAMS hypnogram file.
EPOCH_LENGTH = 5.0
#: DREAMS (R&K) value -> stage code.
CODES = {5: 0, 4: 4, 3: 1, 2: 2, 1: 3, 0: 3, -1: UNSCORED}


def _is_header(line: str) -> bool:
    s = line.strip()
    return s.startswith("[") and s.endswith("]")


def sniff(probe: Probe) -> bool:
    """True if the first content line is a bracketed header such as ``[Hypnogram]``."""
    return probe.first_line is not None and _is_header(probe.first_line)


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read a DREAMS hypnogram: 5-s epochs, or resampled to ``epoch_length``.

    Raises
    ------
    HypnogramError
        If the header is missing, a value is not an R&K code, or there are no values
        (the message names the line).
    """
    lines = read_text_lines(path)
    first = next(i for i, s in enumerate(lines) if s.strip())
    if not _is_header(lines[first]):
        raise HypnogramError(path, f"expected a '[Hypnogram]' header, found {lines[first].strip()[:40]!r}",
                             first + 1)
    stages = []
    for line, text in check_one_value_lines(lines, first + 1, path):
        value = parse_int(text, path, line, "DREAMS stage value")
        if value not in CODES:
            raise HypnogramError(path, f"{value} is not a DREAMS stage value (5 W, 4 REM, 3 S1, "
                                       "2 S2, 1 S3, 0 S4, -1 unknown)", line)
        stages.append(CODES[value])
    if not stages:
        raise HypnogramError(path, "no stage values after the header")
    hyp = Hypnogram(stages, EPOCH_LENGTH, source=str(path), file_format=NAME)
    return hyp if epoch_length is None else hyp.resample(float(epoch_length))


FORMAT = FileFormat(NAME, "DREAMS hypnogram text", (".txt",), sniff, priority=40,
                    read_hypnogram=read)
