"""HDF5 caches of preprocessed signals and base-model embeddings for training.

A second run over the same cohort starts training at once: each recording is preprocessed
once and embedded once per base model. Entries are keyed by the recording's content (SHA-256
of the file), the channels used and the preprocessing contract, and embeddings also by the
base model's identity (:func:`sleepfm_engine.checkpoints.config_hash`, or a hash of the
weights in memory). A changed file or model gets a new key, so a stale entry is never read.

Layout (``<cache>/prep/<key>.h5``)::

    attrs: source, sha256, n_chunks, modalities (JSON), contract (JSON), engine_version
    /<MODALITY>   float16 (n_chunks, channels, 38400), contiguous, uncompressed

so training reads a 5-min chunk of a modality as one contiguous slice straight from the page
cache (a NumPy memmap of the dataset's bytes), with no decompression. Embeddings
(``<cache>/emb/<key>.h5``) hold ``/<MODALITY>`` float16 (n_tokens, embed_dim).

Writes are atomic (temporary file + rename). The file-hash index (``hashes.json``) remembers
the SHA-256 of a path for a given size and modification time, so unchanged files are not
re-read to be hashed.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .. import __version__
from ..atomic import atomic_path, write_text_atomic
from ..contract import CHUNK_SAMPLES, MODALITIES, TOKENS_PER_CHUNK, contract_dict
from ..errors import TrainingCacheError
from ..jobs import TaskState

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .cohort import CohortRecord
    from .loop import DistContext

#: Environment variable naming the cache folder (else the platform's user cache folder).
CACHE_ENV = "SLEEPFM_CACHE_DIR"
#: Bump when what a preprocessed entry holds changes, so old entries are not reused.
PREP_FORMAT = 2
EMB_FORMAT = 1
_INDEX_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """``$SLEEPFM_CACHE_DIR`` or the platform's user cache folder + ``/training``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sleepfm-studio", appauthor=False)) / "training"


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in 4-MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _digest(obj: Any, n: int = 24) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class TrainingCache:
    """The cache folder: file hashes, preprocessed entries and embedding entries.

    Parameters
    ----------
    root : path, optional
        Cache folder (default :func:`default_cache_dir`).
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / "hashes.json"

    # -- file identity -----------------------------------------------------------------------
    def file_hash(self, path: str | Path) -> str:
        """SHA-256 of a file, reusing the stored one while its size and mtime are unchanged."""
        p = Path(path).resolve()
        st = p.stat()
        stamp = [st.st_size, st.st_mtime_ns]
        with _INDEX_LOCK:
            index = self._read_index()
            hit = index.get(str(p))
            if hit and hit[:2] == stamp:
                return hit[2]
        digest = sha256_file(p)
        with _INDEX_LOCK:
            index = self._read_index()
            index[str(p)] = stamp + [digest]
            write_text_atomic(self._index_path, json.dumps(index))
        return digest

    def _read_index(self) -> dict:
        try:
            return json.loads(self._index_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}

    # -- keys ----------------------------------------------------------------------------------
    def prep_key(self, record: "CohortRecord") -> str:
        """Key of a record's preprocessed entry: content, channels, contract, format."""
        return _digest({"sha256": self.file_hash(record.recording), "channels": record.modalities,
                        "contract": contract_dict(), "format": PREP_FORMAT})

    def prep_path(self, key: str) -> Path:
        return self.root / "prep" / f"{key}.h5"

    def emb_path(self, prep_key: str, model_id: str) -> Path:
        return self.root / "emb" / f"{_digest({'prep': prep_key, 'model': model_id, 'format': EMB_FORMAT})}.h5"


