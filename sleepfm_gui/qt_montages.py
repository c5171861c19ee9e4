"""The Montage menu: built-in montages, the user's saved ones, "Save current as…" and "Delete…".

The built-in entries come from :data:`sleepfm_engine.montages.BUILTIN_MONTAGES` and are built
for the recording shown; the saved ones are read from the
:class:`~sleepfm_engine.montages.MontageStore` each time the menu opens, so a montage saved by
another window is there too. A file that cannot be read is listed greyed out with its error.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QInputDialog, QMenu, QMessageBox, QWidget

from sleepfm_engine.errors import MontageError
from sleepfm_engine.montages import BUILTIN_MONTAGES, Montage, MontageStore

from . import errors

__all__ = ["DEFAULT_LAYOUT", "MontageMenu"]

#: The menu entry that lays the rows out as a newly opened night is.
DEFAULT_LAYOUT = "Grouped by modality"


class MontageMenu(QMenu):
    """Channels ▸ Montage.

    Parameters
    ----------
    study : Study
        The night shown: its recording, channel map and display model.
    parent : QWidget
        The window (dialogs are shown over it).
    store : MontageStore, optional
        Where montages are saved (default: the user data folder's).

    Signals
    -------
    applied(str, list)
        A montage was laid out: its name and what was skipped or not found (sentences).
    """

    applied = Signal(str, list)

    def __init__(self, study: Any, parent: QWidget | None = None,
                 store: MontageStore | None = None):
        super().__init__("&Montage", parent)
        self.study = study
        self.store = store or MontageStore()
        # Hooks tests replace (None: a dialog): the name to save under, whether to replace a
        # saved montage, which montage to delete.
        self.ask_name: Callable[[str], str | None] | None = None
        self.ask_overwrite: Callable[[str], bool] | None = None
        self.ask_delete: Callable[[list[str]], str | None] | None = None
        self.setToolTipsVisible(True)
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    # ------------------------------------------------------------------ the entries
    def rebuild(self) -> None:
        """List the built-in and saved montages again (enabled only with a recording)."""
        self.clear()
        has = self.study.recording is not None
        for name, builtin in BUILTIN_MONTAGES.items():
            a = self.addAction(name, lambda n=name: self.apply_builtin(n))
            a.setToolTip(builtin.description)
            a.setEnabled(has)
        a = self.addAction(DEFAULT_LAYOUT, self.apply_default)
        a.setToolTip("Every channel shown, grouped by modality in file order (derivations, "
                     "gains and sensitivities stay)")
        a.setEnabled(has)
        montages, problems = self.store.scan()
        if montages or problems:
            self.addSeparator()
        for m in montages:
            a = self.addAction(m.name, lambda n=m.name: self.apply_saved(n))
            a.setToolTip(f"{len(m.rows)} rows, {len(m.derivations)} derivations")
            a.setEnabled(has)
        for exc in problems:
            a = self.addAction(f"{exc.path.name} (cannot be read)")
            a.setToolTip(str(exc))
            a.setEnabled(False)
        self.addSeparator()
        self.save_action = self.addAction("Save current as…", lambda: self.save_current())
        self.save_action.setEnabled(has)
        self.delete_action = self.addAction("Delete…", lambda: self.delete())
        self.delete_action.setEnabled(bool(montages))

    def entry_names(self) -> list[str]:
        """Texts of the menu's entries (separators left out)."""
        return [a.text() for a in self.actions() if not a.isSeparator()]

    # ------------------------------------------------------------------ what they do
    def apply_builtin(self, name: str) -> list[str]:
        """Lay the recording out by the built-in montage ``name``; returns what was missing."""
        montage, missing = BUILTIN_MONTAGES[name].build(self.study.recording,
                                                        self.study.channel_map)
        return self._apply(montage, missing)

    def apply_default(self) -> None:
        """Every row shown, grouped by modality again (the layout of a newly opened night)."""
        display = self.study.display
        display.reset_order()
        display.show_all()
        self.applied.emit(DEFAULT_LAYOUT, [])

    def apply_saved(self, name: str) -> list[str] | None:
        """Lay the recording out by the saved montage ``name``; None if it cannot be read."""
        try:
            montage = self.store.load(name)
        except MontageError as exc:
            errors.report_exception(self.parentWidget(), "Cannot use the montage", exc)
            return None
        return self._apply(montage, [])

    def _apply(self, montage: Montage, notes: list[str]) -> list[str]:
        skipped = notes + self.study.display.apply_montage(montage)
        self.applied.emit(montage.name, skipped)
        return skipped

    def save_current(self, name: str | None = None) -> bool:
        """Save the display as a montage (asking its name, and before replacing one)."""
        if self.study.recording is None:
            return False
        if name is None:
            name = self._ask_name("My montage")
            if not name:
                return False
        montage = self.study.display.to_montage(name)
        overwrite = False
        if self.store.exists(name):
            if not self._ask_overwrite(name):
                return False
            overwrite = True
        try:
            self.store.save(montage, overwrite=overwrite)
        except MontageError as exc:
            errors.report_exception(self.parentWidget(), "Cannot save the montage", exc)
            return False
        return True

    def delete(self, name: str | None = None) -> bool:
        """Delete a saved montage (asking which)."""
        names = self.store.names()
        if name is None:
            name = self._ask_delete(names) if names else None
            if not name:
                return False
        try:
            self.store.delete(name)
        except MontageError as exc:
            errors.report_exception(self.parentWidget(), "Cannot delete the montage", exc)
            return False
        return True

    # ------------------------------------------------------------------ questions
    def _ask_name(self, default: str) -> str | None:
        if self.ask_name is not None:
            return self.ask_name(default)
        text, ok = QInputDialog.getText(self.parentWidget(), "Save montage",
                                        "Name of the montage:", text=default)
        return text.strip() if ok and text.strip() else None

    def _ask_overwrite(self, name: str) -> bool:
        if self.ask_overwrite is not None:
            return self.ask_overwrite(name)
        answer = QMessageBox.question(
            self.parentWidget(), "Replace montage",
            f"A montage called “{name}” (or one kept in the same file) is already saved. "
            "Replace it?", QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _ask_delete(self, names: list[str]) -> str | None:
        if self.ask_delete is not None:
            return self.ask_delete(names)
        name, ok = QInputDialog.getItem(self.parentWidget(), "Delete montage",
                                        "Montage to delete:", names, 0, False)
        if not ok:
            return None
        answer = QMessageBox.question(self.parentWidget(), "Delete montage",
                                      f"Delete the montage “{name}”?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return name if answer == QMessageBox.Yes else None
