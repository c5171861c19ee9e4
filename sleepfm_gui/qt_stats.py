"""AASM sleep statistics of the manual and automatic hypnograms, and their agreement.

A thin view over :meth:`sleepfm_engine.scoring.ScoringSession.statistics`: a table of the AASM
summary measures (manual and automatic side by side, definitions as tooltips) and the
epoch-by-epoch agreement (accuracy, Cohen's kappa, macro F1, confusion matrix with the manual
scoring as reference).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from sleepfm_engine.hypnogram import STAGE_COLORS, STAGE_LONG_NAMES
from sleepfm_engine.sleep_stats import MISSING, STATISTICS_DEFINITIONS, STATISTICS_LABELS, format_statistic

#: Rows of the statistics table, in clinical report order.
ROWS: tuple[str, ...] = ("TRT", "TST", "SPT", "SE", "SOL", "WASO", "REM_latency", "W_min",
                         "N1_min", "N2_min", "N3_min", "R_min", "N1_pct", "N2_pct", "N3_pct",
                         "R_pct", "unscored_min", "no_data_min", "artefact_min", "awakenings",
                         "stage_shifts")
_UNITS = {"min": "min", "%": "%", "count": "", "epoch": "", "s": "s"}
#: Rows of the statistics table that stay visible however small the panel (it scrolls for more).
MIN_VISIBLE_ROWS = 5
_ROW_HEIGHT = 20


def row_label(key: str) -> str:
    """Row title with its unit, e.g. ``"Total sleep time (min)"``."""
    unit = _UNITS.get(STATISTICS_DEFINITIONS.get(key, ("", ""))[0], "")
    label = STATISTICS_LABELS.get(key, key)
    if key.endswith("_pct"):
        return label
    return f"{label} ({unit})" if unit else label


def _ro_table(rows: int, cols: int) -> QTableWidget:
    t = QTableWidget(rows, cols)
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.NoSelection)
    t.setFocusPolicy(Qt.NoFocus)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setDefaultSectionSize(_ROW_HEIGHT)
    return t


def _rows_height(table: QTableWidget, rows: int) -> int:
    """Height of ``table`` showing its header and ``rows`` rows."""
    return (table.horizontalHeader().sizeHint().height() + rows * _ROW_HEIGHT
            + 2 * table.frameWidth() + 2)


class StatsView(QWidget):
    """Statistics table (manual, automatic) and agreement (accuracy, kappa, confusion matrix)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = _ro_table(len(ROWS), 2)
        self.table.setHorizontalHeaderLabels(["Manual", "Automatic"])
        self.table.setVerticalHeaderLabels([row_label(k) for k in ROWS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        for r, key in enumerate(ROWS):
            tip = STATISTICS_DEFINITIONS.get(key, ("", ""))[1]
            self.table.verticalHeaderItem(r).setToolTip(tip)
            for c in range(2):
                item = QTableWidgetItem(MISSING)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                item.setToolTip(tip)
                self.table.setItem(r, c, item)
        self.table.setMinimumWidth(300)
        # The splitter above would otherwise leave the table one row (issue 12).
        self.table.setMinimumHeight(_rows_height(self.table, MIN_VISIBLE_ROWS))

        self.summary = QLabel()
        self.summary.setTextFormat(Qt.RichText)
        self.summary.setWordWrap(True)
        self.summary.setObjectName("agreementSummary")
        self.stage_names = ["W", "N1", "N2", "N3", "R"]
        heads = [STAGE_LONG_NAMES.get(s, s) for s in self.stage_names]
        self.confusion = _ro_table(len(heads), len(heads) + 1)
        self.confusion.setAlternatingRowColors(False)
        self.confusion.setHorizontalHeaderLabels(heads + ["F1"])
        self.confusion.setVerticalHeaderLabels(heads)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.confusion.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        for i, s in enumerate(self.stage_names):
            for hdr in (self.confusion.horizontalHeaderItem(i), self.confusion.verticalHeaderItem(i)):
                hdr.setForeground(QBrush(QColor(STAGE_COLORS[s]).darker(130)))
                f = hdr.font()
                f.setBold(True)
                hdr.setFont(f)
        # It scrolls when short: its minimum must not set the height of the whole panel, which
        # the statistics table beside it needs more (issue 12).
        self.confusion.setMinimumHeight(_rows_height(self.confusion, 2))
        self.confusion.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        axis_note = QLabel("Rows: manual (reference) \u00b7 columns: automatic")
        axis_note.setStyleSheet("color: #555;")

        agree = QGroupBox("Agreement (automatic vs manual)")
        av = QVBoxLayout(agree)
        av.addWidget(self.summary)
        av.addWidget(axis_note)
        av.addWidget(self.confusion, 1)
        self.agreement_box = agree

        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table, 1)
        lay.addWidget(agree, 1)
        self._stats: dict | None = None
        self.set_statistics(None)

    # -- content -----------------------------------------------------------------------------
    @property
    def statistics(self) -> dict | None:
        """The statistics shown (as given to :meth:`set_statistics`)."""
        return self._stats

    def value_text(self, key: str, which: str = "manual") -> str:
        """Text shown for statistic ``key`` in column ``which`` ("manual" or "auto")."""
        col = {"manual": 0, "auto": 1}[which]
        return self.table.item(ROWS.index(key), col).text()

    def set_statistics(self, stats: dict | None) -> None:
        """Show ``{"manual": dict|None, "auto": dict|None, "agreement": dict|None}``."""
        self._stats = stats
        stats = stats or {}
        for c, which in enumerate(("manual", "auto")):
            col = stats.get(which) or {}
            for r, key in enumerate(ROWS):
                self.table.item(r, c).setText(format_statistic(key, col.get(key)))
        self._set_agreement(stats.get("agreement"))

    def _set_agreement(self, ag: dict | None) -> None:
        n = len(self.stage_names)
        if not ag or not ag.get("n_compared"):
            why = ("no automatic hypnogram yet" if ag is None
                   else "no epoch is scored in both hypnograms yet")
            self.summary.setText(f"<i>Agreement: {why}.</i>")
            for r in range(n):
                for c in range(n + 1):
                    self._cell(r, c, "", None)
            return

        def pct(v):
            return MISSING if v is None else f"{100 * v:.1f}&nbsp;%"

        def num(v):
            return MISSING if v is None else f"{v:.2f}"

        self.summary.setText(
            f"Accuracy <b>{pct(ag.get('accuracy'))}</b> &nbsp;\u00b7&nbsp; Cohen's \u03ba "
            f"<b>{num(ag.get('kappa'))}</b> &nbsp;\u00b7&nbsp; macro F1 {num(ag.get('macro_f1'))}"
            f"<br>{ag['n_compared']} epochs compared, {ag.get('n_excluded', 0)} left out "
            f"(unscored or artefact in either)")
        labels = ag.get("labels", self.stage_names)
        cm = ag["confusion_matrix"]
        row_max = max(1, max(max(r) for r in cm))
        for i, si in enumerate(self.stage_names):
            if si not in labels:
                continue
            ri = labels.index(si)
            for j, sj in enumerate(self.stage_names):
                if sj not in labels:
                    continue
                v = int(cm[ri][labels.index(sj)])
                shade = None
                if v:
                    alpha = int(40 + 160 * v / row_max)
                    shade = QColor(46, 160, 67, alpha) if i == j else QColor(214, 39, 40, alpha // 2)
                self._cell(i, j, str(v), shade, bold=(i == j))
            f1 = (ag.get("f1") or {}).get(si)
            self._cell(i, n, MISSING if f1 is None else f"{f1:.2f}", None)

    def _cell(self, r: int, c: int, text: str, color: QColor | None, bold: bool = False) -> None:
        item = self.confusion.item(r, c)
        if item is None:
            item = QTableWidgetItem()
            item.setTextAlignment(Qt.AlignCenter)
            self.confusion.setItem(r, c, item)
        item.setText(text)
        item.setBackground(QBrush(color) if color is not None else QBrush())
        f = QFont(item.font())
        f.setBold(bold)
        item.setFont(f)

    def confusion_counts(self) -> list[list[int]]:
        """The confusion matrix as shown (0 where empty)."""
        n = len(self.stage_names)
        return [[int(self.confusion.item(r, c).text() or 0) for c in range(n)] for r in range(n)]


__all__ = ["StatsView", "ROWS", "MIN_VISIBLE_ROWS", "row_label"]
