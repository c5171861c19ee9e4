"""The embeddings of one recording: 5-s tokens and 5-min chunks per modality, with provenance."""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract import CHUNK_SECONDS, MODALITIES, TOKEN_SECONDS

__all__ = ["Embeddings"]


@dataclass
class Embeddings:
    """SleepFM embeddings of one recording.

    Attributes
    ----------
    tokens : dict
        Modality → float32 (n_tokens, E): one row per 5-s token from the recording start
        (token ``i`` covers ``[5 i, 5 i + 5)`` s). Only modalities the recording has.
    chunks : dict
        Modality → float32 (n_chunks, E): the pooled 5-min embeddings; chunk ``k`` covers
        ``[chunk_starts_s[k], chunk_starts_s[k] + 300)`` s (the last one may overlap the one
        before it, see :func:`~sleepfm_engine.inference.plan_chunks`).
    channels : dict
        Modality → recording labels that made it.
    start : datetime or None
        Clock time of the recording start (token 0).
    duration_s : float
        Length of the recording in seconds (tokens cover ``n_tokens * 5`` s of it).
    model_id, config_hash : str
        The base model that made them.
    chunk_starts_s : numpy.ndarray
        Start of each 5-min chunk, seconds from the recording start.
    source : str
        The recording's path.
    precision : str
        ``"fp32"`` or ``"bf16"``.
    engine_version : str
    no_data : numpy.ndarray
        bool (n_tokens,): True for tokens where the recording has no data (gaps of an EDF+D
        file). Their embeddings were computed from filled-in samples and stand for nothing:
        no stage, no statistic and no training example comes from them.
    """

    tokens: dict[str, np.ndarray]
    chunks: dict[str, np.ndarray]
    channels: dict[str, list[str]]
    start: _dt.datetime | None = None
    duration_s: float = 0.0
    model_id: str = ""
    config_hash: str = ""
    chunk_starts_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    source: str = ""
    precision: str = "fp32"
    engine_version: str = ""
    no_data: np.ndarray | None = None

    def __post_init__(self):
        if not self.tokens:
            raise ValueError("embeddings need at least one modality")
        unknown = [m for m in self.tokens if m not in MODALITIES]
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; expected some of {', '.join(MODALITIES)}")
        if set(self.tokens) != set(self.chunks) or set(self.tokens) != set(self.channels):
            raise ValueError("tokens, chunks and channels must name the same modalities")
        lengths = {m: a.shape[0] for m, a in self.tokens.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"every modality needs the same number of tokens; got {lengths}")
        dims = {a.shape[-1] for a in list(self.tokens.values()) + list(self.chunks.values())}
        if len(dims) != 1:
            raise ValueError(f"embedding sizes differ between modalities or levels: {sorted(dims)}")
        # Keep modalities in the canonical order whatever order they came in.
        order = [m for m in MODALITIES if m in self.tokens]
        self.tokens = {m: self.tokens[m] for m in order}
        self.chunks = {m: self.chunks[m] for m in order}
        self.channels = {m: list(self.channels[m]) for m in order}
        self.chunk_starts_s = np.asarray(self.chunk_starts_s, dtype=np.float64)
        n_tok = next(iter(lengths.values()))
        self.no_data = (np.zeros(n_tok, dtype=bool) if self.no_data is None
                        else np.asarray(self.no_data, dtype=bool).copy())
        if self.no_data.shape != (n_tok,):
            raise ValueError(f"no_data must have one flag per token ({n_tok}), got shape "
                             f"{self.no_data.shape}")
        if not self.engine_version:
            from .. import __version__

            self.engine_version = __version__

    @property
    def modalities(self) -> list[str]:
        """Modalities present, in BAS, RESP, EKG, EMG order."""
        return list(self.tokens)

    @property
    def n_tokens(self) -> int:
        return int(next(iter(self.tokens.values())).shape[0])

    @property
    def n_chunks(self) -> int:
        return int(next(iter(self.chunks.values())).shape[0])

    @property
    def embed_dim(self) -> int:
        return int(next(iter(self.tokens.values())).shape[-1])

    @property
    def token_onsets(self) -> np.ndarray:
        """Start of each token in seconds from the recording start."""
        return np.arange(self.n_tokens, dtype=np.float64) * TOKEN_SECONDS

    @property
    def chunk_seconds(self) -> int:
        return CHUNK_SECONDS

    def to_hdf5(self, path: str | os.PathLike) -> Path:
        """Write the reference layout (5-s datasets per modality, ``5min/`` group) atomically.

        See :func:`sleepfm_engine.inference.embeddings_io.write_embeddings_hdf5`.
        """
        from .embeddings_io import write_embeddings_hdf5

        return write_embeddings_hdf5(self, path)

    @classmethod
    def from_hdf5(cls, path: str | os.PathLike) -> "Embeddings":
        """Read a file written by :meth:`to_hdf5` (or a reference 5-s embedding file)."""
        from .embeddings_io import read_embeddings_hdf5

        return read_embeddings_hdf5(path)

    def __repr__(self) -> str:
        mods = ", ".join(f"{m}×{len(c)}" for m, c in self.channels.items())
        return (f"Embeddings({self.n_tokens} tokens, {self.n_chunks} chunks, E={self.embed_dim}, "
                f"modalities {mods}, model {self.model_id!r})")
