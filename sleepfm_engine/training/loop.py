"""The training loop shared by every task.

One loop runs staging, disease and pretraining tasks (:class:`Task`): it reports progress
(:class:`TrainingEvent` to callbacks and a :class:`~sleepfm_engine.jobs.TaskState`), stops
cooperatively between steps (leaving the best checkpoint and the last epoch's resume state),
resumes, stops early when the validation score stops improving, keeps the best checkpoint
(written atomically), seeds everything (loader workers too), uses bf16 autocast and gradient
accumulation on GPU, and runs data-parallel (DDP) under ``torchrun``: NCCL on GPUs, gloo on CPUs.

Under ``torchrun`` every process runs the same loop; validation is split across the ranks
for tasks that support it (``Task.evaluates_across_ranks``), else run by rank 0; rank 0 alone
writes files and reports, and the decision to stop (cancel, early stopping) is shared so all ranks leave
together.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from ..atomic import atomic_path, write_text_atomic
from ..errors import JobCancelled
from ..jobs import TaskState
from .config import TrainConfig

#: Resume-state file inside the run's ``training/`` folder.
LAST_STATE = "last.pt"
HISTORY_FILE = "history.json"


@dataclass
class TrainingEvent:
    """What the loop reports to callbacks.

    Attributes
    ----------
    kind : str
        ``start``, ``step``, ``epoch`` (after validation), ``best`` (a new best checkpoint was
        written), ``early_stop``, ``done`` or ``cancelled``.
    epoch : int
        Current epoch (0-based).
    epochs : int
    step : int
        Optimiser steps so far.
    total_steps : int
        Planned optimiser steps.
    loss : float or None
        Mean training loss since the previous step event (or of the epoch).
    lr : float or None
    metrics : dict
        Validation metrics (``epoch``/``best``), else empty.
    elapsed_s, eta_s : float
    samples_per_s : float or None
        Training samples per second over the epoch so far (all ranks).
    message : str
    """

    kind: str
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    lr: float | None = None
    metrics: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    eta_s: float | None = None
    samples_per_s: float | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


Callback = Callable[[TrainingEvent], None]


class Task:
    """What a task gives the loop. Subclasses fill in every method.

    ``module`` is the trainable module (wrapped in DDP by the loop); ``train_batches(epoch)``
    yields (batch, n_samples); ``training_step`` returns the loss of one micro-batch;
    ``evaluate`` returns validation metrics including ``score`` (higher is better);
    ``save_best`` writes the model folder(s); ``finish`` runs the test evaluation and plots.

    Each subclass is named by a :class:`~sleepfm_engine.training_tasks.TrainingTask` entry
    (``task_class``). Fine-tuning tasks also build themselves (``from_cohort``,
    ``for_evaluation``); the class-level hooks below say how their metrics are summarised,
    plotted and printed, so the run and the CLI never ask which task they hold.
    """

    name = "task"
    module: torch.nn.Module
    out: Path
    #: What the curves plot calls the validation score that selects the best epoch.
    score_label = "validation score"
    #: Whether training steps run under bf16 autocast on CUDA (the base model); the heads are
    #: small and run in fp32 (their LSTM gains nothing from bf16).
    use_autocast = True
    #: Tell DDP that some parameters may get no gradient in a step (see
    #: :func:`single_channel_records`).
    find_unused_parameters = False

    def parameter_groups(self) -> list[dict]:
        raise NotImplementedError

    def make_optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def make_scheduler(self, optimizer) -> Any:
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=self.config.lr_factor, patience=self.config.lr_patience)

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch: the sampler's batches over the accumulation, capped by
        ``max_steps_per_epoch`` (the sampler then yields only the batches those steps use)."""
        accum = max(1, self.config.accumulation_steps)
        n = len(self.sampler) // accum
        if self.config.max_steps_per_epoch:
            n = min(n, self.config.max_steps_per_epoch)
            self.sampler.max_batches = n * accum
        return max(1, n)

    def train_batches(self, epoch: int) -> Iterable[tuple[Any, int]]:
        raise NotImplementedError

    def training_step(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, part: str = "validation") -> dict:
        raise NotImplementedError

    def has_validation(self) -> bool:
        return True

    #: Whether ``evaluate(part, shared=True)`` may be called on every rank at once, the task
    #: splitting the nights between them (:meth:`DistContext.map_shards`); otherwise rank 0
    #: validates alone while the others wait.
    evaluates_across_ranks = False

    def save_best(self, epoch: int, metrics: dict) -> None:
        raise NotImplementedError

    def finish(self, best_metrics: dict) -> dict:
        return {}

    def folder(self, kind: str) -> Path:
        """Where this run writes the model of ``kind`` (the release layout of the registry)."""
        from ..training_tasks import release_folder_names

        return self.out / release_folder_names()[kind]

    # -- what the run and the CLI show of the metrics ------------------------------------------
    @classmethod
    def metrics_summary(cls, metrics: dict) -> dict:
        """The headline metrics of one split part, as saved in the model's metadata."""
        return {}

    @classmethod
    def plot_metrics(cls, metrics: dict, folder: Path, part: str | None = None) -> None:
        """PNG plots of one split part's metrics into ``folder`` (``part`` in the names and
        titles when given)."""

    @classmethod
    def metrics_lines(cls, metrics: dict) -> list[str]:
        """Lines that ``sleepfm evaluate`` prints for an evaluation's metrics."""
        return []


