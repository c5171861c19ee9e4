"""The user's model registry: model and release folders kept in the user data folder.

Models live in ``<data dir>/models/<name>/``, where the data dir is
``platformdirs.user_data_dir("sleepfm-studio")`` unless the environment variable
``SLEEPFM_DATA_DIR`` names another (tests and portable installs). An entry is either one model
folder (``config.json`` + weights) or a release folder (``model_base/``,
``model_sleep_staging/``, ``model_diagnosis/``). Adding validates by loading every model
before anything is copied, and the copy appears under its name only once complete.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError
from .sidecars import APP_NAME, DATA_DIR_ENV, user_data_dir  # noqa: F401  (re-exported)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def models_dir() -> Path:
    """Where registered models live (not created until a model is added)."""
    return user_data_dir() / "models"


def check_name(name: str) -> str:
    """Return ``name`` if it can name a registry entry, else raise ModelError (a ValueError)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ModelError(None, f"invalid model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                         f"starting with a letter or digit")
    return name


def _default_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip(".-_")[:64]
    return name or "model"


@dataclass(frozen=True)
class RegistryEntry:
    """One registered model or release.

    Attributes
    ----------
    name : str
    path : Path
        Its folder in the registry.
    models : dict
        Model class by kind (``"base"``, ``"staging"``, ``"diagnosis"``), from the configs.
    is_release : bool
        True for a release folder, False for a single model folder.
    problem : str or None
        Why the entry cannot be used, when its folder is broken.
    """

    name: str
    path: Path
    models: dict[str, str] = field(default_factory=dict)
    is_release: bool = False
    problem: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "models": dict(self.models),
                "is_release": self.is_release, "problem": self.problem}


def _entry(folder: Path) -> RegistryEntry:
    from .checkpoints import CONFIG_FILE, load_config, release_folders

    try:
        folders = release_folders(folder)
        models = {kind: load_config(sub)["model"] for kind, sub in folders.items()}
    except ModelError as exc:
        return RegistryEntry(folder.name, folder, problem=exc.problem)
    return RegistryEntry(folder.name, folder, models, is_release=not (folder / CONFIG_FILE).is_file())


def list_models() -> list[RegistryEntry]:
    """Every registered entry, sorted by name (configs read, weights not loaded)."""
    root = models_dir()
    if not root.is_dir():
        return []
    return [_entry(p) for p in sorted(root.iterdir(), key=lambda p: p.name.lower())
            if p.is_dir() and not p.name.startswith(".")]


def get_model_path(name: str) -> Path:
    """The folder of the registered entry ``name``.

    Raises
    ------
    ModelError
        When no entry has that name.
    """
    path = models_dir() / check_name(name)
    if not path.is_dir():
        known = [e.name for e in list_models()]
        raise ModelError(models_dir(), f"no model named {name!r} is registered"
                                       + (f" (registered: {', '.join(known)})" if known else
                                          " (the registry is empty)"))
    return path


def resolve_model(name_or_path: str | Path) -> Path:
    """A model/release folder from a path, or else from a registered name."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return p
    if isinstance(name_or_path, str) and _NAME_RE.match(name_or_path):
        if (models_dir() / name_or_path).is_dir():
            return models_dir() / name_or_path
    raise ModelError(p, "is neither a folder nor the name of a registered model")


def _files_to_copy(source: Path, folders: dict[str, Path]) -> list[tuple[Path, Path]]:
    """(source file, relative destination) pairs: each model folder's own files, and for a
    release the files beside the model folders (label mappings, notes). Nested folders other
    than the model folders are not copied."""
    pairs = []
    roots = {source} | set(folders.values())
    for root in roots:
        for item in sorted(root.iterdir()):
            if item.is_file() and not item.name.startswith("."):
                pairs.append((item, item.relative_to(source)))
    return pairs


def add_model(path: str | Path, name: str | None = None, overwrite: bool = False) -> RegistryEntry:
    """Validate a model or release folder by loading it, then copy it into the registry.

    Parameters
    ----------
    path : str or Path
        A model folder or a release folder.
    name : str, optional
        Registry name (default: the folder's name, made safe).
    overwrite : bool
        Replace an entry of the same name.

    Raises
    ------
    ModelError
        When the folder does not load (nothing is copied) or the name is taken.
    """
    from .checkpoints import config_hash, load_release, release_folders, remove_tree, replace_folder

    source = Path(path).expanduser().resolve()
    folders = release_folders(source)
    load_release(source)  # every model must load; raises a ModelError naming the problem
    name = check_name(name) if name is not None else _default_name(source)
    root = models_dir()
    target = root / name
    if target.exists() and not overwrite:
        raise ModelError(target, f"a model named {name!r} is already registered; remove it, choose "
                                 f"another name or replace it (overwrite / --force)")
    if root.resolve() in (source, *source.parents):
        raise ModelError(source, "is already inside the registry")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.adding-{uuid.uuid4().hex[:8]}"
    try:
        for src, rel in _files_to_copy(source, folders):
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / rel)
        copied = release_folders(tmp)
        for kind, sub in folders.items():
            if kind not in copied or config_hash(copied[kind]) != config_hash(sub):
                raise ModelError(sub, "the copy in the registry differs from the original; nothing was added")
        replace_folder(tmp, target)
    except BaseException:
        if tmp.exists():
            remove_tree(tmp)
        raise
    return _entry(target)


def remove_model(name: str) -> Path:
    """Delete the registered entry ``name`` and return the path it had."""
    from .checkpoints import remove_tree

    path = get_model_path(name)
    # Rename first so the name disappears at once even if deleting the files takes a while.
    doomed = path.parent / f".{path.name}.removing-{uuid.uuid4().hex[:8]}"
    os.replace(path, doomed)
    remove_tree(doomed)
    return path


def entry_json(entries: list[RegistryEntry]) -> str:
    """Entries as a JSON list (for ``sleepfm models list --json``)."""
    return json.dumps([e.to_dict() for e in entries], indent=2)
