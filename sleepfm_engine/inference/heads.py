"""Head inputs: a night's 5-s embeddings stacked as modality "channels", as the reference does.

The heads take ``x`` (B, C, S, E) and a padding mask (B, C, S). The reference fills the slots
with the modalities an embedding file holds, in h5py's alphabetical order (BAS, EKG, EMG,
RESP), and pads the remaining slots up to the head's ``max_channels`` with zeros marked as
padding. The heads read the channel mask at the first token and the temporal mask from slot 0,
so present modalities come first. The channel pooling is order-invariant, so the order among
them does not change the result beyond float rounding.
"""
from __future__ import annotations

import warnings

import numpy as np

from .embeddings import Embeddings

__all__ = ["head_slots", "stack_tokens"]


def head_slots(embeddings: Embeddings, max_channels: int) -> list[str]:
    """Modalities fed to a head, in the reference's order, at most ``max_channels``."""
    present = sorted(embeddings.modalities)
    if len(present) > max_channels:
        warnings.warn(f"the head takes {max_channels} modalities; {', '.join(present[max_channels:])} "
                      f"left out", RuntimeWarning, stacklevel=3)
    return present[:max_channels]


def stack_tokens(embeddings: Embeddings, max_channels: int, start: int = 0,
                 stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (1, max_channels, S, E) float32 and ``mask`` (1, max_channels, S) bool for tokens
    ``start:stop``; absent modality slots are zeros marked as padding."""
    stop = embeddings.n_tokens if stop is None else stop
    mods = head_slots(embeddings, max_channels)
    s = stop - start
    x = np.zeros((1, max_channels, s, embeddings.embed_dim), dtype=np.float32)
    mask = np.ones((1, max_channels, s), dtype=bool)
    for i, m in enumerate(mods):
        x[0, i] = embeddings.tokens[m][start:stop]
        mask[0, i] = False
    return x, mask
