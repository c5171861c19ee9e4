"""SleepFM analysis in a separate process, so the window's event loop never waits on it (Qt-free).

Running torch in the GUI process stalls the event loop for hundreds of milliseconds: importing
torch and scipy and loading models hold the interpreter lock while C code runs. The analysis
therefore runs in a child process (``spawn``), started ahead of need and kept for later jobs so
models and the night's embeddings are loaded once. The child runs the engine's one night
analysis (:class:`sleepfm_engine.analysis.Analyser`); this module is only the transport. The
parent talks to it over a pipe:

- parent → child: ``("run", id, task, kwargs)``, ``("cancel", id)``, ``("quit",)``;
- child → parent: ``("progress", id, fraction, message)``, ``("event", id, payload)`` (a
  training event), ``("done", id, result)``, ``("failed", id, error_type, message,
  traceback_text)``, ``("cancelled", id)``.

Fine-tuning runs here too (tasks ``scan`` and ``train``), and the event detectors (task
``detect``): every torch job of the application lives in this one process, under one thread
policy (:func:`analysis_threads`).

Exceptions cross as text: the message is what :func:`sleepfm_gui.errors.describe_exception`
made of them in the child, the traceback goes to the parent's log.
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
import traceback
from typing import Any, Callable

from sleepfm_engine.errors import SleepFMError

log = logging.getLogger("sleepfm_gui")

__all__ = ["AnalysisServer", "RemoteError", "TASKS", "night_request", "analysis_threads"]

#: Night-analysis tasks of the window -> products of the night analysis.
_NIGHT_PRODUCTS: dict[str, tuple[str, ...]] = {"staging": ("stage",), "risk": ("risk",),
                                               "embeddings": ()}
#: 5-min chunks per forward in the application (a CPU-friendly size; the window shares the CPU).
APP_BATCH_SIZE = 16
# Seconds between two progress messages of a job (the last one always goes).
_PROGRESS_INTERVAL = 0.05


def analysis_threads() -> int:
    """Threads torch and channel decoding may use in the analysis process: all cores but one,
    which the window's event loop keeps."""
    return max(1, (os.cpu_count() or 2) - 1)


def night_request(task: str, kwargs: dict) -> Any:
    """The engine request for an analysis ``task`` of the window.

    Parameters
    ----------
    task : str
        ``"staging"``, ``"risk"`` or ``"embeddings"`` (see :data:`TASKS`).
    kwargs : dict
        ``recording``, ``model``, ``device``, ``overrides``; ``age`` and ``sex`` for risk;
        ``out`` (the HDF5 file) for embeddings.

    Returns
    -------
    sleepfm_engine.analysis.NightRequest
    """
    from sleepfm_engine.analysis import NightRequest
    from sleepfm_engine.provenance import provenance_path

    out = kwargs.get("out")
    return NightRequest(
        str(kwargs["recording"]), str(kwargs["model"]),
        products=_NIGHT_PRODUCTS[task], device=kwargs.get("device", "auto"),
        batch_size=APP_BATCH_SIZE, workers=analysis_threads(),
        overrides=dict(kwargs.get("overrides", {})), age=kwargs.get("age"), sex=kwargs.get("sex"),
        outputs={"embed": str(out)} if out else {},
        provenance_file=str(provenance_path(out)) if out else None)


class RemoteError(SleepFMError):
    """An error raised in the analysis process; the message is already readable."""

    def __init__(self, message: str, error_type: str = "", details: str = ""):
        super().__init__(message)
        self.error_type = error_type
        self.details = details


# ------------------------------------------------------------------------ tasks (in the child)
def _night_task(task: str) -> Callable[..., Any]:
    def run(analyser, state, kwargs: dict, emit) -> Any:
        return analyser.run(state, night_request(task, kwargs)).without_embeddings()
    return run


def _warm_up(analyser, state, kwargs: dict, emit) -> None:
    state.set_status("loading torch and the models")
    analyser.warm_up(state, kwargs.get("model"), kwargs.get("device", "auto"))


