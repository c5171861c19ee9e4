"""The fine-tune dialog: train a SleepFM model on a site's own recordings, then use it.

:class:`FinetuneDialog` is a thin, non-modal view over :mod:`sleepfm_engine.training`: it
collects the settings into a :class:`~sleepfm_engine.training.FinetuneConfig` (or
:class:`~sleepfm_engine.training.PretrainConfig`), runs
:func:`~sleepfm_engine.training.run_finetune` / :func:`~sleepfm_engine.training.run_pretrain`
in the analysis process, where staging runs too (:class:`sleepfm_gui.workers.RemoteJobWorker`
over :class:`~sleepfm_gui.analysis_server.AnalysisServer`), and turns the engine's
:class:`~sleepfm_engine.training.TrainingEvent` s into live curves, progress and ETA. Cancelling
is cooperative (the engine keeps the best checkpoint and the last finished epoch); *Resume*
continues the run saved in the output folder. The result page shows the validation and test
metrics and the confusion matrix; *Use this model* emits :attr:`FinetuneDialog.modelChosen`
with the model folder (after adding it to the model library when asked).

Open it from a main window with :func:`open_finetune_dialog`.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QProgressBar,
                               QPushButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout, QWidget)

from sleepfm_engine.errors import ModelError, SleepFMError
from sleepfm_engine.training_tasks import registered_tasks

from .. import errors
from ..analysis_server import AnalysisServer, RemoteError
from ..workers import RemoteJobWorker
from .finetune_views import EPOCH_METRICS, ConfusionTable, TrainingCurves, format_duration, format_value
from .model_picker import ModelPicker

__all__ = ["FinetuneDialog", "TrainingCurves", "ConfusionTable", "open_finetune_dialog", "TASKS"]

#: Tasks offered: (dialog key, label), from the engine's training-task registry. The engine
#: calls pretraining "pretrain"; :data:`ENGINE_TASK` maps the dialog's keys to its names.
TASKS: tuple[tuple[str, str], ...] = tuple((t.dialog_key, t.dialog_label) for t in registered_tasks())
ENGINE_TASK = {t.dialog_key: t.name for t in registered_tasks()}
#: Dialog keys of the tasks that can train the base with the head (``--unfreeze-base``).
END_TO_END = {t.dialog_key for t in registered_tasks() if t.end_to_end}
#: Devices offered: (value given to the engine, label).
DEVICES: tuple[tuple[str, str], ...] = (
    ("auto", "Automatic (GPU when available)"),
    ("cpu", "CPU"),
    ("cuda", "CUDA GPU"),
)
OBJECT_NAME = "sleepfmFinetuneDialog"
IDLE, SCANNING, RUNNING, CANCELLING = "idle", "scanning", "running", "cancelling"
_JOB_KEY = "finetune-dialog"
_BANNER_STYLE = {
    "error": "background:#fdecea; color:#8a1010; border:1px solid #e0a0a0; border-radius:3px; padding:6px;",
    "info": "background:#eaf3fb; color:#123d63; border:1px solid #a9c8e6; border-radius:3px; padding:6px;",
}


# ------------------------------------------------------------------------------------ helpers
def describe_training_error(exc: BaseException) -> str:
    """A readable sentence for an exception of a scan or training run (never a traceback)."""
    if isinstance(exc, FloatingPointError):
        return str(exc)
    text = str(exc)
    # An error of the analysis process arrives as a RemoteError naming the original type.
    kind = exc.error_type if isinstance(exc, RemoteError) else type(exc).__name__
    if kind in ("RuntimeError", "OutOfMemoryError") and "out of memory" in text.lower():
        return ("The device ran out of memory during training. Lower the batch size, or train "
                "the head only (untick the end-to-end option), then press Resume or Start.")
    return errors.describe_exception(exc)


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, (SleepFMError, OSError, ValueError, TypeError, KeyError, MemoryError,
                            FloatingPointError))


def _registry_name(folder: str | os.PathLike) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(folder).name).strip(".-_")[:64]
    return name or "finetuned-model"


# ------------------------------------------------------------------------------------ dialog
class FinetuneDialog(QDialog):
    """Fine-tune (or pretrain) a SleepFM model on a cohort folder, with live curves.

    Parameters
    ----------
    parent : QWidget, optional
    jobs : sleepfm_gui.qt_jobs.JobManager, optional
        When given, scans and training runs go through it, so they appear in the main window's
        jobs panel and its shutdown stops them too.
    server : AnalysisServer, optional
        The analysis process that runs scans and training (default: the parent window's
        ``analysis``, else one of the dialog's own, stopped when the dialog closes).

    Signals
    -------
    modelChosen(str)
        *Use this model*: the trained release folder (its copy in the model library when it
        was added there).
    scanFinished(object)
        A cohort scan ended; the :class:`~sleepfm_engine.training.Cohort`.
    trainingFinished(object)
        A run ended; the :class:`~sleepfm_engine.training.api.TrainingResult`.
    trainingFailed(str)
        A scan or run failed; the readable message (also shown in the dialog).
    trainingCancelled()
        A run stopped because it was cancelled.
    stateChanged(str)
        ``idle``, ``scanning``, ``running`` or ``cancelling``.
    """

    modelChosen = Signal(str)
    scanFinished = Signal(object)
    trainingFinished = Signal(object)
    trainingFailed = Signal(str)
    trainingCancelled = Signal()
    stateChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, jobs=None, server=None):
        super().__init__(parent)
        self.setObjectName(OBJECT_NAME)
        self.setWindowTitle("Fine-tune a SleepFM model")
        self.setModal(False)
        self.setWindowModality(Qt.NonModal)
        self._jobs = jobs
        server = server if server is not None else getattr(parent, "analysis", None)
        self._own_server = server is None
        self._server = server if server is not None else AnalysisServer()
        self._state = IDLE
        self._worker: RemoteJobWorker | None = None
        self._job_kind = ""
        self._run_id = 0
        self._run_kind = "staging"
        self._run_output: Path | None = None
        self._t_start = 0.0
        self.cohort = None
        self.result = None
        self.result_kind = ""
        self.last_error = ""
        self._build()
        self.set_task("staging")
        self._update_controls()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ---------------------------------------------------------------------------- building
    def _build(self) -> None:
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.banner.hide()
        self.tabs = QTabWidget()
        self.settings_page = self._build_settings()
        self.training_page = self._build_training()
        self.result_page = self._build_result()
        self.tabs.addTab(self.settings_page, "1  Settings")
        self.tabs.addTab(self.training_page, "2  Training")
        self.tabs.addTab(self.result_page, "3  Result")
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start a new training run with these settings")
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the run saved in the output folder from its last "
                                      "finished epoch (the number of epochs may be raised)")
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.setToolTip("Stop after the current step; the best checkpoint so far and "
                                      "the last finished epoch are kept (Resume continues)")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.banner)
        lay.addWidget(self.tabs, 1)
        lay.addLayout(buttons)
        self.resize(1100, 760)

    def _build_settings(self) -> QWidget:
        from sleepfm_engine.training.config import FinetuneConfig, PretrainConfig

        # The form starts from the engine's own defaults, so the dialog and the CLI agree.
        ft = FinetuneConfig()
        self._default_batch = {t.dialog_key: (PretrainConfig() if t.command == "pretrain" else ft).batch_size
                               for t in registered_tasks()}
        page = QWidget()
        # -- data
        self.cohort_edit = QLineEdit()
        self.cohort_edit.setPlaceholderText("Folder of recordings (EDF/BDF) with their hypnograms or label tables")
        self.cohort_edit.editingFinished.connect(self._suggest_output)
        self.cohort_browse = QPushButton("Browse…")
        self.cohort_browse.clicked.connect(self._browse_cohort)
        self.scan_button = QPushButton("Scan")
        self.scan_button.setToolTip("List the recordings that can take part and why others cannot")
        self.scan_button.clicked.connect(self.scan)
        row = QHBoxLayout()
        row.addWidget(QLabel("Cohort folder"))
        row.addWidget(self.cohort_edit, 1)
        row.addWidget(self.cohort_browse)
        row.addWidget(self.scan_button)
        self.scan_summary = QLabel("<i>Choose a cohort folder and press Scan to see what it holds.</i>")
        self.scan_summary.setWordWrap(True)
        self.scan_table = QTableWidget(0, 5)
        self.scan_table.setHorizontalHeaderLabels(["File", "Status", "Hours", "Modalities", "Labels / reason"])
        self.scan_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.scan_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.scan_table.verticalHeader().setVisible(False)
        hh = self.scan_table.horizontalHeader()
        for col in range(4):
            hh.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(4, QHeaderView.Stretch)
        data_box = QGroupBox("Data")
        dl = QVBoxLayout(data_box)
        dl.addLayout(row)
        dl.addWidget(self.scan_summary)
        dl.addWidget(self.scan_table, 1)
        # -- model
        self.task_combo = QComboBox()
        for key, label in TASKS:
            self.task_combo.addItem(label, key)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        self.base_picker = ModelPicker("base", none_label="(choose a base model)")
        self.base_picker.problem.connect(self.show_error)
        self.base_label = QLabel("Base model")
        self.unfreeze_check = QCheckBox("Also train the base model (end to end; slower, best on a GPU)")
        self.device_combo = QComboBox()
        for key, label in DEVICES:
            self.device_combo.addItem(label, key)
        model_box = QGroupBox("Model")
        mf = QFormLayout(model_box)
        mf.addRow("Task", self.task_combo)
        mf.addRow(self.base_label, self.base_picker)
        mf.addRow("", self.unfreeze_check)
        mf.addRow("Device", self.device_combo)
        # -- hyper-parameters
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.epochs_spin.setValue(ft.epochs)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(ft.batch_size)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setValue(ft.lr)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.seed_spin.setValue(ft.seed)
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(0.0, 0.5)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setValue(ft.fractions[1])
        self.test_spin = QDoubleSpinBox()
        self.test_spin.setRange(0.0, 0.5)
        self.test_spin.setSingleStep(0.05)
        self.test_spin.setValue(ft.fractions[2])
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(0, 1000)
        self.patience_spin.setValue(ft.patience)
        self.patience_spin.setSpecialValueText("off")
        self.patience_spin.setSuffix(" epochs")
        hp_box = QGroupBox("Training")
        hf = QGridLayout(hp_box)
        pairs = [("Epochs", self.epochs_spin), ("Batch size", self.batch_spin),
                 ("Learning rate", self.lr_spin), ("Early stopping", self.patience_spin),
                 ("Validation share", self.val_spin), ("Test share", self.test_spin),
                 ("Seed", self.seed_spin)]
        for i, (label, w) in enumerate(pairs):
            hf.addWidget(QLabel(label), i // 2, (i % 2) * 2)
            hf.addWidget(w, i // 2, (i % 2) * 2 + 1)
        self.patience_spin.setToolTip("Stop when the validation score has not improved for this many epochs")
        self.val_spin.setToolTip("Share of subjects held out to choose the best epoch")
        self.test_spin.setToolTip("Share of subjects held out for the final, unbiased metrics")
        # -- output
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("Folder for the trained model (model_base/, the head, training/)")
        self.output_edit.textChanged.connect(self._on_output_changed)
        self.output_browse = QPushButton("Browse…")
        self.output_browse.clicked.connect(self._browse_output)
        self.overwrite_check = QCheckBox("Replace an earlier run in this folder")
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output folder"))
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(self.output_browse)
        out_row.addWidget(self.overwrite_check)
        mid = QHBoxLayout()
        mid.addWidget(model_box, 1)
        mid.addWidget(hp_box, 1)
        lay = QVBoxLayout(page)
        lay.addWidget(data_box, 1)
        lay.addLayout(mid)
        lay.addLayout(out_row)
        self._setting_widgets = [self.cohort_edit, self.cohort_browse, self.scan_button, self.task_combo,
                                 self.base_picker, self.unfreeze_check, self.device_combo, self.epochs_spin,
                                 self.batch_spin, self.lr_spin, self.seed_spin, self.val_spin, self.test_spin,
                                 self.patience_spin, self.output_edit, self.output_browse, self.overwrite_check]
        return page

    def _build_training(self) -> QWidget:
        page = QWidget()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFormat("%p%")
        self.status_label = QLabel("Not started.")
        self.status_label.setWordWrap(True)
        self.eta_label = QLabel("")
        self.eta_label.setStyleSheet("color:#444")
        self.curves = TrainingCurves()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setPlaceholderText("Training events appear here.")
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.curves)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        top = QHBoxLayout()
        top.addWidget(self.progress_bar, 1)
        top.addWidget(self.eta_label)
        lay = QVBoxLayout(page)
        lay.addLayout(top)
        lay.addWidget(self.status_label)
        lay.addWidget(split, 1)
        return page

    def _build_result(self) -> QWidget:
        page = QWidget()
        self.result_summary = QLabel("<i>No finished run yet.</i>")
        self.result_summary.setWordWrap(True)
        self.result_summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.metrics_table = QTableWidget(0, 3)
        self.metrics_table.setHorizontalHeaderLabels(["Metric", "Validation (best epoch)", "Test"])
        self.metrics_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.metrics_table.verticalHeader().setVisible(False)
        self.metrics_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.confusion_label = QLabel("")
        self.confusion_label.setWordWrap(True)
        self.confusion = ConfusionTable()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.confusion_label)
        rl.addWidget(self.confusion, 1)
        tables = QHBoxLayout()
        tables.addWidget(self.metrics_table, 1)
        tables.addWidget(right, 1)
        self.register_check = QCheckBox("Add to the model library as")
        self.register_check.setChecked(True)
        self.register_name = QLineEdit()
        self.register_name.setMaximumWidth(260)
        self.register_check.toggled.connect(self.register_name.setEnabled)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self._open_output)
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Select the trained model in the main window")
        self.use_button.clicked.connect(self.use_model)
        actions = QHBoxLayout()
        actions.addWidget(self.register_check)
        actions.addWidget(self.register_name)
        actions.addStretch(1)
        actions.addWidget(self.open_button)
        actions.addWidget(self.use_button)
        lay = QVBoxLayout(page)
        lay.addWidget(self.result_summary)
        lay.addLayout(tables, 1)
        lay.addLayout(actions)
        return page

    # --------------------------------------------------------------------------- settings API
    @property
    def state(self) -> str:
        """``idle``, ``scanning``, ``running`` or ``cancelling``."""
        return self._state

    @property
    def is_busy(self) -> bool:
        return self._worker is not None

    @property
    def worker(self) -> RemoteJobWorker | None:
        """The worker of the scan or run in progress, if any."""
        return self._worker

    def task(self) -> str:
        return str(self.task_combo.currentData())

    def set_task(self, task: str, rescan: bool = True) -> None:
        """Choose ``staging``, ``diagnosis`` or ``pretraining`` (a scanned cohort is scanned
        again for it unless ``rescan`` is False: what a recording needs depends on the task)."""
        keys = [k for k, _ in TASKS]
        if task not in keys:
            raise ValueError(f"task must be one of {', '.join(keys)}, not {task!r}")
        if not rescan:
            self.task_combo.blockSignals(True)
        try:
            self.task_combo.setCurrentIndex(keys.index(task))
        finally:
            self.task_combo.blockSignals(False)
        self._apply_task(task)

    def set_cohort_folder(self, path: str | os.PathLike) -> None:
        self.cohort_edit.setText(str(path))
        self._suggest_output()

    def set_base_model(self, path: str | os.PathLike | None) -> None:
        """Choose the base model folder (raises ModelError when it holds no base model)."""
        self.base_picker.set_path(path)

    def set_output_folder(self, path: str | os.PathLike) -> None:
        self.output_edit.setText(str(path))

    def set_device(self, device: str) -> None:
        idx = self.device_combo.findData(device)
        if idx < 0:
            self.device_combo.addItem(device, device)
            idx = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(idx)

    def build_config(self, resume: bool = False):
        """The engine settings of the dialog: ``(task, FinetuneConfig | PretrainConfig)``.

        With ``resume``, the settings saved with the run in the output folder, with this
        dialog's epochs and device.

        Raises
        ------
        ValueError
            Naming the first setting that cannot be used.
        """
        from sleepfm_engine.training.config import FinetuneConfig, PretrainConfig
        from sleepfm_engine.training.saved_run import resume_config

        out = self.output_edit.text().strip()
        if not out:
            raise ValueError("Choose an output folder for the trained model.")
        device = str(self.device_combo.currentData())
        if resume:
            engine_kind, config = resume_config(out, epochs=self.epochs_spin.value(), device=device)
            kind = next((k for k, v in ENGINE_TASK.items() if v == engine_kind), engine_kind)
        else:
            kind = self.task()
            data = self.cohort_edit.text().strip()
            if not data:
                raise ValueError("Choose a cohort folder.")
            val, test = round(self.val_spin.value(), 4), round(self.test_spin.value(), 4)
            if val + test >= 1.0:
                raise ValueError("The validation and test shares leave no subject for training.")
            common = dict(output=out, data=data, epochs=self.epochs_spin.value(),
                          batch_size=self.batch_spin.value(), lr=self.lr_spin.value(),
                          patience=self.patience_spin.value(), seed=self.seed_spin.value(),
                          device=device, fractions=[round(1.0 - val - test, 4), val, test],
                          overwrite=self.overwrite_check.isChecked(), log_every=1)
            base = self.base_picker.path()
            if kind == "pretraining":
                config = PretrainConfig(init=base, **common)
            else:
                if not base:
                    raise ValueError("Choose a base model to fine-tune (the built-in demo, a model "
                                     "from the library, or a folder).")
                config = FinetuneConfig(task=kind, base=base, unfreeze_base=self.unfreeze_check.isChecked()
                                        and kind in END_TO_END, **common)
        config.log_every = 1  # every step reaches the curves; the plot coalesces redraws
        config.validate()
        return kind, config

    # ----------------------------------------------------------------------------- actions
    def scan(self) -> None:
        """List the recordings of the cohort folder usable for the task (on a worker thread)."""
        if self.is_busy:
            return
        self.clear_message()
        folder = self.cohort_edit.text().strip()
        if not folder:
            self.show_error("Choose a cohort folder first.")
            return
        self._suggest_output()
        self.scan_summary.setText("<i>Scanning…</i>")
        self.scan_table.setRowCount(0)
        worker = RemoteJobWorker(self._server, "Scan cohort", "scan",
                                 {"folder": folder, "task": ENGINE_TASK[self.task()]})
        self._start_worker(worker, "scan", SCANNING, self._on_scan_done)

    def start(self) -> None:
        """Start a new run with the dialog's settings."""
        self._start_training(resume=False)

    def resume(self) -> None:
        """Continue the run saved in the output folder."""
        self._start_training(resume=True)

    def cancel(self) -> None:
        """Ask the scan or run in progress to stop (cooperatively; returns at once)."""
        if self._worker is None:
            return
        self._worker.cancel()
        if self._job_kind == "train":
            self.status_label.setText("Stopping after the current step…")
        self._set_state(CANCELLING)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Cancel what runs and wait for it to end (the GUI stays painted); True once ended.

        The dialog's own analysis process (when it has one) is stopped too.
        """
        worker = self._worker
        if worker is None:
            self._stop_own_server()
            return True
        self.cancel()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not worker.wait(0.05):
            QCoreApplication.processEvents(QEventLoop.ExcludeUserInputEvents)
            if deadline is not None and time.monotonic() > deadline:
                return False
        # Deliver the worker's queued outcome so the dialog is idle again.
        QCoreApplication.processEvents(QEventLoop.ExcludeUserInputEvents)
        self._stop_own_server()
        return True

    def _stop_own_server(self) -> None:
        if self._own_server:
            self._server.close()

    def reject(self) -> None:  # Esc, the window's close button and Close all come here
        self.shutdown()
        super().reject()

    def use_model(self) -> None:
        """Hand the trained model to the main window (``modelChosen``), adding it to the library
        first when asked; for a pretrained base, prepare fine-tuning a head on it instead."""
        if self.result is None:
            return
        self.clear_message()
        if self.result_kind == "pretraining":
            base = self.result.models.get("base")
            self.set_task("staging")
            try:
                self.set_base_model(base)
            except ModelError as exc:
                self.show_error(str(exc))
                return
            self.tabs.setCurrentWidget(self.settings_page)
            self.show_message("The pretrained base model is selected. Choose a cohort with "
                              "hypnograms and a new output folder, then press Start.")
            return
        path = Path(self.result.output)
        if self.register_check.isChecked():
            from sleepfm_engine.registry import add_model

            try:
                entry = add_model(path, name=self.register_name.text().strip() or None)
            except (ModelError, OSError, ValueError) as exc:
                self.show_error(f"Could not add the model to the library: {describe_training_error(exc)}")
                return
            path = entry.path
            self.base_picker.refresh()
            self.show_message(f"Added to the model library as “{entry.name}”.")
        self.modelChosen.emit(str(path))

    # ------------------------------------------------------------------------------ messages
    def show_error(self, text: str) -> None:
        """Show ``text`` in the dialog's red banner."""
        self.last_error = text
        self.banner.setStyleSheet(_BANNER_STYLE["error"])
        self.banner.setText(text)
        self.banner.show()

    def show_message(self, text: str) -> None:
        """Show ``text`` in the dialog's (blue) notice banner."""
        self.banner.setStyleSheet(_BANNER_STYLE["info"])
        self.banner.setText(text)
        self.banner.show()

    def clear_message(self) -> None:
        self.last_error = ""
        self.banner.clear()
        self.banner.hide()

    def message_text(self) -> str:
        """What the banner shows now ("" when hidden)."""
        return "" if self.banner.isHidden() else self.banner.text()

    # ------------------------------------------------------------------------------ internals
    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._update_controls()
            self.stateChanged.emit(state)

    def _update_controls(self) -> None:
        idle = self._state == IDLE
        for w in self._setting_widgets:
            w.setEnabled(idle)
        if idle:
            self._apply_task(self.task())
        self.start_button.setEnabled(idle)
        self.resume_button.setEnabled(idle and self._resumable())
        self.cancel_button.setEnabled(self._state in (SCANNING, RUNNING))
        self.cancel_button.setText("Cancel scan" if self._job_kind == "scan" and not idle else "Cancel training")
        self.tabs.setTabEnabled(2, self.result is not None)

    def _resumable(self) -> bool:
        from sleepfm_engine.training.saved_run import has_saved_run

        return has_saved_run(self.output_edit.text().strip())

    def _on_output_changed(self, _text: str) -> None:
        """An output folder holding an earlier run: show its epochs (what Resume runs to)."""
        if self._state == IDLE and self._resumable():
            from sleepfm_engine.training.saved_run import read_saved_run

            try:
                saved = read_saved_run(self.output_edit.text().strip())
                epochs, kind = saved.epochs, saved.kind
            except (ValueError, KeyError, TypeError):
                pass  # unreadable settings are reported when Resume is pressed
            else:
                self.epochs_spin.setValue(epochs)
                self.resume_button.setToolTip(f"Continue the {kind} run saved in this folder from its last "
                                              "finished epoch, up to the number of epochs set here")
        self._update_controls()

    def _on_task_changed(self, _index: int) -> None:
        old = getattr(self, "_task_shown", "staging")
        task = self.task()
        if self.batch_spin.value() == self._default_batch.get(old):
            self.batch_spin.setValue(self._default_batch[task])
        self._apply_task(task)
        if self.cohort is not None and self._state == IDLE:
            self.scan()  # what a recording needs depends on the task

    def _apply_task(self, task: str) -> None:
        self._task_shown = task
        pre = task == "pretraining"
        self.base_label.setText("Start from" if pre else "Base model")
        self.base_picker.set_none_label("(random initialisation)" if pre else "(choose a base model)")
        if not pre and self.base_picker.path() is None and self.base_picker.combo.count() > 1:
            self.base_picker.combo.setCurrentIndex(1)
        self.unfreeze_check.setEnabled(task in END_TO_END and self._state == IDLE)

    def _suggest_output(self) -> None:
        """Fill an empty output folder with a fresh folder in the user data folder."""
        cohort = self.cohort_edit.text().strip()
        if self.output_edit.text().strip() or not cohort:
            return
        from ..paths import user_data_dir

        root = user_data_dir() / "trained"
        stem = f"{_registry_name(cohort)}-{self.task()}"
        candidate, k = root / stem, 2
        while candidate.exists() and any(candidate.iterdir()):
            candidate, k = root / f"{stem}-{k}", k + 1
        self.output_edit.setText(str(candidate))

    def _browse_cohort(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the cohort folder",
                                                  self.cohort_edit.text().strip() or str(Path.home()))
        if folder:
            self.set_cohort_folder(folder)
            self.scan()

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the output folder",
                                                  self.output_edit.text().strip() or str(Path.home()))
        if folder:
            self.output_edit.setText(folder)

    def _open_output(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.output)))

    def _check_output(self, config, resume: bool) -> None:
        out = Path(config.output).expanduser()
        if resume or not out.exists():
            return
        if not out.is_dir():
            raise ValueError(f"{out} is a file; choose a folder for the trained model.")
        if not any(out.iterdir()):
            return
        if not (out / "training").is_dir():
            raise ValueError(f"{out} is not empty and holds no training run; choose an empty or new "
                             "output folder.")
        if not config.overwrite:
            raise ValueError(f"{out} already holds a training run. Press Resume to continue it, or "
                             "tick “Replace an earlier run in this folder” to start again.")

    def _start_worker(self, worker: RemoteJobWorker, kind: str, state: str, on_success) -> None:
        if self._jobs is not None:
            self._jobs.submit(worker, key=_JOB_KEY, show_errors=False)
        self._worker = worker
        self._job_kind = kind
        worker.progressChanged.connect(self._on_progress)
        worker.succeeded.connect(on_success)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._set_state(state)
        self._update_controls()
        if self._jobs is None:
            worker.start()

    def _finish_worker(self) -> str:
        kind = self._job_kind
        self._worker = None
        self._set_state(IDLE)
        self._update_controls()
        return kind

    def _start_training(self, resume: bool) -> None:
        if self.is_busy:
            return
        self.clear_message()
        try:
            kind, config = self.build_config(resume=resume)
            self._check_output(config, resume)
        except (ValueError, TypeError) as exc:
            self.show_error(describe_training_error(exc))
            return
        if resume:
            self.set_task(kind, rescan=False)
        self._run_id += 1
        self._run_kind = kind
        self._run_output = Path(config.output).expanduser()
        self._t_start = time.monotonic()
        self.result = None
        self.curves.reset()
        self.log_view.clear()
        if resume:
            self._load_history(self._run_output)
        self.progress_bar.setValue(0)
        self.eta_label.setText("")
        self.status_label.setText("Starting…")
        self._log(("Resuming" if resume else "Starting") + f" {dict(TASKS)[kind].lower()} in {self._run_output}")
        self.tabs.setCurrentWidget(self.training_page)
        run = self._run_id
        worker = RemoteJobWorker(
            self._server, f"Fine-tune ({kind})" if kind != "pretraining" else "Pretrain the base model",
            "train", {"config": config})
        worker.eventReceived.connect(lambda ev, run=run: self._on_event(run, ev))
        self._start_worker(worker, "train", RUNNING, self._on_train_done)

    def _load_history(self, out: Path) -> None:
        path = out / "training" / "history.json"
        try:
            history = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        except (OSError, ValueError):
            history = []  # the curves of the earlier part are a convenience; the run is unaffected
        if isinstance(history, list):
            self.curves.load_history([h for h in history if isinstance(h, dict)])

    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")

    # -- worker signals (GUI thread) -----------------------------------------------------------
    def _on_progress(self, fraction: float, message: str) -> None:
        if self._job_kind == "train":
            self.progress_bar.setValue(int(round(fraction * 1000)))
            if message and self._state == RUNNING:
                self.status_label.setText(message)
        elif message:
            self.scan_summary.setText(f"<i>Scanning… {message}</i>")

    def _on_event(self, run: int, ev) -> None:
        if run != self._run_id:
            return  # a queued event of an earlier run
        kind = ev.kind
        if kind == "start":
            self.curves.set_steps_per_epoch(ev.total_steps // max(1, ev.epochs))
            self._log(ev.message)
        elif kind == "step":
            self.curves.add_step(ev.step, ev.loss)
            self._show_eta(ev)
        elif kind == "epoch":
            self.curves.add_epoch(ev.epoch + 1, ev.loss, ev.metrics)
            shown = [f"{EPOCH_METRICS[k][0]} {ev.metrics[k]:.3f}" for k in EPOCH_METRICS
                     if isinstance(ev.metrics.get(k), (int, float))]
            if isinstance(ev.metrics.get("loss"), (int, float)):
                shown.insert(0, f"validation loss {ev.metrics['loss']:.4f}")
            self._log(f"epoch {ev.epoch + 1}/{ev.epochs}: training loss "
                      f"{format_value(ev.loss, 4)}" + (f"; {', '.join(shown)}" if shown else ""))
            self._show_eta(ev)
        elif kind == "best":
            self.curves.mark_best(ev.epoch + 1)
            self._log(f"new best checkpoint (epoch {ev.epoch + 1})")
        elif kind in ("early_stop", "cancelled", "done"):
            self._log(ev.message if kind != "done" else f"finished ({ev.message})")

    def _show_eta(self, ev) -> None:
        parts = [f"epoch {ev.epoch + 1}/{ev.epochs}", f"step {ev.step}/{ev.total_steps}",
                 f"elapsed {format_duration(time.monotonic() - self._t_start)}",
                 f"ETA {format_duration(ev.eta_s)}"]
        if ev.samples_per_s:
            parts.append(f"{ev.samples_per_s:.1f} samples/s")
        self.eta_label.setText(" · ".join(parts))

    def _on_scan_done(self, cohort) -> None:
        self._finish_worker()
        self.cohort = cohort
        self._show_cohort(cohort)
        if not cohort.records:
            reasons = "; ".join(f"{s.path.name}: {s.reason}" for s in cohort.skipped[:3])
            self.show_error(f"{cohort.root}: no recording usable for {cohort.task}"
                            + (f" ({reasons})" if reasons else " (no EDF/BDF files found)"))
        self.scanFinished.emit(cohort)

    def _show_cohort(self, cohort) -> None:
        d = cohort.to_dict()
        counts = ", ".join(f"{m} {n}" for m, n in d["modality_counts"].items())
        self.scan_summary.setText(
            f"<b>{d['n_records']} recordings usable</b> for {cohort.task} ({d['hours']:.1f} h, "
            f"{d['n_subjects']} subjects); <b>{d['n_skipped']} skipped</b>. Modalities: {counts}.")
        rows = [(r.recording, "usable", f"{r.duration_s / 3600:.2f}",
                 ", ".join(f"{m} ({len(ch)})" for m, ch in r.modalities.items()),
                 (r.labels.name if r.labels is not None else "–") + (f" — {r.note}" if r.note else ""), False)
                for r in cohort.records]
        rows += [(s.path, "skipped", "", "", s.reason, True) for s in cohort.skipped]
        self.scan_table.setRowCount(len(rows))
        for i, (path, status, hours, mods, text, skipped) in enumerate(rows):
            try:
                name = str(Path(path).relative_to(cohort.root))
            except ValueError:
                name = str(path)
            for col, value in enumerate((name, status, hours, mods, text)):
                item = QTableWidgetItem(value)
                item.setToolTip(str(path) if col == 0 else value)
                if skipped:
                    item.setForeground(QColor("#8a1010"))
                self.scan_table.setItem(i, col, item)

    def _on_train_done(self, result) -> None:
        self._finish_worker()
        self.progress_bar.setValue(1000)
        self.status_label.setText(f"Finished: {result.status.replace('_', ' ')}.")
        self.curves.redraw()
        self.show_result(result, self._run_kind)
        self.trainingFinished.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        kind = self._finish_worker()
        if not _expected(exc):
            errors.log_exception(exc, "fine-tuning" if kind == "train" else "cohort scan")
        text = describe_training_error(exc)
        if kind == "scan":
            self.scan_summary.setText("<i>The scan failed.</i>")
        else:
            self.status_label.setText("Failed.")
            self._log(f"failed: {text}")
        self.show_error(text)
        self.trainingFailed.emit(text)

    def _on_cancelled(self) -> None:
        kind = self._finish_worker()
        if kind == "scan":
            self.scan_summary.setText("<i>Scan cancelled.</i>")
            return
        out = self._run_output
        self.status_label.setText("Cancelled.")
        self.show_message(f"Training cancelled. The best checkpoint so far and the last finished epoch "
                          f"are kept in {out}; press Resume to continue.")
        self._update_controls()
        self.trainingCancelled.emit()

    # -- result page ----------------------------------------------------------------------------
    def show_result(self, result, kind: str = "staging") -> None:
        """Show a :class:`~sleepfm_engine.training.api.TrainingResult` on the result page.

        Parameters
        ----------
        result : TrainingResult
            What :func:`~sleepfm_engine.training.run_finetune` (or ``run_pretrain``) returned.
        kind : str
            ``staging``, ``diagnosis`` or ``pretraining``.
        """
        if kind not in ENGINE_TASK:
            raise ValueError(f"kind must be one of {', '.join(ENGINE_TASK)}, not {kind!r}")
        self.result = result
        self.result_kind = kind
        self._fill_result(result, kind)
        self._update_controls()
        self.tabs.setCurrentWidget(self.result_page)

    def _fill_result(self, result, kind: str) -> None:
        status = {"completed": "Training completed", "early_stopped": "Stopped early (no better "
                  "validation score)"}.get(result.status, result.status)
        models = ", ".join(f"{k}: {Path(v).name}" for k, v in result.models.items())
        self.result_summary.setText(
            f"<b>{status}</b> — best epoch {result.best_epoch} of {len(result.history)}, "
            f"{format_duration(result.elapsed_s)} of training.<br>Model folder: "
            f"<code>{result.output}</code> ({models}).")
        val, test = result.validation or {}, result.test or {}
        rows: list[tuple[str, Any, Any]] = []
        if kind == "staging":
            for key, label in (("accuracy", "Accuracy (30-s epochs)"), ("kappa", "Cohen's kappa"),
                               ("macro_f1", "Macro F1")):
                rows.append((label, val.get(key), test.get(key)))
            f1v = (val.get("epoch") or {}).get("f1") or {}
            f1t = (test.get("epoch") or {}).get("f1") or {}
            for stage in f1v or f1t:
                rows.append((f"F1 {stage}", f1v.get(stage), f1t.get(stage)))
            rows.append(("Nights", val.get("n_nights"), test.get("n_nights")))
        elif kind == "events":
            rows.append(("Mean event F1", val.get("macro_f1"), test.get("macro_f1")))
            ev, et = val.get("events") or {}, test.get("events") or {}
            for name in ev or et:
                rows.append((f"Event F1 {name}", (ev.get(name) or {}).get("f1"), (et.get(name) or {}).get("f1")))
            iv, it = val.get("indices") or {}, test.get("indices") or {}
            for key in iv or it:
                rows.append((f"{key} ICC", (iv.get(key) or {}).get("icc"), (it.get(key) or {}).get("icc")))
            rows.append(("Nights", val.get("n_nights"), test.get("n_nights")))
        elif kind == "diagnosis":
            rows.append(("Mean C-index (Harrell)", val.get("mean_c_index"), test.get("mean_c_index")))
            cv, ct = val.get("c_index") or {}, test.get("c_index") or {}
            for code in cv or ct:
                rows.append((f"C-index {code}", cv.get(code), ct.get(code)))
            rows.append(("CoxPH loss", val.get("loss"), test.get("loss")))
            rows.append(("Subjects", val.get("n_subjects"), test.get("n_subjects")))
        else:
            rows.append(("Contrastive loss", val.get("loss"), test.get("loss")))
            rows.append(("Retrieval accuracy", val.get("retrieval_accuracy"), test.get("retrieval_accuracy")))
            rows.append(("5-min chunks", val.get("n_chunks"), test.get("n_chunks")))
        rows.append(("Training loss (best epoch)", val.get("train_loss"), None))
        self.metrics_table.setRowCount(len(rows))
        for i, (label, v, t) in enumerate(rows):
            for col, text in enumerate((label, format_value(v), format_value(t))):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.metrics_table.setItem(i, col, item)
        part, source = ("test", test) if (test.get("epoch") or {}).get("confusion_matrix") else ("validation", val)
        cm = (source.get("epoch") or {}).get("confusion_matrix")
        if kind == "staging" and cm:
            labels = list((source.get("epoch") or {}).get("labels") or [])
            self.confusion.set_matrix(cm, labels)
            self.confusion_label.setText(f"<b>Confusion matrix</b>, {part} nights, 30-s epochs "
                                         "(rows: reference stage, columns: predicted).")
            self.confusion.show()
        else:
            self.confusion.setRowCount(0)
            self.confusion.setColumnCount(0)
            self.confusion.matrix = []
            self.confusion.hide()
            self.confusion_label.setText("" if kind == "staging" else
                                         "<i>No confusion matrix for this task.</i>")
        self.register_name.setText(_registry_name(result.output))
        pre = kind == "pretraining"
        self.register_check.setVisible(not pre)
        self.register_name.setVisible(not pre)
        self.use_button.setText("Fine-tune a head on it" if pre else "Use this model")


# --------------------------------------------------------------------------------- opening
def open_finetune_dialog(parent: QWidget | None = None, on_model_chosen=None, jobs=None) -> FinetuneDialog:
    """Show the fine-tune dialog of ``parent`` (created once per parent, then raised).

    Parameters
    ----------
    parent : QWidget, optional
        The main window; the dialog stays on top of it and is reused.
    on_model_chosen : callable, optional
        Connected (once) to :attr:`FinetuneDialog.modelChosen`; receives the model folder.
    jobs : JobManager, optional
        The main window's job manager (the run then shows in its jobs panel).

    Returns
    -------
    FinetuneDialog
    """
    dialog = parent.findChild(FinetuneDialog, OBJECT_NAME) if parent is not None else None
    if dialog is None:
        dialog = FinetuneDialog(parent, jobs=jobs)
        if on_model_chosen is not None:
            dialog.modelChosen.connect(on_model_chosen)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
