"""Review panel: hypnograms, scoring keys, review by confidence, statistics and risk.

:class:`ReviewPanel` is a thin view over a :class:`sleepfm_engine.scoring.ScoringSession`. The
main window forwards key presses to :meth:`ReviewPanel.handle_key` and keeps the trace view and
the panel on the same epoch through ``epochActivated`` / :meth:`set_current_epoch`.

Keys (configurable through the session's :class:`~sleepfm_engine.scoring_keys.KeyMap`):
0 W, 1 N1, 2 N2, 3 N3, 4/5 REM, 6 artefact, Del/Backspace unscored (each scores the current
epoch, or the selection, and moves on); A accepts the automatic stage; N or Tab jumps to the
next epoch to review (Shift: previous); Ctrl+Z / Ctrl+Y (or Ctrl+Shift+Z) undo and redo;
Shift+click on the hypnogram selects a range; Esc clears it.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from sleepfm_engine.hypnogram import (CODE_NAMES, STAGE_COLORS, STAGE_LONG_NAMES, STAGES,
                                      UNSCORED, Hypnogram)
from sleepfm_engine.scoring import ScoringEvent, ScoringSession, thread_scheduler
from sleepfm_engine.scoring_keys import STAGE_PREFIX

from .qt_hypnogram import HypnogramView
from .qt_label_holder import LabelHolder
from .qt_risk import RiskView
from .qt_stats import StatsView

#: Review modes offered in the panel: (session mode, label).
REVIEW_MODE_LABELS: tuple[tuple[str, str], ...] = (
    ("review", "Needs review (unsure or disagreeing)"),
    ("uncertain", "Automatic staging unsure"),
    ("disagree", "Manual and automatic disagree"),
    ("lowest", "Lowest confidence first"),
    ("unscored", "Unscored epochs"),
)
_MODIFIER_KEYS = {Qt.Key_Shift, Qt.Key_Control, Qt.Key_Alt, Qt.Key_Meta, Qt.Key_AltGr,
                  Qt.Key_CapsLock, Qt.Key_NumLock}


def key_string(event: QKeyEvent) -> str:
    """The key sequence of a key event as a :class:`KeyMap` key (``"Ctrl+Z"``, ``"Shift+Tab"``).

    Returns ``""`` for a lone modifier key.
    """
    key = event.key()
    if key in _MODIFIER_KEYS or key == 0 or key == Qt.Key_unknown:
        return ""
    mods = event.modifiers()
    parts = []
    if mods & Qt.ControlModifier:
        parts.append("Ctrl")
    if mods & Qt.AltModifier:
        parts.append("Alt")
    if mods & Qt.ShiftModifier or key == Qt.Key_Backtab:
        parts.append("Shift")
    if mods & Qt.MetaModifier:
        parts.append("Meta")
    name = "Tab" if key == Qt.Key_Backtab else QKeySequence(key).toString()
    return "+".join(parts + [name]) if name else ""


class _QtCall(QObject):
    """A single-shot call on the Qt event loop that the session's autosave can cancel."""

    def __init__(self, parent: QObject, delay: float, fn: Callable[[], None]):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._fn = fn
        self._timer.start(max(0, int(round(delay * 1000))))

    def _fire(self) -> None:
        fn, self._fn = self._fn, None
        self.deleteLater()
        if fn is not None:
            fn()

    def cancel(self) -> None:
        self._fn = None
        self._timer.stop()
        self.deleteLater()


