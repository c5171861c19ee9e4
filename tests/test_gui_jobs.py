"""Engine jobs on worker threads: progress, cancel, readable errors, stale jobs, shutdown."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from sleepfm_engine.errors import RecordingError  # noqa: E402
from sleepfm_engine.jobs import Job  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.qt_jobs import JobManager, JobsPanel  # noqa: E402
from sleepfm_gui.workers import JobWorker  # noqa: E402


def _stepping_job(gate: threading.Event, steps: int = 1000):
    """A job that reports progress each step and waits on ``gate`` between steps."""
    def fn(state):
        for i in range(steps):
            state.check_cancelled()
            state.set_status(f"step {i}")
            state.set_progress(i / steps)
            gate.wait(0.01)
        return "done"
    return Job("Stepping", fn)


def test_progress_reaches_the_gui_thread_and_cancel_stops_the_job(qtbot):
    gate = threading.Event()
    worker = JobWorker(_stepping_job(gate))
    seen = []
    main = threading.get_ident()
    worker.progressChanged.connect(lambda f, m: seen.append((f, m, threading.get_ident())))
    with qtbot.waitSignal(worker.progressChanged, timeout=5000):
        worker.start()
    assert worker.is_running and seen and all(t == main for *_, t in seen)
    assert seen[-1][1].startswith("step")
    with qtbot.waitSignals([worker.cancelled, worker.finished], timeout=5000, order="strict"):
        worker.cancel()
    assert worker.state == "cancelled" and not worker.is_running
    assert worker.wait(0)  # the thread has ended


def test_result_and_failure_are_delivered_once_with_a_readable_message(qtbot):
    ok = JobWorker(Job("Sum", lambda state, a, b: a + b, 2, 3))
    with qtbot.waitSignal(ok.succeeded, timeout=5000) as sig:
        ok.start()
    assert sig.args == [5] and ok.result == 5 and ok.fraction == 1.0

    def broken(state):
        raise RecordingError("/data/night.edf", "the file is truncated")

    bad = JobWorker(Job("Open", broken))
    with qtbot.waitSignal(bad.failed, timeout=5000) as sig:
        bad.start()
    text = errors.describe_exception(sig.args[0])
    assert text == "/data/night.edf: the file is truncated"
    assert "Traceback" not in text
    with pytest.raises(RuntimeError, match="already started"):
        bad.start()


def test_unexpected_errors_say_what_failed_and_log_the_traceback(qtbot, monkeypatch, caplog):
    shown = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, text: shown.append((title, text)))
    manager = JobManager()

    def buggy(state):
        return {}["missing"] / 0

    worker = manager.submit(Job("Buggy", buggy))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    assert shown and shown[0][0] == "Buggy failed"
    assert "'missing'" in shown[0][1] or "missing" in shown[0][1]
    assert "Traceback" not in shown[0][1]
    zero = manager.submit(Job("Divide", lambda state: 1 / 0))
    with qtbot.waitSignal(zero.finished, timeout=5000):
        pass
    assert "ZeroDivisionError" in shown[-1][1] and "bug" in shown[-1][1]
    assert any("Traceback" in r.getMessage() or r.exc_info for r in caplog.records)


def test_a_new_job_under_the_same_key_cancels_and_disconnects_the_stale_one(qtbot):
    manager = JobManager()
    panel = JobsPanel(manager)
    qtbot.addWidget(panel)
    gate = threading.Event()
    results = []
    old = manager.submit(_stepping_job(gate), key="staging", on_success=lambda r: results.append("old"))
    with qtbot.waitSignal(old.progressChanged, timeout=5000):
        pass
    new = manager.submit(Job("Quick", lambda state: "new"), key="staging",
                         on_success=lambda r: results.append(r))
    with qtbot.waitSignals([old.finished, new.finished], timeout=5000):
        pass
    assert results == ["new"]
    assert old.state == "cancelled"
    assert manager.workers == []
    assert len(panel.rows) == 2 and panel.row_for(new).message.text() == "done"
    assert panel.row_for(old).message.text() == "cancelled"


def test_cancel_button_and_shutdown_wait_for_the_threads(qtbot):
    manager = JobManager()
    panel = JobsPanel(manager)
    qtbot.addWidget(panel)
    gate = threading.Event()
    a = manager.submit(_stepping_job(gate), key="a")
    b = manager.submit(_stepping_job(gate), key="b")
    with qtbot.waitSignal(a.progressChanged, timeout=5000):
        pass
    with qtbot.waitSignal(a.cancelled, timeout=5000):
        panel.row_for(a).cancel_button.click()
    assert b.is_running
    assert manager.shutdown(timeout=10)
    assert b.wait(0) is not False and b.state == "cancelled"
    panel.clear_finished()
    assert panel.rows == []


def test_an_analysis_process_that_cannot_start_fails_the_job_with_a_readable_message(qtbot,
                                                                                    monkeypatch):
    from sleepfm_gui import analysis_server
    from sleepfm_gui.analysis_server import AnalysisServer
    from sleepfm_gui.workers import RemoteJobWorker

    real = analysis_server.mp.get_context

    class NoProcess:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            raise OSError(12, "Cannot allocate memory")

    def context(method):
        ctx = real(method)
        monkeypatch.setattr(ctx, "Process", NoProcess)
        return ctx

    monkeypatch.setattr(analysis_server.mp, "get_context", context)
    server = AnalysisServer()
    worker = RemoteJobWorker(server, "Sleep staging", "staging", {})
    with qtbot.waitSignal(worker.failed, timeout=5000) as sig:
        worker.start()
    text = errors.describe_exception(sig.args[0])
    assert "analysis process could not start" in text and "Cannot allocate memory" in text
    assert "Traceback" not in text and not server.running
    server.close()
