"""The run saved in a training output folder (``training/run.json``): read it back, resume it.

A run writes its kind and settings there when it starts (:mod:`sleepfm_engine.training.api`);
the CLI's ``--resume`` and the application's *Resume* read them here.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .config import FinetuneConfig, PretrainConfig, TrainConfig

__all__ = ["RUN_FILE", "SavedRun", "saved_run_path", "has_saved_run", "read_saved_run",
           "resume_config"]

#: Where a run's settings are kept, relative to its output folder.
RUN_FILE = Path("training") / "run.json"
#: The kind ``run.json`` names for a pretraining run; every other kind is a fine-tuned head.
PRETRAIN_KIND = "pretrain"


@dataclass(frozen=True)
class SavedRun:
    """A run's kind (``"staging"``, ``"diagnosis"``, ``"pretrain"``) and its settings as saved."""

    path: Path
    kind: str
    settings: Mapping[str, Any]

    @property
    def epochs(self) -> int:
        """The epochs the run was set to."""
        return int(self.settings["epochs"])


def saved_run_path(output: str | os.PathLike) -> Path:
    """``OUTPUT/training/run.json``."""
    return Path(output).expanduser() / RUN_FILE


def has_saved_run(output: str | os.PathLike) -> bool:
    """True when ``output`` holds a run that can be resumed."""
    return bool(str(output).strip()) and saved_run_path(output).is_file()


def read_saved_run(output: str | os.PathLike) -> SavedRun:
    """The run saved in ``output``.

    Raises
    ------
    ValueError
        When there is no saved run, or its settings cannot be read (naming the file).
    """
    path = saved_run_path(output)
    if not path.is_file():
        raise ValueError(f"{output}: nothing to resume (no earlier run in this folder)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
        return SavedRun(path, str(run["kind"]), dict(run["config"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: the saved run settings cannot be read ({exc})") from exc


def resume_config(output: str | os.PathLike, **changes: Any) -> tuple[str, TrainConfig]:
    """The settings that continue the run saved in ``output``.

    Parameters
    ----------
    output : path
    **changes
        Settings that may differ from the saved ones (``epochs``, ``device``).

    Returns
    -------
    (kind, FinetuneConfig or PretrainConfig)
        With ``output``, ``resume=True`` and ``overwrite=False`` set.

    Raises
    ------
    ValueError
        As :func:`read_saved_run`, or when the saved settings are not valid settings.
    """
    saved = read_saved_run(output)
    cls = PretrainConfig if saved.kind == PRETRAIN_KIND else FinetuneConfig
    settings = dict(saved.settings)
    settings.update(changes, output=str(output), resume=True, overwrite=False)
    try:
        return saved.kind, cls.from_dict(settings)
    except TypeError as exc:
        raise ValueError(f"{saved.path}: the saved run settings cannot be read ({exc})") from exc
