"""Sleep stages as EDF+ annotations: Sleep-EDF ``*-Hypnogram.edf`` files and stage
annotations inside a PSG's EDF+.

Reading takes every annotation whose text names a stage (:func:`parse_stage` in strict mode:
``Sleep stage W/1/2/3/4/R/?``, ``Movement time``, ``Sleep stage N1``, ``Stage 2``, ``Wake``,
``REM``, ``N3``...) and ignores the rest (arousals, apnoeas, lights). An annotation without a
duration lasts until the next stage annotation. Writing produces an EDF+C file with no signals,
only an annotation channel, as Sleep-EDF does: one annotation per run of equal stages, texts
``Sleep stage W``, ``Sleep stage N1``, ``Sleep stage N2``, ``Sleep stage N3``, ``Sleep stage R``,
``Sleep stage ?`` and ``Movement time``. Probabilities are not written.

Scored events (:func:`read_events`, :func:`write_events`) are the other annotations: every
annotation that names no stage becomes an event typed from its text (an unknown text stays a
note), onset from the recording start. EDF+ durations are optional; an annotation without one
reads as duration 0 flagged ``duration_missing``, and an event of duration 0 is written without
one. A channel rides on the text as MNE writes it, ``Obstructive apnea@@Airflow``; an event on
several channels is one annotation per channel, read back as one event (channels in file
order, which is sorted).
"""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from ..errors import EventsError, HypnogramError, NoStagesError, RecordingError
from ..hypnogram import ARTEFACT, UNSCORED, Hypnogram, parse_stage
from ..recording import RECORDING_SUFFIXES
from ..events import Event, EventSet, is_stage_label
from ._event_rows import event_set, file_event, file_label
from .registry import FileFormat, Probe

NAME = "edf"
#: Stage code -> annotation text written.
TEXTS = {0: "Sleep stage W", 1: "Sleep stage N1", 2: "Sleep stage N2", 3: "Sleep stage N3",
         4: "Sleep stage R", UNSCORED: "Sleep stage ?", ARTEFACT: "Movement time"}


def sniff(probe: Probe) -> bool:
    """True if the first bytes look like an EDF/BDF header."""
    return probe.head[:8] == b"0       " or probe.head[:8] == b"\xffBIOSEMI"


def _annotations(path: Path) -> tuple[list, _dt.datetime | None, str]:
    """(annotations, start or None, scorer of a hypnogram-only file); raises RecordingError."""
    from ..recording import open_recording

    with open_recording(path) as rec:
        annotations = list(rec.annotations)
        start = rec.start
        # EDF+ has no 'unknown start'; our writer (and others) then put 'Startdate X' and
        # the 1985-01-01 00:00 placeholder. Treat that as unknown rather than as 1985.
        if (not rec.recording_info.get("startdate") and start is not None
                and start == _dt.datetime(1985, 1, 1)):
            start = None
        scorer = ""
        if not rec.channels:  # a hypnogram-only file: its technician is the scorer
            scorer = rec.recording_info.get("technician", "") or ""
    return annotations, start, scorer


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read the stage annotations of an EDF+/BDF+ file.

    Raises
    ------
    HypnogramError
        If the file cannot be opened as EDF+; NoStagesError if it holds no stage annotations.
    """
    try:
        annotations, start, scorer = _annotations(path)
    except RecordingError as exc:
        raise HypnogramError(path, f"cannot read as EDF+: {exc.problem}") from None
    onsets, durations, codes = [], [], []
    for ann in annotations:
        code = parse_stage(ann.description, strict=True)
        if code is None:
            continue
        onsets.append(ann.onset)
        durations.append(ann.duration if ann.duration and ann.duration > 0 else None)
        codes.append(code)
    if not codes:
        texts = sorted({a.description for a in annotations})
        sample = ", ".join(repr(t) for t in texts[:5]) or "none"
        raise NoStagesError(path, f"no sleep-stage annotations among {len(annotations)} "
                                  f"annotation(s) (e.g. {sample})")
    try:
        return Hypnogram.from_events(onsets, durations, codes, None, epoch_length, start=start,
                                     scorer=scorer.replace("_", " "), source=str(path),
                                     file_format=NAME)
    except ValueError as exc:
        raise HypnogramError(path, str(exc)) from None


def _edf_field(text: str) -> str:
    """An EDF+ subfield: printable ASCII without spaces (spaces become underscores)."""
    text = re.sub(r"\s+", "_", text.strip())
    text = text.encode("ascii", "replace").decode("ascii")
    return text or "X"


def write(hyp: Hypnogram, path: Path) -> None:
    """Write an annotation-only EDF+C file (atomic).

    An unknown ``start`` is written as ``Startdate X`` with the 1985-01-01 00:00 placeholder,
    which :func:`read` turns back into None. The scorer goes into the technician subfield.
    """
    import edfio

    from ..atomic import atomic_path

    known = hyp.start is not None
    start = hyp.start or _dt.datetime(1985, 1, 1)
    if not 1985 <= start.year <= 2084:
        raise ValueError(f"EDF+ cannot store the start year {start.year} (1985-2084)")
    # The header keeps whole seconds; a fraction moves into the onsets.
    shift = start.microsecond / 1e6
    start = start.replace(microsecond=0)
    runs = []
    codes = hyp.stages
    i = 0
    while i < codes.shape[0]:
        j = i
        while j + 1 < codes.shape[0] and codes[j + 1] == codes[i]:
            j += 1
        runs.append(edfio.EdfAnnotation(round(float(shift + hyp.offset + i * hyp.epoch_length), 6),
                                        round(float((j + 1 - i) * hyp.epoch_length), 6),
                                        TEXTS[int(codes[i])]))
        i = j + 1
    recording = edfio.Recording(startdate=start.date() if known else None,
                                investigator_technician_code=_edf_field(hyp.scorer) if hyp.scorer else "X")
    edf = edfio.Edf([], recording=recording, starttime=start.time(),
                    annotations=runs)
    with atomic_path(path) as tmp:
        edf.write(tmp)


#: Separates an annotation's text from the channel it was scored on (MNE's convention).
CHANNEL_MARK = "@@"


def read_events(path: Path, start: _dt.datetime | None = None) -> EventSet:
    """Read the scored events (every annotation that names no sleep stage) of an EDF+/BDF+
    file; ``start`` is ignored (the file carries its own).

    Raises
    ------
    EventsError
        If the file cannot be opened as EDF+ (names the problem).
    """
    try:
        annotations, clock, _ = _annotations(path)
    except RecordingError as exc:
        raise EventsError(path, f"cannot read as EDF+: {exc.problem}") from None
    rows: list[tuple[float, float, str, list[str]]] = []
    # one annotation per channel of the same event (see the module docstring): the open
    # group of each (onset, duration, text), until a channel repeats
    groups: dict[tuple[float, float, str], list[str]] = {}
    for ann in annotations:
        text, mark, channel = ann.description.rpartition(CHANNEL_MARK)
        if not mark or not channel:
            text, channel = ann.description, ""
        if is_stage_label(text):
            continue
        key = (ann.onset, ann.duration, text)
        if channel and key in groups and channel not in groups[key]:
            groups[key].append(channel)
            continue
        channels = [channel] if channel else []
        if channel:
            groups[key] = channels
        rows.append((ann.onset, ann.duration, text, channels))
    events = [file_event(path, onset, dur if dur > 0 else None, text, channels=channels)
              for onset, dur, text, channels in rows]
    return event_set(path, events, NAME, clock)


# TAL separators and the terminator cannot appear inside an annotation's text.
_TAL_BYTES = ("\x00", "\x14", "\x15")


def _holds(text: str) -> bool:
    """Whether ``text`` can be TAL text (UTF-8, no TAL separators)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return not any(c in text for c in _TAL_BYTES)


