"""Jobs: progress reaches callbacks registered at any time; cancellation is cooperative."""
import threading

import pytest

from sleepfm_engine.errors import JobCancelled
from sleepfm_engine.jobs import Job


def _work(state, n):
    for i in range(n):
        state.check_cancelled()
        state.set_status(f"unit {i}")
        state.set_progress((i + 1) / n)
    return "done"


def test_callbacks_added_after_creation_receive_progress():
    job = Job("count", _work, 4)
    seen = []
    job.add_progress_callback(lambda p: seen.append(p.fraction))
    assert job.run() == "done"
    assert seen[-1] == 1.0 and 0.25 in seen


def test_sub_state_maps_progress_into_its_range():
    job = Job("outer", lambda st: _work(st.sub(0.5, 1.0), 2))
    seen = []
    job.add_progress_callback(lambda p: seen.append(round(p.fraction, 3)))
    job.run()
    assert seen[-1] == 1.0 and 0.75 in seen
    assert all(v == 0.0 or 0.5 <= v <= 1.0 for v in seen)  # 0.0: status before any progress


def test_cancel_from_another_thread_stops_between_units():
    started = threading.Event()
    release = threading.Event()

    def work(state):
        started.set()
        release.wait(5)
        state.check_cancelled()
        return "not reached"

    job = Job("slow", work)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("exc", _capture(job.run)))
    t.start()
    started.wait(5)
    job.cancel()
    release.set()
    t.join(5)
    assert isinstance(result["exc"], JobCancelled)


def _capture(fn):
    try:
        return fn()
    except JobCancelled as exc:
        return exc


def test_cancelled_job_does_not_start():
    job = Job("x", _work, 3)
    job.cancel()
    with pytest.raises(JobCancelled):
        job.run()