def _scan(analyser, state, kwargs: dict, emit) -> Any:
    from sleepfm_engine.training.cohort import discover_cohort

    return discover_cohort(kwargs["folder"], kwargs["task"], state=state)


def _train(analyser, state, kwargs: dict, emit) -> Any:
    from sleepfm_engine.training import PretrainConfig, run_finetune, run_pretrain

    config = kwargs["config"]
    run = run_pretrain if isinstance(config, PretrainConfig) else run_finetune
    return run(config, state=state, callbacks=[emit])


def _detect(analyser, state, kwargs: dict, emit) -> Any:
    """Score the night's events with a registered detector (``detector``, ``hypnogram``,
    ``overrides``, ``settings``); returns its :class:`~sleepfm_engine.detectors.Detection`."""
    from sleepfm_engine.channels import ChannelMap
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.recording import open_recording

    detector = get_detector(kwargs["detector"])
    with open_recording(kwargs["recording"]) as rec:
        cmap = ChannelMap.from_recording(rec, overrides=dict(kwargs.get("overrides") or {}))
        detection = detector.detect(rec, kwargs.get("hypnogram"), state=state, channel_map=cmap,
                                    **dict(kwargs.get("settings") or {}))
    # The library's own result is for audit in-process; it need not pickle to the window.
    detection.library_result = None
    return detection


#: Tasks the child runs: name -> ``fn(analyser, state, kwargs, emit_event)``.
_HANDLERS: dict[str, Callable[..., Any]] = {
    **{task: _night_task(task) for task in _NIGHT_PRODUCTS},
    "warmup": _warm_up, "scan": _scan, "train": _train, "detect": _detect}
TASKS: tuple[str, ...] = tuple(_HANDLERS)


# ----------------------------------------------------------------------------------- child
def _child_main(conn) -> None:  # pragma: no cover - runs in the child process
    from sleepfm_engine.analysis import Analyser
    from sleepfm_engine.errors import JobCancelled
    from sleepfm_engine.jobs import TaskState

    from .errors import describe_exception

    analyser = Analyser()
    torch_ready = threading.Event()
    send_lock = threading.Lock()
    cancels: dict[int, threading.Event] = {}
    threads: list[threading.Thread] = []

    def send(*msg) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except (OSError, EOFError, BrokenPipeError):
                pass  # the parent is gone; nothing left to tell

    def torch_policy() -> None:
        # One policy for every job of this process (staging, risk, embeddings, training).
        if not torch_ready.is_set():
            import torch

            torch.set_num_threads(analysis_threads())
            torch_ready.set()

    def run(job_id: int, task: str, kwargs: dict) -> None:
        last = [0.0]

        def progress(p) -> None:
            now = time.monotonic()
            if p.fraction < 1.0 and now - last[0] < _PROGRESS_INTERVAL:
                return
            last[0] = now
            send("progress", job_id, p.fraction, p.message)

        state = TaskState([progress], cancels[job_id])
        try:
            torch_policy()
            result = _HANDLERS[task](analyser, state, kwargs,
                                     lambda payload: send("event", job_id, payload))
        except JobCancelled:
            send("cancelled", job_id)
        except BaseException as exc:  # noqa: BLE001 - sent to the parent as text
            send("failed", job_id, type(exc).__name__, describe_exception(exc),
                 "".join(traceback.format_exception(exc)))
        else:
            send("done", job_id, result)
        finally:
            cancels.pop(job_id, None)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        kind = msg[0]
        if kind == "run":
            _, job_id, task, kwargs = msg
            cancels[job_id] = threading.Event()
            t = threading.Thread(target=run, args=(job_id, task, kwargs), name=f"analysis-{job_id}")
            threads.append(t)
            t.start()
        elif kind == "cancel":
            ev = cancels.get(msg[1])
            if ev is not None:
                ev.set()
        elif kind == "quit":
            break
    for ev in list(cancels.values()):
        ev.set()
    for t in threads:
        t.join()
    send("bye")
    conn.close()


