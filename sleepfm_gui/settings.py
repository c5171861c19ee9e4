"""Persistent settings (QSettings in an INI file in the user data folder).

Kept: recent files, the last model folder and device, window geometry and dock layout, scoring
keys, display filters and page length. The file lives in the user data folder, so a test (or a
portable install) that sets ``SLEEPFM_DATA_DIR`` gets its own.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from .paths import settings_path

MAX_RECENT = 10


class Settings:
    """Typed access to the application's QSettings."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.q = QSettings(str(self.path), QSettings.IniFormat)

    def value(self, key: str, default: Any = None) -> Any:
        v = self.q.value(key, default)
        return default if v is None else v

    def set_value(self, key: str, value: Any) -> None:
        self.q.setValue(key, value)

    def get_json(self, key: str, default: Any = None) -> Any:
        """A JSON value; the default when missing or unreadable (a hand-edited file)."""
        text = self.q.value(key)
        if not text:
            return default
        try:
            return json.loads(str(text))
        except (TypeError, ValueError):
            return default

    def set_json(self, key: str, value: Any) -> None:
        self.q.setValue(key, json.dumps(value))

    def recent_files(self) -> list[str]:
        """Recently opened recordings, most recent first (missing files included)."""
        value = self.get_json("recent", [])
        return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def add_recent(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        files = [p] + [f for f in self.recent_files() if f != p]
        self.set_json("recent", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def remove_recent(self, path: str | Path) -> None:
        p = str(path)
        self.set_json("recent", [f for f in self.recent_files() if f != p])

    def sync(self) -> None:
        self.q.sync()
