"""The channel panel: every channel with its SleepFM modality, the reason, and a way to reassign it.

Assignments come from :class:`sleepfm_engine.channels.ChannelMap`. A reassignment is saved at
once as the recording's overrides JSON (beside the recording, or in the user data folder when
that folder is read-only; see :mod:`sleepfm_gui.paths`) and the map, overrides included, is what
the analysis jobs hand to inference. Rows are listed in the traces' order, derived rows (e.g.
C4-M1) among them; a row is moved by dragging its number, or with the buttons under the table,
which also remove a derived row.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from sleepfm_engine.channels import ALL_MODALITIES, ChannelMap
from sleepfm_engine.contract import MODALITY_DESCRIPTIONS
from sleepfm_engine.display import KIND_COLORS, DisplayChannel, display_scale

from . import errors

__all__ = ["ChannelPanel"]

COLUMNS = ("Show", "Channel", "Rate", "Unit", "Modality", "Display", "Why")
SHOW, LABEL, RATE, UNIT, MODALITY, KIND, REASON = range(len(COLUMNS))


class ChannelPanel(QWidget):
    """Table of channels with a modality control per channel.

    Signals
    -------
    modalitiesChanged(dict)
        ``{label: modality}`` after a reassignment was applied and saved.
    visibilityChanged(str, bool)
        A row's "Show" box was toggled (display key, visible).
    moveRequested(str, int)
        Move a row (display key) by so many rows (negative: up).
    orderRequested(list)
        Lay the rows out in this order (display keys, top first): a row number was dragged.
    derivationRemoveRequested(str)
        Remove a derived row (its label).
    """

    modalitiesChanged = Signal(dict)
    visibilityChanged = Signal(str, bool)
    moveRequested = Signal(str, int)
    orderRequested = Signal(list)
    derivationRemoveRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cmap: ChannelMap | None = None
        self.rec: Any = None
        self.overrides_path: Path | None = None
        self._rows: list[DisplayChannel] = []
        self._combos: dict[str, QComboBox] = {}
        self._updating = False

        self.summary = QLabel("<i>No recording</i>")
        self.summary.setWordWrap(True)
        self.reset_button = QPushButton("Reset to automatic")
        self.reset_button.setToolTip("Drop every manual reassignment of this recording")
        self.reset_button.clicked.connect(self.reset_overrides)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        # The row numbers are the handles a row is dragged by.
        rows_header = self.table.verticalHeader()
        rows_header.setSectionsMovable(True)
        rows_header.setToolTip("Drag a row's number to move the channel on the traces")
        rows_header.sectionMoved.connect(self._on_row_dragged)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for c in (SHOW, RATE, UNIT, MODALITY, KIND):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(LABEL, QHeaderView.Interactive)
        header.setSectionResizeMode(REASON, QHeaderView.Stretch)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.up_button = QPushButton("Move up")
        self.up_button.setToolTip("Move the selected channel one row up on the traces")
        self.up_button.clicked.connect(lambda: self._request_move(-1))
        self.down_button = QPushButton("Move down")
        self.down_button.setToolTip("Move the selected channel one row down on the traces")
        self.down_button.clicked.connect(lambda: self._request_move(1))
        self.remove_button = QPushButton("Remove derivation")
        self.remove_button.setToolTip("Remove the selected derived row (View ▸ Add derivation… "
                                      "adds one)")
        self.remove_button.clicked.connect(self._request_remove)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.reset_button)
        bottom = QHBoxLayout()
        for b in (self.up_button, self.down_button, self.remove_button):
            bottom.addWidget(b)
        bottom.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(bottom)
        self.reset_button.setEnabled(False)
        self._update_buttons()

    # ------------------------------------------------------------------ content
    def set_recording(self, rec: Any, cmap: ChannelMap | None, overrides_path: Path | None,
                      rows: list[DisplayChannel] | None = None,
                      hidden: list[str] | None = None) -> None:
        """Show the channels of ``rec`` (None clears the panel).

        Parameters
        ----------
        rec : Recording or None
        cmap : ChannelMap
            The recording's map (overrides already applied).
        overrides_path : Path
            Where reassignments are saved.
        rows : list of DisplayChannel, optional
            The trace view's rows (for derived rows and display kinds).
        hidden : list of str, optional
            Keys of rows the trace view hides.
        """
        self.rec, self.cmap, self.overrides_path = rec, cmap, overrides_path
        self.set_rows(rows or [], hidden or [])

    def set_rows(self, rows: list[DisplayChannel], hidden: list[str]) -> None:
        """Refresh the table from the trace view's rows, in their order (keeps the recording,
        the map and the selected row)."""
        selected = self.selected_key()
        self._updating = True
        try:
            self._rows = list(rows)
            self._combos.clear()
            self.table.setRowCount(0)
            if self.rec is None or self.cmap is None:
                self.summary.setText("<i>No recording</i>")
                self.reset_button.setEnabled(False)
                return
            ordered = list(rows)
            hidden_set = set(hidden)
            self.table.setRowCount(len(ordered) if ordered else len(self.rec.channels))
            if not ordered:  # no trace view rows given: list the recording's channels
                for i, c in enumerate(self.rec.channels):
                    self._fill_row(i, c.label, c.label, c.rate, c.unit, None, True, False,
                                   c.raw_unit)
            for i, r in enumerate(ordered):
                raw = self.rec.channel(r.plus).raw_unit
                self._fill_row(i, r.key, r.label, r.rate, r.unit, r, r.key not in hidden_set,
                               r.is_derived, raw)
            self._update_summary()
        finally:
            self._updating = False
        if selected is not None:
            self.select_key(selected)
        self._update_buttons()

    # ------------------------------------------------------------------ order and derivations
    def keys(self) -> list[str]:
        """Display keys of the rows, top first."""
        return [self.table.item(i, SHOW).data(Qt.UserRole) for i in range(self.table.rowCount())]

    def selected_key(self) -> str | None:
        """Display key of the selected row, or None."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), SHOW)
        return None if item is None else item.data(Qt.UserRole)

    def select_key(self, key: str) -> None:
        """Select the row of display key ``key`` (no signal to the traces)."""
        keys = self.keys()
        if key in keys:
            self.table.selectRow(keys.index(key))

    def _selected_row(self) -> DisplayChannel | None:
        key = self.selected_key()
        return next((r for r in self._rows if r.key == key), None)

    def _update_buttons(self) -> None:
        row = self._selected_row()
        keys = self.keys()
        i = keys.index(row.key) if row is not None else -1
        self.up_button.setEnabled(i > 0)
        self.down_button.setEnabled(0 <= i < len(keys) - 1)
        self.remove_button.setEnabled(row is not None and row.is_derived)

    def _on_row_dragged(self, _logical: int, _old: int, _new: int) -> None:
        if self._updating:
            return
        header = self.table.verticalHeader()
        keys = self.keys()
        order = [keys[header.logicalIndex(v)] for v in range(len(keys))]
        # The table is filled again in the new order, so its rows and numbers agree again.
        self._updating = True
        try:
            for v in range(len(keys)):
                header.moveSection(header.visualIndex(v), v)
        finally:
            self._updating = False
        self.orderRequested.emit(order)

    def _request_move(self, step: int) -> None:
        key = self.selected_key()
        if key is not None:
            self.moveRequested.emit(key, step)

    def _request_remove(self) -> None:
        row = self._selected_row()
        if row is not None and row.is_derived:
            self.derivationRemoveRequested.emit(row.key)

    def _fill_row(self, i: int, key: str, label: str, rate: float, unit: str,
                  row: DisplayChannel | None, visible: bool, derived: bool,
                  raw_unit: str = "") -> None:
        """One row; ``unit`` is the engine's unit, shown as the traces show it
        (:func:`~sleepfm_engine.display.display_scale`), the file's spelling in the tooltip."""
        show = QTableWidgetItem()
        show.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        show.setCheckState(Qt.Checked if visible else Qt.Unchecked)
        show.setData(Qt.UserRole, key)
        self.table.setItem(i, SHOW, show)
        name = QTableWidgetItem(label)
        if row is not None:
            name.setForeground(QColor(KIND_COLORS[row.kind]))
        self.table.setItem(i, LABEL, name)
        self.table.setItem(i, RATE, QTableWidgetItem(f"{rate:g} Hz"))
        shown = QTableWidgetItem(display_scale(unit)[0])
        shown.setToolTip(f"In the file: {raw_unit!r}" if raw_unit else "No unit in the file")
        self.table.setItem(i, UNIT, shown)
        self.table.setItem(i, KIND, QTableWidgetItem(row.kind if row is not None else ""))
        if derived:
            self.table.setItem(i, MODALITY, QTableWidgetItem("(derived)"))
            self.table.setItem(i, REASON, QTableWidgetItem(
                f"display derivation {row.plus} − {row.minus}; SleepFM uses the recorded "
                "channels"))
            return
        a = self.cmap[key]
        combo = QComboBox()
        for m in ALL_MODALITIES:
            combo.addItem(m, m)
            combo.setItemData(combo.count() - 1, MODALITY_DESCRIPTIONS[m], Qt.ToolTipRole)
        combo.setCurrentIndex(ALL_MODALITIES.index(a.modality))
        combo.setToolTip("Reassign this channel; SleepFM uses the modality chosen here")
        combo.currentIndexChanged.connect(
            lambda idx, k=key, c=combo: self.reassign(k, c.itemData(idx)))
        if a.overridden:
            f = QFont(combo.font())
            f.setBold(True)
            combo.setFont(f)
        self._combos[key] = combo
        self.table.setCellWidget(i, MODALITY, combo)
        reason = QTableWidgetItem(a.reason)
        reason.setToolTip(a.reason)
        self.table.setItem(i, REASON, reason)

    def _update_summary(self) -> None:
        if self.cmap is None:
            return
        counts = {m: len(self.cmap.channels_for(m)) for m in ALL_MODALITIES}
        n_over = len(self.cmap.overrides)
        text = ", ".join(f"{m} {n}" for m, n in counts.items())
        if n_over:
            where = self.overrides_path.name if self.overrides_path is not None else ""
            text += f" · <b>{n_over} reassigned</b> (saved in {where})"
        self.summary.setText(text)
        self.reset_button.setEnabled(n_over > 0)

    def modality_combo(self, key: str) -> QComboBox:
        """The modality control of a recorded channel."""
        return self._combos[key]

    # ------------------------------------------------------------------ edits
    def reassign(self, label: str, modality: str | None) -> None:
        """Assign ``label`` to ``modality`` (None: back to automatic), save and announce it.

        The override equal to the automatic choice is dropped rather than stored.
        """
        if self.cmap is None or self._updating:
            return
        auto, _ = self.cmap.automatic(label)
        try:
            self.cmap.override(label, None if modality in (None, auto) else modality)
            self._save()
        except (ValueError, OSError) as exc:
            errors.report_exception(self, "Cannot reassign the channel", exc)
            self._refresh_row(label)
            return
        self._refresh_row(label)
        self._update_summary()
        self.modalitiesChanged.emit(self.cmap.as_dict())

    def reset_overrides(self) -> None:
        """Drop every override of this recording (and its file)."""
        if self.cmap is None:
            return
        self.cmap.clear_overrides()
        try:
            self._save()
        except OSError as exc:
            errors.report_exception(self, "Cannot reset the channel assignments", exc)
        self.set_rows(self._rows, self._hidden_keys())
        self.modalitiesChanged.emit(self.cmap.as_dict())

    def _save(self) -> None:
        if self.overrides_path is None or self.cmap is None:
            return
        if self.cmap.overrides:
            self.cmap.save_overrides(self.overrides_path)
        else:
            self.overrides_path.unlink(missing_ok=True)

    def _refresh_row(self, label: str) -> None:
        combo = self._combos.get(label)
        if combo is None or self.cmap is None:
            return
        a = self.cmap[label]
        self._updating = True
        try:
            combo.setCurrentIndex(ALL_MODALITIES.index(a.modality))
            f = QFont(combo.font())
            f.setBold(a.overridden)
            combo.setFont(f)
            for i in range(self.table.rowCount()):
                item = self.table.item(i, SHOW)
                if item is not None and item.data(Qt.UserRole) == label:
                    reason = self.table.item(i, REASON)
                    reason.setText(a.reason)
                    reason.setToolTip(a.reason)
        finally:
            self._updating = False

    def _hidden_keys(self) -> list[str]:
        out = []
        for i in range(self.table.rowCount()):
            item = self.table.item(i, SHOW)
            if item is not None and item.checkState() != Qt.Checked:
                out.append(item.data(Qt.UserRole))
        return out

    def set_visible(self, key: str, visible: bool) -> None:
        """Reflect a visibility change made elsewhere (no signal)."""
        self._updating = True
        try:
            for i in range(self.table.rowCount()):
                item = self.table.item(i, SHOW)
                if item is not None and item.data(Qt.UserRole) == key:
                    item.setCheckState(Qt.Checked if visible else Qt.Unchecked)
        finally:
            self._updating = False

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating or item.column() != SHOW:
            return
        self.visibilityChanged.emit(item.data(Qt.UserRole), item.checkState() == Qt.Checked)
