"""SleepFM Studio desktop application (PySide6 + pyqtgraph): thin views over the engine.

Start it with ``sleepfm-studio`` (:func:`sleepfm_gui.app.main`). Nothing here computes what the
engine computes: the views read recordings through :mod:`sleepfm_engine.display` and run
engine jobs on worker threads (:mod:`sleepfm_gui.workers`).
"""
from __future__ import annotations

__all__: list[str] = []
