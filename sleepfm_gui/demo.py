"""The built-in demo night for the application (generated once, reused; Qt-free).

The file is the one ``sleepfm demo`` uses (:func:`sleepfm_engine.demo.demo_recording_path`);
here it is generated as a job with progress and cancellation, since an 8-hour night takes
tens of seconds to synthesise.
"""
from __future__ import annotations

from pathlib import Path

from sleepfm_engine.jobs import TaskState


def demo_path(hours: float | None = None, seed: int | None = None) -> Path:
    """Where the demo night is (or will be) kept."""
    from sleepfm_engine.demo import DEMO_HOURS, DEMO_SEED
    from sleepfm_engine.registry import user_data_dir

    hours = DEMO_HOURS if hours is None else float(hours)
    seed = DEMO_SEED if seed is None else int(seed)
    return user_data_dir() / "demo" / f"demo_night_seed{seed}_{hours:g}h.edf"


def make_demo(state: TaskState, hours: float | None = None, seed: int | None = None) -> Path:
    """Generate the demo night (and its ``.hypnogram.csv``) unless it exists; return its path."""
    from sleepfm_engine.demo import DEMO_HOURS, DEMO_SEED
    from sleepfm_engine.synthetic import make_night, write_night

    path = demo_path(hours, seed)
    if path.exists() and path.with_suffix(".hypnogram.csv").exists():
        return path
    state.set_status("generating a synthetic night (once)")
    night = make_night(hours=DEMO_HOURS if hours is None else hours,
                       seed=DEMO_SEED if seed is None else seed, montage="full",
                       state=state.sub(0.0, 0.9))
    state.check_cancelled()
    state.set_status(f"writing {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_night(night, path)
    state.set_progress(1.0)
    return path


def demo_truth(path: Path):
    """The ground-truth hypnogram written beside a demo night, or None."""
    from sleepfm_engine.formats import read_hypnogram

    csv = path.with_suffix(".hypnogram.csv")
    return read_hypnogram(csv) if csv.exists() else None
