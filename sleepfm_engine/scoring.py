"""A scoring session: a person's hypnogram and scored events of one recording.

The session holds the manual hypnogram (unscored, imported or saved earlier) and, when SleepFM
has staged the recording, the automatic one with its probabilities, both on the same epochs;
and the scored events (created by the person, or automatic events they accepted). Every edit
of either is a command on one undo stack; views subscribe with plain callbacks; every edit is
written to an autosave sidecar shortly afterwards so that a crash never loses scoring (see
:mod:`sleepfm_engine.scoring_store`). Review helpers find the next epoch where the automatic
staging is unsure or disagrees with the person.

Nothing here knows about Qt: the GUI passes a scheduler that runs the autosave on its own
event loop; without one, a daemon timer thread does it.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from .contract import EPOCH_SECONDS
from .events import Event, EventSet, EventSource, EventType
from .hypnogram import (ARTEFACT, CODE_NAMES, SCORED_CODES, STAGE_CODES, STAGES, UNSCORED,
                        Hypnogram, parse_stage)
from .scoring_keys import KeyMap
from .sleep_stats import no_data_epochs
from .scoring_store import (RecoveryInfo, Sidecar, find_recovery, find_saved, make_payload,
                            sidecar_candidates, sidecar_path, write_payload)

#: Review modes of :meth:`ScoringSession.next_review_epoch`.
REVIEW_MODES: tuple[str, ...] = ("review", "uncertain", "disagree", "lowest", "unscored")
#: Default confidence (max stage probability) below which the automatic stage counts as unsure.
DEFAULT_REVIEW_THRESHOLD = 0.6
#: Default delay (s) between an edit and its autosave.
DEFAULT_AUTOSAVE_DELAY = 2.0


@dataclass(frozen=True)
class ScoringEvent:
    """What changed in a session, passed to listeners.

    Attributes
    ----------
    kind : str
        ``"manual"`` (manual stages of epochs ``start:stop`` changed), ``"events"`` (scored
        events changed; ``start:stop`` are the epochs they lie in), ``"auto"`` (the automatic
        hypnogram was replaced), ``"saved"`` (an explicit save; nothing changed on screen),
        ``"reset"`` (everything may have changed, e.g. after recovery).
    start, stop : int
        The epochs concerned (``stop`` exclusive).
    label : str
        What the user did, e.g. ``"Score N2"``, ``"Undo Score N2"``.
    """

    kind: str
    start: int
    stop: int
    label: str = ""


Listener = Callable[[ScoringEvent], None]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


#: ``scheduler(delay_s, fn) -> handle``: run ``fn`` once after ``delay_s``; ``handle.cancel()``.
Scheduler = Callable[[float, Callable[[], None]], Cancellable]


def thread_scheduler(delay: float, fn: Callable[[], None]) -> Cancellable:
    """Default scheduler: a daemon :class:`threading.Timer` (never keeps the process alive)."""
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.name = "sleepfm-autosave"
    timer.start()
    return timer


@dataclass
class _Edit:
    label: str
    start: int
    old: np.ndarray
    new: np.ndarray
    old_reviewed: np.ndarray
    new_reviewed: np.ndarray


@dataclass
class _EventEdit:
    """An edit of the scored events: ``before`` replaced by ``after`` (matched by id)."""

    label: str
    before: tuple[Event, ...]
    after: tuple[Event, ...]


def _stage_code(stage: int | str) -> int:
    if isinstance(stage, str):
        code = STAGE_CODES.get(stage.strip().upper() if len(stage.strip()) <= 2 else stage)
        if code is None:
            code = parse_stage(stage)
        if code is None:
            raise ValueError(f"{stage!r} is not a stage (use {', '.join(STAGE_CODES)})")
        return code
    if isinstance(stage, (bool, np.bool_)) or not isinstance(stage, (int, np.integer)):
        raise TypeError(f"stage must be a stage code or name, got {type(stage).__name__}")
    if int(stage) not in CODE_NAMES:
        raise ValueError(f"{stage!r} is not a stage code (valid: {sorted(CODE_NAMES)})")
    return int(stage)


@dataclass(frozen=True)
class _Span:
    """What :meth:`Hypnogram.align_to` needs of a recording."""

    start: _dt.datetime | None
    duration: float


class ScoringSession:
    """Manual and automatic hypnograms of one recording, edited with undo/redo and autosave.

    Parameters
    ----------
    n_epochs : int
        Number of epochs of the recording.
    epoch_length : float
        Seconds per epoch (30 for AASM scoring).
    start : datetime.datetime, optional
        Clock time of the recording start.
    offset : float
        Seconds from the recording start to epoch 0.
    manual : Hypnogram, optional
        Initial manual hypnogram (aligned to these epochs); unscored when omitted. Loading it is
        not an edit (nothing to undo, not "modified").
    auto : Hypnogram, optional
        Automatic hypnogram (e.g. from ``stage_recording``), with probabilities when known.
    recording_path : str or PathLike, optional
        The recording file; sidecars are kept beside it. Without it (and without
        ``autosave_path``) nothing is autosaved.
    scorer : str
        Name of the person scoring, stored in the manual hypnogram.
    key_map : KeyMap, optional
        Key bindings (AASM defaults when omitted).
    autosave : bool
        Write the autosave sidecar after edits.
    autosave_delay : float
        Seconds from an edit to its autosave; edits within that time share one write.
    scheduler : callable, optional
        ``scheduler(delay, fn) -> handle with cancel()``; :func:`thread_scheduler` by default.
        The GUI passes one that runs ``fn`` on its event loop.
    autosave_path, saved_path : str or PathLike, optional
        Override the sidecar locations (by default beside the recording, or in the user data
        folder when the recording's folder is read-only).
    review_threshold : float
        Max stage probability below which an automatic stage counts as unsure.
    max_undo : int
        Edits kept on the undo stack.
    """

    #: Epochs unlike the staging model's training data (:meth:`set_ood_epochs`); None: unknown.
    _ood_epochs: np.ndarray | None = None
    #: Their review p-values (small first in "lowest" mode); None: ordered by time.
    _ood_evidence: np.ndarray | None = None

    def __init__(self, n_epochs: int, *, epoch_length: float = float(EPOCH_SECONDS),
                 start: _dt.datetime | None = None, offset: float = 0.0,
                 manual: Hypnogram | None = None, auto: Hypnogram | None = None,
                 recording_path: str | os.PathLike | None = None, scorer: str = "",
                 key_map: KeyMap | None = None, autosave: bool = True,
                 autosave_delay: float = DEFAULT_AUTOSAVE_DELAY, scheduler: Scheduler | None = None,
                 autosave_path: str | os.PathLike | None = None,
                 saved_path: str | os.PathLike | None = None,
                 review_threshold: float = DEFAULT_REVIEW_THRESHOLD, max_undo: int = 10_000):
        if isinstance(n_epochs, bool) or not isinstance(n_epochs, (int, np.integer)):
            raise TypeError(f"n_epochs must be an int, got {type(n_epochs).__name__}")
        if n_epochs < 1:
            raise ValueError(f"a scoring session needs at least one epoch, got {n_epochs}")
        epoch_length = float(epoch_length)
        if not math.isfinite(epoch_length) or epoch_length <= 0:
            raise ValueError(f"epoch_length must be positive, got {epoch_length}")
        if not (autosave_delay >= 0):
            raise ValueError(f"autosave_delay must be >= 0 s, got {autosave_delay}")
        if int(max_undo) < 1:
            raise ValueError(f"max_undo must be at least 1, got {max_undo}")
        self._n = int(n_epochs)
        # Epochs where the recording has no data (gaps of an EDF+D file): out of the statistics.
        self._no_data = np.zeros(self._n, dtype=bool)
        self._epoch_length = epoch_length
        self._start = start
        self._offset = float(offset)
        self.scorer = str(scorer)
        self.key_map = key_map if key_map is not None else KeyMap()
        self.review_threshold = float(review_threshold)
        self._max_undo = int(max_undo)
        self.recording_path = None if recording_path is None else Path(recording_path)

        self._lock = threading.RLock()
        self._stages = np.full(self._n, UNSCORED, dtype=np.int8)
        self._reviewed = np.zeros(self._n, dtype=bool)
        self._saved_stages = self._stages.copy()
        self._auto: Hypnogram | None = None
        self._undo: list[_Edit | _EventEdit] = []
        self._redo: list[_Edit | _EventEdit] = []
        self._events = EventSet(start=start)
        self._saved_events = EventSet(start=start)
        self._listeners: list[Listener] = []
        self._version = 0          # bumped by every change of the manual stages
        self._autosaved_version = 0
        self._review_anchor: tuple[float, int] | None = None

        self._autosave_enabled = bool(autosave)
        self._autosave_delay = float(autosave_delay)
        self._scheduler: Scheduler = scheduler or thread_scheduler
        self._pending: Cancellable | None = None
        self._autosave_path = None if autosave_path is None else Path(autosave_path)
        self._saved_path = None if saved_path is None else Path(saved_path)
        self.last_autosave: _dt.datetime | None = None
        self.last_save: _dt.datetime | None = None
        self._closed = False

        if manual is not None:
            self._stages[:] = self._fit(manual, "manual hypnogram").stages
            self._saved_stages = self._stages.copy()
        if auto is not None:
            self._auto = self._fit(auto, "automatic hypnogram")

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def for_recording(cls, recording: Any, *, auto: Hypnogram | None = None,
                      manual: Hypnogram | None = None, load_saved: bool = True,
                      recover: RecoveryInfo | None = None, **kwargs: Any) -> "ScoringSession":
        """A session on the 30-s epochs of a recording.

        Parameters
        ----------
        recording : Recording
            Anything with ``path``, ``start`` and ``duration`` (s); its ``gaps``, when it has
            them, are left out of the statistics.
        auto : Hypnogram, optional
            Automatic hypnogram to show beside the manual one.
        manual : Hypnogram, optional
            A manual hypnogram to start from (an imported file); aligned to the recording.
        load_saved : bool
            Start from the last explicitly saved scoring when there is one (and no ``manual``).
        recover : RecoveryInfo, optional
            Start from this autosave (see :func:`find_recovery`); its edits count as unsaved.
        **kwargs
            Passed to the constructor (``scorer``, ``key_map``, ``autosave_delay``...).
        """
        epoch_length = float(kwargs.pop("epoch_length", EPOCH_SECONDS))
        duration = float(recording.duration)
        n = int(math.floor(duration / epoch_length + 1e-9))
        if n < 1:
            raise ValueError(f"{getattr(recording, 'path', 'recording')}: shorter than one "
                             f"{epoch_length:g}-s epoch ({duration:g} s)")
        path = getattr(recording, "path", None)
        session = cls(n, epoch_length=epoch_length, start=getattr(recording, "start", None),
                      recording_path=path, **kwargs)
        session._no_data = no_data_epochs(getattr(recording, "gaps", ()), epoch_length, n,
                                          session._offset)
        if manual is not None:
            session._load_manual(manual, None)
        elif load_saved and path is not None:
            saved = find_saved(path)
            if saved is not None:
                session._load_manual(saved.manual, saved.reviewed)
                session._load_events(saved.events)
                session.last_save = saved.written_at
                if saved.auto is not None and auto is None:
                    session._auto = session._fit(saved.auto, "saved automatic hypnogram")
        if auto is not None:
            session._auto = session._fit(auto, "automatic hypnogram")
        if recover is not None:
            session.restore(recover)
        return session

    def _load_manual(self, hyp: Hypnogram, reviewed: np.ndarray | None) -> None:
        fitted = self._fit(hyp, "manual hypnogram")
        self._stages[:] = fitted.stages
        self._saved_stages = self._stages.copy()
        if reviewed is not None and reviewed.shape[0] == self._n:
            self._reviewed[:] = reviewed
        if hyp.scorer and not self.scorer:
            self.scorer = hyp.scorer

    def _load_events(self, events: EventSet) -> None:
        self._events = EventSet(events, start=self._start)
        self._saved_events = self._events.copy()

    def restore(self, info: RecoveryInfo | Sidecar) -> None:
        """Replace the manual scoring with an autosave (crash recovery).

        The restored stages count as unsaved; the undo history is cleared. Listeners get a
        ``"reset"`` event.
        """
        sc = info.load() if isinstance(info, RecoveryInfo) else info
        with self._lock:
            fitted = self._fit(sc.manual, f"autosave {sc.path}")
            self._stages[:] = fitted.stages
            if sc.reviewed.shape[0] == self._n:
                self._reviewed[:] = sc.reviewed
            if sc.auto is not None and self._auto is None:
                self._auto = self._fit(sc.auto, f"autosaved automatic hypnogram {sc.path}")
            self._events = EventSet(sc.events, start=self._start)
            self._undo.clear()
            self._redo.clear()
            self._version += 1
        self._notify(ScoringEvent("reset", 0, self._n, "Recover unsaved scoring"))
        self._schedule_autosave()

    # -- geometry ----------------------------------------------------------------------------
    @property
    def n_epochs(self) -> int:
        return self._n

    @property
    def epoch_length(self) -> float:
        return self._epoch_length

    @property
    def start(self) -> _dt.datetime | None:
        return self._start

    @property
    def offset(self) -> float:
        return self._offset

    def epoch_onset(self, epoch: int) -> float:
        """Seconds from the recording start to the start of ``epoch``."""
        return self._offset + self._check_epoch(epoch) * self._epoch_length

    def epoch_at(self, seconds: float) -> int:
        """The epoch containing ``seconds`` from the recording start (clipped to the session)."""
        e = int(math.floor((float(seconds) - self._offset) / self._epoch_length))
        return min(self._n - 1, max(0, e))

    def _check_epoch(self, epoch: int) -> int:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch must be an int, got {type(epoch).__name__}")
        if not 0 <= epoch < self._n:
            raise ValueError(f"epoch {epoch} is outside 0..{self._n - 1}")
        return int(epoch)

    def _check_range(self, start: int, stop: int) -> tuple[int, int]:
        for v in (start, stop):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"epoch bounds must be ints, got {type(v).__name__}")
        if not 0 <= start <= stop <= self._n:
            raise ValueError(f"epoch range {start}:{stop} is outside 0:{self._n}")
        return int(start), int(stop)

    def _epochs(self, epochs: int | range | slice | tuple[int, int]) -> tuple[int, int]:
        if isinstance(epochs, (int, np.integer)) and not isinstance(epochs, bool):
            e = self._check_epoch(epochs)
            return e, e + 1
        if isinstance(epochs, range):
            if epochs.step != 1:
                raise ValueError("epoch ranges must have step 1")
            return self._check_range(epochs.start, epochs.stop)
        if isinstance(epochs, slice):
            start, stop, step = epochs.indices(self._n)
            if step != 1:
                raise ValueError("epoch slices must have step 1")
            return self._check_range(start, max(start, stop))
        if isinstance(epochs, tuple) and len(epochs) == 2:
            return self._check_range(*epochs)
        raise TypeError(f"epochs must be an int, range, slice or (start, stop), got {epochs!r}")

    def _fit(self, hyp: Hypnogram, what: str) -> Hypnogram:
        """``hyp`` on this session's epochs (aligned by start time, regridded if needed)."""
        if not isinstance(hyp, Hypnogram):
            raise TypeError(f"{what}: expected a Hypnogram, got {type(hyp).__name__}")
        same_grid = (abs(hyp.epoch_length - self._epoch_length) < 1e-9
                     and abs(hyp.offset - self._offset) < 1e-6)
        starts_match = hyp.start is None or self._start is None or hyp.start == self._start
        if same_grid and starts_match and hyp.n_epochs == self._n:
            return hyp
        if self._start is not None and hyp.start is not None and not starts_match:
            hyp = hyp.align_to(_Span(self._start, self._offset + self._n * self._epoch_length
                                     + hyp.epoch_length))
        out = hyp.regrid(self._epoch_length, self._offset, self._n)
        if not same_grid:
            warnings.warn(f"{what} ({hyp.epoch_length:g}-s epochs from {hyp.offset:g} s) was "
                          f"re-gridded onto {self._epoch_length:g}-s epochs from {self._offset:g} s",
                          stacklevel=3)
        return out

    # -- state -------------------------------------------------------------------------------
    @property
    def stages(self) -> np.ndarray:
        """Manual stage codes (a read-only view; edit through :meth:`score`)."""
        view = self._stages.view()
        view.flags.writeable = False
        return view

    @property
    def reviewed(self) -> np.ndarray:
        """True where a person decided the stage (scored with a key, not imported/accepted)."""
        view = self._reviewed.view()
        view.flags.writeable = False
        return view

    def stage(self, epoch: int) -> int:
        """Manual stage code of ``epoch``."""
        return int(self._stages[self._check_epoch(epoch)])

    @property
    def manual(self) -> Hypnogram:
        """The manual hypnogram (a copy)."""
        return Hypnogram(self._stages.copy(), self._epoch_length, self._start, self._offset,
                         self.scorer, None, "" if self.recording_path is None
                         else str(self.recording_path))

    @property
    def auto(self) -> Hypnogram | None:
        """The automatic hypnogram on this session's epochs, or None."""
        return self._auto

    @property
    def has_auto(self) -> bool:
        return self._auto is not None

    def auto_stage(self, epoch: int) -> int:
        """Automatic stage code of ``epoch`` (UNSCORED without an automatic hypnogram)."""
        e = self._check_epoch(epoch)
        return UNSCORED if self._auto is None else int(self._auto.stages[e])

    def confidence(self) -> np.ndarray:
        """Max stage probability per epoch (NaN where unknown); all NaN without probabilities."""
        if self._auto is None or self._auto.probabilities is None:
            return np.full(self._n, np.nan)
        p = self._auto.probabilities.astype(np.float64)
        out = np.full(self._n, np.nan)
        ok = np.all(np.isfinite(p), axis=1)
        out[ok] = p[ok].max(axis=1)
        return out

    def set_ood_epochs(self, epochs: np.ndarray | None, evidence: np.ndarray | None = None) -> None:
        """Mark epochs review offers whatever their probability (from the recording start; None
        clears), since a model outside its training data can be sure and wrong.

        Parameters
        ----------
        epochs : array of bool or None
        evidence : array of float, optional
            Per epoch, how typical of the training data it is (a p-value: smallest first in
            ``"lowest"`` mode); without it marked epochs come in time order.
        """
        with self._lock:
            if epochs is None:
                self._ood_epochs = self._ood_evidence = None
            else:
                mask = np.zeros(self._n, dtype=bool)
                flags = np.asarray(epochs, dtype=bool)[: self._n]
                mask[: len(flags)] = flags
                self._ood_epochs = mask
                self._ood_evidence = None
                if evidence is not None:
                    ev = np.zeros(self._n)
                    given = np.nan_to_num(np.asarray(evidence, dtype=np.float64)[: self._n], nan=0.0)
                    ev[: len(given)] = given
                    self._ood_evidence = ev
            self._review_anchor = None

    def set_ood(self, result: Any) -> None:
        """Take a staging result's out-of-distribution check into review
        (:class:`sleepfm_engine.ood.OODResult`; None, or a result without any check, clears):
        its :attr:`~sleepfm_engine.ood.OODResult.review_epochs` are offered whatever their
        probability, least typical of the training data first."""
        if result is None or not (result.available or result.flagged):
            self.set_ood_epochs(None)
        else:
            self.set_ood_epochs(result.review_epochs, result.epoch_evidence)

    def set_auto(self, hyp: Hypnogram | None) -> None:
        """Replace the automatic hypnogram (None removes it). Not an undoable edit."""
        with self._lock:
            self._auto = None if hyp is None else self._fit(hyp, "automatic hypnogram")
            self._review_anchor = None
        self._notify(ScoringEvent("auto", 0, self._n, "Automatic hypnogram"))

    @property
    def is_modified(self) -> bool:
        """True if the manual stages or the scored events differ from the last explicit save
        (or from the start)."""
        return (not np.array_equal(self._stages, self._saved_stages)
                or self._events != self._saved_events)

    # -- listeners ---------------------------------------------------------------------------
    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(ScoringEvent)`` after every change; returns a function that unsubscribes.

        Listeners run in the thread that made the change (the GUI thread in the application).
        """
        if not callable(callback):
            raise TypeError("listener must be callable")
        self._listeners.append(callback)
        return lambda: self.remove_listener(callback)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback`` (no error if it was not subscribed)."""
        try:
            self._listeners.remove(callback)
        except ValueError:
            pass

    def _notify(self, event: ScoringEvent) -> None:
        for cb in list(self._listeners):
            cb(event)

    # -- edits -------------------------------------------------------------------------------
    def _apply(self, label: str, start: int, new: np.ndarray, new_reviewed: np.ndarray) -> bool:
        stop = start + new.shape[0]
        with self._lock:
            old = self._stages[start:stop].copy()
            old_rev = self._reviewed[start:stop].copy()
            if np.array_equal(old, new) and np.array_equal(old_rev, new_reviewed):
                return False
            self._stages[start:stop] = new
            self._reviewed[start:stop] = new_reviewed
            self._undo.append(_Edit(label, start, old, new.copy(), old_rev, new_reviewed.copy()))
            del self._undo[:-self._max_undo]
            self._redo.clear()
            self._version += 1
        self._notify(ScoringEvent("manual", start, stop, label))
        self._schedule_autosave()
        return True

    def score(self, epoch: int, stage: int | str) -> bool:
        """Score one epoch. Returns False if it already had that stage (nothing recorded).

        Parameters
        ----------
        epoch : int
        stage : int or str
            A code (0..4 = W N1 N2 N3 R, -1 unscored, -2 artefact) or a name
            (``"W"``, ``"N2"``, ``"R"``, ``"REM"``, ``"?"``, ``"A"``...).
        """
        return self.score_range(epoch, self._check_epoch(epoch) + 1, stage)

    def score_range(self, start: int, stop: int, stage: int | str) -> bool:
        """Score epochs ``start`` to ``stop`` (exclusive) with one stage, as one undoable edit."""
        code = _stage_code(stage)
        start, stop = self._check_range(start, stop)
        if stop == start:
            return False
        n = stop - start
        label = f"Score {CODE_NAMES[code]}" + (f" ({n} epochs)" if n > 1 else "")
        # Clearing an epoch also clears the record that a person decided it.
        reviewed = np.full(n, code != UNSCORED)
        return self._apply(label, start, np.full(n, code, dtype=np.int8), reviewed)

    def accept_auto(self, epochs: int | range | slice | tuple[int, int],
                    keep_reviewed: bool | None = None) -> int:
        """Copy the automatic stages onto the manual hypnogram, as one undoable edit.

        Epochs the automatic hypnogram left unscored keep their manual stage. Accepting a single
        epoch marks it as decided by a person (:attr:`reviewed`); accepting a range does not.

        Parameters
        ----------
        epochs : int, range, slice or (start, stop)
        keep_reviewed : bool, optional
            Keep the stages a person decided (:attr:`reviewed`). By default they are kept when
            accepting a range (so a bulk accept never silently undoes a decision) and replaced
            when accepting one epoch (the person asked for exactly that).

        Returns
        -------
        int
            Number of epochs whose manual stage changed.

        Raises
        ------
        ValueError
            If there is no automatic hypnogram.
        """
        if self._auto is None:
            raise ValueError("there is no automatic hypnogram to accept")
        start, stop = self._epochs(epochs)
        auto = self._auto.stages[start:stop]
        new = self._stages[start:stop].copy()
        take = np.isin(auto, SCORED_CODES)
        if keep_reviewed if keep_reviewed is not None else stop - start > 1:
            take &= ~self._reviewed[start:stop]
        new[take] = auto[take]
        changed = int(np.sum(new != self._stages[start:stop]))
        n = stop - start
        label = "Accept automatic stage" + (f" ({n} epochs)" if n > 1 else "")
        rev = self._reviewed[start:stop].copy()
        if n == 1:
            rev |= take  # accepting one epoch after looking at it is a person's decision
        self._apply(label, start, new, rev)
        return changed

    def import_manual(self, hyp: Hypnogram, *, reviewed: bool = False) -> None:
        """Replace the whole manual hypnogram with ``hyp`` (e.g. an imported file), undoably.

        ``hyp`` is aligned to the recording by its start time and re-gridded when its epochs
        differ. ``reviewed`` marks its scored epochs as decided by a person.
        """
        fitted = self._fit(hyp, "imported hypnogram")
        if hyp.scorer and not self.scorer:
            self.scorer = hyp.scorer
        rev = np.isin(fitted.stages, SCORED_CODES) if reviewed else np.zeros(self._n, dtype=bool)
        self._apply(f"Import {Path(hyp.source).name or 'hypnogram'}", 0, fitted.stages.copy(), rev)

    # -- undo / redo -------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str:
        """What :meth:`undo` would undo (empty when nothing)."""
        return self._undo[-1].label if self._undo else ""

    @property
    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""

    def undo(self) -> tuple[int, int] | None:
        """Undo the last edit; returns its epochs ``(start, stop)`` or None if nothing to undo."""
        return self._replay(self._undo, self._redo, "old", "Undo")

    def redo(self) -> tuple[int, int] | None:
        """Redo the last undone edit; returns its epochs or None if nothing to redo."""
        return self._replay(self._redo, self._undo, "new", "Redo")

    def _replay(self, source: list, target: list, side: str, verb: str) -> tuple[int, int] | None:
        """Move the last edit of ``source`` to ``target``, writing its ``old`` or ``new`` side."""
        with self._lock:
            if not source:
                return None
            edit = source.pop()
            if isinstance(edit, _EventEdit):
                gone, back = ((edit.after, edit.before) if side == "old"
                              else (edit.before, edit.after))
                self._swap_events(gone, back)
                target.append(edit)
                self._version += 1
                start, stop = self._event_epochs(gone + back)
                kind = "events"
            else:
                stages = getattr(edit, side)
                start, stop = edit.start, edit.start + stages.shape[0]
                self._stages[start:stop] = stages
                self._reviewed[start:stop] = getattr(edit, f"{side}_reviewed")
                target.append(edit)
                self._version += 1
                kind = "manual"
        self._notify(ScoringEvent(kind, start, stop, f"{verb} {edit.label}"))
        self._schedule_autosave()
        return start, stop

    # -- events ------------------------------------------------------------------------------
    @property
    def events(self) -> EventSet:
        """The scored events (the session's own set: change it only through the session's
        event methods, so that every change can be undone and is autosaved)."""
        return self._events

    def _swap_events(self, gone: tuple[Event, ...], back: tuple[Event, ...]) -> None:
        for e in gone:
            self._events.remove(e.id)
        self._events.extend(back)

    def _event_epochs(self, events: tuple[Event, ...]) -> tuple[int, int]:
        if not events:
            return 0, 0
        return (self.epoch_at(min(e.onset for e in events)),
                self.epoch_at(max(e.end for e in events)) + 1)

    def _apply_events(self, label: str, before: tuple[Event, ...],
                      after: tuple[Event, ...]) -> None:
        with self._lock:
            self._swap_events(before, after)
            self._undo.append(_EventEdit(label, before, after))
            del self._undo[:-self._max_undo]
            self._redo.clear()
            self._version += 1
        start, stop = self._event_epochs(before + after)
        self._notify(ScoringEvent("events", start, stop, label))
        self._schedule_autosave()

    def create_event(self, onset: float, duration: float, kind: EventType | str,
                     channels: tuple[str, ...] | list[str] = ()) -> Event:
        """Score an event by hand (source: this session's scorer), as one undoable edit.

        Raises
        ------
        ValueError
            If onset, duration or type is invalid.
        """
        event = Event(onset, duration, kind, tuple(channels), EventSource.manual(self.scorer))
        self._apply_events(f"Score {event.type.value.replace('_', ' ')}", (), (event,))
        return event

    def add_event(self, event: Event) -> None:
        """Add an event as it is (kept with its own source), as one undoable edit.

        Raises
        ------
        ValueError
            If an event with its id is already scored.
        """
        if event.id in self._events:
            raise ValueError(f"an event with id {event.id!r} is already scored")
        self._apply_events(f"Add {event.type.value.replace('_', ' ')}", (), (event,))

    def remove_event(self, event_id: str) -> Event:
        """Delete a scored event, as one undoable edit; returns it.

        Raises
        ------
        KeyError
            If no scored event has that id.
        """
        old = self._events[event_id]
        self._apply_events(f"Delete {old.type.value.replace('_', ' ')}", (old,), ())
        return old

    def update_event(self, event_id: str, **changes: Any) -> Event:
        """Change a scored event (type, onset, duration, channels...), as one undoable edit;
        returns the OLD event. The id stays.

        Raises
        ------
        KeyError
            If no scored event has that id.
        ValueError
            If the changes are invalid (the set is then unchanged).
        """
        if "id" in changes:
            raise ValueError("an event keeps its id when it is edited")
        old = self._events[event_id]
        new = old.replace(**changes)
        if new == old:
            return old
        what = "Change type of" if new.type != old.type else "Edit"
        self._apply_events(f"{what} {old.type.value.replace('_', ' ')}", (old,), (new,))
        return old

    def accept_events(self, events: Any) -> int:
        """Accept automatic events: each not yet scored (by id) is added as it is, with its
        detector source, confidence and rule, and ``accepted_by`` the scorer. One undoable edit;
        returns the number added."""
        added = tuple(e.replace(attributes={**e.attributes, "accepted_by": self.scorer})
                      for e in events if e.id not in self._events)
        if added:
            n = len(added)
            self._apply_events(f"Accept {n} automatic event{'s' if n > 1 else ''}", (), added)
        return len(added)

    # -- review ------------------------------------------------------------------------------
    def review_mask(self, mode: str = "review") -> np.ndarray:
        """Epochs that ``mode`` wants reviewed (bool per epoch).

        Modes
        -----
        ``"uncertain"``
            automatic max probability below :attr:`review_threshold`, or out of the model's
            training distribution (:meth:`set_ood_epochs`);
        ``"disagree"``
            manual and automatic stages are both W..R and differ;
        ``"review"`` (default)
            not yet decided by a person (:attr:`reviewed`) and uncertain, or disagreeing;
        ``"lowest"``
            every epoch with probabilities not yet decided by a person (visited in order of
            increasing confidence by :meth:`next_review_epoch`);
        ``"unscored"``
            manual stage unscored.
        """
        if mode not in REVIEW_MODES:
            raise ValueError(f"unknown review mode {mode!r}; choose one of {', '.join(REVIEW_MODES)}")
        if mode == "unscored":
            return self._stages == UNSCORED
        conf = self.confidence()
        with np.errstate(invalid="ignore"):
            unsure = conf < self.review_threshold
        if self._ood_epochs is not None:
            unsure = unsure | self._ood_epochs
        if self._auto is None:
            disagree = np.zeros(self._n, dtype=bool)
        else:
            a = self._auto.stages
            disagree = (np.isin(self._stages, SCORED_CODES) & np.isin(a, SCORED_CODES)
                        & (self._stages != a))
        if mode == "uncertain":
            return unsure
        if mode == "disagree":
            return disagree
        if mode == "lowest":
            return np.isfinite(conf) & ~self._reviewed
        return (unsure & ~self._reviewed) | disagree

    def next_review_epoch(self, current: int, mode: str = "review", direction: int = 1,
                          wrap: bool = True) -> int | None:
        """The next epoch to review after (or before) ``current``.

        Parameters
        ----------
        current : int
            The epoch shown now.
        mode : str
            See :meth:`review_mask`. In ``"lowest"`` mode epochs come in order of increasing
            automatic confidence, out-of-distribution epochs first (ties by time), and
            ``current`` is ignored: each call continues from the epoch the previous call
            returned, so the lowest-confidence epochs come first.
        direction : int
            +1 forwards in time (or to higher confidence), -1 backwards.
        wrap : bool
            Continue from the other end when nothing is left on this side.

        Returns
        -------
        int or None
            None when no epoch needs review.
        """
        if direction not in (1, -1):
            raise ValueError(f"direction must be 1 or -1, got {direction}")
        current = self._check_epoch(current)
        mask = self.review_mask(mode)
        if mode == "lowest":
            return self._next_lowest(mask, direction, wrap)
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return None
        if direction > 0:
            after = idx[idx > current]
            if after.size:
                return int(after[0])
            return int(idx[0]) if wrap and idx[0] != current else None
        before = idx[idx < current]
        if before.size:
            return int(before[-1])
        return int(idx[-1]) if wrap and idx[-1] != current else None

    def _next_lowest(self, mask: np.ndarray, direction: int, wrap: bool) -> int | None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return None
        conf = self.confidence()[idx]
        if self._ood_epochs is not None:
            # Out-of-distribution epochs first, by their evidence (p-values in [0, 1], shifted
            # below any probability): their confidence says nothing.
            first = (-np.inf if self._ood_evidence is None else self._ood_evidence[idx] - 2.0)
            conf = np.where(self._ood_epochs[idx], first, conf)
        order = np.lexsort((idx, conf))  # by confidence, then time
        keys = [(float(conf[i]), int(idx[i])) for i in order]
        anchor = self._review_anchor
        pick: tuple[float, int] | None = None
        if anchor is None:
            pick = keys[0] if direction > 0 else keys[-1]
        elif direction > 0:
            pick = next((k for k in keys if k > anchor), keys[0] if wrap else None)
        else:
            pick = next((k for k in reversed(keys) if k < anchor), keys[-1] if wrap else None)
        if pick is None:
            return None
        self._review_anchor = pick
        return pick[1]

    def review_count(self, mode: str = "review") -> int:
        """Number of epochs ``mode`` wants reviewed."""
        return int(self.review_mask(mode).sum())

    # -- statistics --------------------------------------------------------------------------
    def statistics(self) -> dict:
        """AASM statistics of both hypnograms and their agreement.

        Returns
        -------
        dict
            ``manual`` and ``auto`` (see :meth:`Hypnogram.statistics`; ``auto`` None without an
            automatic hypnogram) and ``agreement`` (manual as reference, see
            :meth:`Hypnogram.agreement`; None without an automatic hypnogram).
        """
        manual = self.manual
        out: dict[str, Any] = {"manual": manual.statistics(no_data=self._no_data), "auto": None,
                               "agreement": None}
        if self._auto is not None:
            auto = Hypnogram(self._auto.stages, self._epoch_length, self._start, self._offset)
            out["auto"] = auto.statistics(no_data=self._no_data)
            out["agreement"] = manual.agreement(auto)
        return out

    # -- saving ------------------------------------------------------------------------------
    @property
    def autosave_path(self) -> Path | None:
        """Where the autosave goes (None when there is nowhere to put it)."""
        if self._autosave_path is None and self.recording_path is not None:
            self._autosave_path = sidecar_path(self.recording_path, "autosave")
        return self._autosave_path

    @property
    def saved_path(self) -> Path | None:
        """Where :meth:`save` writes by default."""
        if self._saved_path is None and self.recording_path is not None:
            self._saved_path = sidecar_path(self.recording_path, "saved")
        return self._saved_path

    def set_scheduler(self, scheduler: Scheduler) -> None:
        """Run future autosaves through ``scheduler`` (e.g. the GUI's event loop)."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            self._scheduler = scheduler
        self._schedule_autosave()

    def _payload(self, kind: str) -> dict:
        with self._lock:
            manual = self.manual
            reviewed = self._reviewed.copy()
            auto = self._auto
            events = self._events.copy()
        return make_payload(kind, self.recording_path, manual, reviewed, auto, events)

    def _schedule_autosave(self) -> None:
        if not self._autosave_enabled or self._closed or self.autosave_path is None:
            return
        with self._lock:
            if self._pending is not None or self._autosaved_version == self._version:
                return  # a write is already on its way and will include this edit
            self._pending = self._scheduler(self._autosave_delay, self._autosave_now)

    def _autosave_now(self) -> None:
        with self._lock:
            self._pending = None
            if self._closed:
                return
            self.flush_autosave()

    @property
    def autosave_pending(self) -> bool:
        """True while edits wait for their autosave."""
        return self._autosave_enabled and self._autosaved_version != self._version

    def flush_autosave(self) -> Path | None:
        """Write the autosave now if edits are waiting; returns its path (None if nothing written)."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            path = self.autosave_path
            if path is None or self._autosaved_version == self._version:
                return None
            version = self._version
            payload = self._payload("autosave")
            try:
                write_payload(path, payload)
            except OSError as exc:
                fallback = sidecar_candidates(self.recording_path, "autosave")[1] \
                    if self.recording_path is not None else None
                if fallback is None or fallback == path:
                    raise
                write_payload(fallback, payload)
                warnings.warn(f"cannot autosave to {path} ({exc}); using {fallback}", stacklevel=2)
                self._autosave_path = path = fallback
            self._autosaved_version = version
            self.last_autosave = _dt.datetime.fromisoformat(payload["written_at"])
        return path

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Save the scoring explicitly (the sidecar beside the recording by default).

        The autosave is removed afterwards: what it held is now saved. Listeners get a
        ``"saved"`` event.

        Raises
        ------
        ValueError
            If there is no recording path and no ``path``.
        """
        target = Path(path) if path is not None else self.saved_path
        if target is None:
            raise ValueError("this session has no recording file; give a path to save to")
        with self._lock:
            payload = self._payload("saved")
            write_payload(target, payload)
            self._saved_stages = self._stages.copy()
            self._saved_events = self._events.copy()
            self.last_save = _dt.datetime.fromisoformat(payload["written_at"])
            if path is None or Path(path) == self.saved_path:
                self.discard_autosave()
        self._notify(ScoringEvent("saved", 0, self._n, "Save"))
        return target

    def export(self, path: str | os.PathLike, fmt: str = "csv", which: str = "manual") -> Path:
        """Write the manual (or automatic) hypnogram to a hypnogram file (see ``write_hypnogram``).

        Exporting is not saving: :attr:`is_modified` stays as it was.
        """
        from .formats import write_hypnogram

        if which == "manual":
            hyp = self.manual
        elif which == "auto":
            if self._auto is None:
                raise ValueError("there is no automatic hypnogram to export")
            hyp = self._auto
        else:
            raise ValueError(f"which must be 'manual' or 'auto', got {which!r}")
        return write_hypnogram(hyp, path, fmt)

    def discard_autosave(self) -> None:
        """Delete the autosave and forget pending autosaves (the user discarded the changes)."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            if self.recording_path is not None:
                for p in sidecar_candidates(self.recording_path, "autosave"):
                    p.unlink(missing_ok=True)
            if self._autosave_path is not None:
                self._autosave_path.unlink(missing_ok=True)
            self._autosaved_version = self._version

    def close(self, keep_autosave: bool = True) -> None:
        """End the session: write pending edits to the autosave (or discard it) and stop timers.

        A session closed with unsaved edits and ``keep_autosave=True`` leaves its autosave, so
        they can be recovered next time (the application asks before closing).
        """
        with self._lock:
            if self._closed:
                return
            if keep_autosave and self.is_modified:
                self.flush_autosave()
            else:
                self.discard_autosave()
            self._closed = True
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
        self._listeners.clear()

    def __repr__(self) -> str:
        scored = int(np.isin(self._stages, SCORED_CODES).sum())
        return (f"ScoringSession({self._n} epochs of {self._epoch_length:g} s, {scored} scored"
                f"{', auto' if self._auto is not None else ''}"
                f"{', modified' if self.is_modified else ''})")


__all__ = ["ScoringSession", "ScoringEvent", "RecoveryInfo", "find_recovery", "KeyMap",
           "REVIEW_MODES", "DEFAULT_REVIEW_THRESHOLD", "thread_scheduler", "STAGES", "UNSCORED",
           "ARTEFACT"]
