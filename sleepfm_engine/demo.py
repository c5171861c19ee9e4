"""The built-in demo: a generated night (and the demo model when it is shipped).

The demo night is generated once into the user's data folder and reused, so the application
and the CLI open the same file every time.
"""
from __future__ import annotations

from pathlib import Path

from .sidecars import user_data_dir

DEMO_SEED = 7
DEMO_HOURS = 8.0


def demo_recording_path(hours: float = DEMO_HOURS, seed: int = DEMO_SEED) -> Path:
    """Path of the demo night, generating it first when missing.

    Returns
    -------
    Path
        An EDF+ file with the ground-truth hypnogram as annotations and a sidecar
        ``<stem>.hypnogram.csv``.
    """
    from .synthetic import make_night, write_night

    folder = user_data_dir() / "demo"
    path = folder / f"demo_night_seed{seed}_{hours:g}h.edf"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_night(make_night(hours=hours, seed=seed, montage="full"), path)
    return path


def demo_model_path() -> Path | None:
    """The shipped demo release folder (``resources/models/demo``), or None if absent."""
    from .resources import resource_dir

    try:
        p = resource_dir() / "models" / "demo"
    except FileNotFoundError:
        return None
    return p if (p / "model_base").is_dir() else None
