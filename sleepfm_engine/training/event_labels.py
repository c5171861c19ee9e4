"""The event head's per-token targets from scored events, and finding a night's events file.

The head predicts, for every 5-s token, the presence of each *event class* of
:data:`~sleepfm_engine.event_classes.EVENT_CLASSES` (multi-label: a token may be in an apnea, a
desaturation and an arousal at once). This module is torch-free: cohort discovery reads it.

A token is a positive of a class when an event of the class covers at least half of it, or
holds the event's midpoint (so an event shorter than half a token still marks one token).
Tokens outside sleep epochs (wake, unscored, artefact, beyond the hypnogram) are masked
(target -1): they are never counted as negatives, since events are scored in sleep only.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..contract import TOKEN_SECONDS
from ..event_classes import EVENT_CLASSES, class_of
from ..events import EventSet, EventType
from ..hypnogram import SLEEP_CODES

__all__ = ["MASKED", "classes_present",
           "token_targets", "sleep_token_mask", "events_file_candidates", "find_events_file",
           "read_night_events"]

#: Target of a masked token (outside sleep or unscored).
MASKED = -1


def classes_present(event_sets: Iterable[EventSet]) -> list[str]:
    """Head classes with at least one event in ``event_sets``, in :data:`EVENT_CLASSES` order."""
    seen: set[str] = set()
    for events in event_sets:
        for t in events.counts():
            name = class_of(t)
            if name is not None:
                seen.add(name)
    return [n for n in EVENT_CLASSES if n in seen]


def sleep_token_mask(stages: np.ndarray) -> np.ndarray:
    """True for tokens whose stage code (per token, -1 unscored) is a sleep stage."""
    return np.isin(np.asarray(stages), SLEEP_CODES)


def token_targets(events: EventSet, token_stages: np.ndarray, classes: Sequence[str],
                  token_seconds: float = float(TOKEN_SECONDS)) -> np.ndarray:
    """Per-token targets (n_tokens, n_classes) int8: 1 event, 0 none, -1 masked (not sleep).

    Parameters
    ----------
    events : EventSet
        Onsets in seconds from the recording start (the tokens' time line).
    token_stages : ndarray (n_tokens,)
        Stage code of each token (-1 unscored): tokens not in sleep are masked.
    classes : sequence of str
        Names of :data:`EVENT_CLASSES`, the columns.
    """
    n = len(token_stages)
    out = np.zeros((n, len(classes)), dtype=np.int8)
    for k, name in enumerate(classes):
        spec = EVENT_CLASSES[name]
        for e in events.of_type(*spec.types):
            a, b = e.onset / token_seconds, e.end / token_seconds
            first, last = int(np.floor(a)), int(np.ceil(b))
            for t in range(max(first, 0), min(last, n)):
                covered = min(b, t + 1) - max(a, t)
                if covered >= 0.5 or int(np.floor((a + b) / 2)) == t:
                    out[t, k] = 1
    out[~sleep_token_mask(token_stages)] = MASKED
    return out


# ------------------------------------------------------------------------------ file matching
#: Words that make a candidate events file preferred over another for the same recording.
_PREFERRED = ("event", "annot", "scoring", "nsrr", "profusion")


def events_file_candidates(recording: Path, folders: Iterable[Path]) -> list[Path]:
    """Files that may hold the scored events of ``recording``, best first: named as its
    hypnogram would be (:func:`sleepfm_engine.training.cohort.label_candidates`' rules) with a
    suffix of a format that reads events; names holding "event", "annotation", "nsrr"... first."""
    from ..formats import event_suffixes
    from ..formats.discover import AUTOMATIC_HYPNOGRAM_SUFFIX
    from ..recording import RECORDING_SUFFIXES
    from .cohort import _SEPARATORS, _SIDE_FILES

    stem = recording.stem.lower()
    suffixes = event_suffixes()
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            name = p.name.lower()
            if (not p.is_file() or p.resolve() == recording.resolve() or name in _SIDE_FILES
                    or not name.endswith(suffixes) or name.endswith(AUTOMATIC_HYPNOGRAM_SUFFIX)):
                continue
            if p.suffix.lower() in RECORDING_SUFFIXES and not any(w in name for w in _PREFERRED):
                continue  # another recording of the same name, not an events file
            bare = name[: -len(p.suffix)] if p.suffix else name
            if bare == stem or (name.startswith(stem) and len(name) > len(stem)
                                and name[len(stem)] in _SEPARATORS):
                found.append(p)

    def rank(p: Path) -> tuple:
        low = p.name.lower()
        return (0 if any(w in low for w in _PREFERRED) else 1, len(p.name), p.name)

    return sorted(dict.fromkeys(found), key=rank)


def find_events_file(recording: Path, folders: Sequence[Path], rec) -> tuple[Path | None, str]:
    """The events file of a recording, or (None, why not).

    Candidates (:func:`events_file_candidates`) are read in turn; the first that the engine
    reads as scored events wins (a hypnogram-only file is passed over). Without one, the
    recording's own EDF+ annotations are used when they hold an event of a head class.
    """
    from ..errors import EventsError

    problems = []
    for cand in events_file_candidates(recording, folders):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read_night_events(cand, rec)
            return cand, ""
        except EventsError as exc:
            problems.append(f"{cand.name}: {exc.problem}")
    if any(class_of(a_type) for a_type in _annotation_types(rec)):
        return recording, ""
    why = "no scored events (no events file matched by name, no event annotations)"
    if problems:
        why += "; " + "; ".join(problems[:3])
    return None, why


def _annotation_types(rec) -> set[EventType]:
    from ..events import map_label

    return {map_label(a.description) for a in rec.annotations[:20000]}


def read_night_events(path: Path, rec) -> EventSet:
    """The scored events of ``path`` on the recording's time line (onsets from its start).

    Raises
    ------
    EventsError
        When the file holds no scored events the engine reads.
    """
    from ..formats import read_events

    events = read_events(path, start=rec.start)
    if events.start is None or rec.start is None or events.start == rec.start:
        return events
    # A file scored on a clock that starts elsewhere: onsets shifted onto the recording's.
    shift = (events.start - rec.start).total_seconds()
    return EventSet([e.replace(onset=e.onset + shift) for e in events], start=rec.start,
                    source=events.source, file_format=events.file_format)
