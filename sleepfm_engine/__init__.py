"""SleepFM Studio engine: recordings, preprocessing, SleepFM models, hypnograms and exports.

No Qt here. Heavy dependencies (torch, h5py) load on first use, so ``import sleepfm_engine``
stays fast; the public names below resolve lazily.
"""
from __future__ import annotations

from ._lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
__all__ = __all__ + ["__version__"]
