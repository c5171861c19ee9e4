"""The main window: traces in the middle; channels, events, scoring and jobs in docks.

The window shows a :class:`~sleepfm_engine.study.Study` — the open recording, its channel map
(with the user's overrides), the scoring session, the display model of the traces, the events
and the analysis results — and wires the views together: the trace view and the review
panel stay on the same epoch, reassigning a channel regroups the traces and changes what
inference sees, and every long operation runs as an engine job on a worker thread.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QComboBox, QDockWidget,
                               QFileDialog, QLabel, QLineEdit, QMainWindow, QMessageBox,
                               QPlainTextEdit, QScrollArea, QTextEdit, QWidget)

from sleepfm_engine.detection_provenance import OOD_RECORD
from sleepfm_engine.errors import ModelError, SleepFMError
from sleepfm_engine.formats import format_for_suffix, hypnogram_dialog_filter, recording_dialog_filter
from sleepfm_engine.jobs import Job
from sleepfm_engine.recording import RECORDING_SUFFIXES
from sleepfm_engine.study import PairedScoring, Study

from . import errors
from .analysis_server import AnalysisServer
from .paths import find_overrides, overrides_target
from .qt_channels import ChannelPanel
from .qt_events import EventsPanel
from .qt_jobs import JobManager, JobsPanel
from .qt_montages import MontageMenu
from .qt_trends import TrendsPanel
from .qt_trace_view import WINDOW_PRESETS, TraceView
from .workers import RemoteJobWorker
from .settings import Settings

log = logging.getLogger("sleepfm_gui")

# Delay (ms) from an events change to the panels that list and count the events.
_EVENT_VIEWS_DELAY_MS = 60
#: A changed channel layout is saved this long after the last change (ms), so a crash
#: loses at most that much of it, and a burst of gain steps writes one file.
_DISPLAY_AUTOSAVE_MS = 2000


def _is_text_entry(w: QWidget | None) -> bool:
    if w is None:
        return False
    if isinstance(w, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)):
        return True
    return isinstance(w, QComboBox) and w.isEditable()


def _worker_copy(rec: Any) -> Any:
    """A second handle on an open recording for a worker thread.

    It shares the parsed header (no second parse, no repeated warnings) but maps the file on
    its own, so the window may page or close its handle meanwhile, and closing the copy
    returns the pages it touched.
    """
    return rec.clone()


def _ood_said(runs: Iterable[Mapping]) -> tuple[str, bool]:
    """The status bar's words for model detectors' checks against their training nights
    (under :data:`~sleepfm_engine.detection_provenance.OOD_RECORD` in each run's record),
    and whether any flagged the night."""
    checks = [c for c in (run.get(OOD_RECORD) for run in runs) if isinstance(c, Mapping)]
    said = "".join(f" · {'Warning: ' if c.get('flagged') else ''}{c['message']}"
                   for c in checks if c.get("message"))
    return said, any(bool(c.get("flagged")) for c in checks)


class MainWindow(QMainWindow):
    """SleepFM Studio's window.

    Parameters
    ----------
    settings : Settings, optional
        Where preferences live (default: the user data folder's settings file).
    model_dir : str, optional
        Model folder for analysis (overrides the last one used).

    Signals
    -------
    recordingOpened(str)
        A recording was opened (its path).
    stagingFinished(object)
        A staging job delivered its hypnogram.
    detectionFinished(object)
        An event detector delivered its :class:`~sleepfm_engine.detectors.Detection`.
    eventsShown()
        The events panel, indices and trends show the study's events after they changed.
    """

    recordingOpened = Signal(str)
    stagingFinished = Signal(object)
    detectionFinished = Signal(object)
    eventsShown = Signal()

    def __init__(self, settings: Settings | None = None, model_dir: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or Settings()
        self.setWindowTitle("SleepFM Studio")
        self.setAcceptDrops(True)
        # The night shown: recording, scoring, display, events and analysis results.
        self.study = Study()
        # SleepFM runs in its own process (started on first use), never in the GUI's.
        self.analysis = AnalysisServer()
        # Hooks tests replace: questions the window asks (None = a message box).
        self.ask_recover: Callable[[Any], bool] | None = None
        self.ask_save: Callable[[Any], str] | None = None
        # Asked before the official weights are fetched (None: a dialog with the licence).
        self.ask_download: Callable[[Any], bool] | None = None
        # Rendering for a script (--screenshot): errors go to stderr, nothing waits on a dialog.
        self.headless = False
        self._closing = False

        self.model_dir = model_dir or str(self.settings.value("analysis/model", "") or "")
        if not self.model_dir:
            self.model_dir = self._default_model_dir()
        self.device = str(self.settings.value("analysis/device", "auto") or "auto")

        self.jobs = JobManager(self, dialog_parent=self)
        self.trace = TraceView(self, model=self.study.display)
        self.trace.event_keys = self._event_key_map()
        self.setCentralWidget(self.trace)
        self._build_docks()
        self._build_menus()
        self._status = QLabel()
        # Permanent: a temporary message is drawn left of it, never over it (a normal widget
        # shown with its window after a message came is drawn under that message).
        self.statusBar().addPermanentWidget(self._status)
        # a gap where a long message is cut off, so its last letters do not run into the label
        self._status.setContentsMargins(12, 0, 0, 0)
        self._connect()
        self._restore_settings()
        self._update_actions()
        self._say_where_weights_come_from()
        QApplication.instance().installEventFilter(self)

    # ------------------------------------------------------------------ the study shown
    @property
    def rec(self) -> Any:
        """The open recording (None when none is)."""
        return self.study.recording

    @property
    def cmap(self) -> Any:
        """Its channel map, with the user's overrides."""
        return self.study.channel_map

    @property
    def session(self) -> Any:
        """Its scoring session."""
        return self.study.session

    @property
    def auto_hypnogram(self) -> Any:
        return self.study.auto_hypnogram

    @property
    def risk(self) -> Any:
        return self.study.risk

    @property
    def age(self) -> float | None:
        return self.study.age

    @property
    def sex(self) -> str:
        return self.study.sex

    # ------------------------------------------------------------------ construction
    def _build_docks(self) -> None:
        self.channels = ChannelPanel(self)
        self.events = EventsPanel(self)
        self.jobs_panel = JobsPanel(self.jobs, self)
        self.review = self._make_review_panel()

        def dock(title: str, widget: QWidget, area, name: str) -> QDockWidget:
            d = QDockWidget(title, self)
            d.setObjectName(name)
            d.setWidget(widget)
            self.addDockWidget(area, d)
            return d

        # The panel's own minimum height would take most of the window from the traces; in a
        # scroll area the dock can be made as small as the reader likes.
        review_scroll = QScrollArea()
        review_scroll.setWidgetResizable(True)
        review_scroll.setFrameShape(QScrollArea.NoFrame)
        review_scroll.setWidget(self.review)
        self.review_dock = dock("Sleep scoring", review_scroll, Qt.BottomDockWidgetArea, "review")
        self.channels_dock = dock("Channels", self.channels, Qt.RightDockWidgetArea, "channels")
        self.events_dock = dock("Events", self.events, Qt.RightDockWidgetArea, "events")
        self.jobs_dock = dock("Jobs", self.jobs_panel, Qt.RightDockWidgetArea, "jobs")
        self.tabifyDockWidget(self.channels_dock, self.events_dock)
        self.tabifyDockWidget(self.events_dock, self.jobs_dock)
        # Below the hypnogram, across the same width: the two time axes line up.
        self.trends = TrendsPanel(self)
        self.trends_dock = dock("Trends", self.trends, Qt.BottomDockWidgetArea, "trends")
        self.splitDockWidget(self.review_dock, self.trends_dock, Qt.Vertical)
        self.channels_dock.raise_()
        # The bottom dock spans the width; the traces keep most of the height.
        self.setCorner(Qt.BottomRightCorner, Qt.BottomDockWidgetArea)


    def _make_review_panel(self) -> QWidget:
        from .qt_review import ReviewPanel

        panel = ReviewPanel(self)
        return panel

    def _build_menus(self) -> None:
        mb = self.menuBar()

        def action(menu, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None,
                   tip: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if tip:
                a.setStatusTip(tip)
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        f = mb.addMenu("&File")
        self.open_action = action(f, "&Open recording…", self.choose_recording, QKeySequence.Open,
                                  "Open an EDF, EDF+ or BDF recording (or drop one on the window)")
        self.demo_action = action(f, "Open the &demo night", self.open_demo,
                                  tip="A generated 8-hour night with its true hypnogram")
        self.recent_menu = f.addMenu("Open &recent")
        f.addSeparator()
        self.import_manual_action = action(f, "Import &hypnogram (manual scoring)…",
                                           lambda: self.choose_hypnogram(as_auto=False))
        self.import_auto_action = action(f, "Import automatic hypnogram…",
                                         lambda: self.choose_hypnogram(as_auto=True))
        self.import_events_action = action(f, "Import &events…", self.choose_events)
        f.addSeparator()
        self.save_scoring_action = action(f, "&Save scoring", self.save_scoring, QKeySequence.Save)
        self.export_manual_action = action(f, "Export manual hypnogram…",
                                           lambda: self.choose_export_hypnogram("manual"))
        self.export_auto_action = action(f, "Export automatic hypnogram…",
                                         lambda: self.choose_export_hypnogram("auto"))
        self.export_events_action = action(f, "Export events…", self.choose_export_events)
        self.export_embeddings_action = action(f, "Export &embeddings…",
                                               self.choose_export_embeddings)
        self.export_report_action = action(f, "Export &report (PDF)…", self.choose_export_report)
        f.addSeparator()
        self.info_action = action(f, "Recording &information…", self.show_recording_info, "Ctrl+I")
        self.close_action = action(f, "&Close recording", self.close_recording, QKeySequence.Close)
        action(f, "&Quit", self.close, QKeySequence.Quit)

        e = mb.addMenu("&Edit")
        self.undo_action = action(e, "&Undo", self.undo, tip="Undo the last scoring edit "
                                  "(stages or events; Ctrl+Z)")
        self.redo_action = action(e, "&Redo", self.redo, tip="Redo (Ctrl+Y)")
        e.addSeparator()
        self.delete_event_action = action(e, "Delete selected event", self._delete_selected,
                                          tip="Del while an event is selected")
        self.accept_event_action = action(e, "Accept selected automatic event",
                                          self._accept_selected, tip="Enter")
        self.accept_all_action = action(e, "Accept all automatic events",
                                        self.accept_all_events)
        e.addSeparator()
        action(e, "Event &keys…", self.edit_event_keys,
               tip="Which key scores which event type")
        e.aboutToShow.connect(self._update_edit_menu)

        v = mb.addMenu("&View")
        page = v.addMenu("Page length")
        self.window_group = QActionGroup(self)
        for w in WINDOW_PRESETS:
            a = QAction(f"{w:g} s" if w < 60 else f"{w / 60:g} min", self, checkable=True)
            a.setData(w)
            a.setChecked(w == self.trace.window_seconds)
            a.triggered.connect(lambda _=False, w=w: self.trace.set_window(w))
            self.window_group.addAction(a)
            page.addAction(a)
        self.filters_action = action(v, "Display &filters…", self.edit_filters)
        self.derivation_action = action(v, "Add &derivation…", self.add_derivation)
        action(v, "Show all channels", self.trace.show_all_channels)
        v.addActions(self.trace.view_actions)
        v.addSeparator()
        for d in (self.review_dock, self.jobs_dock, self.channels_dock, self.events_dock):
            v.addAction(d.toggleViewAction())
        nav = mb.addMenu("&Navigate")
        for a in self.trace.navigation_actions:
            nav.addAction(a)
        nav.addSeparator()
        self.event_actions = [
            action(nav, "Next event of this type", lambda: self.jump_event(1, same_type=True),
                   "]"),
            action(nav, "Previous event of this type",
                   lambda: self.jump_event(-1, same_type=True), "["),
            action(nav, "Next unreviewed automatic event",
                   lambda: self.jump_event(1, unreviewed=True), "U"),
            action(nav, "Previous unreviewed automatic event",
                   lambda: self.jump_event(-1, unreviewed=True), "Shift+U"),
            action(nav, "Unreviewed automatic event, lowest confidence first",
                   self.jump_lowest_confidence, "Ctrl+U"),
        ]
        ch = mb.addMenu("&Channels")
        for a in self.trace.channel_actions:
            ch.addAction(a)
        ch.addSeparator()
        self.move_up_action = action(ch, "Move channel up", lambda: self.move_channel(-1),
                                     "Alt+Up", "Move the selected channel one row up")
        self.move_down_action = action(ch, "Move channel down", lambda: self.move_channel(1),
                                       "Alt+Down", "Move the selected channel one row down")
        self.montage_menu = MontageMenu(self.study, self)
        ch.addMenu(self.montage_menu)

        an = mb.addMenu("&Analysis")
        self.settings_action = action(an, "Model and device…", self.edit_analysis_settings)
        self.stage_action = action(an, "Run sleep &staging", self.start_staging, "Ctrl+R",
                                   "Stage the night with SleepFM (a job: progress and cancel in "
                                   "the Jobs panel)")
        self.risk_action = action(an, "Run disease &risk (research only)", self.start_risk)
        self.detect_action = action(an, "Score &events automatically (psgscoring)",
                                    lambda: self.start_event_detection("psgscoring"),
                                    tip="AASM respiratory, SpO2, arousal and limb-movement events "
                                        "into their own layer; accept them one by one or all")
        self.detect_head_action = action(an, "Detect events with the SleepFM &event head",
                                         self.start_head_detection,
                                         tip="The chosen release's event head (model_events/) "
                                             "scores the night's events into their own layer, "
                                             "with its confidence, beside psgscoring's")
        self.get_weights_action = action(an, "Get SleepFM weights…", self.get_official_weights,
                                         tip="Download the released SleepFM models (after asking), "
                                             "verify them and use them")
        an.addSeparator()
        action(an, "Cancel all jobs", self.jobs.cancel_all)

        h = mb.addMenu("&Help")
        action(h, "Keys", self.show_keys, QKeySequence.HelpContents)
        action(h, "About SleepFM Studio", self.show_about)
        self._refresh_recent_menu()

    def _connect(self) -> None:
        self.trace.currentEpochChanged.connect(self._on_trace_epoch)
        self.trace.displayChanged.connect(self._on_display_changed)
        self.review.epochActivated.connect(self._on_review_epoch)
        if hasattr(self.review, "statusMessage"):
            self.review.statusMessage.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.channels.modalitiesChanged.connect(self._on_modalities_changed)
        self.channels.visibilityChanged.connect(self.trace.set_channel_visible)
        self.channels.moveRequested.connect(lambda key, step: self.move_channel(step, key))
        self.channels.orderRequested.connect(self.set_channel_order)
        self.channels.derivationRemoveRequested.connect(self.remove_derivation)
        self.montage_menu.applied.connect(self._on_montage_applied)
        self.events.timeActivated.connect(lambda t: self.trace.go_to(t, align=True))
        self.events.eventActivated.connect(self.study.display.select_event)
        self.events.filtersChanged.connect(self._on_event_filters)
        self.events.rejectedShown.connect(self.study.display.set_show_rejected)
        self.events.acceptAllRequested.connect(lambda: self.accept_all_events())
        self.trace.eventCreateRequested.connect(self.create_event)
        self.trace.eventEditRequested.connect(
            lambda i, onset, duration: self.edit_event(i, onset=onset, duration=duration))
        self.trace.eventTypeRequested.connect(lambda i, t: self.edit_event(i, type=t))
        self.trace.eventDeleteRequested.connect(self.delete_event)
        self.trace.eventAcceptRequested.connect(lambda i: self.accept_events([i]))
        self._events_timer = QTimer(self)
        self._events_timer.setSingleShot(True)
        self._events_timer.setInterval(_EVENT_VIEWS_DELAY_MS)
        self._events_timer.timeout.connect(self._show_events)
        self.study.add_listener(self._on_study_event)
        self._display_saved: dict | None = None
        self._display_timer = QTimer(self)
        self._display_timer.setSingleShot(True)
        self._display_timer.setInterval(_DISPLAY_AUTOSAVE_MS)
        self._display_timer.timeout.connect(self._save_study_display)
        self.study.display.add_listener(self._on_display_event)
        self.trends.epochClicked.connect(self.review.go_to_epoch)

    def _on_study_event(self, event: Any) -> None:
        """Show what changed in the study: its events and its risk result."""
        if event.kind == "events":
            # The traces redraw at once; the lists, indices and density follow once the page
            # is painted, once for a burst of edits (accepting, undoing).
            self._events_timer.start()
        elif event.kind in ("opened", "closed"):
            self._events_timer.stop()
            self._refresh_events()
        if event.kind in ("risk", "closed"):
            self.review.set_risk(self.study.risk)
        if event.kind == "closed":
            self.trends.clear()

    def _show_events(self) -> None:
        self._refresh_events()
        self.trends.set_events([e for e, _ in self.study.events])
        self.eventsShown.emit()

    # ------------------------------------------------------------------ settings
    def _default_model_dir(self) -> str:
        try:
            from sleepfm_engine.demo import demo_model_path

            p = demo_model_path()
        except (ImportError, OSError):
            p = None
        return str(p) if p is not None else ""

    def _say_where_weights_come_from(self) -> None:
        """Without the official weights (no model, or the demo model) say where they come from."""
        demo = self._default_model_dir()
        if self.model_dir and (not demo or Path(self.model_dir).resolve() != Path(demo).resolve()):
            return
        using = ("the demo model (trained on generated nights, for demonstration only)"
                 if self.model_dir else "no SleepFM model")
        self.statusBar().showMessage(f"Using {using}. The official SleepFM weights: Analysis ▸ Get "
                                     "SleepFM weights… (zou-group/sleepfm-clinical, MIT)", 30000)

    def _restore_settings(self) -> None:
        geo = self.settings.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1500, 950)
        state = self.settings.value("window/state")
        self._layout_restored = state is not None and bool(self.restoreState(state))
        display = self.settings.get_json("display", {})
        if display:
            self.trace.restore_display_state(display)
        for a in self.window_group.actions():
            a.setChecked(abs(a.data() - self.trace.window_seconds) < 1e-9)

    def showEvent(self, ev):  # noqa: N802
        super().showEvent(ev)
        if not self._layout_restored:
            self._layout_restored = True
            # Dock sizes only apply once the window has its size: the traces keep most of it.
            QTimer.singleShot(0, self._default_layout)

    def _default_layout(self) -> None:
        self.resizeDocks([self.review_dock, self.trends_dock],
                         [int(self.height() * 0.45), int(self.height() * 0.15)], Qt.Vertical)
        self.resizeDocks([self.channels_dock], [int(self.width() * 0.27)], Qt.Horizontal)

    def _save_settings(self) -> None:
        s = self.settings
        s.set_value("window/geometry", self.saveGeometry())
        s.set_value("window/state", self.saveState())
        s.set_json("display", self.trace.display_state())
        s.set_value("analysis/model", self.model_dir)
        s.set_value("analysis/device", self.device)
        s.sync()

    def _key_map(self) -> Any:
        from sleepfm_engine.scoring_keys import KeyMap

        data = self.settings.get_json("scoring/keys")
        if isinstance(data, dict):
            try:
                return KeyMap.from_dict(data)
            except ValueError as exc:
                log.warning("ignoring saved scoring keys: %s", exc)
        return KeyMap()

    def _event_key_map(self) -> Any:
        from sleepfm_engine.event_keys import EventKeyMap

        data = self.settings.get_json("scoring/event_keys")
        if isinstance(data, dict):
            try:
                return EventKeyMap.from_dict(data)
            except ValueError as exc:
                log.warning("ignoring saved event keys: %s", exc)
        return EventKeyMap()

    def _on_display_changed(self) -> None:
        for a in self.window_group.actions():
            a.setChecked(abs(a.data() - self.trace.window_seconds) < 1e-9)

    # ------------------------------------------------------------------ opening and closing
    def choose_recording(self) -> None:
        start = str(Path(self.settings.recent_files()[0]).parent) if self.settings.recent_files() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", start,
                                              recording_dialog_filter())
        if path:
            self.open_recording_file(path)

    def open_recording_file(self, path: str | os.PathLike, manual: Any = None) -> bool:
        """Open a recording and show it; False (after a readable error dialog) if it cannot be.

        Parameters
        ----------
        path : str or PathLike
        manual : Hypnogram, optional
            A manual scoring to start from (the demo night's true hypnogram).
        """
        from sleepfm_engine.channels import ChannelMap, ChannelMapError
        from sleepfm_engine.recording import open_recording

        from sleepfm_engine.contract import EPOCH_SECONDS
        from sleepfm_engine.errors import RecordingError

        path = Path(path)
        try:
            rec = open_recording(path)
            if rec.duration < EPOCH_SECONDS:
                # Nothing to score or stage: refused before the open recording is closed.
                rec.close()
                raise RecordingError(path, f"{rec.duration:g} s long, shorter than one "
                                           f"{EPOCH_SECONDS:g}-s scoring epoch: there is "
                                           "nothing to score or stage")
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot open the recording", exc)
            if isinstance(exc, (SleepFMError, OSError)) and not path.exists():
                self.settings.remove_recent(path)
                self._refresh_recent_menu()
            return False
        if not self.close_recording():
            rec.close()
            return False
        overrides = find_overrides(path)
        try:
            cmap = ChannelMap.from_recording(rec, overrides=overrides)
        except ChannelMapError as exc:
            errors.show_warning(self, "Channel assignments ignored",
                                f"{exc}\n\nThe automatic assignment is used instead.")
            cmap = ChannelMap.from_recording(rec)
        self.study.open(rec, cmap)
        self._restore_study_display()
        paired_note = self._start_session(rec, manual)
        self.channels.set_recording(rec, cmap, overrides_target(path), self.trace.display_channels,
                                    self.trace.hidden_channels)
        person = rec.demographics
        self.study.set_demographics(person.age, person.sex)
        self.settings.add_recent(path)
        self._refresh_recent_menu()
        self.setWindowTitle(f"{path.name} — SleepFM Studio")
        n = len(rec.channels)
        msg = (f"{path.name}: {rec.format}, {n} channels, {rec.duration / 3600:.2f} h from "
               f"{rec.start:%Y-%m-%d %H:%M}")
        if rec.warnings:
            msg += f" · {len(rec.warnings)} warning(s) (File ▸ Recording information)"
        if paired_note:
            msg += f" · {paired_note}"
        self._status.setText(msg)
        self._update_actions()
        self._start_background_reads(path)
        # After the first page is on screen: the trends never delay it.
        QTimer.singleShot(0, self._load_trends)
        self.recordingOpened.emit(str(path))
        return True

    def _paired_scoring(self, rec: Any) -> tuple[Any, Path | None, str]:
        """The manual scoring paired with ``rec`` by file name, when none is stored for it.

        Returns ``(hypnogram, file, note)``; the hypnogram is None when nothing was saved,
        autosaved or paired, or the paired file is unreadable (then ``note`` says so).
        """
        from sleepfm_engine.formats.discover import find_paired_hypnogram
        from sleepfm_engine.scoring import find_recovery
        from sleepfm_engine.scoring_store import find_saved

        path = getattr(rec, "path", None)
        if path is None or find_saved(path) is not None or find_recovery(path) is not None:
            return None, None, ""
        try:
            # Checked against the recording (the report's check): cut to it with a warning, or
            # refused when it was scored on another night.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                hyp, source = find_paired_hypnogram(path, fit_to=rec)
        except (SleepFMError, OSError, ValueError) as exc:
            # A broken neighbouring file must not stop the recording from opening.
            log.warning("paired hypnogram not loaded: %s", exc)
            return None, None, f"paired hypnogram unreadable: {exc}"
        if hyp is None:
            return None, None, ""
        said = "".join(f"; {w.message}" for w in caught)
        return hyp, source, f"manual scoring from {source.name}{said}"

    def _start_session(self, rec: Any, manual: Any) -> str:
        """Open the scoring session of ``rec``; returns a note for the status bar (or "")."""
        from sleepfm_engine.scoring import ScoringSession

        from .qt_review import open_scoring_session

        note = ""
        kwargs = {"key_map": self._key_map(),
                  "scorer": str(self.settings.value("scoring/scorer", "") or "")}
        paired = manual is None
        pairing = None
        if paired:
            manual, source, note = self._paired_scoring(rec)
            pairing = PairedScoring(manual, source, note) if note else None
        if manual is not None:
            kwargs["manual"] = manual
        try:
            session = open_scoring_session(rec, parent=self, ask=self.ask_recover, **kwargs)
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot restore the scoring", exc)
            if paired:
                kwargs.pop("manual", None)
                note = ""
                pairing = None
            session = ScoringSession.for_recording(rec, load_saved=False, **kwargs)
        self.study.set_session(session, pairing)
        self.review.set_session(session)
        self.review.set_current_epoch(0)
        self._update_overview_stages()
        self._session_unsub = session.add_listener(lambda ev: self._on_session_event(ev))
        return note

    def _on_session_event(self, event: Any) -> None:
        if event.kind in ("manual", "reset", "auto"):
            self._overview_timer().start()

    def _overview_timer(self) -> QTimer:
        t = getattr(self, "_ov_timer", None)
        if t is None:
            t = self._ov_timer = QTimer(self)
            t.setSingleShot(True)
            t.setInterval(150)
            t.timeout.connect(self._update_overview_stages)
        return t

    def _update_overview_stages(self) -> None:
        """Colour the overview strip with the manual scoring, else the automatic staging."""
        shown = self.study.overview_stages()
        if shown is None:
            self.trace.set_hypnogram(None)
            return
        self.trace.set_hypnogram(*shown)
        # The same rule as Study.overview_stages: the automatic staging when nothing is scored.
        auto_shown = self.session.auto is not None and self.study.scored_manual() is None
        self.trace.overview.set_stage_source("automatic" if auto_shown else "manual")

    def _start_background_reads(self, path: Path) -> None:
        """Events of an EDF+ file and the overview envelope, read on worker threads.

        Each reads through its own handle (:func:`_worker_copy`): the header is not parsed, nor
        its warnings repeated, again, and the pages its memory map touched are released when it
        ends instead of staying in the window's memory.
        """
        from sleepfm_engine.display import epoch_envelope

        rec = self.rec
        if "+" in rec.format:
            def read_events(state):
                from sleepfm_engine.formats import read_events as read_event_file

                state.set_status("reading EDF+ annotations")
                # The stage notes among them are the file's hypnogram, not events.
                return read_event_file(rec.path, fmt="edf")

            self.jobs.submit(Job(f"Events of {path.name}", read_events), key="events",
                             on_success=self._on_file_events,
                             error_title="Cannot read the recording's events")
        rows = self.trace.display_channels
        pick = next((r for r in rows if r.kind == "EEG" and not r.is_derived), None) or \
            next((r for r in rows if not r.is_derived), None)
        if pick is not None:
            def envelope(state, label=pick.plus):
                state.set_status(f"overview of {label}")
                r = _worker_copy(rec)
                try:
                    return epoch_envelope(r, label, state=state, release_map=True)
                finally:
                    r.close()

            self.jobs.submit(Job("Night overview", envelope), key="overview",
                             on_success=self.trace.set_envelope,
                             error_title="Cannot draw the night overview")

    def _load_trends(self) -> None:
        """Whole-night trends of the open recording, read by a job on its own handle."""
        if self.rec is None or self.session is None:
            return
        s = self.session
        self.trends.set_geometry(s.n_epochs, s.epoch_length, s.offset, s.start)
        self.trends.set_current_epoch(self.review.current_epoch)
        self.trends.load(self.jobs, self.rec, self.cmap, [e for e, _ in self.study.events])

    def _on_file_events(self, events: Any) -> None:
        self.study.set_events(events, "file")

    def _refresh_events(self) -> None:
        rejected = [(r.event, name, r.reason) for name, layer in self.study.layers.items()
                    for r in layer.rejected]
        self.events.set_events(self.study.events, self.rec.start if self.rec is not None else None,
                               rejected)
        self.events.set_indices(self.study.indices(),
                                len(self.session.events) if self.session is not None else None)
        self._on_event_filters()

    def _on_event_filters(self) -> None:
        display = self.study.display
        display.set_hidden_types(self.events.hidden_types())
        display.set_hidden_layers(self.events.hidden_layers())

    def close_recording(self) -> bool:
        """Close the open recording (asking about unsaved scoring); False if the user cancelled."""
        if self.rec is None:
            return True
        if self.session is not None:
            self.settings.set_json("scoring/keys", self.session.key_map.to_dict())
            self.settings.set_json("scoring/event_keys", self.trace.event_keys.to_dict())
        if self.session is not None and self.headless:
            self.session.close()  # unsaved scoring stays in its autosave
        elif self.session is not None:
            from .qt_review import close_scoring_session

            try:
                if not close_scoring_session(self.session, self, ask=self.ask_save):
                    return False
            except (SleepFMError, OSError, ValueError) as exc:
                errors.report_exception(self, "Cannot save the scoring", exc)
                return False
        for key in ("events", "overview", "trends", "staging", "risk", "embeddings", "detect"):
            for w in self.jobs.running(key):
                w.disconnect_all()
                w.cancel()
        self.review.set_session(None)
        self._save_study_display()
        self.channels.set_recording(None, None, None)
        self.study.close()
        self.setWindowTitle("SleepFM Studio")
        self._status.clear()
        self._update_actions()
        return True

    def open_demo(self) -> None:
        """Open the built-in demo night, generating it first (a job) the first time.

        Its ground-truth hypnogram (``<stem>.hypnogram.csv``) is paired with it by name, so it
        is the manual scoring until the user saves their own.
        """
        from sleepfm_engine.demo import demo_night_path, demo_recording_path
        from sleepfm_engine.synthetic.edf import hypnogram_sidecar

        path = demo_night_path()
        if path.exists() and hypnogram_sidecar(path).exists():
            self.open_recording_file(path)
            return
        job = Job("Generating the demo night", lambda state: demo_recording_path(state=state))
        self.jobs.submit(job, key="demo", on_success=self.open_recording_file,
                         error_title="Cannot generate the demo night")

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for f in files:
            a = self.recent_menu.addAction(Path(f).name)
            a.setToolTip(f)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, f=f: self.open_recording_file(f))
        self.recent_menu.setEnabled(bool(files))

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, ev):  # noqa: N802
        if self._dropped_file(ev.mimeData()) is not None:
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dropEvent(self, ev):  # noqa: N802
        path = self._dropped_file(ev.mimeData())
        if path is not None:
            ev.acceptProposedAction()
            # Open after the drop returns, so the file manager is not kept waiting.
            QTimer.singleShot(0, lambda: self.open_recording_file(path))

    @staticmethod
    def _dropped_file(mime) -> Path | None:
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                p = Path(url.toLocalFile())
                if p.suffix.lower() in RECORDING_SUFFIXES:
                    return p
        return None

    # ------------------------------------------------------------------ import / export
    def choose_hypnogram(self, as_auto: bool = False) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import hypnogram", self._folder(),
                                              hypnogram_dialog_filter("read"))
        if path:
            self.import_hypnogram(path, as_auto=as_auto)

    def import_hypnogram(self, path: str | os.PathLike, as_auto: bool = False) -> bool:
        """Read a hypnogram file, align it to the recording and load it as scoring or staging."""
        from sleepfm_engine.formats import read_hypnogram

        if self.session is None or self.rec is None:
            errors.show_error(self, "Import hypnogram", "Open a recording first.")
            return False
        from sleepfm_engine.hypnogram import resample_notes

        try:
            with resample_notes() as merged:
                hyp = read_hypnogram(path, epoch_length=self.session.epoch_length)
            hyp = hyp.align_to(self.rec)
            if as_auto:
                from sleepfm_engine.provenance import Provenance

                self.set_auto_hypnogram(hyp, Provenance.imported("hypnogram", path))
            else:
                self.session.import_manual(hyp)
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot import the hypnogram", exc)
            return False
        self.statusBar().showMessage(f"Imported {Path(path).name} as "
                                     f"{'automatic staging' if as_auto else 'manual scoring'}", 5000)
        if merged:
            errors.show_warning(self, "Hypnogram epochs merged", "\n".join(merged))
        return True

    def set_auto_hypnogram(self, hyp: Any, provenance: Any = None, ood: Any = None) -> None:
        """Show an automatic hypnogram (staging result or import) and keep where it came from
        (a :class:`~sleepfm_engine.provenance.Provenance`; None: not known) and its
        out-of-distribution check (``NightResult.ood``; None: none), which the review and the
        report take from the study."""
        # The scoring session fits it to its epochs first: a hypnogram it refuses is not kept.
        self.review.set_auto_hypnogram(hyp)
        self.review.set_ood(ood)  # only this staging's check: an earlier one does not describe it
        self.study.set_auto(hyp, provenance, ood)
        self._update_overview_stages()
        self._update_actions()

    def choose_events(self) -> None:
        from sleepfm_engine.formats import events_dialog_filter

        path, _ = QFileDialog.getOpenFileName(self, "Import events", self._folder(),
                                              events_dialog_filter("read"))
        if path:
            self.import_events(path)

    def import_events(self, path: str | os.PathLike) -> bool:
        """Show the events of a file of any events format the engine reads, as a layer named
        after the file (stage rows stay the hypnogram's), with the record of the detector run
        that scored them when one lies beside the file (``<name>.provenance.json``): a model
        detector's verdict on the night is then said, and reaches the report."""
        from sleepfm_engine.detection_provenance import read_events_provenance
        from sleepfm_engine.formats import read_events
        from sleepfm_engine.provenance import ProvenanceError

        if self.rec is None:
            errors.show_error(self, "Import events", "Open a recording first.")
            return False
        try:
            events = read_events(path, start=self.rec.start)
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot import the events", exc)
            return False
        source = Path(path).name
        try:
            record = read_events_provenance(path)
        except ProvenanceError as exc:
            # The events are the user's data: they come in; only their origin is unknown.
            errors.show_warning(self, "Import events",
                                f"{exc}\n\nThe events of {source} are imported without the "
                                "record of where they came from (no detector's verdict).")
            record = None
        record = self.study.set_imported_events(events, source, record)
        self.events_dock.raise_()
        said, flagged = _ood_said(record.detections.values() if record is not None else ())
        self.statusBar().showMessage(f"Imported {len(events)} events from {source}" + said,
                                     20000 if flagged else 5000)
        return True

    def choose_export_hypnogram(self, which: str) -> None:
        suggested = str(Path(self._folder()) / f"{self._stem()}.{which}.hypnogram.csv")
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {which} hypnogram", suggested, hypnogram_dialog_filter("write"))
        if path:
            self.export_hypnogram(path, which)

    def export_hypnogram(self, path: str | os.PathLike, which: str = "manual",
                         fmt: str | None = None) -> Path | None:
        """Write the manual scoring or the automatic staging; None (after a dialog) on failure."""
        if self.session is None:
            errors.show_error(self, "Export hypnogram", "Open a recording first.")
            return None
        by_suffix = format_for_suffix(path)
        fmt = fmt or (by_suffix.name if by_suffix is not None else "csv")
        try:
            out = self.session.export(path, fmt=fmt, which=which)
            if which == "auto" and self.study.auto_provenance is not None:
                from sleepfm_engine.provenance import provenance_path, write_provenance_file

                # Where the staging came from travels with the file, as the CLI's outputs do.
                write_provenance_file(provenance_path(out), {out: self.study.auto_provenance})
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot export the hypnogram", exc)
            return None
        self.statusBar().showMessage(f"Wrote {out}", 5000)
        return Path(out)

    def choose_export_events(self) -> None:
        from sleepfm_engine.formats import events_dialog_filter

        path, _ = QFileDialog.getSaveFileName(
            self, "Export events", str(Path(self._folder()) / f"{self._stem()}.events.json"),
            events_dialog_filter("write"))
        if path:
            self.export_events(path)

    def export_events(self, path: str | os.PathLike, fmt: str | None = None) -> Path | None:
        """Write every event shown (all layers) in the format the file name picks (or
        ``fmt``), and beside it the record of the detector runs whose events it holds (as
        ``sleepfm events detect`` does); None (after a dialog) on failure."""
        from sleepfm_engine.detection_provenance import events_provenance, write_events_provenance
        from sleepfm_engine.events import EventSet
        from sleepfm_engine.formats import write_events

        shown = self.study.events
        events = EventSet([e for e, _ in shown],
                          start=self.rec.start if self.rec is not None else None)
        # An accepted event sits in the scoring layer; its detector still made it.
        layers = [e.source.name if e.source.kind == "detector" else layer for e, layer in shown]
        try:
            out = write_events(events, path, fmt)
            write_events_provenance(out, events_provenance(layers, self.study.layer_provenance))
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot export the events", exc)
            return None
        self.statusBar().showMessage(f"Wrote {len(events)} events to {out}", 5000)
        return out

    def save_scoring(self) -> Path | None:
        """Save the scoring beside the recording (the autosave is then dropped)."""
        if self.session is None:
            return None
        try:
            out = self.session.save()
        except (SleepFMError, OSError, ValueError) as exc:
            errors.report_exception(self, "Cannot save the scoring", exc)
            return None
        self.statusBar().showMessage(f"Scoring saved to {out}", 5000)
        return out

    def choose_export_report(self) -> None:
        """File ▸ Export report: the dialog of the report's contents, then the job."""
        from .dialogs.export_report import ExportReportDialog

        if self.rec is None or self.session is None:
            errors.show_error(self, "Export report", "Open a recording first.")
            return
        dlg = ExportReportDialog(self.study, str(Path(self._folder()) / f"{self._stem()}.report.pdf"),
                                 self)
        if dlg.exec():
            self.export_report(dlg.output_path(), dlg.choices())

    def export_report(self, path: str | os.PathLike, choices: Any = None):
        """Write the sleep study report (PDF) as a job; returns its worker.

        ``choices`` (:class:`~sleepfm_gui.dialogs.export_report.ReportChoices`) default to
        those of ``sleepfm report`` for this night.
        """
        if self.rec is None or self.session is None:
            errors.show_error(self, "Export report", "Open a recording first.")
            return None
        try:
            from sleepfm_engine.report import build_report, write_report_pdf
        except ImportError as exc:
            errors.show_error(self, "Export report", f"Reports are not available: {exc}")
            return None
        from .dialogs.export_report import ReportChoices

        choices = choices or ReportChoices.defaults(self.study)
        # Taken now, on this thread: the job reports the night as it is at the click.
        kwargs = choices.build_kwargs(self.study)
        rec_path, paper = self.rec.path, choices.paper
        out = Path(path)

        def write(state):
            from sleepfm_engine.recording import open_recording

            state.set_status("building the report")
            with open_recording(rec_path) as r:
                model = build_report(r, **kwargs)
            state.check_cancelled()
            state.set_status(f"writing {out.name}")
            return write_report_pdf(model, out, paper=paper)

        return self.jobs.submit(Job("Report", write), key="report",
                                on_success=lambda p: self.statusBar().showMessage(
                                    f"Report written to {p}", 5000),
                                error_title="Cannot write the report")

    # ------------------------------------------------------------------ scored events
    def create_event(self, start: float, stop: float, row: str, kind: str) -> Any:
        """Score an event by hand on ``start``..``stop`` (s) of row ``row`` (``""``: no
        channel); it is selected, undoable and autosaved. None (status message) when it cannot
        be."""
        if self.session is None:
            return None
        channels: tuple[str, ...] = ()
        if row:
            r = self.trace.model.row(row)
            channels = (r.label,) if r.is_derived else (r.plus,)
        try:
            event = self.session.create_event(start, stop - start, kind, channels)
        except ValueError as exc:
            self.statusBar().showMessage(f"Event not scored: {exc}", 5000)
            return None
        self.study.display.select_event(event.id)
        return event

    def edit_event(self, event_id: str, **changes: Any) -> bool:
        """Change a scored event (type, onset, duration); automatic and imported events are
        accepted first (they change only once scored)."""
        if self.session is None:
            return False
        if event_id not in self.session.events:
            found = self.study.display.find_event(event_id)
            if found is None:
                return False
            self.session.accept_events([found[1]])
        try:
            self.session.update_event(event_id, **changes)
        except ValueError as exc:
            self.statusBar().showMessage(f"Event not changed: {exc}", 5000)
            return False
        return True

    def delete_event(self, event_id: str) -> bool:
        """Delete a scored event (undoable); False for an event that is not scored."""
        if self.session is None or event_id not in self.session.events:
            self.statusBar().showMessage("Only scored events can be deleted; hide a layer in "
                                         "the Events panel", 5000)
            return False
        self.session.remove_event(event_id)
        self.study.display.select_event(None)
        return True

    def accept_events(self, ids: Any) -> int:
        """Accept the automatic events with these ids (one undoable edit)."""
        if self.session is None:
            return 0
        found = [self.study.display.find_event(i) for i in ids]
        n = self.session.accept_events([f[1] for f in found if f is not None])
        self.statusBar().showMessage(f"Accepted {n} automatic event(s)", 4000)
        return n

    def accept_all_events(self, layer: str | None = None) -> int:
        """Accept every automatic event (of ``layer``, else of every detector layer) that the
        events panel shows."""
        from sleepfm_engine.study import SCORING_LAYER

        hidden_types = self.study.display.hidden_types
        ids = [e.id for e, s in self.study.events
               if s != SCORING_LAYER and e.source.kind == "detector"
               and (layer is None or s == layer)
               and s not in self.study.display.hidden_layers and e.type not in hidden_types]
        return self.accept_events(ids)

    def _selected_event(self) -> Any:
        found = self.study.display.find_event(self.study.display.selected_event or "")
        return None if found is None else found[1]

    def _delete_selected(self) -> None:
        e = self._selected_event()
        if e is not None:
            self.delete_event(e.id)

    def _accept_selected(self) -> None:
        e = self._selected_event()
        if e is not None and e.source.kind == "detector":
            self.accept_events([e.id])

    def undo(self) -> None:
        self.review.undo()

    def redo(self) -> None:
        self.review.redo()

    def _update_edit_menu(self) -> None:
        s = self.session
        self.undo_action.setEnabled(s is not None and s.can_undo)
        self.redo_action.setEnabled(s is not None and s.can_redo)
        self.undo_action.setText(f"&Undo {s.undo_label}" if s is not None and s.can_undo
                                 else "&Undo")
        self.redo_action.setText(f"&Redo {s.redo_label}" if s is not None and s.can_redo
                                 else "&Redo")
        e = self._selected_event()
        self.delete_event_action.setEnabled(e is not None and s is not None and e.id in s.events)
        self.accept_event_action.setEnabled(e is not None and e.source.kind == "detector")

    def jump_event(self, direction: int, *, same_type: bool = False,
                   unreviewed: bool = False) -> Any:
        """Go to the next (previous) event after the selected one (else the page start): of
        the selected event's type, or the next automatic event not yet accepted; it becomes
        selected. None when there is none."""
        current = self._selected_event()
        t = current.onset if current is not None else self.trace.start
        kind = current.type if (same_type and current is not None) else None
        found = self.study.next_event(t, direction, kind=kind, unreviewed=unreviewed)
        if found is None:
            self.statusBar().showMessage("No further event", 3000)
            return None
        event = found[0]
        self.trace.go_to(event.onset, align=True)
        self.study.display.select_event(event.id)
        return event

    def edit_event_keys(self, dialog: Any = None) -> bool:
        """Edit the event keys (a dialog); they are kept in the settings. ``dialog``: a
        prepared :class:`~.qt_events.EventKeysDialog` (tests fill it in)."""
        from .qt_events import EventKeysDialog

        dlg = dialog if dialog is not None else EventKeysDialog(self.trace.event_keys, self)
        if dlg.exec() != EventKeysDialog.Accepted or dlg.result_keys is None:
            return False
        self.trace.event_keys = dlg.result_keys
        self.settings.set_json("scoring/event_keys", dlg.result_keys.to_dict())
        return True

    def jump_lowest_confidence(self) -> Any:
        """Go to the unreviewed automatic event of lowest confidence (after the selected one
        in that order); it becomes selected. None when every automatic event is accepted."""
        found = self.study.next_by_confidence(self._selected_event())
        if found is None:
            self.statusBar().showMessage("No unreviewed automatic event", 3000)
            return None
        event = found[0]
        self.trace.go_to(event.onset, align=True)
        self.study.display.select_event(event.id)
        return event

    def handle_event_key(self, text: str) -> bool:
        """Event keys: with a dragged span an event key scores it and Enter accepts the
        automatic events in it; with an event selected an event key changes its type, Del
        deletes it, Enter accepts it, Esc deselects."""
        display = self.study.display
        kind = self.trace.event_keys.type_for(text)
        if display.span is not None:
            if kind is not None:
                return self.trace.create_event_on_span(kind)
            if text in ("Return", "Enter"):
                a, b, _ = display.span
                display.clear_span()
                self.accept_events([e.id for e in self.study.unreviewed_between(a, b)])
                return True
            if text == "Esc":
                display.clear_span()
                return True
            return False
        e = self._selected_event()
        if e is None:
            return False
        if kind is not None:
            return self.edit_event(e.id, type=kind.value)
        if text in ("Del", "Backspace"):
            return self.delete_event(e.id)
        if text in ("Return", "Enter"):
            self._accept_selected()
            return True
        if text == "Esc":
            display.select_event(None)
            return True
        return False

    # ------------------------------------------------------------------ analysis
    def edit_analysis_settings(self) -> bool:
        from .dialogs.analysis_settings import AnalysisSettingsDialog

        dlg = AnalysisSettingsDialog(self.model_dir, self.device, self, self.age, self.sex)
        if dlg.exec() != AnalysisSettingsDialog.Accepted:
            return False
        self.set_model_dir(dlg.model_dir)
        self.device = dlg.device
        self.study.set_demographics(dlg.age if dlg.age else self.age, dlg.sex or self.sex)
        self.settings.set_value("analysis/device", self.device)
        return True

    def set_model_dir(self, folder: str | os.PathLike) -> None:
        self.model_dir = str(folder)
        self.settings.set_value("analysis/model", self.model_dir)
        self._update_actions()

    def _analysis_kwargs(self) -> dict | None:
        """What the analysis process needs for this recording, or None (after a dialog)."""
        if self.rec is None:
            errors.show_error(self, "Analysis", "Open a recording first.")
            return None
        if not self.model_dir:
            errors.show_error(self, "Analysis", "Choose a model folder first (Analysis ▸ Model "
                                                "and device): the official SleepFM release "
                                                "(Analysis ▸ Get SleepFM weights… downloads it) "
                                                "or one of yours.")
            return None
        return {"recording": str(self.rec.path), "model": str(self.model_dir),
                "device": self.device,
                "overrides": dict(self.cmap.overrides) if self.cmap is not None else {}}

    def _remote(self, name: str, task: str, kwargs: dict, key: str, on_success,
                error_title: str):
        worker = RemoteJobWorker(self.analysis, name, task, kwargs)
        if task != "warmup":
            self.jobs_dock.raise_()
        return self.jobs.submit(worker, key=key, on_success=on_success, error_title=error_title)

    def warm_up_analysis(self) -> None:
        """Start the analysis process and load torch and the models there, ahead of need."""
        if self.model_dir and not self.analysis.running:
            self._remote("Preparing SleepFM", "warmup",
                         {"model": self.model_dir, "device": self.device}, "warmup",
                         lambda _r: None, "Cannot prepare SleepFM")

    def start_staging(self):
        """Run SleepFM staging as a job; the automatic hypnogram appears when it finishes."""
        kwargs = self._analysis_kwargs()
        if kwargs is None:
            return None

        def done(result) -> None:
            hyp = result.hypnogram
            self.set_auto_hypnogram(hyp, result.provenance, result.ood)
            self.review_dock.raise_()
            self.statusBar().showMessage("Sleep staging finished", 5000)
            self.stagingFinished.emit(hyp)

        return self._remote(f"Sleep staging of {Path(kwargs['recording']).name}", "staging",
                            kwargs, "staging", done, "Sleep staging failed")

    def start_event_detection(self, detector: str = "psgscoring", **settings: Any):
        """Score the night's events with a registered detector as a job in the analysis
        process; they arrive as a layer named after the detector (a rerun replaces that layer
        only: scored events are never touched). Sleep stages: the manual scoring, else the
        automatic staging, else none."""
        if self.rec is None:
            errors.show_error(self, "Event detection", "Open a recording first.")
            return None
        hyp = self.study.scored_manual()
        if hyp is None and self.session is not None:
            hyp = self.session.auto
        kwargs = {"recording": str(self.rec.path), "detector": detector, "hypnogram": hyp,
                  "overrides": dict(self.cmap.overrides) if self.cmap is not None else {},
                  "settings": settings}

        def done(detection) -> None:
            from sleepfm_engine.detection_provenance import detection_provenance

            self.study.set_events(detection.events, detector,
                                  detection_provenance(detection, detector))
            self.events_dock.raise_()
            skipped = "; ".join(f"{part}: {why}" for part, why in detection.not_scored.items())
            # A model detector's check against its training nights (sleepfm-head) is said too.
            said, flagged = _ood_said([detection.provenance])
            self.statusBar().showMessage(
                f"{detector}: {len(detection.events)} events, "
                f"{len(detection.events.rejected)} rejected candidates"
                + (f" · not scored: {skipped}" if skipped else "") + said,
                20000 if flagged else 8000)
            self.detectionFinished.emit(detection)

        return self._remote(f"Events of {self.rec.path.name} ({detector})", "detect", kwargs,
                            "detect", done, "Event detection failed")

    def has_event_head(self) -> bool:
        """Whether the chosen model folder is a release with an event head beside its base
        model (what the ``sleepfm-head`` detector needs)."""
        from sleepfm_engine.checkpoints import release_folders
        from sleepfm_engine.detectors.sleepfm_head import EVENTS_KIND
        from sleepfm_engine.training_tasks import BASE_KIND

        if not self.model_dir:
            return False
        try:
            folders = release_folders(self.model_dir)
        except (ModelError, ValueError):
            # Not a readable release: the head cannot run, which the disabled action says.
            return False
        return EVENTS_KIND in folders and BASE_KIND in folders

    def start_head_detection(self):
        """Score the night's events with the chosen release's event head (layer
        ``sleepfm-head``, each event with the head's probability as its confidence)."""
        from sleepfm_engine.detectors.sleepfm_head import NAME

        if not self.has_event_head():
            errors.show_error(self, "Event detection", f"{self.model_dir or 'No model folder'} "
                                                       "holds no SleepFM event head (model_events/ "
                                                       "beside model_base/); choose a release with "
                                                       "one in Analysis ▸ Model and device.")
            return None
        return self.start_event_detection(NAME, model=str(self.model_dir), device=self.device)

    def start_risk(self):
        """Run the disease-risk head as a job (needs age and sex)."""
        kwargs = self._analysis_kwargs()
        if kwargs is None:
            return None
        if self.age is None or not self.sex:
            errors.show_error(self, "Disease risk", "The risk model needs the person's age and "
                                                    "sex; the file does not give them. Enter them "
                                                    "in Analysis ▸ Model and device.")
            return None
        kwargs.update(age=self.age, sex=self.sex)

        def done(result) -> None:
            self.study.set_risk(result.risk, result.provenance)
            self.review_dock.raise_()

        return self._remote(f"Disease risk of {Path(kwargs['recording']).name}", "risk", kwargs,
                            "risk", done, "Disease risk failed")

    def _confirm_download(self, source: Any) -> bool:
        box = QMessageBox(QMessageBox.Question, "Get SleepFM weights",
                          f"Download {source.title}?\n\nFrom {source.repository} at commit "
                          f"{source.commit[:12]}; every file is checked against its pinned SHA-1 "
                          f"before the release is registered and used.\n\nLicence: {source.licence} "
                          "(details below).", QMessageBox.Yes | QMessageBox.No, self)
        box.setDetailedText(source.licence_text())
        return box.exec() == QMessageBox.Yes

    def get_official_weights(self):
        """Fetch the official SleepFM release as a job, once the user agrees; then use it."""
        from sleepfm_engine.downloads import download_job, official_source

        try:
            source = official_source("sleepfm-clinical")
        except SleepFMError as exc:
            errors.show_error(self, "Get SleepFM weights", str(exc))
            return None
        if not (self.ask_download or self._confirm_download)(source):
            return None

        def done(result) -> None:
            self.set_model_dir(result.entry.path)
            self.statusBar().showMessage(f"SleepFM weights verified and registered as "
                                         f"{result.entry.name!r} ({source.licence}); now in use", 8000)

        self.jobs_dock.raise_()
        return self.jobs.submit(download_job(source), key="download", on_success=done,
                                error_title="Cannot get the SleepFM weights")

    def choose_export_embeddings(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export embeddings", str(Path(self._folder()) / f"{self._stem()}.embeddings.hdf5"),
            "HDF5 (*.hdf5 *.h5)")
        if path:
            self.export_embeddings(path)

    def export_embeddings(self, path: str | os.PathLike):
        """Write the night's SleepFM embeddings (HDF5) as a job."""
        kwargs = self._analysis_kwargs()
        if kwargs is None:
            return None
        kwargs["out"] = str(path)

        def done(result) -> None:
            self.study.set_embeddings(result.written[0])
            self.statusBar().showMessage(f"Embeddings written to {result.written[0]}", 5000)

        return self._remote(f"Embeddings of {Path(kwargs['recording']).name}", "embeddings",
                            kwargs, "embeddings", done, "Embedding export failed")

    # ------------------------------------------------------------------ display
    def edit_filters(self) -> None:
        from .dialogs.display_filters import FilterDialog

        dlg = FilterDialog(self.trace.filters, self)
        if dlg.exec() == FilterDialog.Accepted:
            for kind, spec in dlg.result_filters.items():
                self.trace.set_filter(kind, spec)

    def add_derivation(self) -> None:
        from .dialogs.derivations import DerivationDialog

        if self.rec is None:
            return
        dlg = DerivationDialog(self.rec, self.trace.derivations, self)
        if dlg.exec() != DerivationDialog.Accepted:
            return
        for d in dlg.result_derivations:
            try:
                self.trace.add_derivation(d)
            except ValueError as exc:
                errors.report_exception(self, "Cannot add the derivation", exc)
        self._refresh_channel_rows()

    def _refresh_channel_rows(self) -> None:
        self.channels.set_rows(self.trace.display_channels, self.trace.hidden_channels)

    def remove_derivation(self, label: str) -> None:
        """Remove a derived row (the channel panel's button)."""
        try:
            self.trace.remove_derivation(label)
        except KeyError as exc:
            errors.report_exception(self, "Cannot remove the derivation", exc)
        self._refresh_channel_rows()

    def move_channel(self, step: int, key: str | None = None) -> bool:
        """Move a channel (the selected one when ``key`` is None) ``step`` rows down (up when
        negative); the order is part of the study's display state."""
        display = self.study.display
        key = key if key is not None else display.selected
        if self.rec is None or key is None:
            return False
        moved = display.move_row(key, step)
        if moved:
            self._refresh_channel_rows()
            self.channels.select_key(key)
        return moved

    def set_channel_order(self, keys: list) -> None:
        """Lay the channels out in the order of ``keys`` (a row dragged in the channel panel)."""
        if self.rec is None:
            return
        selected = self.channels.selected_key()
        self.study.display.set_order(keys)
        self._refresh_channel_rows()
        if selected is not None:
            self.channels.select_key(selected)

    def _on_montage_applied(self, name: str, skipped: list) -> None:
        self._refresh_channel_rows()
        msg = f"Montage {name} applied"
        if skipped:
            msg += f" · {len(skipped)} not shown: " + "; ".join(skipped)
            for problem in skipped:
                log.info("montage %s: %s", name, problem)
        self.statusBar().showMessage(msg, 15000)

    def _on_display_event(self, event: Any) -> None:
        if event.kind in ("rows", "row") and self.rec is not None:
            self._display_timer.start()

    def _save_study_display(self) -> None:
        """Keep how this night's rows are laid out (gains, hidden rows, order, derivations) for
        the next time it is opened; the viewer preferences stay global.

        Called a moment after each layout change and on close; a layout equal to the one
        opened with is not written, so merely opening a night leaves no file behind.
        """
        from sleepfm_engine.study_display import per_study_part, save_display_state

        self._display_timer.stop()
        if self.rec is None:
            return
        state = per_study_part(self.study.display.to_dict(rows=True))
        if state == self._display_saved:
            return
        try:
            save_display_state(self.rec, state)
        except (SleepFMError, OSError) as exc:
            log.warning("display layout of %s not saved: %s", self.rec.path, exc)
            self.statusBar().showMessage(f"Channel layout not saved: {exc}", 10000)
            return
        self._display_saved = state

    def _restore_study_display(self) -> None:
        """Lay the night out as it was when it was last closed (nothing when it never was)."""
        from sleepfm_engine.study_display import load_display_state, per_study_part

        try:
            state = load_display_state(self.rec)
        except SleepFMError as exc:
            errors.show_warning(self, "Display layout not restored",
                                f"{exc}\n\nThe channels are shown in their usual order.")
            state = None
        if state is not None:
            for problem in self.study.display.restore(state):
                log.warning("display layout entry ignored: %s", problem)
        self._display_timer.stop()
        self._display_saved = per_study_part(self.study.display.to_dict(rows=True))

    def show_recording_info(self) -> None:
        from .dialogs.recording_info import RecordingInfoDialog

        if self.rec is not None:
            RecordingInfoDialog(self.rec, self.cmap.as_dict() if self.cmap else None, self).exec()

    def show_keys(self) -> None:
        text = ("<b>Traces</b><br>PgDn / PgUp: next / previous page<br>Right / Left: next / "
                "previous epoch<br>Shift+Right / Shift+Left: scroll a tenth of a page<br>Home / "
                "End: start / end of the night<br>Ctrl+G: go to a time or an epoch<br>Up / Down: "
                "select a channel<br>Alt+Up / Alt+Down: move it up / down (or drag its number "
                "in the Channels panel)<br>+ / −: gain (selected channel, else all)<br>*: auto-scale"
                "<br>I: invert · H: hide · Shift+H: show all<br><br><b>Scoring</b><br>"
                "0 W · 1 N1 · 2 N2 · 3 N3 · 4 or 5 REM · 6 artefact · Del unscored<br>A: accept "
                "the automatic stage · N or Tab: next epoch to review (Shift: previous)<br>"
                "Ctrl+Z / Ctrl+Y: undo / redo · Ctrl+S: save<br><br><b>Events</b><br>Drag across a "
                "trace (or the band above the rows), then O obstructive · C central · M mixed · "
                "H hypopnea · A arousal · D desaturation · L limb movement · X artefact (or "
                "right-click) · click an event to select it: a letter changes its type, Del "
                "deletes, Enter accepts an automatic one (on a span: every one in it), drag its "
                "edges to resize · ] / [ next "
                "/ previous event of its type · U / Shift+U next / previous unreviewed automatic "
                "event · Ctrl+U unreviewed automatic events, lowest confidence first")
        QMessageBox.information(self, "Keys", text)

    def show_about(self) -> None:
        from sleepfm_engine import __version__

        QMessageBox.about(self, "About SleepFM Studio",
                          f"<b>SleepFM Studio</b> {__version__}<br>Polysomnography review with "
                          "the SleepFM foundation model. Automatic staging and disease risk are "
                          "research tools, not diagnoses.")

    # ------------------------------------------------------------------ synchronisation
    def _on_trace_epoch(self, epoch: int) -> None:
        self.review.set_current_epoch(epoch)
        self.trends.set_current_epoch(epoch)

    def _on_review_epoch(self, epoch: int) -> None:
        self.trace.set_current_epoch(epoch)
        self.trends.set_current_epoch(epoch)

    def _on_modalities_changed(self, modalities: dict) -> None:
        self.trace.set_modalities(modalities)
        self._load_trends()  # the channel roles (which is SpO2, which is position) follow them
        self._refresh_channel_rows()
        self.statusBar().showMessage("Channel assignment saved; analysis will use it", 4000)

    def _update_actions(self) -> None:
        has = self.rec is not None
        for a in (self.import_manual_action, self.import_auto_action, self.import_events_action,
                  self.save_scoring_action, self.export_manual_action, self.export_events_action,
                  self.export_embeddings_action, self.export_report_action, self.info_action,
                  self.close_action, self.filters_action, self.derivation_action,
                  self.move_up_action, self.move_down_action,
                  self.stage_action, self.risk_action, self.detect_action):
            a.setEnabled(has)
        self.export_auto_action.setEnabled(has and self.auto_hypnogram is not None)
        self.detect_head_action.setEnabled(has and self.has_event_head())
        self.montage_menu.rebuild()

    def _folder(self) -> str:
        if self.rec is not None:
            return str(Path(self.rec.path).parent)
        files = self.settings.recent_files()
        return str(Path(files[0]).parent) if files else str(Path.home())

    def _stem(self) -> str:
        return Path(self.rec.path).stem if self.rec is not None else "recording"

    # ------------------------------------------------------------------ keys and closing
    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        """Scoring keys reach the review panel wherever the focus is (except text fields)."""
        kind = ev.type()
        if kind in (QEvent.KeyPress, QEvent.ShortcutOverride) and self.session is not None \
                and not self._closing:
            w = obj if isinstance(obj, QWidget) else None
            if w is not None and w.window() is self and not _is_text_entry(QApplication.focusWidget()):
                from .qt_review import key_string

                text = key_string(ev)
                if kind == QEvent.ShortcutOverride:
                    # An event key on a span or a selected event wins over a shortcut
                    # (H hides a channel): take it as a key press.
                    if text and self._wants_event_key(text):
                        ev.accept()
                        return True
                    return False
                if text and self.handle_event_key(text):
                    return True
                if self.review.handle_key(ev):
                    return True
        return False

    def _wants_event_key(self, text: str) -> bool:
        display = self.study.display
        if display.span is None and display.selected_event is None:
            return False
        return (self.trace.event_keys.type_for(text) is not None
                or text in ("Del", "Backspace", "Return", "Enter", "Esc"))

    def closeEvent(self, ev):  # noqa: N802
        if self._closing:
            ev.accept()
            return
        if not self.close_recording():
            ev.ignore()
            return
        self._closing = True
        QApplication.instance().removeEventFilter(self)
        self.jobs.shutdown()
        self.analysis.close()
        self._save_settings()
        ev.accept()
