"""Event detectors: scoring libraries and models that turn a recording into scored events.

One module per detector; :data:`DETECTORS` names each and the module that provides it, so a
detector is imported (with its optional dependencies) only when it is used.

>>> from sleepfm_engine.detectors import get_detector
>>> det = get_detector("psgscoring")           # doctest: +SKIP
>>> result = det.detect(recording, hypnogram, profile="aasm_v3_rec")   # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import NamedTuple

from ..errors import DetectorError
from .base import Detection, Detector, detection_job


class DetectorEntry(NamedTuple):
    """A registered detector: where it lives and what it needs."""

    name: str
    module: str
    description: str
    extra: str


#: Registered detectors by name.
DETECTORS: dict[str, DetectorEntry] = {}


def register_detector(entry: DetectorEntry, *, replace: bool = False) -> None:
    """Register a detector module (``module`` must define ``DETECTOR``)."""
    if entry.name in DETECTORS and not replace:
        raise ValueError(f"a detector named {entry.name!r} is already registered")
    DETECTORS[entry.name] = entry


def get_detector(name: str) -> Detector:
    """The detector called ``name``.

    Raises
    ------
    DetectorError
        For an unknown name, or when its library is not installed (the message names the
        optional extra to install).
    """
    try:
        entry = DETECTORS[name]
    except KeyError:
        raise DetectorError(name, None, f"no such detector (available: "
                                        f"{', '.join(sorted(DETECTORS))})") from None
    module = importlib.import_module(entry.module)
    return module.DETECTOR


register_detector(DetectorEntry(
    "psgscoring", "sleepfm_engine.detectors.psgscoring",
    "AASM respiratory, SpO2, arousal, PLM and heart-rate scoring by the psgscoring library",
    "events"))
register_detector(DetectorEntry(
    "sleepfm-head", "sleepfm_engine.detectors.sleepfm_head",
    "the event head of a SleepFM release (model_events/): apneas, hypopneas, arousals, limb "
    "movements, desaturations from the base model's embeddings", ""))

__all__ = ["DETECTORS", "Detection", "Detector", "DetectorEntry", "detection_job",
           "get_detector", "register_detector"]
