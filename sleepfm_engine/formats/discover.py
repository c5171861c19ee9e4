"""Find the manual hypnogram of a recording: a file paired with it by name (beside it or in
given folders), or stage annotations inside the recording itself.

Names that pair up (case-insensitive):

=================================== ==========================================
recording                           hypnogram
=================================== ==========================================
``night.edf``                       ``night.hypnogram.csv``, ``night.csv``,
                                    ``night-hypnogram.edf``, ``night_hyp.txt``
``SC4001E0-PSG.edf`` (Sleep-EDF)    ``SC4001EC-Hypnogram.edf``
``excerpt1.edf`` (DREAMS)           ``Hypnogram_excerpt1.txt``
``shhs1-200001.edf`` (NSRR)         ``shhs1-200001-nsrr.xml``, ``-profusion.xml``
=================================== ==========================================

Automatic hypnograms are never a recording's manual scoring: the engine names them
``<name>.auto-hypnogram.csv`` (:data:`AUTOMATIC_HYPNOGRAM_SUFFIX`), a name that pairs with no
recording, and a paired file whose content says it is automatic (``Hypnogram.automatic``, kept
by the CSV and JSON formats) is passed over for the next candidate.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from ..contract import EPOCH_SECONDS
from ..errors import NoStagesError
from ..recording import RECORDING_SUFFIXES
from .registry import hypnogram_suffixes

__all__ = ["AUTOMATIC_HYPNOGRAM_SUFFIX", "candidate_hypnograms", "find_paired_hypnogram",
           "find_manual_hypnogram"]

#: Name ending of the automatic hypnograms the engine writes beside a recording's name
#: (``sleepfm stage``): CSV with probabilities and ``# scoring: automatic``.
AUTOMATIC_HYPNOGRAM_SUFFIX = ".auto-hypnogram.csv"
_MARKERS = ("hypnogram", "hypno", "hyp", "stages", "staging", "scoring", "nsrr", "profusion",
            "annotations", "annot")
# "psg" ends recording names (Sleep-EDF's SC4001E0-PSG) but marks no hypnogram.
_MARKER_RE = re.compile(r"(?:[-_. ](?:" + "|".join(_MARKERS + ("psg",)) + r"))+$")
_MARKED_RE = re.compile(r"(?:^|[-_. ])(?:" + "|".join(_MARKERS) + r")(?:$|[-_. ]|r&k)")
_PREFIX_RE = re.compile(r"^(?:hypnogram|hypno|hyp)(?:r&k|aasm)?[-_. ]+")


def _key(name: str) -> tuple[str, bool]:
    """(matching key, carries a hypnogram marker) of a file name without its suffix."""
    stem = name.lower()
    known = hypnogram_suffixes() + RECORDING_SUFFIXES
    for _ in range(2):
        suffix = Path(stem).suffix
        if suffix in known:
            stem = stem[: -len(suffix)]
    marked = bool(_MARKED_RE.search(stem))
    stem = _PREFIX_RE.sub("", _MARKER_RE.sub("", stem))
    return stem, marked


def candidate_hypnograms(recording: str | Path, folders: Iterable[str | Path] = ()) -> list[Path]:
    """Files in ``folders`` (default: the recording's folder) whose names pair with the recording,
    best match first. Only suffixes of registered hypnogram formats
    (:func:`~sleepfm_engine.formats.registry.hypnogram_suffixes`) are considered."""
    recording = Path(recording)
    rec_key, _ = _key(recording.name)
    suffixes = hypnogram_suffixes()
    scored: list[tuple[int, str, Path]] = []
    search = [Path(f) for f in folders] or [recording.parent]
    for folder in search:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if not p.is_file() or p.suffix.lower() not in suffixes:
                continue
            if p.name.lower().endswith(AUTOMATIC_HYPNOGRAM_SUFFIX):
                continue
            if p.resolve() == recording.resolve():
                continue
            key, marked = _key(p.name)
            if key == rec_key:
                rank = 0 if marked else 1
            elif (marked and len(key) >= 7 and len(key) == len(rec_key)
                  and key[:-1] == rec_key[:-1]):
                rank = 2  # Sleep-EDF: SC4001E0-PSG / SC4001EC-Hypnogram
            else:
                continue
            if p.suffix.lower() in RECORDING_SUFFIXES and not marked:
                continue  # another recording of the same name, not a hypnogram
            scored.append((rank, p.name.lower(), p))
    return [p for _, _, p in sorted(scored)]


def find_paired_hypnogram(recording: str | Path, folders: Iterable[str | Path] = (),
                          epoch_length: float | None = EPOCH_SECONDS, fit_to: Any = None):
    """The manual hypnogram file paired with a recording by name (see the module table).

    Unlike :func:`find_manual_hypnogram` the recording itself is not read. Candidates whose
    content is an automatic hypnogram, and files of scored events without sleep stages
    (NoStagesError), are passed over. Given ``fit_to`` (the open recording), the hypnogram
    found is checked against it with :func:`sleepfm_engine.alignment.fit_to_recording`: cut to
    the recording's time with a warning, or refused (HypnogramError) when it misses it.

    Returns
    -------
    (Hypnogram, Path) or (None, None)

    Raises
    ------
    HypnogramError
        If a paired file exists but cannot be read (a broken hypnogram is not silently skipped).
    """
    from . import read_hypnogram

    for candidate in candidate_hypnograms(recording, folders):
        try:
            hyp = read_hypnogram(candidate, epoch_length=epoch_length)
        except NoStagesError:
            continue  # a file of scored events (night.annotations.csv) is not its hypnogram
        if not hyp.automatic:
            return _fitted(hyp, fit_to), candidate
    return None, None


def _fitted(hyp, recording):
    from ..alignment import fit_to_recording

    return hyp if recording is None else fit_to_recording(hyp, recording)


def find_manual_hypnogram(recording: str | Path, folders: Iterable[str | Path] = (),
                          epoch_length: float | None = EPOCH_SECONDS, fit_to: Any = None):
    """The manual hypnogram of a recording, and where it came from.

    Looks for a paired file (see the module table) in ``folders`` (default: beside the
    recording), then for stage annotations inside the recording. ``fit_to`` as in
    :func:`find_paired_hypnogram`.

    Returns
    -------
    (Hypnogram, Path) or (None, None)
        The path is the recording itself for embedded annotations.

    Raises
    ------
    HypnogramError
        If a paired file exists but cannot be read (a broken hypnogram is not silently skipped).
    """
    from . import read_hypnogram

    recording = Path(recording)
    hyp, source = find_paired_hypnogram(recording, folders, epoch_length, fit_to)
    if hyp is not None:
        return hyp, source
    try:
        return _fitted(read_hypnogram(recording, epoch_length=epoch_length, fmt="edf"),
                       fit_to), recording
    except NoStagesError:
        return None, None
