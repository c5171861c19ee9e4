"""Datasets and batch collation over the training caches.

- :class:`ChunkDataset`: 5-min chunks of preprocessed recordings (pretraining, end-to-end
  staging). Indexed by whole batches (a list of indices), so a loader worker reads a batch
  with one call per modality and per recording, straight from memory-mapped cache files.
- :class:`NightDataset`: the 5-s embeddings of whole nights with their targets (staging labels
  or survival labels and demographics), for the heads.
- :class:`ShardedBatchSampler`: seeded, epoch-dependent shuffling split across ``torchrun``
  ranks, every rank getting the same number of batches.

Head inputs follow the reference layout: ``x`` (B, 4, S, E) and ``mask`` (B, 4, S), 1 =
padding, with the modalities a night has first, in alphabetical order as inference stacks them
(the heads read the temporal mask from channel 0, so it must be a present modality).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..contract import MODALITIES, TOKENS_PER_CHUNK
from .cache import PreparedRecord, read_embeddings


# ------------------------------------------------------------------------------------ sampling
class ShardedBatchSampler:
    """Batches of indices: shuffled with ``seed + epoch``, split across ranks.

    Parameters
    ----------
    n : int
        Dataset size.
    batch_size : int
        Per-rank batch size.
    shuffle : bool
    seed : int
    rank, world_size : int
    drop_last : bool
        Drop the incomplete last batch (training). Without it every index is yielded once
        over all ranks; ranks may then get unequal counts, which only evaluation tolerates.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), shuffle, int(seed)
        self.rank, self.world_size, self.drop_last = int(rank), int(world_size), drop_last
        self.epoch = 0
        #: Stop each epoch after this many batches (short epochs); None for all. Limiting the
        #: sampler, rather than leaving the loop early, lets a loader's prefetching end with
        #: the epoch instead of stalling the next one while it drains.
        self.max_batches: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng(self.seed + 7919 * self.epoch).permutation(self.n)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        if self.drop_last:
            per_rank = self._per_rank()
            mine = order[self.rank * per_rank:(self.rank + 1) * per_rank]
        else:
            mine = order[self.rank::self.world_size]
        for n, i in enumerate(range(0, len(mine), self.batch_size)):
            if self.max_batches is not None and n >= self.max_batches:
                return
            yield [int(k) for k in mine[i:i + self.batch_size]]

    def _per_rank(self) -> int:
        """Indices per rank with drop_last: whole batches, or one smaller batch when the
        dataset is too small for a full one (every rank the same)."""
        share = self.n // self.world_size
        return share if share < self.batch_size else share // self.batch_size * self.batch_size

    def __len__(self) -> int:
        if self.drop_last:
            n = math.ceil(self._per_rank() / self.batch_size)
        else:
            n = math.ceil(len(range(self.rank, self.n, self.world_size)) / self.batch_size)
        return n if self.max_batches is None else min(n, self.max_batches)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed NumPy and ``random`` from the worker's torch seed."""
    s = torch.initial_seed() % 2 ** 32
    np.random.seed(s)
    random.seed(s)


