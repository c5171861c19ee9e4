"""What a model argument may be, and the identity (id, config hash) each result carries.

The inference functions take a model as an ``nn.Module`` (for example ``release.base``), a
loaded :class:`~sleepfm_engine.checkpoints.Release`, or a path to a model or release folder.
Results name the model they came from: from a folder, its ``<release>/<folder>`` name (or the
``model_id`` of its ``metadata.json``) and :func:`~sleepfm_engine.checkpoints.config_hash`; from a
bare module, its class and a hash of its weights.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = ["ModelHandle", "resolve_model"]


@dataclass
class ModelHandle:
    """A model ready to run, with its identity.

    Attributes
    ----------
    module : nn.Module
    model_id : str
    config_hash : str
    path : Path or None
        The model folder, when known.
    config : dict or None
        Its ``config.json``, when known.
    metadata : dict or None
        Its ``metadata.json``, when present.
    """

    module: Any
    model_id: str
    config_hash: str
    path: Path | None = None
    config: dict | None = None
    metadata: dict | None = None

    @property
    def max_seq_length(self) -> int:
        """Tokens one forward may hold (rows of the positional table)."""
        return int(self.module.positional_encoding.pe.shape[1])

    @property
    def max_channels(self) -> int:
        """Modality slots a head was trained with (``max_channels`` of its config; 4 by default)."""
        from ..contract import MODALITIES

        value = (self.config or {}).get("max_channels")
        return int(value) if isinstance(value, int) and value > 0 else len(MODALITIES)


def _weights_hash(module, length: int = 16) -> str:
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().to("cpu").contiguous().numpy().tobytes())
    return "weights:" + digest.hexdigest()[:length]


def _model_id(info) -> str:
    meta = info.metadata or {}
    for key in ("model_id", "name"):
        if isinstance(meta.get(key), str) and meta[key].strip():
            return meta[key].strip()
    return f"{info.path.parent.name}/{info.path.name}"


def _from_release(release, kind: str) -> ModelHandle:
    module = release.require(kind)
    info = release.info.get(kind)
    if info is None:
        return _from_module(module)
    return ModelHandle(module, _model_id(info), info.config_hash, info.path, info.config, info.metadata)


def _from_module(module) -> ModelHandle:
    return ModelHandle(module, type(module).__name__, _weights_hash(module))


def resolve_model(model: Any, kind: str) -> ModelHandle:
    """Turn a model argument into a :class:`ModelHandle` of the requested kind.

    Parameters
    ----------
    model : nn.Module, Release, ModelHandle, str or path
        A module, a loaded release, or a model/release folder (loaded here, on the CPU).
    kind : {"base", "staging", "diagnosis"}

    Raises
    ------
    ModelError
        When the folder or release holds no model of that kind, or the module is of another kind.
    """
    from torch import nn

    from ..checkpoints import Release, load_release
    from ..training_tasks import model_kinds

    if isinstance(model, ModelHandle):
        handle = model
    elif isinstance(model, Release):
        handle = _from_release(model, kind)
    elif isinstance(model, (str, os.PathLike)):
        handle = _from_release(load_release(model, kinds=[kind]), kind)
    elif isinstance(model, nn.Module):
        handle = _from_module(model)
    else:
        raise TypeError(f"expected a model (nn.Module), a Release or a model folder path, "
                        f"not {type(model).__name__}")
    actual = model_kinds().get(type(handle.module).__name__)
    if actual != kind:
        raise ModelError(handle.path, f"is a {type(handle.module).__name__} ({actual or 'unknown'} model), "
                                      f"but a {kind} model is needed here")
    return handle