# ---------------------------------------------------------------------------------- parent
class AnalysisServer:
    """The parent's handle on the analysis process (started on first use, reused after).

    ``submit`` returns a job id; ``on_event(kind, payload)`` is called on a reader thread with
    ``("progress", (fraction, message))``, ``("event", payload)``, ``("done", result)``,
    ``("failed", RemoteError)`` or ``("cancelled", None)``; exactly one of the last three ends
    each job.
    """

    def __init__(self):
        self._proc: Any = None
        self._conn: Any = None
        self._reader: threading.Thread | None = None
        self._handlers: dict[int, Callable[[str, Any], None]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def start(self) -> None:
        """Start the child process if it is not running (returns at once)."""
        with self._lock:
            if self.running:
                return
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_child_main, args=(child,), name="sleepfm-analysis",
                               daemon=True)
            try:
                proc.start()
            except (OSError, RuntimeError, ValueError) as exc:
                # No memory for a new process, a broken interpreter, a locked-down system: say
                # so as an analysis failure; the viewer and manual scoring need no child.
                parent.close()
                child.close()
                raise RemoteError(f"The analysis process could not start ({exc}). SleepFM staging, "
                                  "risk, event detection and fine-tuning need it; viewing and "
                                  "manual scoring still work.", type(exc).__name__) from exc
            child.close()
            self._proc, self._conn = proc, parent
            self._reader = threading.Thread(target=self._read, args=(parent,),
                                            name="sleepfm-analysis-reader")
            self._reader.start()

    def submit(self, task: str, kwargs: dict, on_event: Callable[[str, Any], None]) -> int:
        """Run ``task`` (one of :data:`TASKS`) with ``kwargs`` in the child; returns its id.

        Raises
        ------
        RemoteError
            When the analysis process cannot be started.
        """
        if task not in TASKS:
            raise ValueError(f"unknown analysis task {task!r}; known: {', '.join(TASKS)}")
        self.start()
        job_id = next(self._ids)
        with self._lock:
            self._handlers[job_id] = on_event
            self._conn.send(("run", job_id, task, dict(kwargs)))
        return job_id

    def cancel(self, job_id: int) -> None:
        with self._lock:
            if job_id in self._handlers and self._conn is not None:
                try:
                    self._conn.send(("cancel", job_id))
                except (OSError, BrokenPipeError):
                    pass

    def close(self, timeout: float = 10.0) -> None:
        """Cancel every job, stop the child and the reader thread (waits up to ``timeout``)."""
        with self._lock:
            proc, conn, reader = self._proc, self._conn, self._reader
            if conn is not None:
                try:
                    for job_id in list(self._handlers):
                        conn.send(("cancel", job_id))
                    conn.send(("quit",))
                except (OSError, BrokenPipeError):
                    pass
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                log.warning("the analysis process did not stop in %.0f s; terminating it", timeout)
                proc.terminate()
                proc.join(5.0)
        if conn is not None:
            conn.close()
        if reader is not None:
            reader.join(timeout)
        with self._lock:
            self._proc = self._conn = self._reader = None

    def _read(self, conn) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            kind = msg[0]
            if kind == "bye":
                break
            job_id = msg[1]
            with self._lock:
                handler = self._handlers.get(job_id)
                if kind in ("done", "failed", "cancelled"):
                    self._handlers.pop(job_id, None)
            if handler is None:
                continue
            if kind == "progress":
                handler("progress", (msg[2], msg[3]))
            elif kind == "event":
                handler("event", msg[2])
            elif kind == "done":
                handler("done", msg[2])
            elif kind == "failed":
                _, _, etype, message, details = msg
                log.error("analysis job failed in the analysis process:\n%s", details)
                handler("failed", RemoteError(message, etype, details))
            else:
                handler("cancelled", None)
        # The child ended: whatever was still running cannot finish.
        with self._lock:
            orphans, self._handlers = self._handlers, {}
        for handler in orphans.values():
            handler("failed", RemoteError("the analysis process ended unexpectedly (it may have "
                                          "run out of memory); the job did not finish"))