class ReviewPanel(QWidget):
    """Hypnograms, hypnodensity, scoring keys, review jumps, statistics and risk of one recording.

    Signals
    -------
    epochActivated(int)
        The panel moved to an epoch (a click or drag on the hypnogram, scoring advancing, a
        review jump, undo): the main window shows it in the traces.
    statusMessage(str)
        A short message for the status bar (e.g. "Nothing left to review").
    """

    epochActivated = Signal(int)
    statusMessage = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self._session: ScoringSession | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._current = 0
        self._anchor: int | None = None
        self._selection: tuple[int, int] | None = None
        self._auto_override: Hypnogram | None = None

        self.status = QLabel()
        self.status.setObjectName("reviewStatus")
        self.status.setTextFormat(Qt.RichText)
        self.legend = QLabel(self._legend_html())
        self.legend.setTextFormat(Qt.RichText)
        # Shown above the automatic hypnogram when the night is unlike the staging model's
        # training data (or no check was possible): a confident-looking hypnogram must say so.
        self.ood_banner = QLabel()
        self.ood_banner.setObjectName("oodBanner")
        self.ood_banner.setWordWrap(True)
        self.ood_banner.setStyleSheet("QLabel#oodBanner { background: #fff3cd; color: #664d03; "
                                      "border: 1px solid #e0b252; padding: 3px; }")
        self.ood_banner.hide()
        self.mode_combo = QComboBox()
        for mode, label in REVIEW_MODE_LABELS:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setToolTip("What N / Tab jumps to")
        self.mode_combo.setFocusPolicy(Qt.NoFocus)
        self.mode_combo.currentIndexChanged.connect(self._on_review_settings)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.2, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setValue(0.6)
        self.threshold_spin.setPrefix("unsure below p = ")
        self.threshold_spin.setToolTip("Automatic stages whose highest probability is below this "
                                       "count as unsure")
        self.threshold_spin.setFocusPolicy(Qt.ClickFocus)
        self.threshold_spin.valueChanged.connect(self._on_review_settings)

        self.hypnogram = HypnogramView()
        self.hypnogram.epochClicked.connect(self._on_click)
        self.hypnogram.epochShiftClicked.connect(self._on_shift_click)
        self.stats = StatsView()
        self.risk = RiskView()
        self.tabs = QTabWidget()
        self.tabs.setFocusPolicy(Qt.NoFocus)
        self.tabs.addTab(self.stats, "Statistics && agreement")
        self.tabs.addTab(self.risk, "Disease risk (research only)")

        top = QHBoxLayout()
        top.addWidget(LabelHolder(self.status), 1)  # new text every epoch
        top.addWidget(self.mode_combo)
        top.addWidget(self.threshold_spin)
        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.setSpacing(2)
        ul.addLayout(top)
        ul.addWidget(self.ood_banner)
        ul.addWidget(self.legend)
        ul.addWidget(self.hypnogram, 1)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.splitter)

        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(80)  # coalesce bursts of key presses into one recompute
        self._stats_timer.timeout.connect(self.refresh_statistics)
        self._update_status()

    # -- public API --------------------------------------------------------------------------
    @property
    def session(self) -> ScoringSession | None:
        return self._session

    @property
    def current_epoch(self) -> int:
        return self._current

    @property
    def selection(self) -> tuple[int, int] | None:
        """Selected epochs ``(start, stop)`` (stop exclusive), or None."""
        return self._selection

    @property
    def review_mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_review_mode(self, mode: str) -> None:
        """Choose what review jumps go to (see ``ScoringSession.review_mask``)."""
        i = self.mode_combo.findData(mode)
        if i < 0:
            raise ValueError(f"unknown review mode {mode!r}")
        self.mode_combo.setCurrentIndex(i)

    def set_session(self, session: ScoringSession | None) -> None:
        """Show (and edit) ``session``; None empties the panel.

        The panel runs the session's autosave on the Qt event loop while it shows it, and hands
        it back to a timer thread when it lets go of it.
        """
        self.ood_banner.hide()  # a check belongs to the night it was made on
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._session is not None and self._session is not session:
            self._session.set_scheduler(thread_scheduler)
        self._session = session
        self._selection = None
        self._anchor = None
        if session is not None:
            session.set_scheduler(lambda delay, fn: _QtCall(self, delay, fn))
            self._unsubscribe = session.add_listener(self._on_session_event)
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(session.review_threshold)
            self.threshold_spin.blockSignals(False)
            self.hypnogram.set_geometry(session.n_epochs, session.epoch_length, session.offset,
                                        session.start)
            self._current = min(self._current, session.n_epochs - 1)
        else:
            self.hypnogram.set_geometry(1, 30.0, 0.0, None)
            self._current = 0
        self._redraw_all()

    def set_auto_hypnogram(self, hyp: Hypnogram | None) -> None:
        """Show an automatic hypnogram (with its probabilities) and compare it with the manual one.

        With a session, the hypnogram is handed to ``session.set_auto`` (aligned to its epochs).
        """
        if self._session is not None:
            self._session.set_auto(hyp)  # the "auto" event redraws
        else:
            self._auto_override = hyp
            self._redraw_all()

    def set_ood(self, result: Any) -> None:
        """Show a staging result's out-of-distribution check
        (:class:`sleepfm_engine.ood.OODResult`; None clears it): a banner when the night is
        flagged or could not be checked, and the epochs it offers for review in review
        (``ScoringSession.set_ood`` decides which)."""
        if self._session is not None:
            self._session.set_ood(result)
            self._update_status()  # the count to review changes with the epochs offered
        if result is None or not (result.flagged or result.unavailable):
            self.ood_banner.hide()
            self.ood_banner.clear()
            return
        head = ("Automatic staging: this night is unlike the model's training data — review it "
                "epoch by epoch" if result.flagged else "Automatic staging: not checked against "
                "the model's training data")
        self.ood_banner.setText(f"<b>{head}.</b> " + "; ".join(result.reasons()) + ".")
        self.ood_banner.show()

    def set_risk(self, risk: Any) -> None:
        """Show a disease-risk result (a ``RiskTable``; None clears it)."""
        self.risk.set_risk(risk)

    @Slot(int)
    def set_current_epoch(self, epoch: int) -> None:
        """Move the current-epoch marker (from the trace view); does not emit ``epochActivated``."""
        n = self._session.n_epochs if self._session is not None else self.hypnogram.n_epochs
        self._current = min(n - 1, max(0, int(epoch)))
        self.hypnogram.set_current_epoch(self._current)
        self._update_status()

    def go_to_epoch(self, epoch: int) -> None:
        """Move to ``epoch`` and tell the main window (``epochActivated``)."""
        self.set_current_epoch(epoch)
        self.epochActivated.emit(self._current)

    # -- keys --------------------------------------------------------------------------------
    def handle_key(self, event: QKeyEvent) -> bool:
        """Act on a key press if it is a scoring, review or undo key; True if it was used."""
        if event.type() != QEvent.KeyPress:
            return False
        text = key_string(event)
        if not text:
            return False
        if text == "Esc" and self._selection is not None:
            self.clear_selection()
            return True
        s = self._session
        if s is None:
            return False
        action = s.key_map.action(text)
        if action is None:
            return False
        if action.startswith(STAGE_PREFIX):
            self.score_stage(s.key_map.stage(text))
        elif action == "accept_auto":
            self.accept_auto()
        elif action in ("review_next", "review_prev"):
            self.review_jump(1 if action == "review_next" else -1)
        elif action == "undo":
            self.undo()
        elif action == "redo":
            self.redo()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if self.handle_key(event):
            event.accept()
            return
        if event.key() in (Qt.Key_Right, Qt.Key_Left) and not event.modifiers():
            self.go_to_epoch(self._current + (1 if event.key() == Qt.Key_Right else -1))
            event.accept()
            return
        super().keyPressEvent(event)

    def event(self, event) -> bool:  # noqa: A003
        # Tab / Shift+Tab would move the focus; here they are review keys.
        if event.type() == QEvent.KeyPress and event.key() in (Qt.Key_Tab, Qt.Key_Backtab):
            if self.handle_key(event):
                return True
        return super().event(event)

    # -- actions -----------------------------------------------------------------------------
    def score_stage(self, code: int) -> None:
        """Score the selection (or the current epoch) and move to the epoch after it."""
        s = self._session
        if s is None:
            return
        if self._selection is not None:
            start, stop = self._selection
            s.score_range(start, stop, code)
            self.clear_selection()
            self.go_to_epoch(min(stop, s.n_epochs - 1))
        else:
            s.score(self._current, code)
            self.go_to_epoch(min(self._current + 1, s.n_epochs - 1))

    def accept_auto(self) -> None:
        """Accept the automatic stage of the selection (or the current epoch) and move on."""
        s = self._session
        if s is None:
            return
        if not s.has_auto:
            self.statusMessage.emit("No automatic hypnogram to accept")
            return
        if self._selection is not None:
            start, stop = self._selection
            n = s.accept_auto((start, stop))
            self.clear_selection()
            self.statusMessage.emit(f"Accepted the automatic stage of {stop - start} epochs "
                                    f"({n} changed)")
            self.go_to_epoch(min(stop, s.n_epochs - 1))
        else:
            s.accept_auto(self._current)
            self.go_to_epoch(min(self._current + 1, s.n_epochs - 1))

    def review_jump(self, direction: int = 1) -> int | None:
        """Jump to the next (or previous) epoch to review; returns it, or None if none is left."""
        s = self._session
        if s is None:
            return None
        epoch = s.next_review_epoch(self._current, self.review_mode, direction)
        if epoch is None:
            self.statusMessage.emit("Nothing left to review in this mode")
            return None
        self.go_to_epoch(epoch)
        return epoch

    def undo(self) -> None:
        s = self._session
        if s is None:
            return
        span = s.undo()
        if span is None:
            self.statusMessage.emit("Nothing to undo")
        else:
            self.go_to_epoch(span[0])

    def redo(self) -> None:
        s = self._session
        if s is None:
            return
        span = s.redo()
        if span is None:
            self.statusMessage.emit("Nothing to redo")
        else:
            self.go_to_epoch(span[0])

    def select_range(self, start: int, stop: int) -> None:
        """Select epochs ``start:stop`` (stop exclusive) for range scoring or accepting."""
        lo, hi = sorted((int(start), int(stop)))
        n = self._session.n_epochs if self._session is not None else self.hypnogram.n_epochs
        lo, hi = max(0, lo), min(n, max(hi, lo + 1))
        self._selection = (lo, hi)
        self.hypnogram.set_selection(lo, hi)
        self._update_status()

    def clear_selection(self) -> None:
        self._selection = None
        self._anchor = None
        self.hypnogram.set_selection(None)
        self._update_status()

    # -- reactions ---------------------------------------------------------------------------
    def _on_click(self, epoch: int) -> None:
        if self._selection is not None:
            self.clear_selection()
        self._anchor = epoch
        self.go_to_epoch(epoch)

    def _on_shift_click(self, epoch: int) -> None:
        anchor = self._current if self._anchor is None else self._anchor
        self.select_range(min(anchor, epoch), max(anchor, epoch) + 1)

    def _on_review_settings(self, *_: Any) -> None:
        if self._session is not None:
            self._session.review_threshold = float(self.threshold_spin.value())
        self._update_status()

    def _on_session_event(self, event: ScoringEvent) -> None:
        s = self._session
        if s is None:
            return
        if event.kind == "manual":
            self.hypnogram.set_manual(s.stages)
        elif event.kind in ("auto", "reset"):
            self._redraw_all()
            return
        self._update_status()
        self._stats_timer.start()

    def _redraw_all(self) -> None:
        s = self._session
        if s is not None:
            self.hypnogram.set_manual(s.stages)
            auto = s.auto
        else:
            self.hypnogram.set_manual(None)
            auto = self._auto_override
        self.hypnogram.set_auto(None if auto is None else auto.stages,
                                None if auto is None else auto.probabilities)
        self.hypnogram.set_current_epoch(self._current)
        self._update_status()
        self.refresh_statistics()

    @Slot()
    def refresh_statistics(self) -> None:
        """Recompute the statistics table now (normally done shortly after each edit)."""
        self._stats_timer.stop()
        self.stats.set_statistics(None if self._session is None else self._session.statistics())

    # -- display -----------------------------------------------------------------------------
    @staticmethod
    def _legend_html() -> str:
        def chip(name: str) -> str:
            return (f"<span style='color:{STAGE_COLORS[name]}; font-size:14px'>\u25a0</span>"
                    f"&nbsp;{STAGE_LONG_NAMES[name]}")

        parts = [chip(s) for s in ("W", "R", "N1", "N2", "N3")] + [chip("?"), chip("A")]
        return ("<span style='color:#333'>" + " &nbsp; ".join(parts)
                + " &nbsp; <span style='color:#FF7F0E'>\u25ac</span>&nbsp;disagreement</span>")

    def _update_status(self) -> None:
        s = self._session
        if s is None:
            self.status.setText("<i>No recording</i>")
            return
        e = self._current
        onset = s.epoch_onset(e)
        if s.start is not None:
            import datetime as _dt

            clock = (s.start + _dt.timedelta(seconds=onset)).strftime("%H:%M:%S")
        else:
            clock = f"{int(onset // 3600)}:{int(onset % 3600 // 60):02d}:{int(onset % 60):02d}"
        manual = CODE_NAMES[s.stage(e)]
        parts = [f"Epoch <b>{e + 1}</b>/{s.n_epochs} &nbsp;{clock}",
                 f"Manual <b>{_stage_text(manual)}</b>"]
        if s.has_auto:
            a = CODE_NAMES[s.auto_stage(e)]
            conf = s.confidence()[e]
            ptxt = "" if not np.isfinite(conf) else f" (p = {conf:.2f})"
            parts.append(f"Automatic <b>{_stage_text(a)}</b>{ptxt}")
            parts.append(f"{s.review_count(self.review_mode if self.review_mode != 'lowest' else 'review')}"
                         " to review")
        if self._selection is not None:
            a0, a1 = self._selection
            parts.append(f"<span style='color:#00A651'>selected {a1 - a0} epochs</span>")
        parts.append("<span style='color:#B00'>modified</span>" if s.is_modified else "saved")
        self.status.setText(" &nbsp;\u00b7&nbsp; ".join(parts))


