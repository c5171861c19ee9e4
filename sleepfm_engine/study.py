"""One night under review, as a document: what an application window shows, without the window.

A :class:`Study` holds the open recording and its channel map, the scoring session, the display
model of the traces, the events shown with where each came from, the person's age and sex, the
paired manual scoring and its file, and the analysis results (automatic hypnogram, disease risk,
written embeddings, each with its provenance). The desktop window renders it; a script or a
test drives it the same way. Changes reach views through plain callbacks
(:meth:`Study.add_listener`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from .detection_provenance import EVENT_SOURCES
from .display_model import DisplayModel
from .events import Event, EventSet
from .hypnogram import CODE_NAMES, SCORED_CODES, UNSCORED

__all__ = ["PairedScoring", "SCORING_LAYER", "Study", "StudyEvent", "stage_caption"]

#: Name of the layer of scored events: those the person created and the automatic ones they
#: accepted (the scoring session's events). It comes first: an accepted automatic event is
#: shown there, not again in its detector's layer.
SCORING_LAYER = "scoring"


def _confidence_key(event: Event) -> tuple[float, float, str]:
    conf = 2.0 if event.confidence is None else event.confidence
    return (conf, event.onset, event.id)


def _runs_scoring(record: Any, events: EventSet) -> Any:
    """``record`` with only the detector runs that scored ``events`` (see
    :meth:`Study.set_imported_events`); None when none did."""
    if record is None or not record.detections:
        return None
    if any(e.source.kind == "file" for e in events):
        return record
    runs = {name: run for name, run in record.detections.items()
            if isinstance(run.get(EVENT_SOURCES), list)
            and any(e.source.kind == "detector" and e.source.name == name
                    and e.source.to_dict() in run[EVENT_SOURCES] for e in events)}
    if not runs:
        return None
    return record if len(runs) == len(record.detections) else replace(record, detections=runs)


def stage_caption(session: Any, epoch: int) -> str:
    """The scored stages of ``epoch`` for the page: ``"Manual N2 · Automatic R 83 %"``.

    The manual stage is always named (``?`` when unscored); the automatic one when the session
    has an automatic hypnogram, with its probability when known.
    """
    code = session.stage(epoch)
    text = f"Manual {CODE_NAMES[code]}"
    if session.has_auto:
        auto = session.auto_stage(epoch)
        text += f" · Automatic {CODE_NAMES[auto]}"
        conf = float(session.confidence()[epoch]) if auto != UNSCORED else float("nan")
        if conf == conf:  # not NaN
            text += f" {conf:.0%}"
    return text


@dataclass(frozen=True)
class PairedScoring:
    """A manual scoring found beside the recording by file name.

    Attributes
    ----------
    hypnogram : Hypnogram or None
        What was read (None when the paired file could not be read).
    source : Path or None
        The file it came from.
    note : str
        What to tell the reader ("manual scoring from night.csv", or why it was not loaded).
    """

    hypnogram: Any
    source: Path | None
    note: str


class StudyEvent(NamedTuple):
    """What changed in a :class:`Study`: ``"opened"``, ``"closed"``, ``"session"``,
    ``"auto"``, ``"risk"``, ``"embeddings"``, ``"events"``, ``"demographics"``."""

    kind: str


class Study:
    """The night under review: recording, scoring, display, events and analysis results.

    Parameters
    ----------
    display : DisplayModel, optional
        The display model of the traces (a new one when omitted); it follows the recording
        the study opens and closes.
    """

    def __init__(self, display: DisplayModel | None = None):
        self.display = display if display is not None else DisplayModel()
        self._listeners: list[Callable[[StudyEvent], None]] = []
        self._clear()

    def _clear(self) -> None:
        self.recording: Any = None
        self.channel_map: Any = None
        self.session: Any = None
        self.paired: PairedScoring | None = None
        self.auto_hypnogram: Any = None
        self.auto_provenance: Any = None
        self.auto_ood: Any = None
        self.risk: Any = None
        self.risk_provenance: Any = None
        self.embeddings: Path | None = None
        self.age: float | None = None
        self.sex = ""
        self._layers: dict[str, EventSet] = {}
        self._layer_provenance: dict[str, Any] = {}
        if getattr(self, "_session_unsub", None) is not None:
            self._session_unsub()
        self._session_unsub: Callable[[], None] | None = None
        self.display.set_stage_source(None)

    # ------------------------------------------------------------------ listeners
    def add_listener(self, callback: Callable[[StudyEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns a function that removes it."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)
        return remove

    def _emit(self, kind: str) -> None:
        event = StudyEvent(kind)
        for callback in list(self._listeners):
            callback(event)

    # ------------------------------------------------------------------ opening and closing
    @property
    def is_open(self) -> bool:
        return self.recording is not None

    def open(self, recording: Any, channel_map: Any) -> None:
        """Show a recording with its channel map: the display regroups its rows by it.

        Raises
        ------
        RuntimeError
            If a recording is still open (close it first: closing may need to ask about
            unsaved scoring).
        """
        if self.recording is not None:
            raise RuntimeError(f"{self.recording.path}: still open; close it before opening "
                               "another recording")
        self._clear()
        self.recording, self.channel_map = recording, channel_map
        self.display.set_recording(recording, channel_map.as_dict())
        self._emit("opened")

    def close(self) -> None:
        """Forget everything and close the recording (the scoring session must be closed, or
        saved, by the caller first: that may need a question to the user)."""
        rec = self.recording
        self.display.set_recording(None)
        self._clear()
        if rec is not None:
            rec.close()
        self._emit("closed")

    def set_session(self, session: Any, paired: PairedScoring | None = None) -> None:
        """The scoring session of the recording, and the paired file it started from if any.

        The automatic hypnogram restored with the session becomes the study's, of unknown
        provenance (a saved scoring does not record where its automatic part came from).
        """
        if self._session_unsub is not None:
            self._session_unsub()
            self._session_unsub = None
        self.session = session
        self.paired = paired
        if session is not None:
            self._session_unsub = session.add_listener(self._on_session_event)
            self.display.set_stage_source(lambda epoch: stage_caption(session, epoch))
        else:
            self.display.set_stage_source(None)
        self._publish_layers()
        self.auto_hypnogram = session.auto if session is not None else None
        self.auto_provenance = None
        self.auto_ood = None
        self._emit("session")

    # ------------------------------------------------------------------ analysis results
    def set_auto(self, hypnogram: Any, provenance: Any = None, ood: Any = None) -> None:
        """The automatic hypnogram (staging result or import), where it came from, and the
        staging's out-of-distribution check (``NightResult.ood``; None: none made here)."""
        self.auto_hypnogram = hypnogram
        self.auto_provenance = provenance
        self.auto_ood = ood
        self._emit("auto")

    def set_risk(self, risk: Any, provenance: Any = None) -> None:
        """The disease-risk result (a ``RiskTable``) and where it came from."""
        self.risk = risk
        self.risk_provenance = provenance
        self._emit("risk")

    def set_embeddings(self, path: str | Path) -> None:
        """Where the night's embeddings were last written."""
        self.embeddings = Path(path)
        self._emit("embeddings")

    def set_demographics(self, age: float | None, sex: str) -> None:
        """The person's age (years) and sex (``"F"``, ``"M"`` or ``""`` when unknown)."""
        self.age = None if age is None else float(age)
        self.sex = sex or ""
        self._emit("demographics")

    # ------------------------------------------------------------------ events
    def _on_session_event(self, event: Any) -> None:
        if event.kind in ("events", "reset"):
            self.display.events_changed()
            self._emit("events")
        if event.kind != "events":
            self.display.stages_changed()

    def _publish_layers(self) -> None:
        self.display.set_event_layers(self.layers)

    @property
    def layers(self) -> dict[str, EventSet]:
        """``{source: EventSet}`` of every event layer: the scored events
        (:data:`SCORING_LAYER`) first, then the recording's own annotations as ``"file"``, an
        imported file by its name, a detector run by the detector's name."""
        out: dict[str, EventSet] = {}
        if self.session is not None:
            out[SCORING_LAYER] = self.session.events
        out.update(self._layers)
        return out

    @property
    def events(self) -> list[tuple[Event, str]]:
        """``(event, source)`` of every event shown, by onset; an automatic event that was
        accepted is listed once, as scored."""
        seen: set[str] = set()
        out = []
        for name, layer in self.layers.items():
            for e in layer:
                if e.id not in seen:
                    seen.add(e.id)
                    out.append((e, name))
        return sorted(out, key=lambda es: (es[0].onset, es[0].id))

    @property
    def layer_provenance(self) -> dict[str, Any]:
        """``{source: Provenance}`` of the layers whose origin is recorded (a detector's run:
        :func:`sleepfm_engine.detection_provenance.detection_provenance`; an imported events
        file's record: :meth:`set_imported_events`), for the report and the events export.
        An imported file's record also stands under the names of the detectors whose runs it
        holds (its events keep their detector as source), unless a layer of that name has its
        own record."""
        records = dict(self._layer_provenance)
        for record in self._layer_provenance.values():
            for detector in record.detections:
                records.setdefault(detector, record)
        return records

    def set_events(self, events: EventSet | Iterable[Event], source: str,
                   provenance: Any = None) -> None:
        """Replace the events that came from ``source`` (a file name, ``"file"`` for the
        recording's own EDF+ annotations, a detector's name), with where they came from
        (``provenance``: a :class:`~sleepfm_engine.provenance.Provenance`; None: not recorded);
        an empty set removes the layer.
        The scored events are never replaced this way: they change only through the session.

        Raises
        ------
        ValueError
            If ``source`` is :data:`SCORING_LAYER`.
        """
        if source == SCORING_LAYER:
            raise ValueError(f"the {SCORING_LAYER!r} layer holds the scored events; edit them "
                             "through the scoring session")
        layer = events if isinstance(events, EventSet) else EventSet(events)
        if len(layer) or layer.rejected:
            self._layers[source] = layer
        else:
            self._layers.pop(source, None)
        # A replaced layer never keeps the record of the run it replaces.
        if provenance is not None and source in self._layers:
            self._layer_provenance[source] = provenance
        else:
            self._layer_provenance.pop(source, None)
        self._publish_layers()
        self._emit("events")

    def set_imported_events(self, events: EventSet, source: str, record: Any = None) -> Any:
        """Show the events read from a file as the layer ``source`` (:meth:`set_events`), with
        the record written beside that file
        (:func:`sleepfm_engine.detection_provenance.read_events_provenance`) kept only for the
        detector runs that scored these events.

        A run speaks for the events whose source its record lists (as the report's
        :func:`~sleepfm_engine.report.events.detector_fit` rules): a stale record beside a
        rewritten file never lends its verdict to other events. Events of a format that keeps
        no detector per event are credited to the file, so its whole record speaks for them.

        Parameters
        ----------
        events : EventSet
        source : str
            The layer's name (the file's name).
        record : Provenance, optional
            The record read beside the file; None when there is none.

        Returns
        -------
        Provenance or None
            The record attached to the layer; None when no run of ``record`` scored these
            events.
        """
        kept = _runs_scoring(record, events)
        self.set_events(events, source, kept)
        return kept

    def is_reviewed(self, event: Event) -> bool:
        """True when ``event`` is among the scored events (created, or accepted)."""
        return self.session is not None and event.id in self.session.events

    def next_event(self, t: float, direction: int = 1, *, kind: Any = None,
                   unreviewed: bool = False) -> tuple[Event, str] | None:
        """The first shown event after (or before) time ``t``.

        Parameters
        ----------
        t : float
            Seconds from the recording start (an event starting exactly at ``t`` is not
            "next": the search moves on from the event shown).
        direction : int
            +1 forwards, -1 backwards.
        kind : EventType, optional
            Only events of this type.
        unreviewed : bool
            Only automatic events (detector layers) not yet accepted.
        """
        if direction not in (1, -1):
            raise ValueError(f"direction must be 1 or -1, got {direction}")
        pool = [(e, s) for e, s in self.events
                if (kind is None or e.type == kind)
                and (not unreviewed or (e.source.kind == "detector" and not self.is_reviewed(e)))]
        if direction > 0:
            return next(((e, s) for e, s in pool if e.onset > t + 1e-9), None)
        return next(((e, s) for e, s in reversed(pool) if e.onset < t - 1e-9), None)

    def unreviewed_between(self, start: float, stop: float) -> list[Event]:
        """The automatic events not yet accepted that overlap ``start``..``stop`` (s) and are
        shown (not hidden by the display's type and layer filters), by onset."""
        display = self.display
        out = []
        for name, layer in self._layers.items():
            if name in display.hidden_layers:
                continue
            out.extend(e for e in layer.overlapping(start, stop)
                       if e.source.kind == "detector" and not self.is_reviewed(e)
                       and e.type not in display.hidden_types)
        return sorted(out, key=lambda e: (e.onset, e.id))

    def next_by_confidence(self, after: Event | None = None) -> tuple[Event, str] | None:
        """The automatic event not yet accepted that comes next in order of increasing
        confidence (ties by time; events without a confidence last): the lowest when ``after``
        is None or not in that order, else the one after it (wrapping)."""
        pool = sorted(((e, s) for e, s in self.events
                       if e.source.kind == "detector" and not self.is_reviewed(e)),
                      key=lambda es: _confidence_key(es[0]))
        if not pool:
            return None
        if after is not None:
            key = _confidence_key(after)
            return next(((e, s) for e, s in pool if _confidence_key(e) > key), pool[0])
        return pool[0]

    def indices(self) -> Any:
        """The night's indices (:func:`~sleepfm_engine.indices.compute_indices`) of the scored
        events over the manual scoring, else the automatic staging; None without a session."""
        from .indices import compute_indices

        if self.session is None:
            return None
        s = self.session
        hyp = self.scored_manual()
        if hyp is None and s.auto is not None:
            hyp = s.auto
        return compute_indices(s.events, hyp)

    # ------------------------------------------------------------------ derived views
    def scored_manual(self) -> Any:
        """The manual hypnogram when at least one epoch is scored as a sleep stage, else None."""
        if self.session is None:
            return None
        manual = self.session.manual
        return manual if np.isin(manual.stages, SCORED_CODES).any() else None

    def overview_stages(self) -> tuple[np.ndarray, float, float] | None:
        """``(stages, epoch_length, offset)`` to colour a night overview with: the manual
        scoring, else the automatic staging; None without a session."""
        s = self.session
        if s is None:
            return None
        stages = s.stages
        if not np.isin(stages, SCORED_CODES).any() and s.auto is not None:
            stages = s.auto.stages
        return stages, s.epoch_length, s.offset
