"""What a user writes against the public API; ``mypy`` must accept it (tests/test_typing.py).

It is type-checked, not run: the names come from the lazy top-level exports of
``sleepfm_engine``, which mypy sees through their ``TYPE_CHECKING`` imports.
"""
from __future__ import annotations

from pathlib import Path

import torch

from sleepfm_engine import Hypnogram, Recording, load_model, open_recording, read_hypnogram


def summarise(edf: Path, scoring: Path, model_dir: Path) -> str:
    """One line about a night: its channels, its hypnogram and the model that would stage it."""
    rec: Recording = open_recording(edf)
    labels: list[str] = [ch.label for ch in rec.channels]
    hyp: Hypnogram = read_hypnogram(scoring, epoch_length=30.0)
    epochs: int = hyp.n_epochs
    model: torch.nn.Module = load_model(model_dir, device="cpu")
    n_params = sum(p.numel() for p in model.parameters())
    return f"{edf.name}: {len(labels)} channels, {epochs} epochs, model with {n_params} parameters"