def open_scoring_session(recording: Any, parent: QWidget | None = None,
                         ask: Callable[[Any], bool] | None = None,
                         **kwargs: Any) -> ScoringSession:
    """The scoring session of a recording, offering to recover unsaved scoring after a crash.

    Parameters
    ----------
    recording : Recording
        Anything with ``path``, ``start`` and ``duration``.
    parent : QWidget, optional
        Parent of the recovery question.
    ask : callable, optional
        ``ask(RecoveryInfo) -> bool`` (True: recover). By default a message box whose default
        button, and Escape, recover: scoring is only thrown away when the user says so.
    **kwargs
        Passed to :meth:`ScoringSession.for_recording` (``auto``, ``scorer``, ``key_map``...).
    """
    from sleepfm_engine.scoring import find_recovery

    info = find_recovery(recording.path) if getattr(recording, "path", None) else None
    if info is None:
        return ScoringSession.for_recording(recording, **kwargs)
    if (ask or (lambda i: _ask_recover(parent, i)))(info):
        return ScoringSession.for_recording(recording, recover=info, **kwargs)
    info.discard()
    return ScoringSession.for_recording(recording, **kwargs)


def _ask_recover(parent: QWidget | None, info: Any) -> bool:
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Warning, "Recover unsaved scoring?",
                      info.describe() + "\n\nRecover it, or discard it for good?",
                      QMessageBox.NoButton, parent)
    recover = box.addButton("Recover", QMessageBox.AcceptRole)
    box.addButton("Discard", QMessageBox.DestructiveRole)
    box.setDefaultButton(recover)
    box.setEscapeButton(recover)
    box.exec()
    return box.clickedButton() is recover


