"""The automatic part of a report: SleepFM staging (and disease risk) of a recording, through
the one night analysis (:mod:`sleepfm_engine.analysis`), with its provenance."""
from __future__ import annotations

import os
import warnings
from typing import Any

from ..analysis import Analyser, NightRequest, NightResult
from ..jobs import TaskState


def run_automatic(recording: Any, model: str | os.PathLike, *, age: float | None = None,
                  sex: str | int | None = None, device: str | None = None,
                  with_risk: bool = True, state: TaskState | None = None,
                  analyser: Analyser | None = None) -> NightResult:
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
    analyser : Analyser, optional
        Keeps loaded models between calls (default: a fresh one).

    Returns
    -------
    NightResult
        ``hypnogram``, ``risk`` (or None) and ``provenance``.

    Raises
    ------
    ModelError
        If the folder has no base or no staging model.
    """
    from ..checkpoints import release_folders
    from ..errors import ModelError
    from ..registry import resolve_model

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
    request = NightRequest(str(getattr(recording, "path", recording)), str(folder),
                           products=("stage", "risk") if want_risk else ("stage",),
                           device=device or "auto", age=None if age is None else float(age),
                           sex=None if sex is None else str(sex))
    return (analyser or Analyser()).run(state, request)
