"""Jobs: long operations that report progress and stop cooperatively.

A compute function sees only a :class:`TaskState` (``set_progress``, ``set_status``,
``is_interruption_requested`` and the convenience ``check_cancelled``), never a GUI or a
terminal. The CLI drives a job with a text progress bar; the GUI drives the same job on a
worker thread and turns the callbacks into Qt signals.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .errors import JobCancelled

ProgressCallback = Callable[["Progress"], None]


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job's progress.

    Attributes
    ----------
    fraction : float
        Completed fraction in [0, 1].
    message : str
        What the job is doing now.
    """

    fraction: float
    message: str


class TaskState:
    """What a compute function is allowed to see of the job that runs it.

    Parameters
    ----------
    callbacks : list of callable, optional
        Called with a :class:`Progress` on every update, from the thread that runs the job.
    cancel_event : threading.Event, optional
        Set by another thread to ask the job to stop.
    """

    def __init__(self, callbacks: list[ProgressCallback] | None = None,
                 cancel_event: threading.Event | None = None):
        # Shared, not copied: callbacks a Job registers after creating its state must be seen.
        self._callbacks = callbacks if callbacks is not None else []
        self._cancel = cancel_event or threading.Event()
        self._fraction = 0.0
        self._message = ""

    @property
    def progress(self) -> Progress:
        return Progress(self._fraction, self._message)

    def set_progress(self, fraction: float) -> None:
        """Report the completed fraction (clipped to [0, 1])."""
        self._fraction = min(1.0, max(0.0, float(fraction)))
        self._emit()

    def add_callback(self, cb: ProgressCallback) -> None:
        """Register ``cb(progress)``, called on every update from the job's thread."""
        self._callbacks.append(cb)

    def set_status(self, message: str) -> None:
        """Report what the job is doing now."""
        self._message = str(message)
        self._emit()

    def is_interruption_requested(self) -> bool:
        """True once someone asked the job to stop."""
        return self._cancel.is_set()

    def request_interruption(self) -> None:
        """Ask the job to stop at its next check."""
        self._cancel.set()

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if an interruption was requested."""
        if self._cancel.is_set():
            raise JobCancelled("cancelled by the user")

    def sub(self, start: float, stop: float) -> "SubTaskState":
        """A view of this state whose progress 0..1 maps onto ``start..stop`` here."""
        return SubTaskState(self, start, stop)

    def _emit(self) -> None:
        p = self.progress
        for cb in self._callbacks:
            cb(p)


class SubTaskState(TaskState):
    """A slice of a parent's progress range, sharing its cancel flag and callbacks."""

    def __init__(self, parent: TaskState, start: float, stop: float):
        self._parent = parent
        self._start = float(start)
        self._stop = float(stop)

    @property
    def progress(self) -> Progress:
        return self._parent.progress

    def set_progress(self, fraction: float) -> None:
        f = min(1.0, max(0.0, float(fraction)))
        self._parent.set_progress(self._start + (self._stop - self._start) * f)

    def set_status(self, message: str) -> None:
        self._parent.set_status(message)

    def is_interruption_requested(self) -> bool:
        return self._parent.is_interruption_requested()

    def request_interruption(self) -> None:
        self._parent.request_interruption()

    def check_cancelled(self) -> None:
        self._parent.check_cancelled()

    def sub(self, start: float, stop: float) -> "SubTaskState":
        span = self._stop - self._start
        return SubTaskState(self._parent, self._start + span * start, self._start + span * stop)


class Job:
    """A named unit of long work: ``fn(state, *args, **kwargs)``.

    Parameters
    ----------
    name : str
        What the job does, for progress displays.
    fn : callable
        The compute function; its first argument is a :class:`TaskState`.
    *args, **kwargs
        Passed on to ``fn``.

    Notes
    -----
    ``run`` executes in the calling thread; ``cancel`` may be called from any thread and takes
    effect at the compute function's next ``check_cancelled``/``is_interruption_requested``.
    """

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self.name = name
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._cancel = threading.Event()
        self._callbacks: list[ProgressCallback] = []
        self.state = TaskState(self._callbacks, self._cancel)

    def add_progress_callback(self, cb: ProgressCallback) -> None:
        """Register ``cb(progress)``; called from the thread running the job."""
        self._callbacks.append(cb)

    def cancel(self) -> None:
        """Ask the job to stop between units of work."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> Any:
        """Run the job here and return what the compute function returns.

        Raises
        ------
        JobCancelled
            If the job was cancelled before it finished.
        """
        self.state.check_cancelled()
        return self._fn(self.state, *self._args, **self._kwargs)


class ConsoleProgress:
    """A text progress bar on stderr for the CLI (quiet when stderr is not a terminal)."""

    def __init__(self, label: str, stream=None, width: int = 30, min_interval: float = 0.1):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.min_interval = min_interval
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, p: Progress) -> None:
        if not self._tty:
            return
        now = time.monotonic()
        if p.fraction < 1.0 and now - self._last < self.min_interval:
            return
        self._last = now
        filled = int(round(self.width * p.fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {100 * p.fraction:5.1f}% {p.message[:50]:<50}")
        if p.fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()