# ------------------------------------------------------------------------------------ entries
@dataclass
class PreparedRecord:
    """A preprocessed recording in the cache, readable without decompression.

    Attributes
    ----------
    path : Path
        The HDF5 entry.
    n_chunks : int
    channels : dict
        Modality → channel labels, for the modalities present.
    no_data : numpy.ndarray
        bool per 5-s token (``n_chunks`` · 60): True where the recording has no data (a gap
        of an EDF+D file, filled in to keep the time line).
    """

    path: Path
    n_chunks: int
    channels: dict[str, list[str]]
    _offsets: dict[str, tuple[int, tuple[int, ...]]]
    no_data: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    _maps: dict = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        # Memory maps are per process: a loader worker maps the file itself.
        state = dict(self.__dict__)
        state["_maps"] = {}
        return state

    @classmethod
    def open(cls, path: str | Path) -> "PreparedRecord":
        """Read an entry's header (offsets and shapes); the data are mapped on first use."""
        import h5py

        path = Path(path)
        with h5py.File(path, "r") as f:
            n_chunks = int(f.attrs["n_chunks"])
            channels = json.loads(f.attrs["channels"])
            offsets = {}
            for m in channels:
                ds = f[m]
                off = ds.id.get_offset()
                if off is None or ds.compression is not None or ds.chunks is not None:
                    raise ValueError(f"{path}: dataset {m} is not contiguous and uncompressed")
                offsets[m] = (int(off), tuple(int(s) for s in ds.shape))
            no_data = np.zeros(n_chunks * TOKENS_PER_CHUNK, dtype=bool)
            flagged = np.asarray(f.attrs["no_data_tokens"], dtype=np.int64)
            if flagged.size and (flagged.min() < 0 or flagged.max() >= len(no_data)):
                raise ValueError(f"{path}: no_data_tokens names tokens outside 0..{len(no_data) - 1}")
            no_data[flagged] = True
        return cls(path, n_chunks, channels, offsets, no_data=no_data)

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if m in self.channels]

    def array(self, modality: str) -> np.ndarray:
        """The modality's data as a read-only memmap (n_chunks, C, 38400) float16."""
        arr = self._maps.get(modality)
        if arr is None:
            off, shape = self._offsets[modality]
            arr = self._maps[modality] = np.memmap(self.path, dtype=np.float16, mode="r",
                                                   offset=off, shape=shape)
        return arr

    def chunks(self, modality: str, start: int, stop: int) -> np.ndarray:
        """Chunks ``start:stop`` of a modality, copied into memory (float16)."""
        return np.array(self.array(modality)[start:stop])


def write_prepared(path: Path, data: Mapping[str, np.ndarray], channels: Mapping[str, list[str]],
                   attrs: Mapping[str, Any], no_data: np.ndarray | None = None) -> Path:
    """Write a preprocessed entry: ``data[m]`` (C, T) at 128 Hz → (n_chunks, C, 38400) float16.

    ``no_data`` (bool per 5-s token, None: all have data) is kept as the indices of the tokens
    without data, so training never takes a gap for signal.
    """
    import h5py

    n_chunks = min(d.shape[-1] for d in data.values()) // CHUNK_SAMPLES
    n_tok = n_chunks * TOKENS_PER_CHUNK
    flags = np.zeros(n_tok, dtype=bool)
    if no_data is not None:
        given = np.asarray(no_data, dtype=bool)[:n_tok]
        flags[:len(given)] = given
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", libver="latest") as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["n_chunks"] = n_chunks
            f.attrs["no_data_tokens"] = np.flatnonzero(flags).astype(np.int64)
            f.attrs["channels"] = json.dumps({m: list(channels[m]) for m in data})
            f.attrs["contract"] = json.dumps(contract_dict())
            f.attrs["engine_version"] = __version__
            f.attrs["format"] = PREP_FORMAT
            for m, x in data.items():
                c = x.shape[0]
                arr = np.ascontiguousarray(
                    x[:, : n_chunks * CHUNK_SAMPLES].reshape(c, n_chunks, CHUNK_SAMPLES).transpose(1, 0, 2),
                    dtype=np.float16)
                f.create_dataset(m, data=arr)
    return path


def prepare_record(cache: TrainingCache, record: "CohortRecord", overrides: Mapping[str, str] | None = None,
                   state: TaskState | None = None) -> PreparedRecord:
    """Preprocess one recording into the cache (or reuse its entry) and open it.

    The channels are those of :attr:`CohortRecord.modalities`, preprocessed by
    :func:`sleepfm_engine.inference.prepare_modalities` exactly as inference does.
    """
    key = cache.prep_key(record)
    path = cache.prep_path(key)
    if path.is_file():
        try:
            return PreparedRecord.open(path)
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(f"cache entry {path} unreadable ({exc}); rebuilding it", RuntimeWarning,
                          stacklevel=2)
    from ..channels import ChannelMap
    from ..inference import prepare_modalities
    from ..recording import open_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = open_recording(record.recording)
    with rec:
        cmap = ChannelMap.from_recording(rec)
        wanted = {lbl: m for m, lbls in record.modalities.items() for lbl in lbls}
        for label in cmap.labels:
            cmap.override(label, wanted.get(label, "other"))
        inputs = prepare_modalities(rec, cmap, max_channels=True, state=state)
    data = {m: inputs[m].data for m in MODALITIES if m in inputs}
    channels = {m: list(inputs[m].channels) for m in data}
    flags = [inputs[m].no_data for m in data if inputs[m].no_data is not None]
    no_data = np.logical_or.reduce(flags) if flags else None
    write_prepared(path, data, channels, {"source": str(record.recording), "study_id": record.id,
                                          "prep_key": key}, no_data=no_data)
    return PreparedRecord.open(path)


