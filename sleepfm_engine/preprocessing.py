"""Preprocessing to the SleepFM input contract.

What the reference pipeline does to every channel, restated (see ``contract`` for the numbers):

1. above the target rate, a 4th-order Butterworth low-pass at ``min(64, fs/2)`` Hz applied
   forward and backward (``scipy.signal.filtfilt`` with its default padding);
2. linear interpolation from ``n`` samples at ``fs`` to ``int(n / fs * 128)`` samples at 128 Hz,
   both grids starting at 0 without the end point;
3. z-score over the whole channel (``x - mean`` only when the standard deviation is 0);
4. float16.

Unlike the reference, each channel is processed at its own native rate (the reference lets MNE
upsample every channel to the highest rate first), and a channel whose samples contain gaps
keeps its own name (the reference drops NaN channels and shifts the names of those after it).
Channels are processed one at a time, so memory stays near one channel's worth of float64.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from scipy import signal as _signal

from . import __version__
from .atomic import atomic_path
from .contract import (CHUNK_SAMPLES, LOWPASS_HZ, LOWPASS_ORDER, SAMPLING_RATE_HZ,
                       contract_dict)
from .errors import RecordingError
from .jobs import TaskState
from .recording import Recording, open_recording

__all__ = ["preprocess_signal", "preprocess", "iter_preprocessed", "preprocess_to_hdf5",
           "PreprocessWarning", "hdf5_dataset_name", "no_data_windows", "default_workers",
           "parallel_as_done"]

try:
    # ISA-L's deflate writes the same zlib streams as zlib, an order of magnitude faster.
    from isal import isal_zlib as _deflate

    #: deflate level of preprocessed HDF5 files (ISA-L levels are 0-3).
    GZIP_LEVEL = 2
except ImportError:  # no ISA-L wheel for this platform: plain zlib, the reference's level
    _deflate = zlib
    GZIP_LEVEL = 4


# A standard deviation this small relative to the channel's level is rounding, not signal.
_FLAT_RELATIVE = 1e-9


class PreprocessWarning(UserWarning):
    """A channel needed special handling (gaps filled, flat signal)."""


def no_data_windows(gaps: Sequence[tuple[float, float]], window_s: float, n: int) -> np.ndarray:
    """Which of ``n`` consecutive windows of ``window_s`` seconds (from 0 s) touch a gap.

    A window with any gap in it is "no data": its samples were filled in (see
    :func:`preprocess_signal`), so nothing computed from it may stand for the recording.

    Returns
    -------
    numpy.ndarray
        bool (n,), True for windows without (complete) data.
    """
    out = np.zeros(n, dtype=bool)
    for start, stop in gaps:
        first = max(0, int(np.floor(start / window_s + 1e-9)))
        last = min(n, int(np.ceil(stop / window_s - 1e-9)))
        out[first:last] = True
    return out


def _lowpass_coefficients(rate: float) -> tuple[np.ndarray, np.ndarray]:
    nyquist = rate / 2.0
    wn = min(LOWPASS_HZ, nyquist) / nyquist
    return _signal.butter(LOWPASS_ORDER, wn, "low")


def preprocess_signal(x: np.ndarray, rate: float, *, dtype=np.float32, label: str = "") -> np.ndarray:
    """Bring one channel to the SleepFM contract: 128 Hz, low-passed, z-scored.

    Parameters
    ----------
    x : numpy.ndarray
        Samples at ``rate`` Hz (any physical unit: the z-score removes it). NaN samples (gaps
        of a discontinuous recording) are replaced by the channel mean before filtering; the
        z-score is taken over the real samples only. What is computed over gaps is no data
        (see :func:`no_data_windows`).
    rate : float
        Native sampling rate in Hz.
    dtype : numpy dtype
        Output dtype (float16 for files as the reference writes them).
    label : str
        Channel label, used in warnings only.

    Returns
    -------
    numpy.ndarray
        ``int(len(x) / rate * 128)`` samples.
    """
    if rate <= 0:
        raise ValueError(f"channel {label!r}: sampling rate must be positive, got {rate}")
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    finite = np.isfinite(x)
    gaps = not finite.all()
    if gaps:
        if not finite.any():
            warnings.warn(f"channel {label!r} holds no samples (only gaps); output is zeros",
                          PreprocessWarning, stacklevel=2)
            x = np.zeros_like(x)
        else:
            warnings.warn(f"channel {label!r}: {np.count_nonzero(~finite)} missing samples (gaps) "
                          "filled with the channel mean", PreprocessWarning, stacklevel=2)
            x = np.where(finite, x, x[finite].mean())
    if rate > SAMPLING_RATE_HZ and n > 3 * (2 * LOWPASS_ORDER + 1):
        b, a = _lowpass_coefficients(rate)
        x = _signal.filtfilt(b, a, x)
    duration = n / rate
    n_out = int(duration * SAMPLING_RATE_HZ)
    step = rate / SAMPLING_RATE_HZ
    if step.is_integer() and step >= 1:
        # The 128-Hz grid falls on every step-th input sample, where linear interpolation
        # returns the sample itself: take them directly instead of interpolating.
        x = x[::int(step)][:n_out]
    elif n_out != n or rate != SAMPLING_RATE_HZ:
        t_in = np.linspace(0.0, duration, n, endpoint=False)
        t_out = np.linspace(0.0, duration, n_out, endpoint=False)
        x = np.interp(t_out, t_in, x)
    real = x
    if gaps and finite.any() and x.size:
        # Statistics of the real samples: the filled-in constant would shrink the std and so
        # inflate every real sample's z-score.
        pick = np.minimum((np.arange(x.size) * (n / x.size)).astype(np.int64), n - 1)
        real = x[finite[pick]] if finite[pick].any() else x
    mean = real.mean() if real.size else 0.0
    std = real.std() if real.size else 0.0
    x = x - mean
    # A flat channel comes out of the low-pass with rounding noise (std ~1e-16 of its level);
    # dividing by that would make it ±1 in one path and 0 in another. Flat is flat: zeros.
    if std > _FLAT_RELATIVE * max(abs(mean), np.finfo(np.float64).tiny):
        x /= std
    else:
        x[:] = 0.0
    return x.astype(dtype, copy=False)


@dataclass(frozen=True)
class PreprocessedChannel:
    """One channel at the SleepFM contract rate."""

    label: str
    data: np.ndarray
    source_rate: float


def iter_preprocessed(recording: Recording, channels: Sequence[str] | None = None, *,
                      dtype=np.float32, state: TaskState | None = None,
                      workers: int | None = None) -> Iterator[PreprocessedChannel]:
    """Yield each requested channel preprocessed, one at a time (bounded memory).

    Parameters
    ----------
    recording : Recording
    channels : list of str, optional
        Labels to process (default: all signal channels).
    dtype : numpy dtype
    state : TaskState, optional
        Progress is reported per channel; cancellation is checked between channels.
    workers : int, optional
        Channels processed at once on threads (default :func:`default_workers`).
    """
    def work(ch):
        x = recording.read_channel(ch.index)
        return PreprocessedChannel(ch.label, preprocess_signal(x, ch.rate, dtype=dtype, label=ch.label),
                                   ch.rate)

    yield from _ordered_parallel(work, _channels(recording, channels), workers, state)


def _channels(recording: Recording, channels):
    wanted = channels if channels is not None else recording.labels
    missing = [c for c in wanted if isinstance(c, str) and c not in recording.labels]
    if missing:
        raise RecordingError(recording.path, f"no channel {', '.join(map(repr, missing))}; its "
                                             f"channels are {', '.join(recording.labels)}")
    return [recording.channel(c) for c in wanted]


def default_workers() -> int:
    """Threads for per-channel work: filtering, NumPy and zlib release the GIL.

    At most 8: a night's channels are about a dozen at the EEG rate, so more threads would
    mostly wait, while each one in flight holds a whole channel in float64.
    """
    return max(1, min(8, os.cpu_count() or 1))


def parallel_as_done(fn, channels, workers, state):
    """Apply ``fn`` to channels on ``workers`` threads, at most ``workers`` in flight (memory
    stays bounded); yield each result as soon as it is done, so that a long channel never
    keeps the other threads idle; check cancellation between channels.

    The channels are started longest first (most samples), which shortens the whole when
    their lengths differ (an ECG at twice the EEG rate would otherwise finish alone).
    """
    workers = default_workers() if workers is None else max(1, int(workers))
    queue = sorted(channels, key=lambda ch: -ch.n_samples)
    total = len(queue)
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        running: set[cf.Future] = set()
        finished = 0
        try:
            while queue or running:
                while queue and len(running) < workers:
                    ch = queue.pop(0)
                    if state is not None:
                        state.check_cancelled()
                        state.set_status(f"preprocessing {ch.label}")
                    running.add(pool.submit(fn, ch))
                done, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    finished += 1
                    yield fut.result()
                    if state is not None:
                        state.set_progress(finished / total)
        finally:
            for fut in running:
                fut.cancel()


def _ordered_parallel(fn, channels, workers, state):
    """Apply ``fn`` to channels on ``workers`` threads; yield results in order, at most
    ``workers`` in flight (memory stays bounded); check cancellation between channels."""
    workers = default_workers() if workers is None else max(1, int(workers))
    total = len(channels)
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[cf.Future] = []
        try:
            for i, ch in enumerate(channels):
                if state is not None:
                    state.check_cancelled()
                    state.set_status(f"preprocessing {ch.label}")
                pending.append(pool.submit(fn, ch))
                if len(pending) >= workers:
                    yield pending.pop(0).result()
                    if state is not None:
                        state.set_progress((i + 2 - len(pending)) / total)
            while pending:
                yield pending.pop(0).result()
                if state is not None:
                    state.set_progress((total - len(pending)) / total)
        finally:
            for fut in pending:
                fut.cancel()


def preprocess(recording: Recording | str | os.PathLike, channels: Sequence[str] | None = None, *,
               dtype=np.float32, state: TaskState | None = None,
               workers: int | None = None) -> dict[str, np.ndarray]:
    """Preprocess channels of a recording into memory.

    Returns
    -------
    dict
        Label → 1-D array at 128 Hz, z-scored, in ``dtype``, in file order.
    """
    rec = recording if isinstance(recording, Recording) else open_recording(recording)
    return {p.label: p.data
            for p in iter_preprocessed(rec, channels, dtype=dtype, state=state, workers=workers)}


def hdf5_dataset_name(label: str) -> str:
    """HDF5 dataset name for a channel label ('/' would create a group)."""
    return label.replace("/", "_")


def _compress_chunks(data: np.ndarray, chunk: int, level: int) -> list[bytes]:
    """Deflate each HDF5 chunk; HDF5 stores the edge chunk at full size, so it is padded."""
    blobs = []
    for i in range(0, data.shape[0], chunk):
        part = data[i:i + chunk]
        if part.shape[0] < chunk:
            part = np.concatenate([part, np.zeros(chunk - part.shape[0], dtype=data.dtype)])
        blobs.append(_deflate.compress(part.tobytes(), level))
    return blobs


def _chunk_len(data: np.ndarray) -> int:
    return max(1, min(CHUNK_SAMPLES, data.shape[0]))


def preprocess_to_hdf5(recording: Recording | str | os.PathLike, out: str | os.PathLike,
                       channels: Sequence[str] | None = None, *,
                       modalities: dict[str, str] | None = None,
                       state: TaskState | None = None, workers: int | None = None) -> Path:
    """Write the reference layout: one float16 dataset per channel, 5-min gzip chunks.

    Parameters
    ----------
    recording : Recording or path
    out : path
        The HDF5 file; written to a temporary file and renamed when complete, so a failure or a
        cancellation leaves any previous file intact.
    channels : list of str, optional
        Labels to write (default: all).
    modalities : dict, optional
        Label → modality, stored as a dataset attribute.
    state : TaskState, optional

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    Channels are filtered and compressed on worker threads (SciPy's filters, NumPy and zlib
    release the GIL) and the compressed chunks are written directly; the file is a plain gzip-filtered
    HDF5 that h5py, the reference scripts and HDFView read.
    """
    import h5py

    rec = recording if isinstance(recording, Recording) else open_recording(recording)
    labels = list(channels) if channels is not None else rec.labels
    out = Path(out)
    def work(ch):
        x = rec.read_channel(ch.index)
        data = preprocess_signal(x, ch.rate, dtype=np.float16, label=ch.label)
        return ch, data, _compress_chunks(data, _chunk_len(data), GZIP_LEVEL)

    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["sampling_rate_hz"] = SAMPLING_RATE_HZ
        f.attrs["source_file"] = str(rec.path)
        f.attrs["source_start"] = rec.start.isoformat()
        f.attrs["engine_version"] = __version__
        f.attrs["contract"] = json.dumps(contract_dict())
        for ch, data, blobs in _ordered_parallel(work, _channels(rec, labels), workers, state):
            ds = f.create_dataset(hdf5_dataset_name(ch.label), shape=data.shape, dtype=np.float16,
                                  chunks=(_chunk_len(data),), compression="gzip",
                                  compression_opts=GZIP_LEVEL)
            for k, blob in enumerate(blobs):
                ds.id.write_direct_chunk((k * _chunk_len(data),), blob)
            ds.attrs["label"] = ch.label
            ds.attrs["source_rate_hz"] = ch.rate
            if modalities is not None:
                ds.attrs["modality"] = modalities.get(ch.label, "other")
    return out
