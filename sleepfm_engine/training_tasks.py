"""The training-task registry: every task that trains a SleepFM model declares one
:class:`TrainingTask`; the CLI sub-commands and their options, the fine-tune dialog's choices,
cohort discovery, config validation, the release layout (which folder holds which kind of
model) and the model kinds all derive from the registered entries.

Adding a task (``events``, say) is one module under :mod:`sleepfm_engine.training` holding its
:class:`~sleepfm_engine.training.loop.Task` subclass (with ``from_cohort`` and the metric
hooks, as :class:`~sleepfm_engine.training.staging.StagingTask`), one ``register(TrainingTask(...))``
entry at the end of this module, and its tests. A task whose recordings need a new kind of
label (scored events files, say) also adds it to :data:`LABEL_KINDS` and to the label lookup
of :func:`sleepfm_engine.training.cohort.discover_cohort`; a new head class goes into
:data:`sleepfm_engine.models.MODEL_CLASSES`.

This module is deliberately light (no torch, no training imports): the checkpoint loader, the
CLI and the application read it at start-up. Task classes are named by a ``"module:Class"``
string and imported only when a task runs. It sits at the top of the engine, not inside
``training/``, because :mod:`sleepfm_engine.checkpoints` derives the release layout from it and
``training`` itself imports ``checkpoints``: inside ``training`` that would be an import circle.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from .contract import MODALITIES

__all__ = ["TrainingTask", "TrainingOption", "COMMANDS", "LABEL_KINDS", "BASE_KIND", "register",
           "unregister", "registered_tasks", "get_task", "task_for_kind", "release_folder_names",
           "model_kinds", "END_TO_END_OPTIONS"]

#: How a task is trained, which is also its CLI sub-command: ``finetune`` trains a head on the
#: base model's embeddings (the task's name is its first argument: ``sleepfm finetune staging``);
#: ``pretrain`` trains the base model itself (the task's name is the sub-command:
#: ``sleepfm pretrain``).
COMMANDS = ("finetune", "pretrain")
#: What cohort discovery needs beside each recording: a hypnogram file, a row of the survival
#: tables (``is_event.csv`` / ``time_to_event.csv``), a hypnogram and a scored-events file, or
#: nothing.
LABEL_KINDS = ("hypnogram", "survival", "events", "none")
#: The model kind of the base encoder: every head reads its embeddings, so a release lists it
#: first and fine-tuning copies it beside the head.
BASE_KIND = "base"


@dataclass(frozen=True)
class TrainingOption:
    """One task-specific command-line option and the config field it sets.

    Attributes
    ----------
    flags : tuple of str
        Option strings (``("--labels-dir",)``).
    dest : str
        The :class:`~sleepfm_engine.training.config.TrainConfig` attribute it fills (and the
        ``argparse`` destination).
    kwargs : mapping
        Keyword arguments of :meth:`argparse.ArgumentParser.add_argument` (help, type, default,
        choices, action, nargs, metavar).
    """

    flags: tuple[str, ...]
    dest: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingTask:
    """One training task and everything that derives from it.

    Attributes
    ----------
    name : str
        Stable name: the CLI argument, ``FinetuneConfig.task``, ``run.json``'s ``kind`` and the
        cohort task (``"staging"``).
    description : str
        One line for the CLI help.
    command : str
        The CLI sub-command that trains it (one of :data:`COMMANDS`).
    dialog_label : str
        Its entry in the application's fine-tune dialog.
    model_kind : str
        Kind of the model it trains (``"staging"``; ``"base"`` for the base encoder): the key of
        :class:`~sleepfm_engine.checkpoints.Release` and of ``TrainingResult.models``.
    release_folder : str
        Sub-folder of a release folder that holds that model (``"model_sleep_staging"``).
    model_classes : tuple of str
        Model classes (:data:`sleepfm_engine.models.MODEL_CLASSES` keys) of that kind.
    task_class : str
        ``"module:Class"`` of its :class:`~sleepfm_engine.training.loop.Task` subclass.
    labels : str
        What each recording needs (one of :data:`LABEL_KINDS`).
    min_modalities : int
        Fewest modalities a usable recording has.
    aliases : tuple of str
        Other names accepted by :func:`get_task`.
    dialog_key : str
        The key the fine-tune dialog uses for it (default: ``name``).
    options : tuple of TrainingOption
        Its own command-line options (beside those every task of its command has).
    end_to_end : bool
        Whether it can train the base model with the head (``--unfreeze-base``).
    """

    name: str
    description: str
    command: str
    dialog_label: str
    model_kind: str
    release_folder: str
    model_classes: tuple[str, ...]
    task_class: str
    labels: str = "none"
    min_modalities: int = 1
    aliases: tuple[str, ...] = ()
    dialog_key: str = ""
    options: tuple[TrainingOption, ...] = ()
    end_to_end: bool = False

    def __post_init__(self):
        if not self.name or self.name != self.name.strip().lower():
            raise ValueError(f"task name {self.name!r} must be non-empty lower case")
        if self.command not in COMMANDS:
            raise ValueError(f"task {self.name!r}: command must be one of {', '.join(COMMANDS)}, "
                             f"not {self.command!r}")
        if self.labels not in LABEL_KINDS:
            raise ValueError(f"task {self.name!r}: labels must be one of {', '.join(LABEL_KINDS)}, "
                             f"not {self.labels!r}")
        if ":" not in self.task_class:
            raise ValueError(f"task {self.name!r}: task_class must be 'module:Class', not {self.task_class!r}")
        if not self.model_classes:
            raise ValueError(f"task {self.name!r}: model_classes is empty")
        if not 1 <= self.min_modalities <= len(MODALITIES):
            raise ValueError(f"task {self.name!r}: min_modalities must be 1..{len(MODALITIES)}, "
                             f"not {self.min_modalities}")
        if not self.dialog_key:
            object.__setattr__(self, "dialog_key", self.name)

    def load_task_class(self) -> type:
        """Import and return the task's :class:`~sleepfm_engine.training.loop.Task` subclass
        (this imports torch)."""
        module, _, name = self.task_class.partition(":")
        return getattr(importlib.import_module(module), name)


_REGISTRY: dict[str, TrainingTask] = {}


def register(task: TrainingTask) -> TrainingTask:
    """Add a task to the registry and return it.

    Raises
    ------
    ValueError
        If its name, an alias or its dialog key is taken, another task trains its model kind in
        another release folder, or one of its model classes already belongs to another kind.
    """
    if not isinstance(task, TrainingTask):
        raise TypeError(f"expected a TrainingTask, got {type(task).__name__}")
    taken = {n for t in _REGISTRY.values() for n in (t.name, *t.aliases, t.dialog_key)}
    clash = sorted(taken & {task.name, *task.aliases, task.dialog_key})
    if clash:
        raise ValueError(f"task {task.name!r}: name, alias or dialog key {clash} already registered")
    for other in _REGISTRY.values():
        if (other.model_kind == task.model_kind) != (other.release_folder == task.release_folder):
            raise ValueError(f"task {task.name!r}: model kind {task.model_kind!r} / folder "
                             f"{task.release_folder!r} disagree with task {other.name!r} "
                             f"({other.model_kind!r} / {other.release_folder!r})")
        shared = set(other.model_classes) & set(task.model_classes)
        if shared and other.model_kind != task.model_kind:
            raise ValueError(f"task {task.name!r}: model classes {sorted(shared)} are already "
                             f"{other.model_kind!r} models")
    _REGISTRY[task.name] = task
    return task


def unregister(name: str) -> TrainingTask:
    """Remove a registered task (by name) and return it.

    Raises
    ------
    KeyError
        If no such task is registered.
    """
    return _REGISTRY.pop(name)


def registered_tasks(command: str | None = None) -> list[TrainingTask]:
    """Registered tasks in registration order, those of one CLI ``command`` when given."""
    return [t for t in _REGISTRY.values() if command is None or t.command == command]


def get_task(name: str) -> TrainingTask:
    """The task called ``name``, one of its aliases or its dialog key (any case).

    Raises
    ------
    ValueError
        If no task has that name.
    """
    key = str(name).strip().lower()
    for t in _REGISTRY.values():
        if key in (t.name, t.dialog_key, *t.aliases):
            return t
    raise ValueError(f"unknown training task {name!r}; known: {', '.join(_REGISTRY)}")


def task_for_kind(kind: str) -> TrainingTask:
    """The first registered task that trains models of ``kind``.

    Raises
    ------
    ValueError
        If no task trains that kind.
    """
    for t in _REGISTRY.values():
        if t.model_kind == kind:
            return t
    raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(release_folder_names())}")


def release_folder_names() -> Mapping[str, str]:
    """Model kind -> its sub-folder of a release, the base first, then in registration order."""
    pairs = {t.model_kind: t.release_folder for t in _REGISTRY.values()}
    ordered = {BASE_KIND: pairs[BASE_KIND]} if BASE_KIND in pairs else {}
    ordered.update(pairs)
    return MappingProxyType(ordered)


def model_kinds() -> Mapping[str, str]:
    """Model class name -> model kind, for every registered task's model classes."""
    return MappingProxyType({cls: t.model_kind for t in _REGISTRY.values() for cls in t.model_classes})


