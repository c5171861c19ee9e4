"""Views of the fine-tune dialog: live training curves and the confusion matrix.

:class:`TrainingCurves` draws the engine's training events (loss per optimiser step and per
epoch, validation metrics per epoch) with pyqtgraph; :class:`ConfusionTable` shows a staging
confusion matrix shaded by row. Both only display numbers the engine computed.
"""
from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QTableWidget,
                               QTableWidgetItem, QWidget)

__all__ = ["TrainingCurves", "ConfusionTable", "EPOCH_METRICS", "format_duration", "format_value"]

#: Validation metrics drawn per epoch: key → (legend, colour).
EPOCH_METRICS: dict[str, tuple[str, str]] = {
    "accuracy": ("accuracy", "#1f77b4"),
    "kappa": ("Cohen's kappa", "#d62728"),
    "macro_f1": ("macro F1", "#2ca02c"),
    "mean_c_index": ("mean C-index", "#9467bd"),
    "retrieval_accuracy": ("retrieval accuracy", "#8c564b"),
}


def format_duration(seconds: float | None) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"12 s"``, or ``"–"`` when unknown."""
    if seconds is None or not seconds == seconds or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def format_value(value: Any, digits: int = 3) -> str:
    """A metric for a table: ``digits`` decimals, integers as they are, ``"–"`` for None."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


