"""The events panel: every scored event of the study, filtered by type and source, with counts
and the night's indices; double-click an event to go to it. And the dialog that edits the
event keys.

A model/view table over the study's event layers, so ten thousand events cost nothing until
they are scrolled into view. The filters also decide what the trace view draws (through the
display model's hidden types and layers).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QScrollArea, QTableView, QVBoxLayout, QWidget)

from sleepfm_engine.event_keys import EventKeyMap
from sleepfm_engine.events import EVENT_TYPES, Event, EventType
from sleepfm_engine.scoring_keys import normalize_key

from .qt_axes import clock_text

__all__ = ["EventKeysDialog", "EventsModel", "EventsPanel", "INDICES_SHOWN"]

# Rows sampled to size the columns.
_SIZE_ROWS = 50
#: The indices the panel shows (keys of :data:`sleepfm_engine.indices.INDEX_DEFINITIONS`).
INDICES_SHOWN: tuple[str, ...] = ("AHI", "ODI3", "ArI", "PLMSI")


class EventsModel(QAbstractTableModel):
    """Rows: time (clock), duration, type, channels, source, confidence, rule."""

    HEADERS = ("Time", "Duration", "Event", "Channels", "Source", "Confidence", "Rule")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[Event, str]] = []
        self._start: _dt.datetime | None = None
        self._reasons: dict[str, str] = {}

    def set_rows(self, rows: Sequence[tuple[Event, str]], start: _dt.datetime | None,
                 reasons: dict[str, str] | None = None) -> None:
        """``rows``: (event, layer) pairs, already sorted by onset; ``reasons``: why each
        rejected candidate (by id) was rejected."""
        self.beginResetModel()
        self._rows = list(rows)
        self._start = start
        self._reasons = dict(reasons or {})
        self.endResetModel()

    def row(self, i: int) -> tuple[Event, str]:
        return self._rows[i]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802 - Qt API
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        event, layer = self._rows[index.row()]
        col = index.column()
        info = EVENT_TYPES[event.type]
        if role == Qt.DisplayRole:
            if col == 0:
                return clock_text(self._start, event.onset)
            if col == 1:
                return f"{event.duration:.1f} s" if event.duration else ""
            if col == 2:
                return f"{info.code}  {info.label}"
            if col == 3:
                return ", ".join(event.channels)
            if col == 4:
                return layer if event.source.kind != "manual" or not event.source.name \
                    else f"{layer} ({event.source.name})"
            if col == 5:
                return "" if event.confidence is None else f"{event.confidence:.0%}"
            if col == 6:
                reason = self._reasons.get(event.id)
                return f"rejected: {reason}" if reason is not None \
                    else str(event.attributes.get("rule", ""))
        if role == Qt.ToolTipRole:
            return event.label or info.label
        if role == Qt.DecorationRole and col == 2:
            return QColor(info.colour)
        if role == Qt.BackgroundRole and col == 2:
            c = QColor(info.colour)
            c.setAlpha(50)
            return QBrush(c)
        return None


class EventsPanel(QWidget):
    """The study's events: type and source filters, counts, the indices, the list.

    Signals
    -------
    timeActivated(float)
        An event was double-clicked (its onset, s from the recording start).
    acceptAllRequested()
        Accept every automatic event the filters show.
    eventActivated(str)
        Its id.
    filtersChanged()
        The type or source filter changed (:meth:`hidden_types`, :meth:`hidden_layers`).
    rejectedShown(bool)
        The rejected candidates were asked to be shown (listed, and drawn on the traces) or
        hidden.
    """

    timeActivated = Signal(float)
    eventActivated = Signal(str)
    filtersChanged = Signal()
    acceptAllRequested = Signal()
    rejectedShown = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[Event, str]] = []
        self._rejected: list[tuple[Event, str, str]] = []
        self._start: _dt.datetime | None = None
        self.type_combo = QComboBox()
        self.type_combo.setToolTip("Show events of one type")
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Show events of one source (layer)")
        for combo in (self.type_combo, self.source_combo):
            combo.setFocusPolicy(Qt.ClickFocus)
            combo.currentIndexChanged.connect(self._on_filter)
        self.rejected_check = QCheckBox("Rejected candidates")
        self.rejected_check.setToolTip("List what the detectors considered and did not score, "
                                       "with the reason, and draw it on the traces (grey, "
                                       "hatched)")
        self.rejected_check.setFocusPolicy(Qt.ClickFocus)
        self.rejected_check.toggled.connect(lambda _on: self._apply())
        self.rejected_check.toggled.connect(self.rejectedShown)
        self.accept_button = QPushButton("Accept shown")
        self.accept_button.setToolTip("Accept every automatic event the filters show")
        self.accept_button.setFocusPolicy(Qt.ClickFocus)
        self.accept_button.clicked.connect(self.acceptAllRequested)
        self.counts_label = QLabel()
        self.counts_label.setWordWrap(True)
        self.indices_label = QLabel()
        self.indices_label.setWordWrap(True)
        self.indices_label.setTextFormat(Qt.RichText)
        self.model = EventsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        # Sizing columns to every row would ask a 10,000-event table for all its cells on each
        # edit; the first rows tell the widths well enough.
        self.table.horizontalHeader().setResizeContentsPrecision(_SIZE_ROWS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.setFocusPolicy(Qt.ClickFocus)

        filters = QHBoxLayout()
        filters.addWidget(self.type_combo, 1)
        filters.addWidget(self.source_combo, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.rejected_check)
        actions.addStretch(1)
        actions.addWidget(self.accept_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(filters)
        lay.addLayout(actions)
        lay.addWidget(self.counts_label)
        lay.addWidget(self.indices_label)
        lay.addWidget(self.table, 1)
        self._fill_combos()

    # ------------------------------------------------------------------ content
    def set_events(self, rows: Sequence[tuple[Event, str]], start: _dt.datetime | None,
                   rejected: Sequence[tuple[Event, str, str]] = ()) -> None:
        """Every event of the study as (event, layer) pairs sorted by onset, and the
        candidates the detectors rejected as (event, layer, reason)."""
        self._rows = list(rows)
        self._rejected = list(rejected)
        self._start = start
        self._fill_combos()
        self._apply()

    def set_indices(self, table: Any, n_scored: int | None = None) -> None:
        """Show the night's indices of the scored events (an
        :class:`~sleepfm_engine.indices.IndexTable`; None clears them).

        ``n_scored`` (the scored events behind them) is said first: an AHI of 0.0 over no
        scored event at all means "nothing scored or accepted yet", not "no apnea".
        """
        if table is None:
            self.indices_label.clear()
            return
        parts = [f"<b>{key}</b> {table.format(key)}" for key in INDICES_SHOWN]
        if n_scored is None:
            head = "Scored: "
        elif n_scored == 0:
            head = "Scored: no events yet (score or accept some) · "
        else:
            head = f"Scored ({n_scored} event{'s' if n_scored != 1 else ''}): "
        self.indices_label.setText(head + " · ".join(parts) + " /h")

    def _fill_combos(self) -> None:
        types = sorted({e.type for e, _ in self._rows}, key=list(EventType).index)
        layers = list(dict.fromkeys([layer for _, layer in self._rows]
                                    + [layer for _, layer, _ in self._rejected]))
        for combo, items, every in ((self.type_combo, [(EVENT_TYPES[t].label, t) for t in types],
                                     "All types"),
                                    (self.source_combo, [(n, n) for n in layers], "All sources")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(every, None)
            for text, data in items:
                combo.addItem(text, data)
            i = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(i, 0))
            combo.blockSignals(False)

    def _on_filter(self) -> None:
        self._apply()
        self.filtersChanged.emit()

    def _apply(self) -> None:
        kind, layer = self.type_combo.currentData(), self.source_combo.currentData()
        shown = [(e, s) for e, s in self._rows
                 if (kind is None or e.type == kind) and (layer is None or s == layer)]
        reasons: dict[str, str] = {}
        if self.rejected_check.isChecked():
            rejected = [(e, s, r) for e, s, r in self._rejected
                        if (kind is None or e.type == kind) and (layer is None or s == layer)]
            reasons = {e.id: r for e, _, r in rejected}
            listed = shown + [(e, s) for e, s, _ in rejected]
            self.model.set_rows(sorted(listed, key=lambda es: (es[0].onset, es[0].id)),
                                self._start, reasons)
        else:
            self.model.set_rows(shown, self._start)
        tally: dict[EventType, int] = {}
        for e, _ in shown:
            tally[e.type] = tally.get(e.type, 0) + 1
        text = ", ".join(f"{EVENT_TYPES[t].code} {n}" for t, n in
                         sorted(tally.items(), key=lambda tn: list(EventType).index(tn[0])))
        self.counts_label.setText(f"{len(shown)} of {len(self._rows)} events"
                                  + (f": {text}" if text else "")
                                  + (f"; {len(reasons)} rejected candidates listed"
                                     if reasons else ""))

    # ------------------------------------------------------------------ filters
    def hidden_types(self) -> set[EventType]:
        """Types the type filter hides (all but the chosen one; none for "All types")."""
        kind = self.type_combo.currentData()
        return set() if kind is None else set(EventType) - {kind}

    def hidden_layers(self) -> set[str]:
        layer = self.source_combo.currentData()
        layers = {s for _, s in self._rows}
        return set() if layer is None else layers - {layer}

    def set_type_filter(self, kind: EventType | None) -> None:
        self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(kind))
                                        if kind is not None else 0)

    def set_source_filter(self, layer: str | None) -> None:
        self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(layer))
                                          if layer is not None else 0)

    def _on_double_click(self, index) -> None:
        event, _ = self.model.row(index.row())
        self.timeActivated.emit(event.onset)
        self.eventActivated.emit(event.id)


class EventKeysDialog(QDialog):
    """Edit which key scores which event type (one key per type, or none).

    Parameters
    ----------
    keys : EventKeyMap
        The bindings to start from.

    Attributes
    ----------
    result_keys : EventKeyMap or None
        The edited bindings once accepted.
    """

    def __init__(self, keys: EventKeyMap, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Event keys")
        self.result_keys: EventKeyMap | None = None
        first = {t: k for k, t in reversed(keys.items())}
        self.edits: dict[EventType, QLineEdit] = {}
        form = QFormLayout()
        for t in EventType:
            edit = QLineEdit(first.get(t, ""))
            edit.setPlaceholderText("no key")
            edit.setMaximumWidth(120)
            self.edits[t] = edit
            form.addRow(EVENT_TYPES[t].label, edit)
        inner = QWidget()
        inner.setLayout(form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        self.message = QLabel("A key scores its type on a dragged span, or changes the type of "
                              "the selected event.")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel
                                   | QDialogButtonBox.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.RestoreDefaults).clicked.connect(self._defaults)
        lay = QVBoxLayout(self)
        lay.addWidget(self.message)
        lay.addWidget(scroll, 1)
        lay.addWidget(buttons)
        self.resize(380, 560)

    def _defaults(self) -> None:
        first = {t: k for k, t in reversed(EventKeyMap().items())}
        for t, edit in self.edits.items():
            edit.setText(first.get(t, ""))

    def keys(self) -> EventKeyMap:
        """The bindings typed in.

        Raises
        ------
        ValueError
            If a key cannot be read or is given to two types (the message names them).
        """
        out = EventKeyMap({})
        owner: dict[str, EventType] = {}
        for t, edit in self.edits.items():
            text = edit.text().strip()
            if not text:
                continue
            key = normalize_key(text)
            if key in owner:
                raise ValueError(f"{key} is given to both {EVENT_TYPES[owner[key]].label} and "
                                 f"{EVENT_TYPES[t].label}")
            owner[key] = t
            out.bind(key, t)
        return out

    def accept(self) -> None:
        try:
            self.result_keys = self.keys()
        except ValueError as exc:
            self.message.setText(f"<span style='color:#B2182B'>{exc}</span>")
            return
        super().accept()
