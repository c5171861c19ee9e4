"""Hypnogram file formats: one module per format, a registry, and one entry point each for
detecting, reading and writing.

=============== ============================================ ======= =====
name            format                                       read    write
=============== ============================================ ======= =====
``edf``         EDF+/BDF+ stage annotations (Sleep-EDF        yes     yes
                ``*-Hypnogram.edf``, PSG files)
``nsrr-xml``    NSRR XML ``<PSGAnnotation>``                 yes
``profusion-xml`` Compumedics Profusion ``<CMPStudyConfig>``  yes
``json``        this engine's JSON (every Hypnogram field)   yes     yes
``dreams``      DREAMS ``[Hypnogram]`` text, 5-s values      yes
``sleepfm``     sleepfm-clinical per-5-s label CSV           yes     yes
``csv``         ``onset,duration,stage[,p_W..p_R]``           yes     yes
``yasa``        one integer (YASA codes) or name per line    yes     yes
=============== ============================================ ======= =====

Scored events (:func:`read_events`, :func:`write_events`, :mod:`.event_files`) come from the
same registry:

================== ============================================ ======= ===== =========
name               events format                                read    write hypnogram
================== ============================================ ======= ===== =========
``edf``            EDF+ annotations (channel as ``text@@ch``)   yes     yes   yes
``nsrr-xml``       NSRR XML ``ScoredEvent`` concepts            yes     yes   yes
``profusion-xml``  Profusion ``ScoredEvent`` names              yes     yes   yes
``events-json``    this engine's events JSON (lossless)         yes     yes
``mne-csv``        MNE ``onset,duration,description``           yes     yes   stage rows
``edfbrowser-csv`` EDFbrowser ``Onset,Duration,Annotation``     yes     yes   stage rows
``bids-tsv``       BIDS ``events.tsv``                          yes     yes   stage rows
``yasa-events``    YASA detection / event tables                yes
================== ============================================ ======= ===== =========

Each format module defines ``FORMAT``, a :class:`~.registry.FileFormat`; :data:`FORMAT_MODULES`
below registers them. Everything else (detection order, the read and write dispatch, aliases,
suffix lists for discovery and cohorts, command-line choices, file-dialog filters) derives from
the registry: adding a format is one module, one line here, and its tests.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..hypnogram import Hypnogram
from ..errors import HypnogramError, NoStagesError
from . import (bids_events, csv_events, dreams, edf_annotations, edfbrowser_csv, events_json,
               json_hypnogram, mne_csv, nsrr_xml, profusion_xml, sleepfm_csv, yasa, yasa_events)
from .event_files import (detect_events_format, event_format_for_path, event_read_formats,
                          event_suffixes, event_write_formats, events_dialog_filter, read_events,
                          write_events)
from .registry import (FileFormat, find_format, format_for_suffix, get_format, hypnogram_dialog_filter,
                       hypnogram_suffixes, read_formats, recording_dialog_filter, register,
                       registered_formats, unregister, write_formats)
from .registry import detect as _detect

__all__ = ["read_hypnogram", "write_hypnogram", "detect_format", "FileFormat", "register",
           "unregister", "registered_formats", "find_format", "get_format", "read_formats",
           "write_formats", "hypnogram_suffixes", "format_for_suffix", "hypnogram_dialog_filter",
           "recording_dialog_filter", "read_events", "write_events", "detect_events_format",
           "event_read_formats", "event_write_formats", "event_suffixes", "event_format_for_path",
           "events_dialog_filter"]

#: The built-in format modules, each defining ``FORMAT``.
FORMAT_MODULES = (edf_annotations, nsrr_xml, profusion_xml, json_hypnogram, dreams, sleepfm_csv,
                  csv_events, yasa, events_json, mne_csv, edfbrowser_csv, bids_events,
                  yasa_events)
for _module in FORMAT_MODULES:
    register(_module.FORMAT)


def _hypnogram_readers() -> list[FileFormat]:
    return [f for f in registered_formats() if f.read_hypnogram is not None]


def detect_format(path: str | os.PathLike) -> str:
    """Name of the hypnogram format of ``path``, from its content (the formats that read
    hypnograms are asked in their registry priority order).

    Raises
    ------
    HypnogramError
        If the file is missing, empty or in no known format.
    """
    return _detect_hypnogram(Path(path)).name


def _detect_hypnogram(path: Path) -> FileFormat:
    """The hypnogram format of ``path``; NoStagesError for a file only an events format reads
    (an events file is not a broken hypnogram: discovery passes over it)."""
    try:
        return _detect(path, _hypnogram_readers())
    except NoStagesError:
        raise
    except HypnogramError as exc:
        events_only = [f for f in registered_formats()
                       if f.read_hypnogram is None and f.read_events is not None]
        try:
            other = _detect(path, events_only)
        except HypnogramError:
            raise exc from None
        raise NoStagesError(path, f"holds scored events ({other.description}), no sleep "
                                  "stages") from None


def read_hypnogram(path: str | os.PathLike, epoch_length: float | None = None,
                   fmt: str | None = None) -> Hypnogram:
    """Read a hypnogram file of any registered format (detected from its content).

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
        Force a format name (or alias) instead of detecting it.

    Returns
    -------
    Hypnogram
        ``source`` is the path, ``file_format`` the format name; ``automatic`` is True for a
        model's staging written by this engine (CSV and JSON keep it).

    Raises
    ------
    HypnogramError
        If the file is missing, unrecognised or malformed (the message names the file and,
        for text and XML, the line). Its subclass NoStagesError for a file of scored events
        without sleep stages.
    ValueError
        For an unknown ``fmt``, one that reads no hypnograms, or a non-positive ``epoch_length``.
    """
    path = Path(path)
    if epoch_length is not None and not float(epoch_length) > 0:
        raise ValueError(f"epoch_length must be positive, got {epoch_length}")
    entry = get_format(fmt) if fmt else _detect_hypnogram(path)
    if entry.read_hypnogram is None:
        raise ValueError(f"format {entry.name!r} holds no hypnograms; read formats: "
                         f"{', '.join(read_formats())}")
    return entry.read_hypnogram(path, epoch_length)


def write_hypnogram(hyp: Hypnogram, path: str | os.PathLike, fmt: str = "csv") -> Path:
    """Write ``hyp`` to ``path`` atomically and return the path.

    Parameters
    ----------
    fmt : str
        A writable format (:func:`write_formats`) or alias: ``csv`` ``onset,duration,stage``
        (+ ``p_W..p_R``, start, scorer, automatic); ``json`` every field; ``edf`` EDF+
        annotations only; ``sleepfm`` the sleepfm-clinical per-5-s CSV (tokens from the
        recording start); ``yasa`` one YASA integer per line.

    Raises
    ------
    ValueError
        For a format that cannot be written, or a hypnogram with no epochs.
    """
    if not isinstance(hyp, Hypnogram):
        raise TypeError(f"expected a Hypnogram, got {type(hyp).__name__}")
    if hyp.n_epochs == 0:
        raise ValueError("cannot write a hypnogram with no epochs")
    entry = find_format(fmt)
    if entry is None or entry.write_hypnogram is None:
        raise ValueError(f"cannot write hypnogram format {fmt!r}; choose one of "
                         f"{', '.join(write_formats())}")
    path = Path(path)
    entry.write_hypnogram(hyp, path)
    return path
