"""Where the project's data files live (channel groups, phecode labels, the demo model).

The repository keeps them in the top-level ``resources/`` folder; ``pyproject.toml`` installs that
folder inside the engine as the package ``sleepfm_engine._resources``, so an editable install and
a wheel both reach it through :mod:`importlib.resources`. This module is the one place that does.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The package that ``resources/`` is installed as (see ``[tool.setuptools]`` in pyproject.toml).
RESOURCES_PACKAGE = "sleepfm_engine._resources"


def resource_dir() -> Path:
    """The installed resources folder.

    Returns
    -------
    Path
        A folder on the file system holding the shipped data files.

    Raises
    ------
    FileNotFoundError
        When the package is not installed, or installed somewhere that is not a folder on disk
        (the readers open files by path, e.g. ``torch.load`` and ``h5py``).
    """
    try:
        root = resources.files(RESOURCES_PACKAGE)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(
            f"SleepFM Studio resources not found: the package {RESOURCES_PACKAGE} is not installed "
            "(reinstall SleepFM Studio; from a checkout, `pip install -e .`)") from exc
    if not isinstance(root, Path) or not root.is_dir():
        raise FileNotFoundError(
            f"SleepFM Studio resources not found: {RESOURCES_PACKAGE} is at {root}, "
            "which is not a folder on disk (install SleepFM Studio unzipped)")
    return root


def resource_path(*parts: str) -> Path:
    """Path of a file inside the resources folder.

    Parameters
    ----------
    *parts : str
        Path components below the resources folder, e.g. ``"label_mapping.csv"``.

    Raises
    ------
    FileNotFoundError
        When the resources folder or the file is missing.
    """
    p = resource_dir().joinpath(*parts)
    if not p.exists():
        raise FileNotFoundError(f"missing resource file {p}")
    return p
