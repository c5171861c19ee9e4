"""A user script with type errors; ``mypy`` must reject it, proving it sees the real signatures."""
from __future__ import annotations

from sleepfm_engine import open_recording, read_hypnogram

rec = open_recording(42)
epochs: str = read_hypnogram("night.csv").n_epochs
