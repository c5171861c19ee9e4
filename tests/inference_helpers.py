"""Shared by the inference, export and CLI-inference tests: tiny release and generated nights."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edf_factory import Sig, write_edf

DATA = Path(__file__).parent / "data"
TINY = DATA / "golden_tiny"
FOLDERS = ("model_base", "model_sleep_staging", "model_diagnosis")


def make_release(root: Path) -> Path:
    """A release folder in ``root`` whose model folders link to the tiny golden models."""
    root.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        os.symlink(TINY / name, root / name, target_is_directory=True)
    return root


def write_night(path: Path, minutes: float, labels=("C3-M2", "O1-M2", "ECG", "Chin1-Chin2", "Airflow"),
                rate: int = 128, seed: int = 0) -> Path:
    """A plain EDF of ``minutes`` (whole seconds) with noise-like channels at ``rate`` Hz."""
    rng = np.random.default_rng(seed)
    n = int(round(minutes * 60)) * rate
    sigs = []
    for i, label in enumerate(labels):
        walk = np.cumsum(rng.normal(0, 300, n))
        walk -= np.convolve(walk, np.ones(rate) / rate, mode="same")
        x = np.clip(walk + rng.normal(0, 800 + 100 * i, n), -32768, 32767).astype(np.int64)
        sigs.append(Sig(label, rate, x))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_edf(path, sigs)


def one_thread():
    """Run torch on one thread for the duration of a test module (restored after).

    The tiny models gain nothing from a second thread, and on a CPU shared with other work a
    two-thread OpenMP barrier waits for whichever thread was descheduled, which made these
    tests several times slower and their timing erratic.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
