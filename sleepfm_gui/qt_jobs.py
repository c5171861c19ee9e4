"""The jobs panel: every engine job with a progress bar, its message and a cancel button.

:class:`JobManager` starts :class:`~sleepfm_gui.workers.JobWorker` s, keeps one job per *key*
(starting a job under a key that is busy cancels the old one and disconnects it, so a stale
result never lands in the window), reports failures as a readable dialog, and on shutdown
cancels everything and waits for the threads.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
                               QToolButton, QVBoxLayout, QWidget)

from sleepfm_engine.jobs import Job

from . import errors
from .workers import CANCELLED, FAILED, SUCCEEDED, JobWorker, RemoteJobWorker

__all__ = ["JobManager", "JobsPanel"]


class JobManager(QObject):
    """Starts engine jobs on worker threads and keeps track of them.

    Parameters
    ----------
    parent : QObject, optional
        Also the parent of error dialogs when it is a widget.

    Signals
    -------
    jobAdded(object)
        A :class:`JobWorker` was started.
    jobFinished(object)
        A worker finished (succeeded, failed or cancelled).
    """

    jobAdded = Signal(object)
    jobFinished = Signal(object)

    def __init__(self, parent: QObject | None = None, dialog_parent=None):
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self._workers: list[JobWorker] = []
        self._by_key: dict[str, JobWorker] = {}

    @property
    def workers(self) -> list[JobWorker]:
        """Workers not yet finished (stale ones included until their thread ends)."""
        return list(self._workers)

    def running(self, key: str | None = None) -> list[JobWorker]:
        """Running workers (the one under ``key`` only, when given)."""
        if key is not None:
            w = self._by_key.get(key)
            return [w] if w is not None and w.is_running else []
        return [w for w in self._workers if w.is_running]

    def submit(self, job: Job | RemoteJobWorker, *, key: str | None = None,
               on_success: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               on_cancel: Callable[[], None] | None = None,
               error_title: str | None = None, show_errors: bool = True) -> JobWorker:
        """Start ``job`` on a worker thread and return its worker.

        Parameters
        ----------
        job : Job or RemoteJobWorker
            An engine job (run on a thread here) or a job of the analysis process.
        key : str, optional
            At most one job runs per key: a running job under the same key is cancelled and
            disconnected first (its result, if it still produces one, is dropped).
        on_success, on_error, on_cancel : callable, optional
            Called on the GUI thread with the result, the exception, or nothing.
        error_title : str, optional
            Title of the error dialog (default: "<job name> failed").
        show_errors : bool
            Show a readable error dialog when the job fails.
        """
        if key is not None:
            old = self._by_key.pop(key, None)
            if old is not None and old.is_running:
                old.disconnect_all()
                old.cancel()
        worker = job if isinstance(job, RemoteJobWorker) else JobWorker(job)
        if on_success is not None:
            worker.succeeded.connect(on_success)
        if on_cancel is not None:
            worker.cancelled.connect(on_cancel)
        title = error_title or f"{worker.name} failed"

        def failed(exc: BaseException) -> None:
            if on_error is not None:
                on_error(exc)
            if show_errors:
                errors.report_exception(self._dialog_parent, title, exc)

        worker.failed.connect(failed)
        worker.finished.connect(lambda w=worker, k=key: self._on_finished(w, k))
        self._workers.append(worker)
        if key is not None:
            self._by_key[key] = worker
        worker.start()
        self.jobAdded.emit(worker)
        return worker

    def cancel(self, key: str) -> None:
        """Cancel the job running under ``key`` (if any)."""
        w = self._by_key.get(key)
        if w is not None:
            w.cancel()

    def cancel_all(self) -> None:
        for w in self._workers:
            w.cancel()

    def shutdown(self, timeout: float | None = None) -> bool:
        """Cancel every job and wait for its thread; True when all have ended.

        Queued results of cancelled jobs are dropped (their connections are cut first), and
        the event loop keeps running while waiting so the window stays painted.
        """
        for w in self._workers:
            w.disconnect_all()
            w.cancel()
        deadline = None if timeout is None else time.monotonic() + timeout
        for w in list(self._workers):
            while not w.wait(0.05):
                QCoreApplication.processEvents(QEventLoop.ExcludeUserInputEvents)
                if deadline is not None and time.monotonic() > deadline:
                    return False
        # Deliver the final (now disconnected) relays so every worker reaches "finished".
        QCoreApplication.processEvents(QEventLoop.ExcludeUserInputEvents)
        return True

    def _on_finished(self, worker: JobWorker, key: str | None) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        if key is not None and self._by_key.get(key) is worker:
            del self._by_key[key]
        self.jobFinished.emit(worker)


class _JobRow(QWidget):
    """One job in the panel: name, progress bar, message, cancel button."""

    def __init__(self, worker: JobWorker, parent=None):
        super().__init__(parent)
        self.worker = worker
        self.name = QLabel(f"<b>{worker.name}</b>")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.message = QLabel("starting…")
        self.message.setStyleSheet("color: #555")
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this job (it stops between two units of work)")
        self.cancel_button.clicked.connect(self._cancel)
        self.name.setWordWrap(True)
        self.bar.setMinimumWidth(60)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(1)
        lay.addWidget(self.name)
        lay.addLayout(row)
        lay.addWidget(self.message)
        worker.progressChanged.connect(self._on_progress)
        worker.finished.connect(self._on_finished)

    def _cancel(self) -> None:
        self.worker.cancel()
        self.cancel_button.setEnabled(False)
        self.message.setText("cancelling…")

    def _on_progress(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(round(fraction * 1000)))
        if message:
            self.message.setText(message)

    def _on_finished(self) -> None:
        w = self.worker
        self.cancel_button.setEnabled(False)
        if w.state == SUCCEEDED:
            self.bar.setValue(1000)
            self.message.setText("done")
        elif w.state == FAILED:
            self.message.setText(f"<span style='color:#B00'>failed: "
                                 f"{errors.describe_exception(w.error)}</span>")
        elif w.state == CANCELLED:
            self.message.setText("cancelled")


class JobsPanel(QWidget):
    """Lists the jobs of a :class:`JobManager`, newest first; finished ones stay until cleared."""

    def __init__(self, manager: JobManager, parent=None, keep_finished: int = 20):
        super().__init__(parent)
        self.manager = manager
        self._keep = int(keep_finished)
        self.rows: list[_JobRow] = []
        self._list = QWidget()
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._list)
        self.empty = QLabel("<i>No jobs yet. Analysis runs here, with progress and a cancel "
                            "button.</i>")
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        head = QHBoxLayout()
        head.addWidget(self.empty, 1)
        head.addWidget(self.clear_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(head)
        lay.addWidget(scroll, 1)
        manager.jobAdded.connect(self._add)

    def row_for(self, worker: JobWorker) -> _JobRow | None:
        for r in self.rows:
            if r.worker is worker:
                return r
        return None

    def _add(self, worker: JobWorker) -> None:
        row = _JobRow(worker, self._list)
        self._list_layout.insertWidget(0, row)
        self.rows.insert(0, row)
        self.empty.hide()
        finished = [r for r in self.rows if not r.worker.is_running]
        for r in finished[self._keep:]:
            self._remove(r)

    def _remove(self, row: _JobRow) -> None:
        self.rows.remove(row)
        self._list_layout.removeWidget(row)
        row.deleteLater()

    def clear_finished(self) -> None:
        for r in [r for r in self.rows if not r.worker.is_running]:
            self._remove(r)
        self.empty.setVisible(not self.rows)