def _event_text(event: Event) -> str:
    text = file_label(event)
    # '@' where label and channel meet would move the '@@' split (MNE splits at it)
    text_ok = (_holds(text) and CHANNEL_MARK not in text
               and not (event.channels and text.endswith("@")))
    channels_ok = all(_holds(c) and c and c == c.strip() and "@" not in c for c in event.channels)
    if not (text_ok and channels_ok):
        raise EventsError(None, f"event {event.id} ({text[:40]!r} on {list(event.channels)}) "
                                "cannot be an EDF+ annotation (control characters, '@@' or "
                                "lone surrogates in its text, or an empty, padded or '@' channel "
                                "name)")
    return text


def write_events(events: EventSet, path: Path) -> None:
    """Write the events as an annotation-only EDF+C file (atomic).

    An unknown ``start`` is written as in :func:`write`.

    Raises
    ------
    EventsError
        For an event text EDF+ cannot hold, or a start year outside 1985-2084.
    """
    import edfio

    from ..atomic import atomic_path

    known = events.start is not None
    start = events.start or _dt.datetime(1985, 1, 1)
    if not 1985 <= start.year <= 2084:
        raise EventsError(path, f"EDF+ cannot store the start year {start.year} (1985-2084)")
    shift = start.microsecond / 1e6  # the header keeps whole seconds
    start = start.replace(microsecond=0)
    annotations = []
    for e in events:
        text = _event_text(e)
        onset = e.onset + shift if shift else e.onset
        duration = e.duration if e.duration > 0 else None
        for channel in e.channels or ("",):
            label = f"{text}{CHANNEL_MARK}{channel}" if channel else text
            annotations.append(edfio.EdfAnnotation(onset, duration, label))
    if not annotations:
        # edfio needs signals or annotations; an empty text is a time-keeping stamp that
        # readers skip, so an empty set still makes a valid file that reads back empty
        annotations.append(edfio.EdfAnnotation(0.0, None, ""))
    recording = edfio.Recording(startdate=start.date() if known else None)
    edf = edfio.Edf([], recording=recording, starttime=start.time(), annotations=annotations)
    with atomic_path(path) as tmp:
        edf.write(tmp)


FORMAT = FileFormat(
    NAME, "EDF+ stage annotations", RECORDING_SUFFIXES, sniff, aliases=("edf+", "bdf"),
    priority=10, save_suffix=".edf", keeps=frozenset({"artefact", "offset", "start"}),
    read_hypnogram=read, write_hypnogram=write, read_events=read_events,
    write_events=write_events, event_save_suffix=".edf",
    event_keeps=frozenset({"label", "channel", "start"}))
