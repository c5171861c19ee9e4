"""Where the application keeps its files: settings, demo night, channel overrides (Qt-free).

Everything lives in the user data folder (``$SLEEPFM_DATA_DIR`` when set, else the platform's
user data dir for ``sleepfm-studio``), the same folder the engine's model registry uses.

Channel overrides of a recording are stored beside it as ``<name>.channels.json`` when that
folder is writable, else in ``<data dir>/channel_overrides/``; both places are read back, the
one beside the recording first. Inference receives the resulting
:class:`~sleepfm_engine.channels.ChannelMap`, so what the user assigned is what SleepFM sees.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

APP_NAME = "sleepfm-studio"
DATA_DIR_ENV = "SLEEPFM_DATA_DIR"
OVERRIDES_SUFFIX = ".channels.json"


def user_data_dir() -> Path:
    """The per-user data folder (``$SLEEPFM_DATA_DIR`` overrides the platform default)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    """The application's settings file (an INI file in the user data folder)."""
    return user_data_dir() / "studio-settings.ini"


def _key(recording: Path) -> str:
    digest = hashlib.sha1(str(recording.resolve()).encode("utf-8")).hexdigest()[:12]
    return f"{recording.stem}-{digest}"


def overrides_candidates(recording: str | os.PathLike) -> list[Path]:
    """Where a recording's channel overrides may be, in the order they are looked for."""
    rec = Path(recording)
    return [rec.with_name(rec.name + OVERRIDES_SUFFIX),
            user_data_dir() / "channel_overrides" / (_key(rec) + OVERRIDES_SUFFIX)]


def find_overrides(recording: str | os.PathLike) -> Path | None:
    """The saved channel overrides of a recording, or None."""
    for p in overrides_candidates(recording):
        if p.is_file():
            return p
    return None


def overrides_target(recording: str | os.PathLike) -> Path:
    """Where to save a recording's channel overrides: beside it if that folder is writable."""
    beside, fallback = overrides_candidates(recording)
    return beside if folder_is_writable(beside.parent) else fallback


def folder_is_writable(folder: Path) -> bool:
    """Whether files may be added to ``folder``.

    A folder whose permission bits grant nobody write access counts as read-only even for
    root, who could write anyway: a data set shipped read-only stays untouched.
    """
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(folder, os.W_OK)