def close_scoring_session(session: ScoringSession, parent: QWidget | None = None,
                          ask: Callable[[ScoringSession], str] | None = None) -> bool:
    """End a session, asking what to do with unsaved scoring; False if the user cancelled.

    ``ask(session)`` returns ``"save"``, ``"discard"`` or ``"cancel"`` (default: a message box).
    Saving writes the sidecar beside the recording; discarding removes the autosave.
    """
    if not session.is_modified:
        session.close()
        return True
    choice = (ask or (lambda s: _ask_save(parent, s)))(session)
    if choice == "cancel":
        return False
    if choice == "save":
        if session.recording_path is None:
            raise ValueError("this scoring session has no recording file to save beside")
        session.save()
        session.close()
    elif choice == "discard":
        session.close(keep_autosave=False)
    else:
        raise ValueError(f"expected 'save', 'discard' or 'cancel', got {choice!r}")
    return True


def _ask_save(parent: QWidget | None, session: ScoringSession) -> str:
    from PySide6.QtWidgets import QMessageBox

    name = session.recording_path.name if session.recording_path is not None else "this recording"
    answer = QMessageBox.question(
        parent, "Save scoring?", f"The scoring of {name} has unsaved changes. Save them?",
        QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
    return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")


def _stage_text(name: str) -> str:
    long = STAGE_LONG_NAMES.get(name, name)
    color = STAGE_COLORS.get(name, "#000")
    if name == "R":
        return f"<span style='color:{color}'>{long}</span>"
    return long


def _simple_night(n_epochs: int, rng: np.random.Generator) -> np.ndarray:
    """A cheap night of 90-min cycles (deep sleep early, REM later) without the synthetic package."""
    out: list[int] = [0] * 30 + [1] * 6
    k = 0
    while len(out) < n_epochs:
        n3 = max(0, 50 - 15 * k)
        out += [2] * 30 + [3] * n3 + [2] * (40 - n3 // 2) + [4] * (12 + 10 * k)
        out += [0] * int(rng.integers(1, 4)) + [1] * 3
        k += 1
    return np.array(out[:n_epochs - 20] + [0] * 20, dtype=np.int8)


def _demo_session(n_epochs: int = 960, seed: int = 3,
                  realistic: bool = True) -> tuple[ScoringSession, Hypnogram]:
    """A synthetic night: a manual hypnogram partly scored and an automatic one with probabilities.

    ``realistic`` uses the engine's synthetic sleep model (it imports scipy, a few seconds);
    otherwise a simple cyclic night.
    """
    import datetime as _dt

    rng = np.random.default_rng(seed)
    if realistic:
        from sleepfm_engine.synthetic.hypnogram import make_hypnogram

        truth = make_hypnogram(n_epochs, seed=seed).astype(np.int8)
    else:
        truth = _simple_night(n_epochs, rng)
    logits = rng.normal(0, 0.5, (n_epochs, len(STAGES)))
    logits[np.arange(n_epochs), truth] += 3.2
    # N1 is the stage staging is least sure of; transitions come next.
    logits[truth == 1] += rng.normal(0, 1.2, (int(np.sum(truth == 1)), len(STAGES)))
    edges = np.flatnonzero(np.diff(truth) != 0)
    for e in edges:
        lo, hi = max(0, e - 1), min(n_epochs, e + 2)
        logits[lo:hi] += rng.normal(0, 1.0, (hi - lo, len(STAGES)))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    start = _dt.datetime(2024, 3, 5, 22, 47, 30)
    auto = Hypnogram(probs.argmax(axis=1), start=start, probabilities=probs, scorer="SleepFM demo")
    manual = truth.copy()
    manual[int(0.7 * n_epochs):] = UNSCORED  # the technologist is 70 % through the night
    manual[300:304] = -2
    session = ScoringSession(n_epochs, start=start, manual=Hypnogram(manual, start=start),
                             auto=auto, autosave=False, scorer="demo")
    return session, auto


def render_screenshot(path: str, size: tuple[int, int] = (1280, 720),
                      realistic: bool = True) -> str:
    """Render the panel with a synthetic night to a PNG (documentation and visual checks)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    session, _ = _demo_session(realistic=realistic)
    panel = ReviewPanel()
    panel.resize(*size)
    panel.set_session(session)
    panel.set_risk([("327.3", "Sleep apnea", 1.92), ("401.1", "Essential hypertension", 1.41),
                    ("250.2", "Type 2 diabetes", 1.12), ("296.2", "Depression", 0.87),
                    ("272.1", "Hyperlipidemia", 0.64), ("290.1", "Dementias", 0.31)])
    panel.set_current_epoch(410)
    panel.show()
    app.processEvents()
    panel.grab().save(path)
    panel.close()
    return path


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(render_screenshot(sys.argv[1] if len(sys.argv) > 1 else "review_panel.png"))
