"""Recording → per-modality SleepFM inputs: preprocessed, z-scored channels at 128 Hz.

Only modalities that have channels appear: a recording without an ECG has no ``EKG`` entry,
never a zero-filled one (zeros would be embedded as if they were a flat signal). For the same
reason a flat or disconnected channel is left out of its modality with a warning (see
:mod:`sleepfm_engine.quality`), unless the user marked it "use despite quality"; a modality left
without a usable channel is absent.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..channels import ChannelMap, ChannelMapError
from ..contract import MAX_CHANNELS, MODALITIES, PATCH_SIZE, SAMPLING_RATE_HZ, TOKEN_SECONDS
from ..errors import RecordingError
from ..jobs import TaskState
from ..quality import EXCLUDING_CHECKS, QualityReport, QualityWarning, assess_channel
from ..recording import Recording, open_recording
from ..sidecars import find_overrides

__all__ = ["ModalityInput", "prepare_modalities", "common_length", "saved_channel_map"]

_log = logging.getLogger(__name__)


@dataclass
class ModalityInput:
    """One modality's channels, ready for the base model.

    Attributes
    ----------
    name : str
        ``"BAS"``, ``"RESP"``, ``"EKG"`` or ``"EMG"``.
    channels : list of str
        Recording labels of the rows of ``data``, in file order.
    data : numpy.ndarray
        float32 (C, T) at 128 Hz, each row z-scored over the whole recording.
    source_rates : list of float
        Native rate of each channel.
    no_data : numpy.ndarray, optional
        bool per whole 5-s token: True where the recording has no data (a gap of an EDF+D
        file, filled in to keep the time line). None: every token has data.
    """

    name: str
    channels: list[str]
    data: np.ndarray
    source_rates: list[float] = field(default_factory=list)
    no_data: np.ndarray | None = None

    def __post_init__(self):
        if self.name not in MODALITIES:
            raise ValueError(f"unknown modality {self.name!r}; expected one of {', '.join(MODALITIES)}")
        if not isinstance(self.data, np.ndarray) or self.data.ndim != 2:
            raise ValueError(f"{self.name}: data must be a 2-D array (channels, samples)")
        if self.data.shape[0] != len(self.channels) or not self.channels:
            raise ValueError(f"{self.name}: {self.data.shape[0]} rows of data but "
                             f"{len(self.channels)} channel labels")

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_tokens(self) -> int:
        """Whole 5-s tokens in the data (a trailing part shorter than 5 s is not a token)."""
        return self.n_samples // PATCH_SIZE


def _caps(max_channels: bool | Mapping[str, int]) -> dict[str, int | None]:
    if max_channels is True:
        return dict(MAX_CHANNELS)
    if max_channels is False or max_channels is None:
        return {m: None for m in MODALITIES}
    if isinstance(max_channels, Mapping):
        caps: dict[str, int | None] = {}
        for m in MODALITIES:
            value = max_channels.get(m, MAX_CHANNELS[m])
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"max_channels[{m!r}] must be a positive integer or None, not {value!r}")
            caps[m] = value
        return caps
    raise TypeError(f"max_channels must be a bool or a mapping of modality to count, "
                    f"not {type(max_channels).__name__}")


def saved_channel_map(rec: Recording, log=None) -> ChannelMap:
    """The channel map of a recording as the user left it: automatic plus saved overrides.

    Overrides assigned in the application are kept beside the recording (or in the user data
    folder, see :func:`sleepfm_engine.sidecars.find_overrides`); inference, the command line
    and reports read them back so every product uses the same channels.

    Parameters
    ----------
    rec : Recording
    log : callable, optional
        Told one line when saved overrides are used (besides the ``logging`` record).

    Returns
    -------
    ChannelMap
        The automatic map when nothing is saved or the saved file is invalid (then with a
        warning).
    """
    saved = find_overrides(rec.path)
    if saved is None:
        return ChannelMap.from_recording(rec)
    try:
        cmap = ChannelMap.from_recording(rec, overrides=saved)
    except ChannelMapError as exc:
        warnings.warn(f"{exc}; the automatic channel assignment is used", RuntimeWarning, stacklevel=2)
        return ChannelMap.from_recording(rec)
    line = (f"{rec.path.name}: channel assignments saved in {saved} used ({len(cmap.overrides)} override(s), "
            f"{len(cmap.quality_overrides)} channel(s) used despite quality)")
    _log.info(line)
    if log is not None:
        log(line)
    return cmap


def prepare_modalities(rec: Recording | str | os.PathLike, channel_map: ChannelMap | None = None, *,
                       max_channels: bool | Mapping[str, int] = True, state: TaskState | None = None,
                       workers: int | None = None,
                       quality: QualityReport | None = None) -> dict[str, ModalityInput]:
    """Preprocess the channels of each SleepFM modality of a recording.

    Parameters
    ----------
    rec : Recording or path
    channel_map : ChannelMap, optional
        Which channel belongs to which modality (default: the automatic map with the overrides
        the user saved for this recording, see :func:`saved_channel_map`).
    max_channels : bool or mapping
        ``True``: keep at most the released model's channel count per modality (BAS 10,
        RESP 7, EKG 2, EMG 4), the first ones in file order. ``False``: keep all. A mapping
        sets the cap per modality.
    state : TaskState, optional
        Progress per channel; cancellation is checked between channels.
    workers : int, optional
        Channels decoded and filtered at once on threads (default: preprocessing's default).
    quality : QualityReport, optional
        The recording's signal quality when already assessed (say, to save it with the
        outputs): its verdicts decide which channels are left out; channels it does not cover
        (or covers under another modality) are checked here.

    Returns
    -------
    dict
        Modality → :class:`ModalityInput`, in ``MODALITIES`` order, only for modalities that
        have channels. Every modality has the same number of samples: the shortest channel's.

    Raises
    ------
    RecordingError
        When no channel maps to a SleepFM modality, or the recording is shorter than one
        5-s token.
    """
    from ..preprocessing import iter_preprocessed, no_data_windows

    recording = rec if isinstance(rec, Recording) else open_recording(rec)
    if channel_map is not None:
        cmap = channel_map
    else:
        cmap = saved_channel_map(recording, log=None if state is None else state.set_status)
    caps = _caps(max_channels)
    candidates = {m: cmap.channels_for(m) for m in MODALITIES}
    # One pass, one read per channel: each channel's quality is checked and, when it is among
    # the first ``cap`` of its modality and usable, it is preprocessed from the same samples.
    # Only when a channel in front is left out does a later one need a second pass.
    checked, done = _check_and_prepare(recording, cmap, candidates, caps, state, workers, quality)
    usable = _usable_channels(recording, cmap, candidates, checked, state)
    wanted: dict[str, list[str]] = {}
    for m in MODALITIES:
        labels = usable[m]
        cap = caps[m]
        if cap is not None and len(labels) > cap:
            warnings.warn(f"{recording.path.name}: {m} has {len(labels)} channels; the first {cap} are "
                          f"used ({', '.join(labels[cap:])} left out)", RuntimeWarning, stacklevel=2)
            labels = labels[:cap]
        if labels:
            wanted[m] = labels
    if not wanted:
        left_out = [label for m in MODALITIES for label in cmap.channels_for(m) if label not in usable[m]]
        if left_out:
            raise RecordingError(recording.path, "no usable channel: every channel of a SleepFM modality "
                                                 f"is flat or disconnected ({', '.join(left_out)}); mark "
                                                 "a channel 'use despite quality' to use it anyway")
        raise RecordingError(recording.path, "no channel maps to a SleepFM modality (BAS, RESP, EKG, "
                                             "EMG); assign channels with a channel map override")
    order = [label for m in wanted for label in wanted[m]]
    late = [label for label in order if label not in done]
    if late:
        done.update((item.label, item) for item in iter_preprocessed(recording, late, dtype=np.float32,
                                                                     state=state, workers=workers))
    n = common_length([done[label].data for label in order])
    if n < PATCH_SIZE:
        raise RecordingError(recording.path, f"too short for SleepFM: {n / SAMPLING_RATE_HZ:.2f} s of "
                                             f"signal, less than one {TOKEN_SECONDS}-s token")
    out: dict[str, ModalityInput] = {}
    for m, labels in wanted.items():
        data = np.empty((len(labels), n), dtype=np.float32)
        for i, label in enumerate(labels):
            data[i] = done[label].data[:n]
        out[m] = ModalityInput(m, list(labels), data, [done[label].source_rate for label in labels],
                               no_data_windows(recording.gaps, TOKEN_SECONDS, n // PATCH_SIZE))
    return out


def _check_and_prepare(rec: Recording, cmap: ChannelMap, candidates: dict[str, list[str]],
                       caps: dict[str, int | None], state: TaskState | None, workers: int | None,
                       given: QualityReport | None):
    """The quality of every candidate channel, and the preprocessed first ``cap`` of each
    modality that are usable (or kept despite their quality), on threads.

    Returns
    -------
    tuple
        (label → ChannelQuality, label → PreprocessedChannel). A channel the given report
        covers is not checked again; one neither to check nor to preprocess is not read.
    """
    from ..preprocessing import PreprocessedChannel, parallel_as_done, preprocess_signal

    found = {c.label: c for c in (given.channels if given is not None else ())
             if c.modality == cmap.modality_of(c.label)}
    keep_anyway = set(cmap.quality_overrides)
    first = {label for m in MODALITIES for label in candidates[m][:caps[m]]}
    labels = [label for m in MODALITIES for label in candidates[m]]

    def work(ch):
        quality = found.get(ch.label)
        x = None
        if quality is None:
            x = rec.read_channel(ch.index)
            quality = assess_channel(rec, ch.label, cmap.modality_of(ch.label), checks=EXCLUDING_CHECKS,
                                     values=x)
        prepared = None
        if ch.label in first and (quality.usable or ch.label in keep_anyway):
            x = rec.read_channel(ch.index) if x is None else x
            prepared = PreprocessedChannel(ch.label, preprocess_signal(x, ch.rate, dtype=np.float32,
                                                                       label=ch.label), ch.rate)
        return ch.label, quality, prepared

    todo = [rec.channel(label) for label in labels if label not in found or label in first]
    checked = dict(found)
    done = {}
    for label, quality, prepared in parallel_as_done(work, todo, workers, state):
        checked[label] = quality
        if prepared is not None:
            done[label] = prepared
    return checked, done


def _usable_channels(rec: Recording, cmap: ChannelMap, candidates: dict[str, list[str]],
                     found: dict, state: TaskState | None) -> dict[str, list[str]]:
    """Drop the channels whose quality (``found``: label → ChannelQuality) leaves them out
    (flat, disconnected), saying why.

    Channels the user marked "use despite quality" stay, with a log line.
    """
    keep_anyway = set(cmap.quality_overrides)
    out: dict[str, list[str]] = {}
    for m in MODALITIES:
        out[m] = []
        for label in candidates[m]:
            quality = found[label]
            why = "; ".join(f.reason for f in quality.excluding)
            if quality.usable:
                out[m].append(label)
            elif label in keep_anyway:
                out[m].append(label)
                line = f"{rec.path.name}: {label} used in {m} despite its quality ({why}): user override"
                _log.info(line)
                if state is not None:
                    state.set_status(line)
            else:
                warnings.warn(f"{rec.path.name}: {label} left out of {m}: {why}; mark it 'use despite "
                              "quality' to use it anyway", QualityWarning, stacklevel=3)
    return out


def common_length(arrays: list[np.ndarray]) -> int:
    """Samples shared by every channel (the shortest); warns when they differ by 5 s or more."""
    lengths = [a.shape[-1] for a in arrays]
    n, longest = min(lengths), max(lengths)
    if longest - n >= PATCH_SIZE:
        warnings.warn(f"channels differ in length by {(longest - n) / SAMPLING_RATE_HZ:.1f} s; all are "
                      f"cut to the shortest ({n / SAMPLING_RATE_HZ:.1f} s)", RuntimeWarning, stacklevel=3)
    return int(n)
