"""SleepFM Studio engine: recordings, preprocessing, SleepFM models, hypnograms and exports.

No Qt here. Heavy dependencies (torch, h5py) load on first use, so ``import sleepfm_engine``
stays fast; the public names below resolve lazily.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "open_recording": "recording",
    "Recording": "recording",
    "Channel": "recording",
    "Annotation": "recording",
    "RecordingError": "errors",
    "HypnogramError": "errors",
    "ModelError": "errors",
    "JobCancelled": "errors",
    "classify_channel": "channels",
    "ChannelMap": "channels",
    "preprocess": "preprocessing",
    "Hypnogram": "hypnogram",
    "read_hypnogram": "formats",
    "write_hypnogram": "formats",
    "load_model": "checkpoints",
    "load_release": "checkpoints",
    "save_model": "checkpoints",
    "describe_model": "checkpoints",
    "Job": "jobs",
    "TaskState": "jobs",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sleepfm_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
