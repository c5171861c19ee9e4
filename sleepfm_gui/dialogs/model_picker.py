"""A model chooser: the built-in demo, the user's registered models, or any folder on disk.

:class:`ModelPicker` lists what can serve as a model of one kind (``"base"`` for fine-tuning)
without loading weights: entries come from :func:`sleepfm_engine.registry.list_models` and
:func:`sleepfm_engine.demo.demo_model_path`, and a folder chosen with *Browse…* is checked
with :func:`sleepfm_engine.checkpoints.release_folders` (configs only).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from sleepfm_engine.errors import ModelError

__all__ = ["ModelPicker", "model_choices"]

#: What a model kind is called in messages.
KIND_NAMES = {"base": "base model", "staging": "staging model", "diagnosis": "disease model"}


def model_choices(kind: str = "base") -> list[tuple[str, str]]:
    """(label, folder) of every known model that holds a model of ``kind``.

    The shipped demo release comes first (when present), then registered entries by name;
    broken registry entries are left out.
    """
    from sleepfm_engine.demo import demo_model_path
    from sleepfm_engine.registry import list_models

    out: list[tuple[str, str]] = []
    demo = demo_model_path()
    if demo is not None:
        out.append(("Built-in demo (synthetic data, demonstration only)", str(demo)))
    for entry in list_models():
        if entry.problem is None and kind in entry.models:
            what = "release" if entry.is_release else entry.models[kind]
            out.append((f"{entry.name} (library, {what})", str(entry.path)))
    return out


def check_model_folder(path: str | os.PathLike, kind: str = "base") -> Path:
    """The folder holding the ``kind`` model of ``path`` (a model or release folder).

    Raises
    ------
    ModelError
        When ``path`` is no model folder or holds no model of that kind.
    """
    from sleepfm_engine.checkpoints import release_folders

    p = Path(path).expanduser()
    try:
        folders = release_folders(p)
    except ModelError:
        raise
    except ValueError as exc:  # a config naming a model class the engine does not know
        raise ModelError(p, str(exc)) from exc
    if kind not in folders:
        have = ", ".join(KIND_NAMES.get(k, k) for k in folders) or "no model"
        raise ModelError(p, f"holds no {KIND_NAMES.get(kind, kind)} ({have})")
    return folders[kind]


class ModelPicker(QWidget):
    """Combo box of models of one kind, with *Browse…* for a folder.

    Parameters
    ----------
    kind : str
        ``"base"``, ``"staging"`` or ``"diagnosis"``: what a chosen folder must hold.
    none_label : str, optional
        When given, a first entry meaning "no model" (its path is None).
    parent : QWidget, optional

    Signals
    -------
    changed()
        The selection changed.
    problem(str)
        A browsed folder cannot be used; the text says why.
    """

    changed = Signal()
    problem = Signal(str)

    def __init__(self, kind: str = "base", none_label: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self._none_label = none_label
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(30)
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.currentIndexChanged.connect(self._on_index)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Choose a model folder (config.json + weights) or a release "
                                      "folder (model_base/ …)")
        self.browse_button.clicked.connect(self.browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.browse_button)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registry; keep the current selection when it is still listed."""
        current = self.path()
        browsed = [(self.combo.itemText(i), self.combo.itemData(i)) for i in range(self.combo.count())
                   if self.combo.itemData(i) and str(self.combo.itemText(i)).startswith("Folder: ")]
        self.combo.blockSignals(True)
        self.combo.clear()
        if self._none_label is not None:
            self.combo.addItem(self._none_label, None)
        for label, path in model_choices(self.kind) + browsed:
            self.combo.addItem(label, path)
        self.combo.blockSignals(False)
        if current is not None:
            self._select(current)
        self.changed.emit()

    def set_none_label(self, text: str) -> None:
        """Rename the "no model" entry (only when the picker has one)."""
        if self._none_label is not None:
            self._none_label = text
            self.combo.setItemText(0, text)

    def path(self) -> str | None:
        """The chosen folder, or None."""
        data = self.combo.currentData()
        return None if data in (None, "") else str(data)

    def set_path(self, path: str | os.PathLike | None) -> None:
        """Select ``path`` (added as a *Folder* entry when not listed).

        Raises
        ------
        ModelError
            When the folder holds no model of this picker's kind.
        """
        if path is None:
            if self._none_label is not None:
                self.combo.setCurrentIndex(0)
            return
        check_model_folder(path, self.kind)
        if not self._select(str(path)):
            self.combo.addItem(f"Folder: {path}", str(path))
            self.combo.setCurrentIndex(self.combo.count() - 1)

    def browse(self) -> None:
        """Ask for a folder; report a folder that holds no suitable model through ``problem``."""
        start = self.path() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, f"Choose a {KIND_NAMES.get(self.kind, self.kind)} folder",
                                                  start)
        if not folder:
            return
        try:
            self.set_path(folder)
        except ModelError as exc:
            self.problem.emit(str(exc))

    def _select(self, path: str) -> bool:
        target = Path(path).expanduser()
        for i in range(self.combo.count()):
            data = self.combo.itemData(i)
            if data and Path(data) == target:
                self.combo.setCurrentIndex(i)
                return True
        return False

    def _on_index(self, _index: int) -> None:
        self.changed.emit()
