"""The SleepFM event head as an event detector: a release's ``model_events/`` over the base
model's 5-s embeddings of the recording.

The head gives per-token probabilities of the event classes it was trained on; the
post-processing saved beside it (threshold, minimum duration, merge gap per class, tuned on its
validation nights) turns them into events, each with its probability as ``confidence``. The
head learnt events in sleep only, so events are scored in the sleep epochs of the hypnogram
given; without one, in the epochs the release's own staging head calls sleep; with neither,
over the whole recording (said in the result's fallbacks). Classes the head does not know are
listed in ``not_scored``.

The night is compared with the head's training nights (:mod:`sleepfm_engine.event_head_ood`):
the verdict is the last of the result's ``notes`` (a head without training statistics says the
check is not available) and the whole record, per-epoch scores included, is
``provenance["ood"]`` (``flagged`` true when the night is unlike the training nights).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..contract import TOKEN_SECONDS
from ..event_classes import EVENT_CLASSES
from ..errors import DetectorError, ModelError
from ..events import EventSource
from ..hypnogram import SLEEP_CODES
from ..jobs import TaskState
from ..training_tasks import BASE_KIND
from .base import Detection

__all__ = ["SleepFMHeadDetector", "DETECTOR", "NAME", "EVENTS_KIND"]

NAME = "sleepfm-head"
#: The model kind of the event head (its training task's ``model_kind``).
EVENTS_KIND = "events"
#: ``not_scored`` part of each head class (as the psgscoring detector names its parts).
_PARTS = {"apnea": "apneas", "hypopnea": "hypopneas", "arousal": "arousals",
          "limb_movement": "limb_movements", "desaturation": "desaturations"}
#: Indices the detector reports in its summary, and the classes each needs.
_SUMMARY = {"AHI": ("apnea", "hypopnea"), "AI": ("apnea",), "HI": ("hypopnea",), "ArI": ("arousal",),
            "PLMSI": ("limb_movement",)}


class SleepFMHeadDetector:
    """The SleepFM event-head detector (module-level :data:`DETECTOR`)."""

    name = NAME
    description = ("the event head of a SleepFM release (model_events/, from 'sleepfm finetune events'): "
                   "apneas, hypopneas, arousals, limb movements, desaturations from the base model's "
                   "embeddings (--model RELEASE)")

    def version(self) -> str:
        """The engine's version (the head's own identity is in each result's source)."""
        from .. import __version__

        return __version__

    def settings_help(self) -> Mapping[str, str]:
        return {"model": "release folder (model_base/ + model_events/) or registry name",
                "device": "auto, cpu, cuda, cuda:N or mps (default auto)",
                "channel_map": "the recording's ChannelMap (with the user's overrides)"}

    def detect(self, recording: Any, hypnogram: Any = None, *, state: TaskState | None = None,
               model: str | Path | None = None, device: str = "auto", channel_map: Any = None) -> Detection:
        """Score ``recording`` with the event head of the release ``model``.

        Raises
        ------
        DetectorError
            No ``model`` given, or a release without an event head, or one whose head folder
            lacks its classes or post-processing.
        JobCancelled
            If ``state`` asked to stop.
        """
        from concurrent.futures import ThreadPoolExecutor

        from ..checkpoints import release_folders
        from ..devices import select_device
        from ..event_head_ood import assess_event_night
        from ..inference import stage_recording
        from ..inference.base import embed_inputs
        from ..inference.event_head import event_probabilities, probabilities_to_events
        from ..inference.heads import stack_tokens
        from ..inference.inputs import prepare_modalities
        from ..recording import Recording, open_recording

        state = state or TaskState()
        path = getattr(recording, "path", None)
        if model is None:
            raise DetectorError(NAME, path, "needs a release with an event head (model=RELEASE; "
                                            "'sleepfm events detect --model RELEASE')")
        try:
            folders = release_folders(_release_path(model))
            if EVENTS_KIND not in folders or BASE_KIND not in folders:
                raise ModelError(_release_path(model), "holds no event head beside a base model "
                                                       "(model_base/ and model_events/); train one with "
                                                       "'sleepfm finetune events'")
            dev = select_device(device)
        except ModelError as exc:
            raise DetectorError(NAME, path, str(exc)) from None
        rec = recording if isinstance(recording, Recording) else open_recording(recording)
        # The release loads (onto the device) on a thread while this one prepares the night's
        # inputs on the CPU: neither waits for the other.
        with ThreadPoolExecutor(max_workers=1) as pool:
            loading = pool.submit(_load_head, model, folders, dev, path)
            state.set_status(f"{NAME}: preprocessing {rec.path.name}")
            inputs = prepare_modalities(rec, channel_map, state=state.sub(0.0, 0.425))
            release, handle, classes, params = loading.result()
        state.set_status(f"{NAME}: embedding the night")
        emb = embed_inputs(inputs, release, device=dev, state=state.sub(0.425, 0.85), start=rec.start,
                           duration_s=rec.duration, source=str(rec.path))
        del inputs
        state.check_cancelled()
        state.set_status(f"{NAME}: event head")
        x, mask = stack_tokens(emb, handle.max_channels)
        probs = event_probabilities(x, mask, handle.module, dev)
        fallbacks: list[str] = []
        hyp, sleep = self._sleep(recording, hypnogram, release, emb, fallbacks, stage_recording)
        settings = {"model": handle.model_id, "config_hash": handle.config_hash,
                    "postprocessing": {c: params[c].to_dict() for c in classes}}
        source = EventSource.detector(NAME, f"{self.version()} / {handle.model_id}", settings)
        result = Detection(events=probabilities_to_events(probs, classes, params, source, valid=sleep,
                                                          start=getattr(recording, "start", None)),
                           fallbacks=fallbacks)
        result.events.source = f"{NAME} ({handle.model_id})"
        result.not_scored = {_PARTS[c]: "the event head was not trained on this class"
                             for c in EVENT_CLASSES if c not in classes}
        result.summary = self._summary(result.events, hyp, classes)
        try:
            ood = assess_event_night(emb, handle.metadata, probs, classes, handle.path)
        except ModelError as exc:
            raise DetectorError(NAME, path, str(exc)) from None
        result.notes.append(ood.message())
        result.provenance = {"detector": NAME, "version": self.version(), "model": handle.model_id,
                             "model_folder": None if handle.path is None else str(handle.path),
                             "config_hash": handle.config_hash, "event_classes": classes,
                             "postprocessing": settings["postprocessing"], "device": str(dev),
                             "modalities": list(emb.modalities),
                             "tuned_on_nights": (handle.metadata or {}).get("postprocessing_tuned_on_nights"),
                             "ood": ood.to_dict()}
        state.set_progress(1.0)
        return result

    @staticmethod
    def _sleep(recording, hypnogram, release, emb, fallbacks: list[str], stage_recording):
        """(hypnogram on the recording's time line or None, sleep mask per token)."""
        n = emb.n_tokens
        if hypnogram is not None:
            hyp = hypnogram.align_to(recording)
        elif release.staging is not None:
            hyp = stage_recording(emb, release)
            fallbacks.append("no hypnogram: events scored in the sleep epochs of the release's "
                                    "SleepFM staging head")
        else:
            fallbacks.append("no hypnogram and no staging head in the release: events scored "
                                    "over the whole recording, wake included (the head learnt them in "
                                    "sleep only)")
            return None, np.ones(n, dtype=bool)
        stages = hyp.regrid(float(TOKEN_SECONDS), 0.0, n).stages
        return hyp, np.isin(stages, SLEEP_CODES)

    @staticmethod
    def _summary(events, hyp, classes) -> dict:
        from ..indices import compute_indices

        if hyp is None:
            return {key: None for key, need in _SUMMARY.items() if any(c in classes for c in need)}
        table = compute_indices(events, hyp)
        return {key: table[key] for key, need in _SUMMARY.items() if any(c in classes for c in need)}