# ------------------------------------------------------------------------------------ curves
class TrainingCurves(QWidget):
    """Live training curves: loss per step and per epoch (left), validation metrics (right).

    Both plots share an x axis in epochs: step ``s`` of a run with ``k`` steps per epoch is
    drawn at ``s / k``, the end of epoch ``e`` at ``e``. Updates are coalesced (at most a few
    redraws per second) so fast training does not flood the GUI.
    """

    def __init__(self, parent: QWidget | None = None, redraw_ms: int = 150):
        super().__init__(parent)
        self.loss_plot = pg.PlotWidget(background="w")
        self.metric_plot = pg.PlotWidget(background="w")
        # Loss falls (legend top right is free), scores rise (legend bottom right is free).
        for plot, title, left, corner in ((self.loss_plot, "Loss", "loss", (-10, 10)),
                                          (self.metric_plot, "Validation", "score", (-10, -10))):
            plot.setTitle(title, color="#222", size="10pt")
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", left)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.addLegend(offset=corner, labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 220))
        self.metric_plot.setXLink(self.loss_plot)
        self._step_curve = self.loss_plot.plot(pen=pg.mkPen("#7fa7d6", width=1.2), name="training loss (step)")
        self._train_curve = self.loss_plot.plot(pen=pg.mkPen("#1f3f77", width=2), symbol="o", symbolSize=7,
                                                symbolBrush="#1f3f77", symbolPen=None,
                                                name="training loss (epoch)")
        self._val_loss_curve = None
        self._metric_curves: dict[str, Any] = {}
        self._best_line = pg.InfiniteLine(angle=90, movable=False,
                                          pen=pg.mkPen("#555", width=1, style=Qt.DashLine),
                                          label="best", labelOpts={"position": 0.92, "color": "#555"})
        self._best_line.setVisible(False)
        self.metric_plot.addItem(self._best_line)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.loss_plot, 1)
        lay.addWidget(self.metric_plot, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(redraw_ms))
        self._timer.timeout.connect(self.redraw)
        self.reset()

    def reset(self) -> None:
        """Forget every point (a new run)."""
        self.steps_per_epoch = 1
        self.step_x: list[float] = []
        self.step_loss: list[float] = []
        self.epoch_x: list[int] = []
        self.train_loss: list[float] = []
        self.val_loss: list[float | None] = []
        self.metrics: dict[str, list[float | None]] = {}
        self.best_epoch: int | None = None
        self._best_line.setVisible(False)
        self._dirty = True
        self.redraw()

    def set_steps_per_epoch(self, n: int) -> None:
        self.steps_per_epoch = max(1, int(n))

    def add_step(self, step: int, loss: float | None) -> None:
        """A training-loss point after optimiser step ``step`` (1-based, whole run)."""
        if loss is None:
            return
        self.step_x.append(step / self.steps_per_epoch)
        self.step_loss.append(float(loss))
        self._schedule()

    def add_epoch(self, epoch: int, train_loss: float | None, metrics: dict | None) -> None:
        """The end of epoch ``epoch`` (1-based): its mean training loss and validation metrics."""
        metrics = metrics or {}
        self.epoch_x.append(int(epoch))
        self.train_loss.append(float("nan") if train_loss is None else float(train_loss))
        self.val_loss.append(metrics.get("loss"))
        n = len(self.epoch_x)
        for key in EPOCH_METRICS:
            value = metrics.get(key)
            if value is None and key not in self.metrics:
                continue
            series = self.metrics.setdefault(key, [None] * (n - 1))
            series.append(value)
        for key, series in self.metrics.items():
            if len(series) < n:
                series.append(None)
        self._schedule()

    def load_history(self, history: list[dict]) -> None:
        """Epoch points of an earlier part of the run (``training/history.json``), for Resume."""
        for rec in history:
            self.add_epoch(int(rec.get("epoch", len(self.epoch_x) + 1)), rec.get("train_loss"),
                           rec.get("validation") or {})

    def mark_best(self, epoch: int) -> None:
        self.best_epoch = int(epoch)
        self._schedule()

    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        """Push the collected points into the plots now."""
        if not self._dirty:
            return
        self._dirty = False
        nan = float("nan")
        self._step_curve.setData(self.step_x, self.step_loss)
        self._train_curve.setData(self.epoch_x, self.train_loss)
        if any(v is not None for v in self.val_loss):
            if self._val_loss_curve is None:
                self._val_loss_curve = self.loss_plot.plot(
                    pen=pg.mkPen("#ff7f0e", width=2), symbol="s", symbolSize=7, symbolBrush="#ff7f0e",
                    symbolPen=None, name="validation loss", connect="finite")
            self._val_loss_curve.setData(self.epoch_x, [nan if v is None else v for v in self.val_loss])
        for key, series in self.metrics.items():
            if all(v is None for v in series):
                continue
            curve = self._metric_curves.get(key)
            if curve is None:
                label, colour = EPOCH_METRICS[key]
                curve = self.metric_plot.plot(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                                              symbolBrush=colour, symbolPen=None, name=label,
                                              connect="finite")
                self._metric_curves[key] = curve
            curve.setData(self.epoch_x, [nan if v is None else v for v in series])
        if self.best_epoch is not None:
            self._best_line.setPos(self.best_epoch)
            self._best_line.setVisible(True)


# ---------------------------------------------------------------------------- result widgets
class ConfusionTable(QTableWidget):
    """A confusion matrix: counts, shaded by the share of each reference row."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.matrix: list[list[int]] = []

    def set_matrix(self, matrix: list[list[int]], labels: list[str]) -> None:
        """Show ``matrix`` (rows: reference, columns: predicted) with stage ``labels``."""
        self.matrix = [[int(v) for v in row] for row in matrix]
        n = len(labels)
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"→ {s}" for s in labels])
        self.setVerticalHeaderLabels([f"{s}" for s in labels])
        for r, row in enumerate(self.matrix):
            total = sum(row)
            for c, v in enumerate(row):
                share = v / total if total else 0.0
                item = QTableWidgetItem(str(v))
                item.setTextAlignment(Qt.AlignCenter)
                # White to a deep blue by the row share, so each reference stage reads on its own.
                item.setBackground(QColor(int(255 - 212 * share), int(255 - 147 * share), int(255 - 79 * share)))
                item.setForeground(QColor("#ffffff" if share > 0.55 else "#111111"))
                item.setToolTip(f"reference {labels[r]}, predicted {labels[c]}: {v} epochs"
                                + (f" ({100 * share:.0f}% of {labels[r]})" if total else ""))
                self.setItem(r, c, item)
