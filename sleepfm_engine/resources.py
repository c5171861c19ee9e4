"""Where the project's data files live (channel groups, phecode labels, the demo model).

``resources/`` sits at the top of the source tree (installed in development mode by
``make``); ``SLEEPFM_RESOURCES`` points elsewhere, e.g. for a packaged build.
"""
from __future__ import annotations

import os
from pathlib import Path


def resource_dir() -> Path:
    """The resources folder; raises FileNotFoundError naming where it looked."""
    env = os.environ.get("SLEEPFM_RESOURCES")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1] / "resources")
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("SleepFM Studio resources not found (looked in: "
                            + ", ".join(str(c) for c in candidates) + "); set SLEEPFM_RESOURCES")


def resource_path(*parts: str) -> Path:
    """Path of a file inside the resources folder; raises FileNotFoundError if missing."""
    p = resource_dir().joinpath(*parts)
    if not p.exists():
        raise FileNotFoundError(f"missing resource file {p}")
    return p
