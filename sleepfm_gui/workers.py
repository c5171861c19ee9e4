"""Engine jobs on worker threads, reported through Qt signals on the GUI thread.

A :class:`JobWorker` runs one :class:`sleepfm_engine.jobs.Job` on its own (non-daemon) Python
thread. The job's progress callbacks fire on that thread; they are throttled and relayed through
a queued connection, so every public signal is emitted on the thread that owns the worker (the
GUI thread) and slots may touch widgets. Cancelling sets the job's flag; the compute function
stops at its next ``check_cancelled``.
"""
from __future__ import annotations

import threading
import time
import warnings
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from sleepfm_engine.errors import JobCancelled
from sleepfm_engine.jobs import Job, Progress

__all__ = ["JobWorker", "RemoteJobWorker"]

#: Worker states.
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "pending", "running", "succeeded", "failed", "cancelled"


class _Worker(QObject):
    """What both workers share: the signals, the state, and the delivery on the GUI thread.

    Signals
    -------
    progressChanged(float, str)
        Fraction done and what the job is doing.
    succeeded(object)
        The job's return value.
    failed(object)
        The exception the job raised (describe it with :func:`sleepfm_gui.errors.describe_exception`).
    cancelled()
        The job stopped because it was cancelled.
    finished()
        Emitted last, after exactly one of the three above.
    eventReceived(object)
        An event the job reported besides its progress (a training event).
    """

    progressChanged = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()
    eventReceived = Signal(object)
    # Internal: (kind, payload) emitted on another thread, delivered on the GUI thread.
    _relay = Signal(str, object)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self._name = name
        self.state = PENDING
        self.result: Any = None
        self.error: BaseException | None = None
        self.fraction = 0.0
        self.message = ""
        self._relay.connect(self._on_relay, Qt.QueuedConnection)

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_running(self) -> bool:
        """True from :meth:`start` until ``finished`` is emitted."""
        return self.state == RUNNING

    def _begin(self) -> None:
        if self.state != PENDING:
            raise RuntimeError(f"job {self.name!r} was already started")
        self.state = RUNNING

    def disconnect_all(self) -> None:
        """Drop every connection to the public signals (a stale job must not reach the UI)."""
        with warnings.catch_warnings():
            # PySide warns when a signal had no connection to drop; that is fine here.
            warnings.simplefilter("ignore", RuntimeWarning)
            for sig in (self.progressChanged, self.succeeded, self.failed, self.cancelled,
                        self.eventReceived):
                try:
                    sig.disconnect()
                except (RuntimeError, TypeError):
                    pass  # nothing connected

    def _ended(self) -> None:
        """Called on the GUI thread just before the outcome is delivered."""

    @Slot(str, object)
    def _on_relay(self, kind: str, payload: object) -> None:
        if kind in ("progress", "event"):
            if self.state != RUNNING:
                return
            if kind == "event":
                self.eventReceived.emit(payload)
                return
            self.fraction, self.message = payload  # type: ignore[misc]
            self.progressChanged.emit(self.fraction, self.message)
            return
        self._ended()
        self.state = kind
        if kind == SUCCEEDED:
            self.result, self.fraction = payload, 1.0
            self.succeeded.emit(payload)
        elif kind == FAILED:
            self.error = payload  # type: ignore[assignment]
            self.failed.emit(payload)
        else:
            self.cancelled.emit()
        self.finished.emit()


class JobWorker(_Worker):
    """Run an engine :class:`~sleepfm_engine.jobs.Job` on a thread and report through signals.

    Parameters
    ----------
    job : Job
        The job to run.
    parent : QObject, optional
    progress_interval : float
        Minimum seconds between two ``progressChanged`` signals (the last update always
        arrives), so a chatty job cannot flood the event loop.
    """

    def __init__(self, job: Job, parent: QObject | None = None, progress_interval: float = 0.05):
        if not isinstance(job, Job):
            raise TypeError(f"JobWorker needs a sleepfm_engine.jobs.Job, got {type(job).__name__}")
        super().__init__(job.name, parent)
        self.job = job
        self._interval = float(progress_interval)
        self._last_emit = 0.0
        self._thread: threading.Thread | None = None
        self._pending: Progress | None = None
        job.add_progress_callback(self._on_progress)

    def start(self) -> None:
        """Start the job on a new thread (once)."""
        self._begin()
        self._thread = threading.Thread(target=self._run, name=f"sleepfm-job: {self.name}")
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next cancellation check (returns at once)."""
        self.job.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread has ended; True if it has (signals may still be queued)."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    # -- worker thread -----------------------------------------------------------------------
    def _on_progress(self, p: Progress) -> None:
        now = time.monotonic()
        if p.fraction < 1.0 and now - self._last_emit < self._interval:
            self._pending = p
            return
        self._pending = None
        self._last_emit = now
        self._relay.emit("progress", (p.fraction, p.message))

    def _run(self) -> None:
        try:
            result = self.job.run()
        except JobCancelled:
            kind, payload = CANCELLED, None
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never swallowed
            kind, payload = FAILED, exc
        else:
            kind, payload = SUCCEEDED, result
        if self._pending is not None:
            self._relay.emit("progress", (self._pending.fraction, self._pending.message))
        self._relay.emit(kind, payload)

    def _ended(self) -> None:
        # The thread emits its outcome as its very last act: joining here is immediate.
        self.wait()


class RemoteJobWorker(_Worker):
    """A job run by the analysis process (:class:`~sleepfm_gui.analysis_server.AnalysisServer`).

    Same signals and attributes as :class:`JobWorker`; the work happens in another process, so
    nothing it does can hold this process's interpreter lock.
    """

    #: The analysis process's outcome names -> worker states.
    _OUTCOMES = {"done": SUCCEEDED, "failed": FAILED, "cancelled": CANCELLED}

    def __init__(self, server: Any, name: str, task: str, kwargs: dict,
                 parent: QObject | None = None):
        super().__init__(name, parent)
        self.server = server
        self.task = task
        self.kwargs = dict(kwargs)
        self.cancel_requested = False
        self._id: int | None = None
        self._done = threading.Event()

    def start(self) -> None:
        from .analysis_server import RemoteError

        self._begin()
        try:
            self._id = self.server.submit(self.task, self.kwargs, self._on_event)
        except RemoteError as exc:  # the analysis process could not start: the job fails, readably
            self._on_event("failed", exc)

    def cancel(self) -> None:
        self.cancel_requested = True
        if self._id is not None:
            self.server.cancel(self._id)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the analysis process reported the end of this job."""
        if self._id is None:
            return True
        return self._done.wait(timeout)

    def _on_event(self, kind: str, payload: Any) -> None:  # reader thread
        kind = self._OUTCOMES.get(kind, kind)
        # Posted before the end is signalled: whoever waits on the end finds the outcome queued.
        self._relay.emit(kind, payload)
        if kind not in ("progress", "event"):
            self._done.set()