def _load_head(model: str | Path, folders, dev, path):
    """(release, event-head handle, its classes, their post-processing) of a release folder
    that holds an event head beside a base model.

    Raises
    ------
    DetectorError
        When the head's folder lacks valid classes or post-processing, or a model cannot load.
    """
    from ..checkpoints import load_release
    from ..inference.event_head import postprocessing_from_metadata
    from ..inference.handles import resolve_model

    try:
        kinds = [BASE_KIND, EVENTS_KIND] + (["staging"] if "staging" in folders else [])
        release = load_release(_release_path(model), device=dev, kinds=kinds)
        handle = resolve_model(release, EVENTS_KIND)
        classes = list((handle.config or {}).get("event_classes") or [])
        if not classes or any(c not in EVENT_CLASSES for c in classes):
            raise ModelError(handle.path, f"config.json: event_classes must list classes of "
                                          f"{', '.join(EVENT_CLASSES)}, not {classes!r}")
        try:
            params = postprocessing_from_metadata(handle.metadata, classes)
        except ValueError as exc:
            raise ModelError(handle.path, str(exc)) from None
    except ModelError as exc:
        raise DetectorError(NAME, path, str(exc)) from None
    return release, handle, classes, params


def _release_path(model: str | Path) -> Path:
    """A release folder path, or a registry name's."""
    p = Path(model).expanduser()
    if p.exists():
        return p
    from ..registry import get_model_path

    return get_model_path(str(model))


DETECTOR = SleepFMHeadDetector()
