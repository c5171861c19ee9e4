"""Embedding files (HDF5): the reference layout plus provenance, written atomically.

Embedding files keep the reference's layout so its downstream scripts read them: one float32
dataset per modality at the root, ``BAS``, ``RESP``, ``EKG``, ``EMG`` (only those the recording
has), shape (n_tokens, E), one row per 5-s token from the recording start. The 5-min level is
in the group ``5min/`` (same dataset names, shape (n_chunks, E); the group attribute
``chunk_start_s`` gives each chunk's start). Root attributes name the model (``model_id``,
``config_hash``), the channels used per modality (``channels``, JSON), the recording start
(``start``, ISO 8601), ``engine_version`` and the rest of the provenance.

Every file is written to a temporary name beside the target and renamed over it when complete,
so a re-run replaces an older file whole (a modality that is gone is gone) and an interrupted
run leaves the previous file untouched.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import atomic_path
from ..contract import CHUNK_SECONDS, MODALITIES, SAMPLING_RATE_HZ, TOKEN_SECONDS

if TYPE_CHECKING:  # pragma: no cover
    from .embeddings import Embeddings

__all__ = ["EMBEDDINGS_FORMAT", "EMBEDDINGS_FORMAT_VERSION", "CHUNK_GROUP", "write_embeddings_hdf5",
           "read_embeddings_hdf5", "embeddings_attrs"]

#: Value of the ``format`` attribute of embedding files written here.
EMBEDDINGS_FORMAT = "sleepfm-studio embeddings"
EMBEDDINGS_FORMAT_VERSION = 1
#: Group holding the 5-min level.
CHUNK_GROUP = "5min"


def write_embeddings_hdf5(emb: "Embeddings", path: str | os.PathLike) -> Path:
    """Write embeddings in the reference layout plus provenance, atomically.

    Parameters
    ----------
    emb : Embeddings
    path : path
        Target file (conventionally ``<recording name>.hdf5``).

    Returns
    -------
    Path
    """
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = EMBEDDINGS_FORMAT
            f.attrs["format_version"] = EMBEDDINGS_FORMAT_VERSION
            f.attrs["model_id"] = emb.model_id
            f.attrs["config_hash"] = emb.config_hash
            f.attrs["engine_version"] = emb.engine_version
            f.attrs["start"] = emb.start.isoformat() if emb.start is not None else ""
            f.attrs["duration_s"] = float(emb.duration_s)
            f.attrs["n_tokens"] = emb.n_tokens
            f.attrs["token_seconds"] = TOKEN_SECONDS
            f.attrs["chunk_seconds"] = CHUNK_SECONDS
            f.attrs["sampling_rate_hz"] = SAMPLING_RATE_HZ
            f.attrs["modalities"] = json.dumps(emb.modalities)
            f.attrs["channels"] = json.dumps(emb.channels)
            f.attrs["source_file"] = emb.source
            f.attrs["precision"] = emb.precision
            f.attrs["no_data_tokens"] = np.flatnonzero(emb.no_data).astype(np.int64)
            f.attrs["created_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            for m in emb.modalities:
                ds = f.create_dataset(m, data=np.asarray(emb.tokens[m], dtype=np.float32))
                ds.attrs["level"] = "5s"
                ds.attrs["channels"] = json.dumps(emb.channels[m])
            group = f.create_group(CHUNK_GROUP)
            group.attrs["level"] = "5min"
            group.attrs["chunk_start_s"] = np.asarray(emb.chunk_starts_s, dtype=np.float64)
            for m in emb.modalities:
                group.create_dataset(m, data=np.asarray(emb.chunks[m], dtype=np.float32))
    return path


def _attr(f, name: str, default=None):
    value = f.attrs.get(name, default)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def embeddings_attrs(path: str | os.PathLike) -> dict:
    """Root attributes of an embedding file (empty for a file without any), without the data."""
    import h5py

    with h5py.File(path, "r") as f:
        return {k: _attr(f, k) for k in f.attrs}


def read_embeddings_hdf5(path: str | os.PathLike) -> "Embeddings":
    """Read an embedding file written by :func:`write_embeddings_hdf5`.

    A reference file (5-s datasets only, no attributes) is read too: its 5-min level and
    provenance are then empty.

    Raises
    ------
    ValueError
        When the file holds no modality dataset.
    """
    import h5py

    from .embeddings import Embeddings

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        mods = [m for m in MODALITIES if isinstance(f.get(m), h5py.Dataset)]
        if not mods:
            raise ValueError(f"{path}: no embedding dataset ({', '.join(MODALITIES)}) in the file")
        tokens = {m: np.asarray(f[m][()], dtype=np.float32) for m in mods}
        group = f.get(CHUNK_GROUP)
        dim = tokens[mods[0]].shape[-1]
        chunks = {m: (np.asarray(group[m][()], dtype=np.float32) if group is not None and m in group
                      else np.zeros((0, dim), dtype=np.float32)) for m in mods}
        starts = (np.asarray(group.attrs.get("chunk_start_s", []), dtype=np.float64)
                  if group is not None else np.zeros(0))
        channels_attr = _attr(f, "channels")
        channels = json.loads(channels_attr) if channels_attr else {}
        start_text = _attr(f, "start", "")
        n_tok = tokens[mods[0]].shape[0]
        no_data = np.zeros(n_tok, dtype=bool)
        flagged = np.asarray(f.attrs.get("no_data_tokens", []), dtype=np.int64)
        if flagged.size and (flagged.min() < 0 or flagged.max() >= n_tok):
            raise ValueError(f"{path}: no_data_tokens names tokens outside 0..{n_tok - 1}")
        no_data[flagged] = True
        return Embeddings(no_data=no_data,
            tokens=tokens, chunks=chunks, channels={m: list(channels.get(m, [])) for m in mods},
            start=_dt.datetime.fromisoformat(start_text) if start_text else None,
            duration_s=float(_attr(f, "duration_s", n_tok * TOKEN_SECONDS)),
            model_id=_attr(f, "model_id", "") or "", config_hash=_attr(f, "config_hash", "") or "",
            chunk_starts_s=starts, source=_attr(f, "source_file", "") or "",
            precision=_attr(f, "precision", "fp32") or "fp32",
            engine_version=_attr(f, "engine_version", "") or "")
