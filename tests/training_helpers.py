"""Tiny cohorts and models for the training tests (CPU, seconds)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edf_factory import Sig, write_edf

#: Channels of a tiny night: one per modality, all at 128 Hz (no filtering needed).
TINY_CHANNELS = (("C3-M2", "uV"), ("Airflow", "uV"), ("ECG", "uV"), ("Chin1-Chin2", "uV"))
RATE = 128
#: A base model small enough to train in a second on a CPU.
TINY_BASE = {"embed_dim": 16, "num_heads": 2, "num_layers": 1, "pooling_head": 2, "dropout": 0.0}
TINY_HEAD = {"num_heads": 2, "pooling_head": 2, "dropout": 0.0, "max_seq_length": 256}
_FREQ = {0: 10.0, 1: 6.0, 2: 13.0, 3: 1.5, 4: 4.0}


def stages_for(seed: int, n_epochs: int) -> np.ndarray:
    """A seeded hypnogram using every stage (runs of 2-4 epochs)."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while len(out) < n_epochs:
        out += [int(rng.integers(0, 5))] * int(rng.integers(2, 5))
    return np.array(out[:n_epochs], dtype=np.int64)


def write_night(folder: Path, name: str, minutes: int = 10, seed: int = 0, labels: bool = True,
                channels=TINY_CHANNELS, patient: str = "X X X X") -> Path:
    """An EDF whose EEG frequency follows its hypnogram, and ``<name>.hypnogram.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    n_epochs = minutes * 2
    stages = stages_for(seed, n_epochs)
    rng = np.random.default_rng(seed + 1000)
    t = np.arange(n_epochs * 30 * RATE) / RATE
    freq = np.repeat([_FREQ[s] for s in stages], 30 * RATE)
    base = np.sin(2 * np.pi * np.cumsum(freq) / RATE)
    sigs = []
    for k, (label, unit) in enumerate(channels):
        x = (base if k == 0 else np.sin(2 * np.pi * (0.3 + k) * t)) * 50 + rng.normal(0, 10, t.size)
        sigs.append(Sig(label, RATE, np.round(x * 10).astype(np.int64), unit=unit))
    path = write_edf(folder / f"{name}.edf", sigs, patient=patient)
    if labels:
        names = ["W", "N1", "N2", "N3", "R"]
        rows = ["onset,duration,stage"] + [f"{i * 30},30,{names[s]}" for i, s in enumerate(stages)]
        (folder / f"{name}.hypnogram.csv").write_text("\n".join(rows) + "\n")
    return path


def make_cohort(folder: Path, n: int = 6, minutes: int = 10, seed: int = 0) -> Path:
    for i in range(n):
        write_night(folder, f"night{i:02d}", minutes, seed + i)
    return folder


def write_survival(folder: Path, ids: list[str], codes=("327.3", "401.1"), seed: int = 0) -> None:
    """is_event.csv, time_to_event.csv and demographics.csv for ``ids``."""
    rng = np.random.default_rng(seed)
    ev = ["Study ID," + ",".join(codes)]
    tt = ["Study ID," + ",".join(codes)]
    demo = ["Study ID,age,gender"]
    for k, sid in enumerate(ids):
        ev.append(sid + "," + ",".join(str(int(rng.random() < 0.5)) for _ in codes))
        tt.append(sid + "," + ",".join(f"{rng.uniform(10, 3000):.1f}" for _ in codes))
        demo.append(f"{sid},{40 + k},{'M' if k % 2 else 'F'}")
    (folder / "is_event.csv").write_text("\n".join(ev) + "\n")
    (folder / "time_to_event.csv").write_text("\n".join(tt) + "\n")
    (folder / "demographics.csv").write_text("\n".join(demo) + "\n")


def make_base(folder: Path, seed: int = 0) -> Path:
    """A random tiny base model folder."""
    import torch

    from sleepfm_engine.checkpoints import build_model, save_model
    from sleepfm_engine.training.pretrain import base_config

    torch.manual_seed(seed)
    cfg = base_config(TINY_BASE)
    save_model(build_model(cfg), cfg, folder)
    return folder


def fixed_split(path: Path, train, validation, test) -> Path:
    path.write_text(json.dumps({"train": list(train), "validation": list(validation), "test": list(test)}))
    return path
