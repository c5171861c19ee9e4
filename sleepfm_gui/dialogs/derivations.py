"""Add a derivation of two channels: typed, or ticked from the AASM ones the file can make."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout)

from sleepfm_engine.display import Derivation, suggest_derivations

__all__ = ["DerivationDialog"]


class DerivationDialog(QDialog):
    """Add a derivation ``plus − minus`` of two channels of the same rate."""

    def __init__(self, rec: Any, existing: list[Derivation], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add a derivation")
        self.rec = rec
        self.plus = QComboBox()
        self.minus = QComboBox()
        for c in rec.channels:
            text = f"{c.label} ({c.rate:g} Hz)"
            self.plus.addItem(text, c.label)
            self.minus.addItem(text, c.label)
        if self.minus.count() > 1:
            self.minus.setCurrentIndex(1)
        self.label = QLineEdit()
        self.label.setPlaceholderText("automatic (plus-minus)")
        form = QFormLayout()
        form.addRow("Channel (+)", self.plus)
        form.addRow("Reference (−)", self.minus)
        form.addRow("Label", self.label)
        taken = {d.label for d in existing}
        self.suggestions = QListWidget()
        for d in suggest_derivations(rec.labels, [c.rate for c in rec.channels]):
            if d.label in taken:
                continue
            item = QListWidgetItem(f"{d.label}  =  {d.plus} − {d.minus}")
            item.setData(Qt.UserRole, d)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            self.suggestions.addItem(item)
        self.error = QLabel()
        self.error.setStyleSheet("color: #B00")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        if self.suggestions.count():
            lay.addWidget(QLabel("AASM derivations this file can make (tick to add):"))
            lay.addWidget(self.suggestions)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.result_derivations: list[Derivation] = []

    def derivations(self) -> list[Derivation]:
        """The ticked suggestions, or else the one built from the two menus."""
        ticked = [self.suggestions.item(i).data(Qt.UserRole)
                  for i in range(self.suggestions.count())
                  if self.suggestions.item(i).checkState() == Qt.Checked]
        if ticked:
            return ticked
        plus, minus = self.plus.currentData(), self.minus.currentData()
        p, m = self.rec.channel(plus), self.rec.channel(minus)
        if p.rate != m.rate:
            raise ValueError(f"{plus} is sampled at {p.rate:g} Hz but {minus} at {m.rate:g} Hz; "
                             "a derivation needs the same rate")
        return [Derivation(plus, minus, self.label.text().strip())]

    def _accept(self) -> None:
        try:
            self.result_derivations = self.derivations()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
