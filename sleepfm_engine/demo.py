"""The built-in demo: a generated night (and the demo model when it is shipped).

The demo night is generated once into the user's data folder and reused, so the application
and the CLI open the same file every time.
"""
from __future__ import annotations

from pathlib import Path

from .jobs import TaskState
from .sidecars import user_data_dir

DEMO_SEED = 7
DEMO_HOURS = 8.0


def demo_night_path(hours: float = DEMO_HOURS, seed: int = DEMO_SEED) -> Path:
    """Where the demo night of ``hours`` and ``seed`` is (or will be) kept; nothing is generated."""
    return user_data_dir() / "demo" / f"demo_night_seed{int(seed)}_{float(hours):g}h.edf"


def demo_recording_path(hours: float = DEMO_HOURS, seed: int = DEMO_SEED,
                        state: TaskState | None = None) -> Path:
    """Path of the demo night, generating it first when missing.

    Parameters
    ----------
    hours, seed : float, int
        Length and seed of the synthetic night (see :func:`sleepfm_engine.synthetic.make_night`).
    state : TaskState, optional
        Progress and cancellation while generating (an 8-hour night takes tens of seconds).

    Returns
    -------
    Path
        An EDF+ file with the ground-truth hypnogram as annotations and a sidecar
        ``<stem>.hypnogram.csv``.

    Raises
    ------
    JobCancelled
        If ``state`` is cancelled while generating; nothing is written then.
    """
    from .synthetic import make_night, write_night
    from .synthetic.edf import hypnogram_sidecar

    path = demo_night_path(hours, seed)
    if path.exists() and hypnogram_sidecar(path).exists():
        return path
    state = state if state is not None else TaskState()
    state.set_status("generating a synthetic night (once)")
    night = make_night(hours=hours, seed=seed, montage="full", state=state.sub(0.0, 0.9))
    state.check_cancelled()
    state.set_status(f"writing {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_night(night, path)
    state.set_progress(1.0)
    return path


def demo_model_path() -> Path | None:
    """The shipped demo release folder (``resources/models/demo``), or None if absent."""
    from .resources import resource_dir

    try:
        p = resource_dir() / "models" / "demo"
    except FileNotFoundError:
        return None
    return p if (p / "model_base").is_dir() else None
