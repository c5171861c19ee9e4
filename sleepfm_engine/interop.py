"""What the conversions to the ecosystem's types share (MNE, YASA): importing those optional
packages on use, with a message naming the extra that installs them, and MNE's clock times.

Standard library only, so the data layer (recording, hypnogram) can import it without a circle.
"""
from __future__ import annotations

import datetime as _dt
import importlib
from typing import Any

#: The extra that installs the optional packages of the ecosystem's types (MNE, YASA).
INTEROP_EXTRA = "interop"


def optional_import(module: str, name: str) -> Any:
    """Import an optional package, or raise an ImportError naming the extra that installs it.

    Parameters
    ----------
    module : str
        The module to import (``"mne"``, ``"yasa"``).
    name : str
        Its name for people (``"MNE"``, ``"YASA"``).

    Raises
    ------
    ImportError
        If it is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{name} is not installed; it is optional: pip install "
                          f"'sleepfm-studio[{INTEROP_EXTRA}]' (or pip install {module})") from exc


def mne_date(when: _dt.datetime | None) -> _dt.datetime | None:
    """A clock time as MNE wants it (UTC-aware); a naive time is read as UTC, as MNE reads EDF."""
    if when is None:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc)
