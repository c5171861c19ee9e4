"""Where the application keeps its files: settings, demo night, channel overrides (Qt-free).

Everything lives in the user data folder shared with the engine
(:func:`sleepfm_engine.sidecars.user_data_dir`). Channel overrides of a recording are
sidecars (:func:`~sleepfm_engine.sidecars.find_overrides`,
:func:`~sleepfm_engine.sidecars.overrides_target`): beside it as ``<name>.channels.json``
when that folder is writable, else in the user data folder. Inference reads the same file, so
what the user assigned is what SleepFM sees, in the application and on the command line.
"""
from __future__ import annotations

from pathlib import Path

from sleepfm_engine.sidecars import (APP_NAME, DATA_DIR_ENV, OVERRIDES_SUFFIX,  # noqa: F401
                                     find_overrides, folder_is_writable, overrides_candidates,
                                     overrides_target, user_data_dir)


def settings_path() -> Path:
    """The application's settings file (an INI file in the user data folder)."""
    return user_data_dir() / "studio-settings.ini"
