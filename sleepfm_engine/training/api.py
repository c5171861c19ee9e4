"""Entry points of training: fine-tune a head, pretrain the base, evaluate a model on a cohort.

These are what the CLI (``sleepfm finetune|pretrain|evaluate``) and the application's
fine-tune dialog call::

    from sleepfm_engine.training import FinetuneConfig, run_finetune
    result = run_finetune(FinetuneConfig(task="staging", data=..., base=..., output=...),
                          state=job.state, callbacks=[on_event])

``state`` (a :class:`~sleepfm_engine.jobs.TaskState`) carries progress and cancellation;
``callbacks`` receive :class:`~sleepfm_engine.training.loop.TrainingEvent` objects (step, loss,
metrics, ETA). The same call runs data-parallel when started by ``torchrun``.

The output is a release folder usable at once by :func:`sleepfm_engine.checkpoints.load_release`,
the CLI and the application::

    OUT/model_base/            config.json + best.pt  + metadata.json
    OUT/model_sleep_staging/   config.json + best.pth + metadata.json   (staging)
    OUT/model_diagnosis/       config.json + best.pth + metadata.json + label_mapping.csv
    OUT/training/              run.json, cohort.json, split.json, history.json, metrics.json,
                               last.pt (resume state), curves.png, confusion.png, ...
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import write_text_atomic
from ..contract import MODALITIES, contract_dict
from ..errors import ModelError
from ..jobs import TaskState
from ..training_tasks import BASE_KIND, get_task, registered_tasks, release_folder_names
from .config import FinetuneConfig, PretrainConfig, TrainConfig

#: Sub-folder of a release folder that holds the run's own files (settings, cohort, history).
WORK_FOLDER = "training"


def owned_folders() -> tuple[str, ...]:
    """Sub-folders a training run owns inside its output folder: every registered model
    folder and :data:`WORK_FOLDER`."""
    return (*release_folder_names().values(), WORK_FOLDER)


@dataclass
class TrainingResult:
    """What a finished run produced.

    Attributes
    ----------
    output : Path
        The release folder.
    models : dict
        Model kind (``base``, ``staging``, ``diagnosis``...) → model folder written or copied.
    status : str
        ``completed`` or ``early_stopped``.
    best_epoch : int
    validation : dict
        Validation metrics of the best epoch.
    test : dict
        Test metrics of the best checkpoint (empty without a test split).
    history : list of dict
        Per-epoch training loss, learning rate, time, throughput and validation metrics.
    """

    output: Path
    models: dict[str, Path] = field(default_factory=dict)
    status: str = ""
    best_epoch: int = -1
    validation: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return {"output": str(self.output), "models": {k: str(v) for k, v in self.models.items()},
                "status": self.status, "best_epoch": self.best_epoch, "validation": self.validation,
                "test": self.test, "history": self.history, "elapsed_s": self.elapsed_s}


# ------------------------------------------------------------------------------------ helpers
def resolve_base(spec: str | os.PathLike) -> Path:
    """The base model folder named by a path (model or release folder) or a registry name.

    Raises
    ------
    ModelError
        When nothing of that name exists or it holds no base model.
    """
    from ..checkpoints import release_folders

    p = Path(spec).expanduser()
    if not p.exists():
        from ..registry import get_model_path

        p = get_model_path(str(spec))
    folders = release_folders(p)
    if BASE_KIND not in folders:
        raise ModelError(p, f"holds no base model (SetTransformer); pass a base model folder or a "
                            f"release folder with {release_folder_names()[BASE_KIND]}/")
    return folders[BASE_KIND]


def _prepare_output(out: Path, cfg: TrainConfig, is_main: bool) -> Path:
    """Check (and on resume/overwrite, clean) the output folder; return ``out/training``."""
    work = out / WORK_FOLDER
    if not is_main:
        return work
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if cfg.resume:
            if not work.is_dir():
                raise ValueError(f"{out}: nothing to resume (no training/ folder)")
        elif cfg.overwrite:
            owned = owned_folders()
            strangers = [p.name for p in out.iterdir() if p.name not in owned]
            if strangers:
                raise ValueError(f"{out} holds files a training run did not write ({', '.join(strangers[:5])}); "
                                 "choose another output folder")
            for name in owned:
                if (out / name).exists():
                    shutil.rmtree(out / name)
        else:
            raise ValueError(f"{out} is not empty; pass resume to continue the run in it or "
                             "overwrite to replace it")
    work.mkdir(parents=True, exist_ok=True)
    return work


def _copy_model(src: Path, dst: Path) -> Path:
    """Copy a model folder's files (config, weights, metadata) atomically, byte for byte."""
    from ..checkpoints import CONFIG_FILE, METADATA_FILE, WEIGHT_FILES, replace_folder

    tmp = dst.parent / f".{dst.name}.copy-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for name in (CONFIG_FILE, METADATA_FILE, *WEIGHT_FILES):
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        replace_folder(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _channel_summary(records) -> dict:
    """How often each channel label fed each modality across the cohort."""
    out: dict[str, dict[str, int]] = {m: {} for m in MODALITIES}
    for r in records:
        for m, labels in r.modalities.items():
            for lbl in labels:
                out[m][lbl] = out[m].get(lbl, 0) + 1
    return out


def _split(cohort, cfg: TrainConfig, work: Path, dist) -> dict:
    from .cohort import load_split, make_split, write_split

    split = None
    if dist.is_main:
        saved = work / "split.json"
        if cfg.resume and saved.is_file():
            split = load_split(saved, cohort)
        elif cfg.split:
            split = load_split(cfg.split, cohort)
        else:
            split = make_split(cohort, tuple(cfg.fractions), cfg.split_seed)
        write_split(split, saved)
    return dist.broadcast(split)


def _write_run_files(work: Path, cfg: TrainConfig, cohort, kind: str) -> None:
    write_text_atomic(work / "run.json", json.dumps({"kind": kind, "config": cfg.to_dict()}, indent=2) + "\n")
    cohort.write_listing(work / "cohort.json")


def _provenance(cfg: TrainConfig, dist, kind: str, base: str | None = None) -> dict:
    from ..devices import describe_device

    return {"name": cfg.name, "task": kind, "data": str(Path(cfg.data).resolve()), "base": base,
            "device": describe_device(dist.device), "world_size": dist.world_size,
            "config": cfg.to_dict()}


def _finish_files(result: dict, work: Path, task_class: type, models: dict[str, Path], plots: bool = True) -> None:
    """metrics.json, plots, and the test metrics added to each model's metadata."""
    from .metrics import plot_history

    test = result.get("test") or {}
    metrics = {"status": result["status"], "best_epoch": result["best_epoch"],
               "validation": result["best_metrics"], "test": test, "history": result["history"]}
    write_text_atomic(work / "metrics.json", json.dumps(metrics, indent=2, default=_json_default) + "\n")
    for folder in models.values():
        _add_test_metrics(folder, work, task_class.metrics_summary(test) if test else {})
    if not plots:
        return
    if result["history"]:
        plot_history(result["history"], work / "curves.png", task_class.score_label)
    for part, m in (("validation", result["best_metrics"]), ("test", test)):
        task_class.plot_metrics(m, work, part)


def _add_test_metrics(folder: Path, work: Path, summary: dict) -> None:
    """Add the test metrics' summary to the metadata of a model this run wrote."""
    meta_path = folder / "metadata.json"
    if folder.parent == work.parent and meta_path.is_file() and summary:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if isinstance(meta.get("metrics"), dict):
            meta["metrics"]["test"] = summary
            write_text_atomic(meta_path, json.dumps(meta, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _discover(cfg, task: str, state: TaskState):
    from .cohort import discover_cohort

    kwargs = dict(channel_overrides=cfg.channel_map, subjects=cfg.subjects)
    if isinstance(cfg, FinetuneConfig):
        kwargs.update(labels_dir=cfg.labels_dir, demographics=cfg.demographics, events=cfg.events,
                      times=cfg.times)
    cohort = discover_cohort(cfg.data, task, state=state, **kwargs)
    if not cohort.records:
        reasons = "; ".join(f"{s.path.name}: {s.reason}" for s in cohort.skipped[:5])
        raise ValueError(f"{cfg.data}: no recording usable for {task}"
                         + (f" ({reasons})" if reasons else " (no EDF/BDF files found)"))
    return cohort


def _prepare(cohort, cfg, dist, state: TaskState):
    from .cache import TrainingCache, complete_prepared, open_prepared, prepare_records

    cache = TrainingCache(cfg.cache_dir)
    prepare_records(cache, cohort.records, state=state, workers=cfg.prep_workers,
                    rank=dist.rank, world_size=dist.world_size)
    dist.barrier()
    complete_prepared(cache, cohort.records, dist)
    return cache, open_prepared(cache, cohort.records)


def _run(task, cfg, work, dist, state, callbacks):
    from .loop import Trainer

    trainer = Trainer(task, cfg, work, dist, state, callbacks)
    return trainer.run()


# --------------------------------------------------------------------------------- fine-tuning
def run_finetune(config: FinetuneConfig, state: TaskState | None = None,
                 callbacks: list[Callable] | None = None) -> TrainingResult:
    """Fine-tune a head (staging, disease... any registered ``finetune`` task; optionally the
    base too) on a cohort folder.

    Parameters
    ----------
    config : FinetuneConfig
    state : TaskState, optional
        Progress and cooperative cancel (checked between steps).
    callbacks : list of callable, optional
        Receive every :class:`~sleepfm_engine.training.loop.TrainingEvent` (rank 0).

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        Bad settings, an unusable cohort or output folder.
    ModelError
        The base model cannot be loaded.
    JobCancelled
        Cancelled: the best checkpoint so far and the resume state are kept.
    """
    import torch

    from ..checkpoints import load_config, load_model
    from .cache import complete_embeddings, embed_records, model_identity
    from .loop import seed_everything, setup_distributed

    config.validate()
    spec = get_task(config.task)
    task_class = spec.load_task_class()
    state = state or TaskState()
    dist = setup_distributed(config.device)
    try:
        out = Path(config.output).expanduser()
        work = _prepare_output(out, config, dist.is_main)
        dist.barrier()
        seed_everything(config.seed + dist.rank)
        state.set_status("finding the cohort")
        cohort = _discover(config, config.task, state.sub(0.0, 0.03))
        split = _split(cohort, config, work, dist)
        base_folder = resolve_base(config.base)
        base_cfg = load_config(base_folder)
        base = load_model(base_folder)
        base_id = model_identity(base, base_folder)
        if dist.is_main:
            _write_run_files(work, config, cohort, config.task)
        state.set_status("preprocessing into the cache")
        cache, prepared = _prepare(cohort, config, dist, state.sub(0.03, 0.25))
        emb_paths: dict[str, Path] = {}
        if not config.unfreeze_base:
            state.set_status("embedding with the base model")
            emb_paths = embed_records(cache, prepared, base, base_id, dist.device, state=state.sub(0.25, 0.35),
                                      rank=dist.rank, world_size=dist.world_size)
            dist.barrier()
            complete_embeddings(cache, prepared, base, base_id, dist)
        meta = {"name": config.name, "provenance": _provenance(config, dist, config.task, str(base_folder)),
                "base_model": {"folder": str(base_folder), "id": base_id},
                "data_summary": dict(cohort.summary(), split={k: len(split[k]) for k in ("train", "validation", "test")}),
                "channel_mapping": {"overrides": cohort.channel_overrides,
                                    "channels": _channel_summary(cohort.records)},
                "contract": contract_dict()}
        torch.manual_seed(config.seed)
        task = task_class.from_cohort(config, cohort=cohort, split=split, prepared=prepared,
                                      emb_paths=emb_paths, base=base, base_cfg=base_cfg, dist=dist,
                                      out=out, metadata=meta)
        layout = release_folder_names()
        models: dict[str, Path] = {}
        if config.unfreeze_base:
            models[BASE_KIND] = out / layout[BASE_KIND]  # the task writes the fine-tuned base
        elif dist.is_main:
            models[BASE_KIND] = _copy_model(base_folder, out / layout[BASE_KIND])
        models[spec.model_kind] = out / spec.release_folder
        result = _run(task, config, work, dist, state.sub(0.35, 1.0), callbacks)
        if dist.is_main:
            _finish_files(result, work, task_class, models, config.plots)
        return TrainingResult(out, models, result["status"], result["best_epoch"], result["best_metrics"],
                              result.get("test") or {}, result["history"], result["elapsed_s"])
    finally:
        dist.close()


# --------------------------------------------------------------------------------- pretraining
def run_pretrain(config: PretrainConfig, state: TaskState | None = None,
                 callbacks: list[Callable] | None = None) -> TrainingResult:
    """Pretrain the base model contrastively on a cohort folder (labels not needed).

    Parameters, returns and raises as :func:`run_finetune`; the model goes to
    ``OUT/model_base``.
    """
    import torch

    from ..checkpoints import build_model, load_config, load_model
    from .loop import seed_everything, setup_distributed
    from .pretrain import PretrainTask, base_config

    config.validate()
    spec = get_task(PretrainTask.name)
    state = state or TaskState()
    dist = setup_distributed(config.device)
    try:
        out = Path(config.output).expanduser()
        work = _prepare_output(out, config, dist.is_main)
        dist.barrier()
        seed_everything(config.seed + dist.rank)
        cohort = _discover(config, spec.name, state.sub(0.0, 0.03))
        split = _split(cohort, config, work, dist)
        if dist.is_main:
            _write_run_files(work, config, cohort, spec.name)
        state.set_status("preprocessing into the cache")
        _, prepared = _prepare(cohort, config, dist, state.sub(0.03, 0.2))
        torch.manual_seed(config.seed)
        if config.init:
            init = resolve_base(config.init)
            cfg = load_config(init)
            base = load_model(init).train()
        else:
            cfg = base_config(config.base_config)
            base = build_model(cfg).train()
        meta = {"name": config.name, "provenance": _provenance(config, dist, spec.name, config.init),
                "data_summary": dict(cohort.summary(), split={k: len(split[k]) for k in ("train", "validation", "test")}),
                "channel_mapping": {"overrides": cohort.channel_overrides,
                                    "channels": _channel_summary(cohort.records)},
                "contract": contract_dict()}
        parts = {k: [prepared[s] for s in split[k]] for k in ("train", "validation", "test")}
        task = PretrainTask(config, base, cfg, parts["train"], parts["validation"], parts["test"], dist, out, meta)
        result = _run(task, config, work, dist, state.sub(0.2, 1.0), callbacks)
        models = {spec.model_kind: out / spec.release_folder}
        if dist.is_main:
            _finish_files(result, work, PretrainTask, models, config.plots)
        return TrainingResult(out, models, result["status"], result["best_epoch"], result["best_metrics"],
                              result.get("test") or {}, result["history"], result["elapsed_s"])
    finally:
        dist.close()


# ---------------------------------------------------------------------------------- evaluation
def run_evaluate(data: str | os.PathLike, model: str | os.PathLike, *, output: str | os.PathLike | None = None,
                 split: str | os.PathLike | None = None, part: str = "all", device: str = "auto",
                 cache_dir: str | None = None, channel_map: str | None = None,
                 state: TaskState | None = None, task: str | None = None) -> dict:
    """Evaluate a head (staging, disease... of a release folder with its base) on a cohort.

    Parameters
    ----------
    data : path
        Cohort folder with the labels the head's task needs (hypnograms, survival tables...).
    model : path
        A release folder (``model_base`` + a head folder such as ``model_sleep_staging`` or
        ``model_diagnosis``), or a registry name. With several heads, the first registered
        ``finetune`` task's (staging) is evaluated, unless ``task`` names one.
    output : path, optional
        Folder for ``metrics.json`` and plots.
    split : path, optional
        Split JSON; with ``part`` ("test", "validation", "train") only those nights count.
    part : str
        ``all`` (default) or a split part.
    task : str, optional
        The ``finetune`` task whose head to evaluate (default: the first the release has).

    Returns
    -------
    dict
        The metrics (as saved in ``metrics.json``).
    """
    from ..checkpoints import load_metadata, load_release, release_folders
    from ..devices import select_device
    from .cache import TrainingCache, embed_records, model_identity, open_prepared, prepare_records
    from .cohort import discover_cohort, load_split
    from .loop import DistContext

    state = state or TaskState()
    path = Path(model).expanduser()
    if not path.exists():
        from ..registry import get_model_path

        path = get_model_path(str(model))
    folders = release_folders(path)
    heads = registered_tasks("finetune")
    if task is not None:
        heads = [get_task(task)]
    spec = next((t for t in heads if t.model_kind in folders), None)
    if spec is None or BASE_KIND not in folders:
        raise ModelError(path, f"evaluation needs a release folder with {release_folder_names()[BASE_KIND]}/ "
                               f"and a head ({' or '.join(t.release_folder + '/' for t in heads)})")
    kind = spec.model_kind
    task_class = spec.load_task_class()
    dev = select_device(device)
    release = load_release(path, device=dev, kinds=[BASE_KIND, kind])
    meta = load_metadata(folders[kind]) or {}
    cohort = discover_cohort(data, spec.name, channel_overrides=channel_map, state=state.sub(0, 0.05))
    ids = cohort.ids
    if split is not None and part != "all":
        ids = load_split(split, cohort)[part]
    records = [cohort.by_id(i) for i in ids]
    if not records:
        raise ValueError(f"{data}: no recording to evaluate")
    cache = TrainingCache(cache_dir)
    prepare_records(cache, records, state=state.sub(0.05, 0.5))
    prepared = open_prepared(cache, records)
    base_id = model_identity(release.base, folders[BASE_KIND])
    emb = embed_records(cache, prepared, release.base, base_id, dev, state=state.sub(0.5, 0.8))
    cfg = FinetuneConfig(output=str(output or "."), data=str(data), base=str(folders[BASE_KIND]),
                         task=spec.name, device=device)
    task = task_class.for_evaluation(cfg, release=release, cohort=cohort, records=records, prepared=prepared,
                                     emb_paths=emb, metadata=meta, dist=DistContext(0, 1, dev))
    metrics = task.evaluate("test")
    metrics = {"model": str(path), "data": str(Path(data).resolve()), "kind": kind, "part": part,
               "n_recordings": len(records), "skipped": [s.to_dict() for s in cohort.skipped], **metrics}
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, default=_json_default) + "\n")
        task_class.plot_metrics(metrics, out)
    state.set_progress(1.0)
    return metrics
