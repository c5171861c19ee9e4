"""Settings of a training run: plain dataclasses that round-trip through JSON.

The CLI builds them from its arguments, the application from its dialog; the run saves them in
``training/run.json`` beside the model so a resumed run continues with the same settings.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..training_tasks import get_task, registered_tasks

#: Precisions of the training loop: "auto" is bf16 autocast on CUDA and fp32 elsewhere.
PRECISIONS = ("auto", "bf16", "fp32")
#: Contrastive objectives.
CONTRASTIVE_MODES = ("leave_one_out", "pairwise")
OPTIMIZERS = ("adamw", "sgd")


@dataclass
class TrainConfig:
    """What every task's loop takes.

    Attributes
    ----------
    output : str
        The output folder (a release folder: ``model_*`` sub-folders + ``training/``).
    data : str
        The cohort folder.
    epochs, batch_size, lr, weight_decay : training schedule (batch per process).
    accumulation_steps : int
        Micro-batches per optimiser step.
    patience : int
        Early stopping: epochs without a better validation score (0 = never stop early).
    lr_patience, lr_factor : ReduceLROnPlateau settings (epochs, factor).
    seed : int
        Seeds model initialisation, shuffling and loader workers.
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; under torchrun each process takes
        the GPU of its ``LOCAL_RANK``.
    precision : str
        ``auto`` (bf16 autocast on CUDA), ``bf16`` or ``fp32``.
    num_workers : int
        Loader worker processes.
    grad_clip : float or None
        Gradient-norm clip.
    max_steps_per_epoch : int or None
        Cap on optimiser steps per epoch (short epochs for big cohorts).
    log_every : int
        Steps between progress events.
    resume : bool
        Continue from ``training/last.pt`` of the output folder.
    overwrite : bool
        Replace an output folder that holds a finished run.
    split : str or None
        A split JSON to use instead of drawing one.
    fractions : list of float
        Train/validation/test shares for a new split.
    split_seed : int
    cache_dir : str or None
        Cache folder (default: the user cache folder).
    channel_map : str or None
        JSON ``{label: modality}`` overrides applied to every recording.
    subjects : str or None
        ``Study ID,subject`` table (default ``subjects.csv`` in the data folder).
    prep_workers : int
        Processes preprocessing recordings into the cache.
    plots : bool
        Write PNG plots (curves, confusion matrix, F1, C-index) beside ``metrics.json``.
    name : str or None
        A display name saved in the models' metadata (what the application and hypnogram
        scorer show); default: the output folder's name and the model folder.
    """

    output: str = ""
    data: str = ""
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-2
    accumulation_steps: int = 1
    patience: int = 10
    lr_patience: int = 5
    lr_factor: float = 0.1
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 0
    grad_clip: float | None = 1.0
    max_steps_per_epoch: int | None = None
    log_every: int = 10
    resume: bool = False
    overwrite: bool = False
    split: str | None = None
    fractions: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    split_seed: int = 0
    cache_dir: str | None = None
    channel_map: str | None = None
    subjects: str | None = None
    prep_workers: int = 1
    plots: bool = True
    name: str | None = None

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        if not self.output:
            raise ValueError("an output folder is required")
        if not self.data:
            raise ValueError("a cohort (data) folder is required")
        for name in ("epochs", "batch_size", "accumulation_steps", "log_every", "prep_workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("patience", "lr_patience", "num_workers"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.lr_factor < 1:
            raise ValueError(f"lr_factor must be in (0, 1), got {self.lr_factor}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1) > 1e-6 or min(self.fractions) < 0:
            raise ValueError(f"fractions must be three non-negative shares summing to 1, got {self.fractions}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError("max_steps_per_epoch must be >= 1 when given")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Build from a dict; unknown keys are an error (a typo would otherwise be ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} settings: {', '.join(unknown)}")
        return cls(**dict(data))


@dataclass
class FinetuneConfig(TrainConfig):
    """A head trained on base-model embeddings (``task`` staging or diagnosis).

    Attributes
    ----------
    task : str
        ``staging`` or ``diagnosis``.
    base : str
        Base model: a model folder, a release folder (its ``model_base``) or a registry name.
    head : dict or None
        Head ``model_params`` (default: the released head's).
    head_init : str or None
        A head model folder to start from instead of a fresh head.
    unfreeze_base : bool
        Train the base end to end with the head (tasks registered ``end_to_end``: staging,
        events), at ``lr * base_lr_scale``.
    base_lr_scale : float
    window_chunks : int
        End to end: consecutive 5-min chunks per training sample.
    max_tokens : int or None
        Longest training sequence (random crops of longer nights); staging default: whole
        nights up to the head's positional table; diagnosis default 6480 (9 h, reference).
    labels_dir, demographics, events, times : str or None
        Where to find labels (defaults: next to the recordings / in the data folder).
    phecodes : list of str or None
        Train on these phecode columns only (default: all).
    event_classes : list of str or None
        Events task: train these event classes only (default: every class the training nights
        have; :data:`sleepfm_engine.event_classes.EVENT_CLASSES`).
    """

    task: str = "staging"
    base: str = ""
    head: dict | None = None
    head_init: str | None = None
    unfreeze_base: bool = False
    base_lr_scale: float = 0.1
    window_chunks: int = 12
    max_tokens: int | None = None
    labels_dir: str | None = None
    demographics: str | None = None
    events: str | None = None
    times: str | None = None
    phecodes: list[str] | None = None
    event_classes: list[str] | None = None

    def validate(self) -> None:
        super().validate()
        heads = [t.name for t in registered_tasks("finetune")]
        if self.task not in heads:
            raise ValueError(f"task must be one of {', '.join(heads)}, not {self.task!r}")
        if not self.base:
            raise ValueError("a base model is required (--base)")
        if self.unfreeze_base and not get_task(self.task).end_to_end:
            able = [t.name for t in registered_tasks("finetune") if t.end_to_end]
            raise ValueError(f"unfreeze_base is available for {', '.join(able)} only")
        if self.window_chunks < 1:
            raise ValueError("window_chunks must be >= 1")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1 when given")


@dataclass
class PretrainConfig(TrainConfig):
    """Contrastive pretraining of the base model (SetTransformer) on unlabelled recordings.

    Attributes
    ----------
    mode : str
        ``leave_one_out`` or ``pairwise``.
    base_config : dict or None
        SetTransformer settings (default: the released base's: 128-dim, 8 heads, 6 layers).
    init : str or None
        Start from this base model folder instead of random weights.
    optimizer : str
        ``sgd`` (the reference: momentum 0.9, StepLR) or ``adamw`` (ReduceLROnPlateau).
    momentum, lr_step, gamma : SGD/StepLR settings.
    temperature : float
        Initial log-temperature (learnable, kept >= 0).
    max_val_batches : int
        Validation batches per epoch.
    compile : bool
        ``torch.compile`` the convolutional tokenizer (CUDA): fuses its normalisations.
    tokenizer_precision : str
        ``fp32`` (default: the tokenizer outside bf16 autocast, faster on an H100) or ``bf16``
        (autocast throughout).
    """

    mode: str = "leave_one_out"
    base_config: dict | None = None
    init: str | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    lr_step: int = 2
    gamma: float = 0.1
    temperature: float = 0.0
    max_val_batches: int = 50
    compile: bool = False
    tokenizer_precision: str = "fp32"
    batch_size: int = 128
    weight_decay: float = 0.0

    def validate(self) -> None:
        super().validate()
        if self.mode not in CONTRASTIVE_MODES:
            raise ValueError(f"mode must be one of {', '.join(CONTRASTIVE_MODES)}, not {self.mode!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.tokenizer_precision not in ("fp32", "bf16"):
            raise ValueError(f"tokenizer_precision must be fp32 or bf16, not {self.tokenizer_precision!r}")
        if self.batch_size < 2:
            raise ValueError("contrastive pretraining needs batch_size >= 2 (negatives come from the batch)")
