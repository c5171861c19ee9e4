"""Each study's display layout, kept between sessions: gains, hidden rows, order, derivations.

The viewer preferences (page length, filters, notch) are the application's and stay global;
how one night's rows were laid out belongs to that night. The application saves it a moment
after each change (so a crash loses at most that moment) and when the night is closed, and
restores it when the night is opened again, in
``<user data>/display_states/<study key>.json``: the key is a hash of the recording's full
path, its size and its start time (:func:`study_key`), so a replaced file of the same name does
not inherit a layout made for another night, and nothing is written beside the recording.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from .atomic import write_text_atomic
from .errors import DisplayStateError
from .sidecars import user_data_dir

__all__ = ["FORMAT", "PER_STUDY_KEYS", "SUBDIR", "VERSION", "load_display_state",
           "per_study_part", "read_display_state", "save_display_state", "state_path", "study_key",
           "write_display_state"]

FORMAT = "sleepfm-display-state"
VERSION = 1
SUBDIR = "display_states"
#: Entries of :meth:`~sleepfm_engine.display_model.DisplayModel.to_dict` (``rows=True``) that
#: belong to one study; the others are the viewer's preferences.
PER_STUDY_KEYS: tuple[str, ...] = ("derivations", "rows", "order")


def per_study_part(state: Mapping[str, Any]) -> dict:
    """The entries of a display ``state`` that belong to one study (:data:`PER_STUDY_KEYS`)."""
    return {k: state[k] for k in PER_STUDY_KEYS if k in state}


def study_key(path: str | os.PathLike, start: _dt.datetime | None) -> str:
    """A stable key of a recording: hash of its absolute path, size and start time."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    try:
        size = p.stat().st_size
    except OSError:
        size = -1
    when = start.isoformat() if start is not None else ""
    return hashlib.sha1(f"{p}|{size}|{when}".encode("utf-8")).hexdigest()[:20]


def state_path(rec: Any) -> Path:
    """Where the display state of recording ``rec`` (its ``path`` and ``start``) is kept."""
    return user_data_dir() / SUBDIR / f"{study_key(rec.path, rec.start)}.json"


def write_display_state(path: str | os.PathLike, recording: str, state: Mapping[str, Any]) -> Path:
    """Write the per-study part of ``state`` to ``path`` atomically (replacing the old one)."""
    payload = {"format": FORMAT, "version": VERSION, "recording": str(recording),
               "state": per_study_part(state)}
    return write_text_atomic(Path(path), json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


def read_display_state(path: str | os.PathLike) -> dict:
    """The state :func:`write_display_state` wrote (its per-study entries).

    Raises
    ------
    DisplayStateError
        If the file cannot be read or is not a display state; the message names it.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DisplayStateError(path, f"cannot be read as a display state ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DisplayStateError(path, f"not a display state (format {FORMAT!r} expected)")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise DisplayStateError(path, f"display state version {version!r} is not one this "
                                      f"version reads (up to {VERSION})")
    state = data.get("state")
    if not isinstance(state, dict):
        raise DisplayStateError(path, "'state' must be an object")
    return per_study_part(state)


def save_display_state(rec: Any, state: Mapping[str, Any]) -> Path:
    """Keep the per-study part of ``state`` for recording ``rec``."""
    return write_display_state(state_path(rec), str(rec.path), state)


def load_display_state(rec: Any) -> dict | None:
    """The display state saved for recording ``rec``, or None when none was.

    Raises
    ------
    DisplayStateError
        If the saved file cannot be read.
    """
    path = state_path(rec)
    if not path.is_file():
        return None
    return read_display_state(path)
