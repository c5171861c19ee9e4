"""The automatic part of a report: SleepFM staging (and disease risk) of a recording, with the
provenance the report prints. Runs through :mod:`sleepfm_engine.inference` only."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jobs import TaskState


@dataclass
class AutomaticResult:
    """What the models produced for one recording.

    Attributes
    ----------
    hypnogram : Hypnogram
        SleepFM staging, 30-s epochs with probabilities.
    risk : RiskTable or None
        Disease risk, when the model folder has a diagnosis head and age and sex were given.
    provenance : dict
        Label -> value for the report: model folder, config hashes, engine version, device.
    """

    hypnogram: Any
    risk: Any = None
    provenance: dict[str, str] = field(default_factory=dict)


def run_automatic(recording: Any, model: str | os.PathLike, *, age: float | None = None,
                  sex: str | int | None = None, device: str | None = None,
                  with_risk: bool = True, state: TaskState | None = None) -> AutomaticResult:
    """Stage a recording with a SleepFM release (and compute risk when possible).

    Parameters
    ----------
    recording : Recording or path
    model : path
        A release folder (``model_base/``, ``model_sleep_staging/``, optionally
        ``model_diagnosis/``) or a registered model name.
    age, sex : optional
        Needed by the diagnosis head; without them risk is skipped (with a warning).
    device : str, optional
        ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    with_risk : bool
        False: staging only, the diagnosis head is not loaded (and not warned about).
    state : TaskState, optional
        Progress and cancellation.

    Raises
    ------
    ModelError
        If the folder has no base or no staging model.
    """
    from .. import __version__
    from ..checkpoints import load_release, release_folders
    from ..devices import describe_device, select_device
    from ..errors import ModelError
    from ..inference import embed_recording, risk_recording, stage_recording
    from ..recording import open_recording
    from ..registry import resolve_model

    state = state or TaskState()
    folder = resolve_model(model)
    kinds = release_folders(folder)
    for needed in ("base", "staging"):
        if needed not in kinds:
            raise ModelError(folder, f"holds no {needed} model; a report's automatic staging "
                                     "needs model_base/ and model_sleep_staging/")
    want_risk = with_risk and "diagnosis" in kinds and age is not None and sex is not None
    if with_risk and "diagnosis" in kinds and not want_risk:
        warnings.warn(f"{folder}: has a diagnosis model, but age and sex were not given; "
                      "disease risk skipped", stacklevel=2)
    dev = select_device(device)
    state.set_status("loading models")
    release = load_release(folder, device=dev,
                           kinds=["base", "staging"] + (["diagnosis"] if want_risk else []))
    state.check_cancelled()
    rec = open_recording(recording) if isinstance(recording, (str, os.PathLike)) else recording
    try:
        state.set_status("computing embeddings")
        emb = embed_recording(rec, release, device=dev, state=state.sub(0.0, 0.85))
        state.check_cancelled()
        state.set_status("staging")
        hyp = stage_recording(emb, release, device=dev, state=state.sub(0.85, 0.95))
        risk = None
        if want_risk:
            state.check_cancelled()
            state.set_status("disease risk")
            risk = risk_recording(emb, release, age=float(age), sex=sex, device=dev)
    finally:
        if rec is not recording:
            rec.close()
    state.set_progress(1.0)
    hashes = ", ".join(f"{k} {info.config_hash}" for k, info in release.info.items())
    provenance = {
        "Model folder": str(Path(folder).resolve()),
        "Config hash": hashes,
        "Engine version": f"SleepFM Studio {__version__}",
        "Device": describe_device(dev),
    }
    return AutomaticResult(hyp, risk, provenance)