# --------------------------------------------------------------------------------- chunk batches
@dataclass
class ModalityBatch:
    """One modality of a chunk batch: only the samples that have it.

    Attributes
    ----------
    x : Tensor (n, C, 38400)
        float16 as stored; cast on the device.
    mask : Tensor (n, C) bool
        True where a channel is padding.
    index : Tensor (n,) long
        Position of each row in the batch.
    """

    x: torch.Tensor
    mask: torch.Tensor
    index: torch.Tensor

    def to(self, device, non_blocking: bool = True) -> "ModalityBatch":
        return ModalityBatch(self.x.to(device, non_blocking=non_blocking),
                             self.mask.to(device, non_blocking=non_blocking),
                             self.index.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "ModalityBatch":
        return ModalityBatch(self.x.pin_memory(), self.mask.pin_memory(), self.index.pin_memory())


@dataclass
class ChunkBatch:
    """A batch of 5-min chunks: per-modality tensors and optional per-token labels."""

    size: int
    modalities: dict[str, ModalityBatch]
    labels: torch.Tensor | None = None

    def to(self, device, non_blocking: bool = True) -> "ChunkBatch":
        return ChunkBatch(self.size, {m: b.to(device, non_blocking) for m, b in self.modalities.items()},
                          None if self.labels is None else self.labels.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "ChunkBatch":
        return ChunkBatch(self.size, {m: b.pin_memory() for m, b in self.modalities.items()},
                          None if self.labels is None else self.labels.pin_memory())


class ChunkDataset(torch.utils.data.Dataset):
    """Windows of ``window`` consecutive 5-min chunks from cached recordings.

    Item ``i`` is window ``i``; ``dataset[[i, j, ...]]`` returns a whole :class:`ChunkBatch`
    (the form the loaders use). With ``window`` > 1 each sample is a run of chunks flattened
    into the batch: modality tensors hold ``len(batch) * window`` rows in sample order.

    Parameters
    ----------
    records : sequence of PreparedRecord
    window : int
        Chunks per sample (1 for pretraining).
    labels : sequence of ndarray, optional
        Per-token labels of each record (length >= n_chunks * 60): stage codes (staging) or
        (tokens, classes) targets (events); -1 masked.
    stride : int, optional
        Chunks between window starts (default ``window``: no overlap).
    """

    def __init__(self, records: Sequence[PreparedRecord], window: int = 1,
                 labels: Sequence[np.ndarray] | None = None, stride: int | None = None):
        self.records = list(records)
        self.window = int(window)
        self.labels = None if labels is None else list(labels)
        stride = self.window if stride is None else int(stride)
        idx = []
        for r, rec in enumerate(self.records):
            for start in range(0, rec.n_chunks - self.window + 1, stride):
                idx.append((r, start))
        self.index = np.array(idx, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, item: int | Sequence[int]) -> ChunkBatch:
        items = [int(item)] if isinstance(item, (int, np.integer)) else [int(i) for i in item]
        return self.load(items)

    def load(self, items: list[int]) -> ChunkBatch:
        w = self.window
        rows = self.index[items]
        mods: dict[str, ModalityBatch] = {}
        for m in MODALITIES:
            have = [k for k, (r, _) in enumerate(rows) if m in self.records[r].channels]
            if not have:
                continue
            cmax = max(len(self.records[rows[k][0]].channels[m]) for k in have)
            x = np.zeros((len(have) * w, cmax, self.records[rows[have[0]][0]].array(m).shape[-1]),
                         dtype=np.float16)
            mask = np.ones((len(have) * w, cmax), dtype=bool)
            for j, k in enumerate(have):
                r, s = rows[k]
                arr = self.records[r].array(m)
                c = arr.shape[1]
                x[j * w:(j + 1) * w, :c] = arr[s:s + w]
                mask[j * w:(j + 1) * w, :c] = False
            index = np.repeat(np.array(have, dtype=np.int64) * w, w) + np.tile(np.arange(w), len(have))
            mods[m] = ModalityBatch(torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(index))
        labels = None
        if self.labels is not None:
            lab = np.full((len(items), w * TOKENS_PER_CHUNK, *np.shape(self.labels[0])[1:]), -1, dtype=np.int64)
            for k, (r, s) in enumerate(rows):
                seg = self.labels[r][s * TOKENS_PER_CHUNK:(s + w) * TOKENS_PER_CHUNK]
                lab[k, :len(seg)] = seg
            labels = torch.from_numpy(lab)
        return ChunkBatch(len(items), mods, labels)


def passthrough(batch: Any) -> Any:
    """``collate_fn`` for datasets that already return whole batches."""
    return batch


# ---------------------------------------------------------------------------------- night items
@dataclass
class NightItem:
    """A night for a head: where its embeddings are and what it is trained towards.

    Attributes
    ----------
    id : str
    embeddings : Path
        Embedding cache entry.
    labels : ndarray or None
        Per-token stage codes (-1 unscored), staging.
    times, events : ndarray or None
        Time to event and event flags per phecode, diagnosis.
    demo : tuple or None
        (age feature, sex) as the head takes them.
    """

    id: str
    embeddings: Path
    labels: np.ndarray | None = None
    times: np.ndarray | None = None
    events: np.ndarray | None = None
    demo: tuple[float, float] | None = None


class NightDataset(torch.utils.data.Dataset):
    """Whole nights (or random crops of them) of 5-s embeddings with their targets.

    Parameters
    ----------
    items : sequence of NightItem
    max_tokens : int, optional
        Longer nights are cropped: at random in training (``random_crop``), from the start
        otherwise (the disease head's reference truncation to 9 h).
    random_crop : bool
    preload : bool
        Keep every night's embeddings in memory after the first read.
    """

    def __init__(self, items: Sequence[NightItem], max_tokens: int | None = None,
                 random_crop: bool = False, preload: bool = True):
        self.items = list(items)
        self.max_tokens = max_tokens
        self.random_crop = random_crop
        self.preload = preload
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _stack(self, i: int) -> np.ndarray:
        if i in self._cache:
            return self._cache[i]
        emb = read_embeddings(self.items[i].embeddings)
        present = head_order(emb)
        n = min(emb[m].shape[0] for m in present)
        arr = np.stack([emb[m][:n] for m in present])  # (M, S, E) float16
        if self.preload:
            self._cache[i] = arr
        return arr

    def __getitem__(self, i: int) -> dict:
        item = self.items[i]
        x = self._stack(i)
        s = x.shape[1]
        if item.labels is not None:
            s = min(s, len(item.labels))
        start = 0
        if self.max_tokens is not None and s > self.max_tokens:
            if self.random_crop:
                start = int(np.random.randint(0, s - self.max_tokens + 1))
            s = self.max_tokens
        out = {"id": item.id, "x": x[:, start:start + s], "start": start}
        if item.labels is not None:
            out["labels"] = np.asarray(item.labels[start:start + s], dtype=np.int64)
        if item.times is not None:
            out["times"] = item.times
            out["events"] = item.events
        if item.demo is not None:
            out["demo"] = np.asarray(item.demo, dtype=np.float32)
        return out


def head_order(modalities) -> list[str]:
    """Modalities in the order the heads receive them: alphabetical, as the reference's h5py
    listing and :func:`sleepfm_engine.inference.heads.head_slots` give them."""
    return sorted(m for m in modalities if m in MODALITIES)


def collate_nights(samples: list[dict], n_channels: int = len(MODALITIES)) -> dict:
    """Pad nights to (B, n_channels, S_max, E) with a mask (1 = padding) and stack targets."""
    b = len(samples)
    s_max = max(x["x"].shape[1] for x in samples)
    e = samples[0]["x"].shape[2]
    x = torch.zeros((b, n_channels, s_max, e), dtype=torch.float16)
    mask = torch.ones((b, n_channels, s_max), dtype=torch.bool)
    for k, smp in enumerate(samples):
        m, s, _ = smp["x"].shape
        x[k, :m, :s] = torch.from_numpy(np.ascontiguousarray(smp["x"]))
        mask[k, :m, :s] = False
    out: dict[str, Any] = {"ids": [smp["id"] for smp in samples], "x": x, "mask": mask,
                           "starts": [smp["start"] for smp in samples]}
    if "labels" in samples[0]:
        lab = torch.full((b, s_max), -1, dtype=torch.long)
        for k, smp in enumerate(samples):
            lab[k, :len(smp["labels"])] = torch.from_numpy(smp["labels"])
        out["labels"] = lab
    if "times" in samples[0]:
        out["times"] = torch.from_numpy(np.stack([smp["times"] for smp in samples])).float()
        out["events"] = torch.from_numpy(np.stack([smp["events"] for smp in samples])).float()
    if "demo" in samples[0]:
        out["demo"] = torch.from_numpy(np.stack([smp["demo"] for smp in samples]))
    return out


def move(batch: dict, device: torch.device) -> dict:
    """Move the tensors of a collated dict to ``device``."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items()}
