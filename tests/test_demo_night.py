"""The demo night: one name for the CLI and the application, generated once as a job."""
from __future__ import annotations

import pytest

from sleepfm_engine.demo import demo_night_path, demo_recording_path
from sleepfm_engine.errors import JobCancelled
from sleepfm_engine.jobs import TaskState


def test_demo_night_is_generated_once_with_progress_and_then_reused(isolated_user_dirs):
    seen = []
    path = demo_recording_path(hours=0.25, state=TaskState([seen.append]))
    assert path == demo_night_path(hours=0.25) == isolated_user_dirs / "demo" / "demo_night_seed7_0.25h.edf"
    assert path.with_suffix(".hypnogram.csv").is_file()
    assert seen[-1].fraction == 1.0 and any("generating" in p.message for p in seen)
    mtime = path.stat().st_mtime_ns
    again = []
    assert demo_recording_path(hours=0.25, state=TaskState([again.append])) == path
    assert path.stat().st_mtime_ns == mtime and again == []


def test_cancelled_generation_writes_nothing(isolated_user_dirs):
    state = TaskState()
    state.request_interruption()
    with pytest.raises(JobCancelled):
        demo_recording_path(hours=0.25, state=state)
    assert not demo_night_path(hours=0.25).exists()
