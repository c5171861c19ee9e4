"""The events list: every annotation of the recording, filterable; double-click to go there.

A model/view table, so ten thousand events cost nothing until they are scrolled into view.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt,
                            Signal)
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QTableView, QVBoxLayout, QWidget)

from .qt_axes import clock_text

__all__ = ["AnnotationsPanel", "AnnotationsModel"]


class AnnotationsModel(QAbstractTableModel):
    """Rows: time (clock), duration, description, source."""

    HEADERS = ("Time", "Duration", "Event", "Source")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[Any, str]] = []
        self._start: _dt.datetime | None = None

    def set_annotations(self, rows: Sequence[tuple[Any, str]], start: _dt.datetime | None) -> None:
        """``rows``: (annotation, source) pairs, already sorted by onset."""
        self.beginResetModel()
        self._rows = list(rows)
        self._start = start
        self.endResetModel()

    def annotation(self, row: int) -> Any:
        return self._rows[row][0]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        ann, source = self._rows[index.row()]
        col = index.column()
        if role == Qt.DisplayRole:
            if col == 0:
                return clock_text(self._start, ann.onset)
            if col == 1:
                return f"{ann.duration:g} s" if ann.duration else ""
            if col == 2:
                return ann.description
            return source
        if role == Qt.ToolTipRole and col == 2:
            return ann.description
        return None


class AnnotationsPanel(QWidget):
    """Filterable list of events.

    Signals
    -------
    timeActivated(float)
        An event was double-clicked (its onset, s from the recording start).
    """

    timeActivated = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = AnnotationsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(2)
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter events (e.g. arousal, apnea)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.count = QLabel()
        self.view = QTableView()
        self.view.setModel(self.proxy)
        # Rows arrive sorted by onset; sorting in the proxy would ask every row for its data
        # on each reset (seconds for ten thousand events).
        self.view.setSortingEnabled(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.view.doubleClicked.connect(self._on_double_click)
        self.view.activated.connect(self._on_double_click)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        self._update_count()

    def set_annotations(self, rows: Sequence[tuple[Any, str]], start: _dt.datetime | None) -> None:
        self.model.set_annotations(rows, start)
        self._update_count()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count.setText(f"{n} event{'s' if n != 1 else ''}")

    def _on_double_click(self, index) -> None:
        src = self.proxy.mapToSource(index)
        if src.isValid():
            self.timeActivated.emit(float(self.model.annotation(src.row()).onset))
