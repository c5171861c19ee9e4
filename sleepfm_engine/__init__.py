"""SleepFM Studio engine: recordings, preprocessing, SleepFM models, hypnograms and exports.

No Qt here. Heavy dependencies (torch, h5py) load on first use, so ``import sleepfm_engine``
stays fast; the public names below resolve lazily.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    # What a type checker sees of the lazy exports below (tests/test_typing.py keeps both equal;
    # ``X as X`` marks an explicit re-export).
    from .channels import ChannelMap as ChannelMap, classify_channel as classify_channel
    from .checkpoints import (
        describe_model as describe_model,
        load_model as load_model,
        load_release as load_release,
        save_model as save_model,
    )
    from .errors import (
        HypnogramError as HypnogramError,
        JobCancelled as JobCancelled,
        ModelError as ModelError,
        RecordingError as RecordingError,
    )
    from .formats import read_hypnogram as read_hypnogram, write_hypnogram as write_hypnogram
    from .hypnogram import Hypnogram as Hypnogram
    from .jobs import Job as Job, TaskState as TaskState
    from .preprocessing import preprocess as preprocess
    from .recording import (
        Annotation as Annotation,
        Channel as Channel,
        Recording as Recording,
        open_recording as open_recording,
    )

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
