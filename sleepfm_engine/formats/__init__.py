"""Hypnogram file formats: one module per format, with detection and a single entry point.

=============== ============================================ ======= =====
name            format                                       read    write
=============== ============================================ ======= =====
``edf``         EDF+/BDF+ stage annotations (Sleep-EDF        yes     yes
                ``*-Hypnogram.edf``, PSG files)
``nsrr-xml``    NSRR XML ``<PSGAnnotation>``                 yes
``profusion-xml`` Compumedics Profusion ``<CMPStudyConfig>``  yes
``dreams``      DREAMS ``[Hypnogram]`` text, 5-s values      yes
``sleepfm``     sleepfm-clinical per-5-s label CSV           yes     yes
``yasa``        one integer (YASA codes) or name per line    yes     yes
``csv``         ``onset,duration,stage[,p_W..p_R]``           yes     yes
=============== ============================================ ======= =====
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import HypnogramError
from ..hypnogram import Hypnogram
from . import csv_events, dreams, edf_annotations, nsrr_xml, profusion_xml, sleepfm_csv, yasa
from ._common import content_lines, read_text_lines
from ._xml import parse_xml

READ_FORMATS = ("edf", "nsrr-xml", "profusion-xml", "dreams", "sleepfm", "yasa", "csv")
WRITE_FORMATS = ("csv", "edf", "sleepfm", "yasa")
_ALIASES = {"edf+": "edf", "bdf": "edf", "sleepfm-csv": "sleepfm", "sleepfm-clinical": "sleepfm",
            "nsrr": "nsrr-xml", "profusion": "profusion-xml", "txt": "yasa"}

__all__ = ["read_hypnogram", "write_hypnogram", "detect_format", "READ_FORMATS", "WRITE_FORMATS"]


def _norm_fmt(fmt: str) -> str:
    f = str(fmt).strip().lower()
    return _ALIASES.get(f, f)


def detect_format(path: str | os.PathLike) -> str:
    """Name of the hypnogram format of ``path`` (see the module table), from its content.

    Raises
    ------
    HypnogramError
        If the file is missing, empty or in no known format.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise HypnogramError(path, "no such file") from None
    except IsADirectoryError:
        raise HypnogramError(path, "is a folder, not a hypnogram file") from None
    if not head.strip():
        raise HypnogramError(path, "the file is empty")
    if edf_annotations.sniff_bytes(head):
        return "edf"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        root = parse_xml(path)
        if root.tag == nsrr_xml.ROOT:
            return "nsrr-xml"
        if root.tag == profusion_xml.ROOT:
            return "profusion-xml"
        raise HypnogramError(path, f"XML with root <{root.tag}> is neither NSRR (<PSGAnnotation>) "
                                   "nor Profusion (<CMPStudyConfig>)", root.line)
    if path.suffix.lower() in edf_annotations.SUFFIXES:
        raise HypnogramError(path, "has an EDF suffix but no EDF header")
    lines = content_lines(read_text_lines(path))
    if not lines:
        raise HypnogramError(path, "no content (only blank or comment lines)")
    line, first = lines[0]
    if dreams.sniff(first):
        return "dreams"
    if sleepfm_csv.sniff(first):
        return "sleepfm"
    if csv_events.sniff(first):
        return "csv"
    if yasa.sniff(first):
        return "yasa"
    raise HypnogramError(path, f"unrecognised hypnogram format (first line {first[:60]!r}); "
                               f"supported: {', '.join(READ_FORMATS)}", line)


def read_hypnogram(path: str | os.PathLike, epoch_length: float | None = None,
                   fmt: str | None = None) -> Hypnogram:
    """Read a hypnogram file of any supported format (detected from its content).

    Parameters
    ----------
    path : str or PathLike
        The file.
    epoch_length : float, optional
        For ``yasa`` (one stage per line, no timing in the file): the file's epoch length,
        default 30 s. For every other format: the epoch length wanted; the file's own epochs
        (DREAMS and sleepfm 5 s, Profusion's EpochLength, the grid of event files) are
        resampled to it (:meth:`Hypnogram.resample`). None keeps the file's own.
    fmt : str, optional
        Force a format name instead of detecting it.

    Returns
    -------
    Hypnogram
        ``source`` is the path, ``file_format`` the format name.

    Raises
    ------
    HypnogramError
        If the file is missing, unrecognised or malformed (the message names the file and,
        for text and XML, the line).
    """
    path = Path(path)
    if epoch_length is not None and not float(epoch_length) > 0:
        raise ValueError(f"epoch_length must be positive, got {epoch_length}")
    name = _norm_fmt(fmt) if fmt else detect_format(path)
    if name == "edf":
        return edf_annotations.read(path, epoch_length)
    if name == "nsrr-xml":
        return nsrr_xml.read(path, epoch_length)
    if name == "profusion-xml":
        return profusion_xml.read(path, epoch_length)
    if name == "dreams":
        hyp = dreams.read(path)
        return hyp if epoch_length is None else hyp.resample(float(epoch_length))
    if name == "sleepfm":
        return sleepfm_csv.read(path, epoch_length)
    if name == "yasa":
        return yasa.read(path, epoch_length)
    if name == "csv":
        return csv_events.read(path, epoch_length)
    raise ValueError(f"unknown hypnogram format {fmt!r}; known: {', '.join(READ_FORMATS)}")


def write_hypnogram(hyp: Hypnogram, path: str | os.PathLike, fmt: str = "csv") -> Path:
    """Write ``hyp`` to ``path`` atomically and return the path.

    Parameters
    ----------
    fmt : {"csv", "edf", "sleepfm", "yasa"}
        ``csv``: ``onset,duration,stage`` (+ ``p_W..p_R``); ``edf``: EDF+ annotations only;
        ``sleepfm``: the sleepfm-clinical per-5-s CSV (tokens from the recording start);
        ``yasa``: one YASA integer per line.
    """
    if not isinstance(hyp, Hypnogram):
        raise TypeError(f"expected a Hypnogram, got {type(hyp).__name__}")
    if hyp.n_epochs == 0:
        raise ValueError("cannot write a hypnogram with no epochs")
    path = Path(path)
    name = _norm_fmt(fmt)
    writers = {"csv": csv_events.write, "edf": edf_annotations.write, "sleepfm": sleepfm_csv.write,
               "yasa": yasa.write}
    if name not in writers:
        raise ValueError(f"cannot write hypnogram format {fmt!r}; choose one of "
                         f"{', '.join(WRITE_FORMATS)}")
    writers[name](hyp, path)
    return path