# ------------------------------------------------------------------------------- distributed
@dataclass
class DistContext:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialised_here: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            if self.device.type == "cuda":
                torch.distributed.barrier(device_ids=[self.device.index])
            else:
                torch.distributed.barrier()

    def any_true(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (shared stop decisions)."""
        if not self.active:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def map_shards(self, items: Sequence[Any], fn: Callable[[Any], Any]) -> list:
        """``[fn(x) for x in items]`` with the work split across the ranks: rank ``r`` computes
        items ``r, r + world_size, ...`` and every rank gets all the results, in item order.

        Every rank must call it with the same ``items``. The results travel as pickled objects
        (gloo/NCCL object collectives), so keep them to NumPy arrays and small dicts.
        """
        if not self.active:
            return [fn(x) for x in items]
        mine = [fn(items[i]) for i in range(self.rank, len(items), self.world_size)]
        parts: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(parts, mine)
        out: list[Any] = [None] * len(items)
        for r, results in enumerate(parts):
            out[r::self.world_size] = results
        return out

    def sum(self, value: float) -> float:
        if not self.active:
            return float(value)
        t = torch.tensor([float(value)], device=self.device, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item())

    def close(self) -> None:
        if self.initialised_here and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def setup_distributed(device_preference: str | None = "auto") -> DistContext:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 and pick the device.

    NCCL when this process uses a GPU, gloo on CPU. With one process nothing is initialised.
    """
    from ..devices import device_for_shard, shard_from_env

    shard = shard_from_env()
    device = device_for_shard(device_preference, shard)
    if device.type == "cuda":
        # Fixed input shapes (5-min chunks): let cuDNN pick its fastest convolutions.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    ctx = DistContext(shard.rank, shard.world_size, device)
    if shard.active and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE") or 1)
        if backend == "nccl" and local_world > torch.cuda.device_count():
            # NCCL refuses two ranks on one GPU; gloo runs them (slowly), which is what a
            # correctness run of several processes on one GPU needs.
            warnings.warn(f"{local_world} processes share {torch.cuda.device_count()} GPU(s) on "
                          "this host: using the gloo backend (for correctness runs, not speed)",
                          stacklevel=2)
            backend = "gloo"
        kwargs: dict[str, Any] = {"timeout": _dt.timedelta(minutes=30)}
        if backend == "nccl":
            kwargs["device_id"] = device
        torch.distributed.init_process_group(backend=backend, rank=shard.rank,
                                             world_size=shard.world_size, **kwargs)
        ctx.initialised_here = True
    return ctx


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on CUDA for ``auto``/``bf16``; nothing otherwise."""
    if device.type == "cuda" and precision in ("auto", "bf16"):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), NumPy and ``random``."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


# ------------------------------------------------------------------------------------ the loop
class Trainer:
    """Run a :class:`Task` to completion, cancellation or early stop.

    Parameters
    ----------
    task : Task
    config : TrainConfig
    workdir : Path
        The run's ``training/`` folder (resume state, history). Written by rank 0 only.
    dist : DistContext
    state : TaskState, optional
    callbacks : list of callable, optional
        Called with every :class:`TrainingEvent` on rank 0.
    """

    def __init__(self, task: Task, config: TrainConfig, workdir: Path, dist: DistContext,
                 state: TaskState | None = None, callbacks: list[Callback] | None = None):
        self.task = task
        self.config = config
        self.workdir = Path(workdir)
        self.dist = dist
        self.state = state or TaskState()
        self.callbacks = list(callbacks or [])
        self.history: list[dict] = []
        self.best_score = -math.inf
        self.best_epoch = -1
        self.best_metrics: dict = {}
        self.bad_epochs = 0
        self.start_epoch = 0
        self.global_step = 0

    # -- reporting -----------------------------------------------------------------------------
    def emit(self, event: TrainingEvent) -> None:
        if not self.dist.is_main:
            return
        for cb in self.callbacks:
            cb(event)

    # -- resume ----------------------------------------------------------------------------------
    def _load_resume(self, model, optimizer, scheduler) -> None:
        path = self.workdir / LAST_STATE
        if not path.is_file():
            return
        data = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(data["model"])
        optimizer.load_state_dict(data["optimizer"])
        if scheduler is not None and data.get("scheduler") is not None:
            scheduler.load_state_dict(data["scheduler"])
        self.start_epoch = int(data["epoch"])
        self.global_step = int(data["global_step"])
        self.best_score = float(data["best_score"])
        self.best_epoch = int(data["best_epoch"])
        self.bad_epochs = int(data["bad_epochs"])
        self.history = json.loads(data["history"])
        self.best_metrics = json.loads(data.get("best_metrics", "{}"))
        if "rng" in data:
            torch.set_rng_state(data["rng"])

    def _save_resume(self, model, optimizer, scheduler, epoch: int) -> None:
        state = {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "epoch": epoch + 1, "global_step": self.global_step,
            "best_score": self.best_score, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "history": json.dumps(self.history),
            "best_metrics": json.dumps(self.best_metrics), "rng": torch.get_rng_state(),
        }
        with atomic_path(self.workdir / LAST_STATE) as tmp:
            torch.save(state, tmp)
        write_text_atomic(self.workdir / HISTORY_FILE, json.dumps(self.history, indent=1) + "\n")

    # -- main ------------------------------------------------------------------------------------
    def run(self) -> dict:
        """Train; return a summary (best epoch and metrics, history, test metrics, status).

        Raises
        ------
        JobCancelled
            When the state was asked to stop; the best checkpoint and the resume state of the
            last finished epoch are kept.
        """
        cfg, task, dist = self.config, self.task, self.dist
        model = task.module.to(dist.device)
        groups = task.parameter_groups()
        optimizer = task.make_optimizer(groups)
        scheduler = task.make_scheduler(optimizer)
        if cfg.resume:
            self._load_resume(model, optimizer, scheduler)
        wrapped = model
        if dist.active:
            wrapped = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
                find_unused_parameters=task.find_unused_parameters)
        steps_per_epoch = task.steps_per_epoch()
        total = steps_per_epoch * cfg.epochs
        t_start = time.monotonic()
        status = "completed"
        self.emit(TrainingEvent("start", self.start_epoch, cfg.epochs, self.global_step, total,
                                message=f"{task.name}: {steps_per_epoch} steps per epoch"))
        accum = max(1, int(cfg.accumulation_steps))
        step_times: list[float] = []
        for epoch in range(self.start_epoch, cfg.epochs):
            self._check_stop(epoch, total, t_start, collective=True)
            model.train()
            t_epoch = time.monotonic()
            run_loss, run_n, epoch_loss, epoch_batches, samples = 0.0, 0, 0.0, 0, 0
            steps_this_epoch = 0
            optimizer.zero_grad(set_to_none=True)
            batches = list_or_iter(task.train_batches(epoch))
            micro = 0
            t_last = time.monotonic()
            for batch, n in batches:
                micro += 1
                sync = micro % accum == 0
                ctx = wrapped.no_sync() if (dist.active and not sync) else contextlib.nullcontext()
                with ctx:
                    with autocast_for(dist.device, cfg.precision if task.use_autocast else "fp32"):
                        loss = task.training_step(wrapped, batch)
                    (loss / accum).backward()
                # Summed on the device: reading the loss every step would stall the GPU queue.
                value = loss.detach().float()
                run_loss = run_loss + value
                run_n += 1
                epoch_loss = epoch_loss + value
                epoch_batches += 1
                samples += n
                if not sync:
                    continue
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                self.global_step += 1
                steps_this_epoch += 1
                now = time.monotonic()
                step_times.append(now - t_last)
                t_last = now
                self._check_stop(epoch, total, t_start, collective=steps_this_epoch % 10 == 0)
                if self.global_step % cfg.log_every == 0 or steps_this_epoch == steps_per_epoch:
                    recent = step_times[-50:]
                    remaining = total - (epoch * steps_per_epoch + steps_this_epoch)
                    el = time.monotonic() - t_epoch
                    mean_loss = float(run_loss) / max(1, run_n)
                    self._check_finite(mean_loss, epoch)
                    self.emit(TrainingEvent(
                        "step", epoch, cfg.epochs, self.global_step, total, loss=mean_loss,
                        lr=optimizer.param_groups[0]["lr"], elapsed_s=time.monotonic() - t_start,
                        eta_s=sum(recent) / len(recent) * remaining,
                        samples_per_s=samples * dist.world_size / el if el > 0 else None))
                    run_loss, run_n = 0.0, 0
                self.state.set_progress((epoch * steps_per_epoch + steps_this_epoch) / max(1, total))
                self.state.set_status(f"epoch {epoch + 1}/{cfg.epochs}, step {steps_this_epoch}/"
                                      f"{steps_per_epoch}")
                if steps_this_epoch >= steps_per_epoch:
                    break
            if dist.device.type == "cuda":
                torch.cuda.synchronize(dist.device)
            epoch_time = time.monotonic() - t_epoch
            train_loss = dist.sum(float(epoch_loss)) / max(1.0, dist.sum(epoch_batches))
            self._check_finite(train_loss, epoch)
            total_samples = dist.sum(samples)
            metrics = {}
            across = task.evaluates_across_ranks and dist.active
            if dist.is_main or across:
                self.state.set_status(f"epoch {epoch + 1}: validating")
                model.eval()
                with torch.no_grad():
                    if not task.has_validation():
                        metrics = {}
                    elif across:
                        metrics = task.evaluate("validation", shared=True)
                    else:
                        metrics = task.evaluate("validation")
                model.train()
            # Rank 0's metrics decide for all (equal anyway when every rank evaluated).
            metrics = dist.broadcast(metrics)
            score = metrics.get("score", -train_loss)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"],
                      "epoch_time_s": epoch_time, "samples": int(total_samples),
                      "samples_per_s": total_samples / epoch_time if epoch_time > 0 else None,
                      "validation": metrics}
            self.history.append(record)
            improved = score > self.best_score
            if improved:
                self.best_score, self.best_epoch, self.bad_epochs = score, epoch + 1, 0
                self.best_metrics = dict(metrics, train_loss=train_loss)
                if dist.is_main:
                    task.save_best(epoch + 1, self.best_metrics)
            else:
                self.bad_epochs += 1
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(score)
                else:
                    scheduler.step()
            if dist.is_main:
                self._save_resume(model, optimizer, scheduler, epoch)
            dist.barrier()
            self.emit(TrainingEvent("epoch", epoch, cfg.epochs, self.global_step, total, loss=train_loss,
                                    lr=optimizer.param_groups[0]["lr"], metrics=metrics,
                                    elapsed_s=time.monotonic() - t_start,
                                    eta_s=epoch_time * (cfg.epochs - epoch - 1),
                                    samples_per_s=record["samples_per_s"],
                                    message=f"epoch {epoch + 1}: train loss {train_loss:.4f}"
                                            + (f", validation score {score:.4f}" if metrics else "")))
            if improved:
                self.emit(TrainingEvent("best", epoch, cfg.epochs, self.global_step, total,
                                        metrics=self.best_metrics, message=f"best so far (epoch {epoch + 1})"))
            if cfg.patience and task.has_validation() and self.bad_epochs >= cfg.patience:
                status = "early_stopped"
                self.emit(TrainingEvent("early_stop", epoch, cfg.epochs, self.global_step, total,
                                        message=f"no better validation score for {cfg.patience} epochs"))
                break
        result = {"status": status, "best_epoch": self.best_epoch, "best_score": self.best_score,
                  "best_metrics": self.best_metrics, "history": self.history,
                  "elapsed_s": time.monotonic() - t_start}
        if dist.is_main:
            self.state.set_status("testing the best model")
            result["test"] = task.finish(self.best_metrics)
        dist.barrier()
        self.emit(TrainingEvent("done", max(0, self.best_epoch - 1), cfg.epochs, self.global_step, total,
                                metrics=result.get("test") or self.best_metrics,
                                elapsed_s=result["elapsed_s"], message=status))
        self.state.set_progress(1.0)
        return result

    def _check_finite(self, value: float, epoch: int) -> None:
        if not math.isfinite(value):
            raise FloatingPointError(f"{self.task.name}: the training loss became {value} in epoch "
                                     f"{epoch + 1} (step {self.global_step}); lower the learning rate "
                                     "or check the data")

    def _check_stop(self, epoch: int, total: int, t_start: float, collective: bool) -> None:
        """Raise JobCancelled when a stop was asked for (on any rank, under DDP).

        Under DDP every rank asks at the same points (``collective``), so the decision is
        shared without a deadlock; between those points a request waits a few steps.
        """
        stop = self.state.is_interruption_requested()
        if self.dist.active:
            stop = self.dist.any_true(stop) if collective else False
        if not stop:
            return
        self.dist.barrier()
        self.emit(TrainingEvent("cancelled", epoch, self.config.epochs, self.global_step, total,
                                elapsed_s=time.monotonic() - t_start,
                                message="cancelled; the best checkpoint and the last finished epoch "
                                        "are kept"))
        raise JobCancelled("training cancelled by the user")


def single_channel_records(records) -> bool:
    """True when some recording has at most one channel in every modality.

    The base model's channel pooling skips its attention layer for a single channel, so a
    batch made only of such recordings gives that layer no gradient; DDP must then be told to
    look for unused parameters (a small cost paid only for such cohorts).
    """
    return any(max(len(c) for c in r.channels.values()) < 2 for r in records)


def list_or_iter(batches: Iterable) -> Iterable:
    """The task's batch iterable as is (a hook for tests to count batches)."""
    return batches