# ----------------------------------------------------------------------------- the built-in tasks
#: The options of a task that can train the base with its head (``end_to_end``).
END_TO_END_OPTIONS = (
    TrainingOption(("--unfreeze-base",), "unfreeze_base",
                   {"action": "store_true", "help": "train the base model end to end with the head"}),
    TrainingOption(("--base-lr-scale",), "base_lr_scale",
                   {"type": float, "default": 0.1, "help": "base learning rate / head learning rate"}),
    TrainingOption(("--window-chunks",), "window_chunks",
                   {"type": int, "default": 12,
                    "help": "end to end: consecutive 5-min chunks per training sample (default 12)"}),
)

register(TrainingTask(
    name="staging",
    description="a sleep staging head (5 stages per 30-s epoch) on the base model's embeddings",
    command="finetune",
    dialog_label="Sleep staging head",
    model_kind="staging",
    release_folder="model_sleep_staging",
    model_classes=("SleepEventLSTMClassifier",),
    task_class="sleepfm_engine.training.staging:StagingTask",
    labels="hypnogram",
    end_to_end=True,
    options=(
        *END_TO_END_OPTIONS,
        TrainingOption(("--labels-dir",), "labels_dir", {"help": "another folder holding the hypnograms"}),
    ),
))

register(TrainingTask(
    name="diagnosis",
    description="a CoxPH disease-risk head (is_event.csv, time_to_event.csv, optional demographics.csv)",
    command="finetune",
    dialog_label="Disease risk head (CoxPH, phecodes)",
    model_kind="diagnosis",
    release_folder="model_diagnosis",
    model_classes=("DiagnosisFinetuneFullLSTMCOXPH", "DiagnosisFinetuneFullLSTMCOXPHWithDemo"),
    task_class="sleepfm_engine.training.diagnosis:DiagnosisTask",
    labels="survival",
    options=(
        TrainingOption(("--demographics",), "demographics",
                       {"help": "Study ID,age,gender table (default DATA/demographics.csv)"}),
        TrainingOption(("--events",), "events", {"help": "is_event.csv (default DATA/is_event.csv)"}),
        TrainingOption(("--times",), "times", {"help": "time_to_event.csv (default DATA/time_to_event.csv)"}),
        TrainingOption(("--phecodes",), "phecodes", {"nargs": "+", "help": "train on these phecode columns only"}),
    ),
))

