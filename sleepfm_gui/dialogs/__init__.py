"""Dialogs of SleepFM Studio.

- :class:`FinetuneDialog` / :func:`open_finetune_dialog` (:mod:`.finetune`): train a model on a
  cohort folder with live curves, then use it.
- :class:`TrainingCurves`, :class:`ConfusionTable` (:mod:`.finetune_views`): its live curves and
  confusion matrix.
- :class:`ModelPicker` (:mod:`.model_picker`): choose a model from the library or a folder.

Names load on first use, so importing this package does not build any widget module.

Compatibility: a module ``sleepfm_gui/dialogs.py`` (small dialogs of the main window) may sit
beside this package, which hides it from ``import``. Until it moves inside the package, names
not defined here are looked up in that file, so ``from sleepfm_gui.dialogs import X`` keeps
working for both.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

_EXPORTS = {
    "FinetuneDialog": "finetune",
    "open_finetune_dialog": "finetune",
    "TrainingCurves": "finetune_views",
    "ConfusionTable": "finetune_views",
    "ModelPicker": "model_picker",
    "model_choices": "model_picker",
}
_SIBLING_FILE = Path(__file__).resolve().parent.parent / "dialogs.py"
_SIBLING_NAME = "sleepfm_gui._dialogs_module"

__all__ = sorted(_EXPORTS)


def _sibling():
    """The shadowed ``sleepfm_gui/dialogs.py``, loaded under another name (or None)."""
    mod = sys.modules.get(_SIBLING_NAME)
    if mod is None and _SIBLING_FILE.is_file():
        spec = importlib.util.spec_from_file_location(_SIBLING_NAME, _SIBLING_FILE)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_SIBLING_NAME] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[_SIBLING_NAME]
            raise
    return mod


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        sibling = _sibling()
        if sibling is not None and hasattr(sibling, name):
            return getattr(sibling, name)
    raise AttributeError(f"module 'sleepfm_gui.dialogs' has no attribute {name!r}")


def __dir__():
    sibling = _sibling()
    extra = [n for n in dir(sibling) if not n.startswith("_")] if sibling is not None else []
    return sorted(set(__all__) | set(extra))