def prepare_records(cache: TrainingCache, records: Sequence["CohortRecord"], *,
                    state: TaskState | None = None, workers: int = 1,
                    rank: int = 0, world_size: int = 1) -> dict[str, PreparedRecord]:
    """Preprocess many recordings (missing entries only), optionally on several processes.

    Under ``torchrun`` each rank builds every ``world_size``-th missing entry; the caller
    synchronises (barrier) before opening the others'.
    """
    state = state or TaskState()
    todo = [r for i, r in enumerate(records) if i % world_size == rank
            and not cache.prep_path(cache.prep_key(r)).is_file()]
    if todo and workers > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(_prepare_worker, str(cache.root), r): r for r in todo}
            try:
                for k, fut in enumerate(cf.as_completed(futures)):
                    state.check_cancelled()
                    fut.result()
                    state.set_status(f"preprocessed {futures[fut].id}")
                    state.set_progress((k + 1) / len(todo))
            finally:
                for fut in futures:
                    fut.cancel()
    else:
        for k, r in enumerate(todo):
            state.check_cancelled()
            state.set_status(f"preprocessing {r.id}")
            prepare_record(cache, r)
            state.set_progress((k + 1) / len(todo))
    out = {}
    if world_size == 1:
        for r in records:
            out[r.id] = prepare_record(cache, r)
    return out


def _prepare_worker(root: str, record: "CohortRecord") -> str:
    # Channel-level threads inside each process would oversubscribe the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return str(prepare_record(TrainingCache(root), record).path)


def open_prepared(cache: TrainingCache, records: Sequence["CohortRecord"]) -> dict[str, PreparedRecord]:
    """Open existing entries (after :func:`prepare_records` ran on every rank)."""
    return {r.id: PreparedRecord.open(cache.prep_path(cache.prep_key(r))) for r in records}


# --------------------------------------------------------------------------------- embeddings
def model_identity(model: "torch.nn.Module", folder: str | Path | None = None) -> str:
    """A model's identity for cache keys: the folder's config hash, else a hash of its weights."""
    if folder is not None:
        from ..checkpoints import config_hash

        try:
            return "folder:" + config_hash(folder)
        except (OSError, ValueError):
            pass
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().to("cpu").contiguous().numpy().tobytes())
    return "weights:" + h.hexdigest()[:24]


def read_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """Modality → (n_tokens, E) float16 arrays of an embedding entry."""
    import h5py

    with h5py.File(path, "r") as f:
        return {m: f[m][()] for m in MODALITIES if m in f}


def embed_prepared(prepared: PreparedRecord, base: "torch.nn.Module", device: "torch.device",
                   batch_size: int = 32, precision: str = "bf16") -> dict[str, np.ndarray]:
    """5-s embeddings (n_chunks·60, E) float16 of every modality of a cached recording.

    Runs :func:`sleepfm_engine.inference.embed_inputs`, the inference path, so training sees
    the embeddings that staging and risk see (bf16 autocast on CUDA, fp32 elsewhere). The
    entry's no-data tokens go with the inputs, as inference passes them.
    """
    from ..inference import ModalityInput, embed_inputs

    inputs = {}
    for m in prepared.modalities:
        arr = prepared.array(m)
        inputs[m] = ModalityInput(m, list(prepared.channels[m]),
                                  np.ascontiguousarray(arr.transpose(1, 0, 2).reshape(arr.shape[1], -1),
                                                       dtype=np.float32),
                                  no_data=prepared.no_data)
    prec = precision if device.type == "cuda" else "fp32"
    emb = embed_inputs(inputs, base, device=device, batch_size=batch_size, precision=prec)
    return {m: np.asarray(v, dtype=np.float16) for m, v in emb.tokens.items()}


def embed_records(cache: TrainingCache, prepared: Mapping[str, PreparedRecord], base: "torch.nn.Module",
                  model_id: str, device: "torch.device", *, state: TaskState | None = None,
                  batch_size: int = 32, rank: int = 0, world_size: int = 1) -> dict[str, Path]:
    """Embed every prepared recording with ``base`` into the cache (missing entries only).

    Returns
    -------
    dict
        Study ID → embedding entry path (every record's, whoever built it).
    """
    state = state or TaskState()
    paths = {sid: cache.emb_path(p.path.stem, model_id) for sid, p in prepared.items()}
    todo = [sid for i, sid in enumerate(prepared) if i % world_size == rank and not paths[sid].is_file()]
    base = base.to(device).eval()
    for k, sid in enumerate(todo):
        state.check_cancelled()
        state.set_status(f"embedding {sid}")
        write_embeddings(paths[sid], prepared[sid], base, model_id, device, batch_size)
        state.set_progress((k + 1) / len(todo))
    return paths


