"""The analysis jobs: staging, embedding export and disease risk (Qt-free; run by the analysis process).

Each function is the compute function of a :class:`sleepfm_engine.jobs.Job`: it takes a
``TaskState`` first, opens its own :class:`~sleepfm_engine.recording.Recording` (the window's
stays with the GUI thread), applies the user's channel overrides and calls
:mod:`sleepfm_engine.inference`. Loaded models and the night's embeddings are kept, so staging
then risk embed the night once.
"""
from __future__ import annotations

import datetime as _dt
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleepfm_engine.errors import ModelError
from sleepfm_engine.jobs import TaskState

__all__ = ["AnalysisContext", "ModelCache", "run_staging", "run_risk", "run_embedding_export",
           "demographics_from_header", "gui_torch_threads", "warm_up"]


def gui_torch_threads() -> int:
    """Threads torch may use under the GUI: all cores but one, which the event loop keeps."""
    return max(1, (os.cpu_count() or 2) - 1)


class ModelCache:
    """Loaded model releases by (folder, device), shared by the jobs (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._releases: dict[tuple[str, str], Any] = {}

    def get(self, folder: str | os.PathLike, device: str, kinds: tuple[str, ...],
            state: TaskState | None = None) -> Any:
        """The release at ``folder`` with at least ``kinds`` loaded on ``device``.

        Raises
        ------
        ModelError
            If the folder is not a release or lacks one of ``kinds``.
        """
        from sleepfm_engine.checkpoints import load_release

        path = Path(folder).expanduser()
        if not path.exists():
            raise ModelError(path, "model folder not found")
        key = (str(path.resolve()), device)
        with self._lock:
            release = self._releases.get(key)
            if release is None or any(getattr(release, k, None) is None for k in kinds):
                if state is not None:
                    state.set_status(f"loading models from {path.name}")
                release = load_release(path, device=device)
                self._releases[key] = release
            absent = [k for k in kinds if getattr(release, k, None) is None]
            if absent:
                raise ModelError(path, f"this folder has no {' or '.join(absent)} model "
                                       f"(it holds: {', '.join(release.kinds) or 'none'})")
            return release

    def clear(self) -> None:
        with self._lock:
            self._releases.clear()


@dataclass
class AnalysisContext:
    """What a job needs to know about the recording and the models.

    Attributes
    ----------
    recording : Path
    model : Path
        Release folder (``model_base/``, ``model_sleep_staging/``, ``model_diagnosis/``).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``...
    overrides : dict
        The user's channel reassignments ``{label: modality}``.
    models : ModelCache
    embeddings : Embeddings or None
        The night's embeddings when already computed with these overrides and this model.
    """

    recording: Path
    model: Path
    device: str = "auto"
    overrides: dict[str, str] = field(default_factory=dict)
    models: ModelCache = field(default_factory=ModelCache)
    embeddings: Any = None

    def embeddings_key(self) -> tuple:
        return (str(self.recording), str(self.model), tuple(sorted(self.overrides.items())))


def _device(name: str) -> Any:
    from sleepfm_engine.inference import select_device

    return select_device(None if name in ("", "auto") else name)


def _embeddings(state: TaskState, ctx: AnalysisContext, share: float) -> Any:
    """The night's embeddings: reused from ``ctx`` or computed (progress 0..share)."""
    if ctx.embeddings is not None:
        state.set_progress(share)
        return ctx.embeddings
    import torch

    from sleepfm_engine.channels import ChannelMap
    from sleepfm_engine.inference import embed_recording
    from sleepfm_engine.recording import open_recording

    torch.set_num_threads(gui_torch_threads())
    device = _device(ctx.device)
    release = ctx.models.get(ctx.model, str(device), ("base",), state)
    state.check_cancelled()
    with open_recording(ctx.recording) as rec:
        cmap = ChannelMap.from_recording(rec, overrides=dict(ctx.overrides))
        return embed_recording(rec, release.base, device=device, state=state.sub(0.0, share),
                               channel_map=cmap, batch_size=16,
                               workers=gui_torch_threads())


def run_staging(state: TaskState, ctx: AnalysisContext) -> tuple[Any, Any]:
    """Stage the night with SleepFM.

    Returns
    -------
    (Hypnogram, Embeddings)
        The automatic hypnogram (30-s epochs with probabilities) and the embeddings it used.
    """
    from sleepfm_engine.inference.staging import stage_recording

    emb = _embeddings(state, ctx, 0.85)
    state.check_cancelled()
    state.set_status("staging")
    device = _device(ctx.device)
    release = ctx.models.get(ctx.model, str(device), ("staging",), state)
    hyp = stage_recording(emb, release.staging, device=device, state=state.sub(0.85, 1.0))
    state.set_progress(1.0)
    return hyp, emb


def run_risk(state: TaskState, ctx: AnalysisContext, age: float, sex: str) -> tuple[Any, Any]:
    """Disease log-hazards of the night (research use, uncalibrated).

    Returns
    -------
    (RiskTable, Embeddings)
    """
    from sleepfm_engine.inference.risk import risk_recording

    emb = _embeddings(state, ctx, 0.9)
    state.check_cancelled()
    state.set_status("disease risk")
    device = _device(ctx.device)
    release = ctx.models.get(ctx.model, str(device), ("diagnosis",), state)
    risk = risk_recording(emb, release.diagnosis, age=age, sex=sex, device=device,
                          label_mapping=release.label_mapping)
    state.set_progress(1.0)
    return risk, emb


def run_embedding_export(state: TaskState, ctx: AnalysisContext, out: str | os.PathLike
                         ) -> tuple[Path, Any]:
    """Write the night's embeddings as HDF5 (reference layout), atomically.

    Returns
    -------
    (Path, Embeddings)
    """
    emb = _embeddings(state, ctx, 0.95)
    state.check_cancelled()
    state.set_status(f"writing {Path(out).name}")
    path = emb.to_hdf5(out)
    state.set_progress(1.0)
    return Path(path), emb


def demographics_from_header(rec: Any) -> tuple[float | None, str]:
    """Age at the recording and sex (``"M"``/``"F"``) from an EDF+ patient field, if present."""
    p = getattr(rec, "patient", {}) or {}
    sex = str(p.get("sex", "")).strip().upper()[:1]
    sex = sex if sex in ("M", "F") else ""
    age = None
    birth = str(p.get("birthdate", "")).strip()
    for fmt in ("%d-%b-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d"):
        try:
            born = _dt.datetime.strptime(birth.title() if "%b" in fmt else birth, fmt)
        except ValueError:
            continue
        start = rec.start
        years = start.year - born.year - ((start.month, start.day) < (born.month, born.day))
        if 0 <= years <= 120:
            age = float(years)
        break
    return age, sex


def warm_up(state: TaskState, models: ModelCache, model: str | os.PathLike | None,
            device: str = "auto") -> None:
    """Import torch and the inference code and, given a model folder, load its models.

    Run ahead of the first job (in the analysis process) so the job starts at once.
    """
    import torch  # noqa: F401 - the import is the point
    import scipy.signal  # noqa: F401

    import sleepfm_engine.inference  # noqa: F401
    import sleepfm_engine.inference.risk  # noqa: F401
    import sleepfm_engine.inference.staging  # noqa: F401

    state.set_progress(0.5)
    if model:
        try:
            models.get(model, str(_device(device)), (), state)
        except (ModelError, OSError, ValueError) as exc:
            # The job that needs the models will report what is wrong with the folder.
            state.set_status(f"models not loaded: {exc}")
    state.set_progress(1.0)