register(TrainingTask(
    name="pretrain",
    description="contrastive pretraining of the base model (SetTransformer) on unlabelled recordings",
    command="pretrain",
    dialog_label="Pretrain the base model (contrastive, no labels)",
    model_kind=BASE_KIND,
    release_folder="model_base",
    model_classes=("SetTransformer",),
    task_class="sleepfm_engine.training.pretrain:PretrainTask",
    labels="none",
    min_modalities=2,
    aliases=("pretraining",),
    dialog_key="pretraining",
    options=(
        TrainingOption(("--mode",), "mode", {"choices": ("leave_one_out", "pairwise"), "default": "leave_one_out"}),
        TrainingOption(("--optimizer",), "optimizer",
                       {"choices": ("sgd", "adamw"), "default": "sgd",
                        "help": "sgd (reference: momentum 0.9, StepLR) or adamw"}),
        TrainingOption(("--momentum",), "momentum", {"type": float, "default": 0.9}),
        TrainingOption(("--lr-step",), "lr_step", {"type": int, "default": 2, "help": "StepLR period in epochs (sgd)"}),
        TrainingOption(("--gamma",), "gamma", {"type": float, "default": 0.1, "help": "StepLR factor (sgd)"}),
        TrainingOption(("--temperature",), "temperature",
                       {"type": float, "default": 0.0, "help": "initial log-temperature"}),
        TrainingOption(("--base-params",), "base_config",
                       {"type": json.loads, "metavar": "JSON",
                        "help": 'base settings, e.g. \'{"embed_dim": 64, "num_layers": 2}\' (default: released)'}),
        TrainingOption(("--init",), "init", {"help": "start from this base model folder"}),
        TrainingOption(("--max-val-batches",), "max_val_batches", {"type": int, "default": 50}),
        TrainingOption(("--compile",), "compile", {"action": "store_true", "help": "torch.compile the tokenizer (CUDA)"}),
        TrainingOption(("--tokenizer-precision",), "tokenizer_precision",
                       {"choices": ("fp32", "bf16"), "default": "fp32",
                        "help": "fp32: the convolutional tokenizer outside bf16 autocast (default, faster)"}),
    ),
))

register(TrainingTask(
    name="events",
    description="an event head (apneas, hypopneas, arousals, limb movements, desaturations per 5-s "
                "token) on the base model's embeddings, from each night's scored events and hypnogram",
    command="finetune",
    dialog_label="Event head (apneas, hypopneas, arousals, limb movements, desaturations)",
    model_kind="events",
    release_folder="model_events",
    model_classes=("SleepEventMultiLabelHead",),
    task_class="sleepfm_engine.training.events:EventsTask",
    labels="events",
    end_to_end=True,
    options=(
        *END_TO_END_OPTIONS,
        TrainingOption(("--labels-dir",), "labels_dir",
                       {"help": "another folder holding the hypnograms and events files"}),
        TrainingOption(("--event-classes",), "event_classes",
                       {"nargs": "+", "metavar": "CLASS",
                        # the class names of sleepfm_engine.event_classes.EVENT_CLASSES
                        # (kept equal by a test; this module imports no event vocabulary)
                        "help": "train these event classes only: apnea hypopnea arousal limb_movement "
                                "desaturation (default: every class the training nights have)"}),
    ),
))