def write_embeddings(path: Path, prepared: PreparedRecord, base: "torch.nn.Module", model_id: str,
                     device: "torch.device", batch_size: int = 32) -> Path:
    """Embed one prepared recording with ``base`` into the entry ``path`` (atomic)."""
    import h5py

    emb = embed_prepared(prepared, base, device, batch_size)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["model"] = model_id
            f.attrs["source"] = str(prepared.path)
            f.attrs["format"] = EMB_FORMAT
            f.attrs["channels"] = json.dumps(prepared.channels)
            for m, v in emb.items():
                f.create_dataset(m, data=v)
    return path


# ------------------------------------------------------------------- caches that are not shared
#: Folder of a run's rank markers inside the cache, which reveal the ranks sharing the folder.
RANK_MARKERS = "ranks"


def complete_node_cache(cache: TrainingCache, needed: Sequence[Path], build: "Callable[[int], Any]",
                        dist: "DistContext", what: str = "entries") -> None:
    """Make every entry in ``needed`` present in this rank's cache folder.

    Call on every rank after each built its share and a barrier. A folder on a shared file
    system then holds everything. A node-local folder (the default cache under a per-node
    home or scratch) holds only what that node's ranks built: the ranks that share the folder
    (found by each writing a marker into it) then build the rest between them, so each node
    preprocesses the whole cohort once. If entries are still missing afterwards the run stops
    on every rank with a :class:`TrainingCacheError` asking for ``--cache-dir`` on a shared
    file system, instead of failing later while opening another node's entry.

    Parameters
    ----------
    cache : TrainingCache
    needed : sequence of Path
        The entries the run opens, in the same order on every rank.
    build : callable
        ``build(i)`` writes ``needed[i]`` into this rank's folder.
    dist : DistContext
        The run's ranks (``barrier``, ``broadcast``, ``any_true``).
    what : str
        What the entries are, for messages.
    """
    if not dist.active:
        return
    import uuid

    run = dist.broadcast(uuid.uuid4().hex if dist.is_main else None)
    markers = cache.root / RANK_MARKERS / run
    markers.mkdir(parents=True, exist_ok=True)
    mine = markers / str(dist.rank)
    mine.touch()
    dist.barrier()
    peers = sorted(int(p.name) for p in markers.iterdir())
    missing = [i for i, p in enumerate(needed) if not Path(p).is_file()]
    if dist.any_true(bool(missing)) and dist.is_main:
        warnings.warn(f"the training cache {cache.root} is not shared by every rank (only ranks "
                      f"{peers} see it): each node builds the {what} it lacks; give --cache-dir a "
                      "folder on a shared file system to build them once", RuntimeWarning, stacklevel=2)
    failure: BaseException | None = None
    try:
        for k, i in enumerate(missing):
            if k % len(peers) == peers.index(dist.rank):
                build(i)
    except Exception as exc:  # noqa: BLE001 - re-raised below, after telling the other ranks
        failure = exc
    # A rank that failed alone would leave the others waiting at the next collective.
    if dist.any_true(failure is not None):
        if failure is not None:
            raise failure
        raise TrainingCacheError(cache.root, f"another rank failed while building {what}; see its error")
    dist.barrier()
    mine.unlink()
    absent = [Path(needed[i]) for i in missing if not Path(needed[i]).is_file()]
    dist.barrier()
    if dist.rank == peers[0]:
        markers.rmdir()
    if dist.any_true(bool(absent)):
        where = f"{len(absent)} of {len(needed)} {what} (e.g. {absent[0].name})" if absent else "entries"
        raise TrainingCacheError(cache.root, f"{where} are missing on rank {dist.rank} after every "
                                 "rank built its share: this cache folder is not shared between the "
                                 "nodes; pass --cache-dir on a shared file system")


def complete_prepared(cache: TrainingCache, records: Sequence["CohortRecord"],
                      dist: "DistContext") -> None:
    """:func:`complete_node_cache` for the preprocessed entries of ``records``."""
    complete_node_cache(cache, [cache.prep_path(cache.prep_key(r)) for r in records],
                        lambda i: prepare_record(cache, records[i]), dist, "preprocessed recordings")


def complete_embeddings(cache: TrainingCache, prepared: Mapping[str, PreparedRecord],
                        base: "torch.nn.Module", model_id: str, dist: "DistContext",
                        batch_size: int = 32) -> None:
    """:func:`complete_node_cache` for the embedding entries of ``prepared`` (every rank's)."""
    ids = list(prepared)
    paths = [cache.emb_path(prepared[sid].path.stem, model_id) for sid in ids]
    complete_node_cache(cache, paths, lambda i: write_embeddings(paths[i], prepared[ids[i]], base, model_id,
                                                                 dist.device, batch_size),
                        dist, "embeddings")
