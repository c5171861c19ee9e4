"""Whole-night hypnogram view: manual and automatic hypnograms and a hypnodensity strip.

AASM display convention: stages top to bottom W, R, N1, N2, N3 (:data:`PLOT_ORDER`), the line
drawn in black with REM periods as thick red bars; unscored epochs are gaps over a hatched grey
band, artefact/movement epochs gaps over a solid grey band. The hypnodensity strip stacks the
per-epoch stage probabilities in the same vertical order (W on top), in the stage colours of
:data:`sleepfm_engine.hypnogram.STAGE_COLORS`. A click or a drag anywhere on the view selects
an epoch (``epochClicked``); Shift+click asks to extend a selection (``epochShiftClicked``).
"""
from __future__ import annotations

import datetime as _dt
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QGraphicsItem

from sleepfm_engine.hypnogram import (ARTEFACT, PLOT_ORDER, STAGE_CODES, STAGE_COLORS, STAGES,
                                      UNSCORED)

#: y level of every stage code on a hypnogram plot (W highest).
_LEVEL = {STAGE_CODES[name]: len(PLOT_ORDER) - 1 - i for i, name in enumerate(PLOT_ORDER)}
_R_LEVEL = _LEVEL[STAGE_CODES["R"]]
# Stack order of the hypnodensity from the bottom up, so that W ends on top as on the hypnogram.
_DENSITY_ORDER = [STAGE_CODES[name] for name in reversed(PLOT_ORDER)]
_DENSITY_ROWS = 64
_LINE_COLOR = "#202020"
_CURSOR_COLOR = "#00A651"
_DISAGREE_COLOR = "#FF7F0E"
# A selection must read at a glance over black step lines and grey bands: a clear fill and edges.
_SELECT_COLOR = (0, 166, 81, 95)
_SELECT_EDGE = "#00753A"
_LEFT_AXIS_WIDTH = 78


def stage_levels(stages: np.ndarray) -> np.ndarray:
    """y level of every epoch on a hypnogram plot (NaN for unscored and artefact)."""
    lut = np.full(len(STAGES) + 2, np.nan)
    for code, level in _LEVEL.items():
        lut[code - ARTEFACT] = level
    return lut[np.asarray(stages, dtype=np.int64) - ARTEFACT]


def step_xy(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points of a step line over epochs: epoch i spans x in [i, i + 1] at ``levels[i]``."""
    n = levels.shape[0]
    x = (np.repeat(np.arange(n, dtype=np.float64), 2) + np.tile([0.0, 1.0], n))
    return x, np.repeat(levels.astype(np.float64), 2)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of True in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return starts, stops - starts


def density_image(probabilities: np.ndarray, rows: int = _DENSITY_ROWS) -> np.ndarray:
    """RGBA image (rows, n_epochs, 4), row 0 at the bottom, of stacked stage probabilities."""
    p = np.asarray(probabilities, dtype=np.float64)
    colors = np.array([QColor(STAGE_COLORS[STAGES[c]]).getRgb() for c in _DENSITY_ORDER]
                      + [QColor(STAGE_COLORS["?"]).getRgb()], dtype=np.uint8)
    ok = np.all(np.isfinite(p), axis=1)
    stacked = np.where(ok[:, None], p[:, _DENSITY_ORDER], 0.0)
    total = stacked.sum(axis=1, keepdims=True)
    stacked = np.divide(stacked, total, out=np.zeros_like(stacked), where=total > 0)
    cum = np.cumsum(stacked, axis=1)  # (n, 5)
    levels = (np.arange(rows) + 0.5) / rows
    which = (levels[:, None, None] > cum[None, :, :]).sum(axis=2)  # (rows, n) in 0..5
    which = np.minimum(which, len(_DENSITY_ORDER) - 1)
    which[:, ~ok] = len(_DENSITY_ORDER)
    return colors[which]


def _cache(item: QGraphicsItem) -> None:
    """Keep ``item`` as a pixmap of its device pixels until its data or the view changes.

    A page flip only moves the current-epoch cursors; without the cache every whole-night item
    under a cursor's old and new place (step lines, bands, hypnodensity, grid) was redrawn.
    """
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def clock_ticks(t0: float, t1: float,
                start: _dt.datetime | None) -> list[tuple[float, list[float]]]:
    """Major and minor ticks over ``[t0, t1]`` seconds from the recording start, on clock-time
    boundaries (whole hours, half hours or ten minutes by the span), as ``[(step, [seconds])]``.

    Every whole-night view (hypnogram, trends, the traces' overview) ticks with this rule, so
    that their ticks fall at the same clock times.
    """
    span_h = (t1 - t0) / 3600.0
    if span_h <= 0:
        return []
    major_s = 3600.0 if span_h > 3 else 1800.0 if span_h > 1 else 600.0
    minor_s = major_s / 2 if span_h <= 12 else major_s
    origin = 0.0
    if start is not None:
        # Ticks on clock-time boundaries, not on whole hours after the start.
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        origin = (start - midnight).total_seconds()
    out = []
    for step in (major_s, minor_s):
        t = math.ceil((t0 + origin) / step - 1e-9) * step - origin
        ts = []
        while t <= t1 + 1e-9:
            ts.append(t)
            t += step
        out.append((step, ts))
    return out


class TimeAxis(pg.AxisItem):
    """Bottom axis over epochs that prints clock times (or elapsed hours) on whole hours."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch_length = 30.0
        self.offset = 0.0
        self.start: _dt.datetime | None = None

    def configure(self, epoch_length: float, offset: float, start: _dt.datetime | None) -> None:
        self.epoch_length, self.offset, self.start = float(epoch_length), float(offset), start
        self.picture = None
        self.update()

    def _seconds(self, x: float) -> float:
        return self.offset + x * self.epoch_length

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (Qt naming)
        return [(step / self.epoch_length, [(t - self.offset) / self.epoch_length for t in ts])
                for step, ts in clock_ticks(self._seconds(minVal), self._seconds(maxVal),
                                            self.start)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        out = []
        for x in values:
            s = self._seconds(x)
            if self.start is not None:
                out.append((self.start + _dt.timedelta(seconds=round(s))).strftime("%H:%M"))
            else:
                m = int(round(s / 60.0))
                out.append(f"{m // 60}:{m % 60:02d}")
        return out


class StageAxis(pg.AxisItem):
    """Left axis naming the stage levels (W, R, N1, N2, N3)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = {"R": "REM"}
        ticks = [(_LEVEL[STAGE_CODES[s]], names.get(s, s)) for s in PLOT_ORDER]
        self.setTicks([ticks, []])


class _Track:
    """One hypnogram (step line, REM bars, unscored/artefact bands) inside a PlotItem."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.bands_unscored = pg.BarGraphItem(x0=[], width=[], y0=[], height=[],
                                              brush=QBrush(QColor(150, 150, 150), Qt.BDiagPattern),
                                              pen=pg.mkPen(None))
        self.bands_artefact = pg.BarGraphItem(x0=[], width=[], y0=[], height=[],
                                              brush=QBrush(QColor(STAGE_COLORS["A"] + "90")),
                                              pen=pg.mkPen(None))
        self.line = pg.PlotDataItem(pen=pg.mkPen(_LINE_COLOR, width=1.4), connect="finite")
        self.rem = pg.PlotDataItem(pen=pg.mkPen(STAGE_COLORS["R"], width=6,
                                                cap=Qt.FlatCap), connect="finite")
        self.marks = pg.BarGraphItem(x0=[], width=[], y0=[], height=[],
                                     brush=QBrush(QColor(_DISAGREE_COLOR)), pen=pg.mkPen(None))
        self.empty_text = pg.TextItem("", color="#555555", anchor=(0.5, 0.5))
        for item in (self.bands_unscored, self.bands_artefact, self.line, self.rem, self.marks):
            plot.addItem(item)
        for item in (self.bands_unscored, self.bands_artefact, self.line.curve, self.rem.curve,
                     self.marks):
            _cache(item)
        plot.addItem(self.empty_text, ignoreBounds=True)

    def set_stages(self, stages: np.ndarray | None, empty_message: str = "") -> None:
        if stages is None:
            stages = np.zeros(0, dtype=np.int8)
        n = stages.shape[0]
        levels = stage_levels(stages)
        x, y = step_xy(levels)
        self.line.setData(x, y)
        rem = np.where(np.asarray(stages) == STAGE_CODES["R"], float(_R_LEVEL), np.nan)
        self.rem.setData(*step_xy(rem))
        top, bottom = len(PLOT_ORDER) - 0.5, -0.5
        for band, code in ((self.bands_unscored, UNSCORED), (self.bands_artefact, ARTEFACT)):
            s, w = runs(np.asarray(stages) == code)
            band.setOpts(x0=s, width=w, y0=np.full(s.shape, bottom),
                         height=np.full(s.shape, top - bottom))
        scored = bool(n) and bool(np.any(np.asarray(stages) >= 0))
        self.empty_text.setText("" if scored or not empty_message else empty_message)
        self.empty_text.setPos(n / 2 if n else 0, (top + bottom) / 2)

    def set_marks(self, mask: np.ndarray | None) -> None:
        if mask is None:
            mask = np.zeros(0, dtype=bool)
        s, w = runs(mask)
        top = len(PLOT_ORDER) - 0.5
        self.marks.setOpts(x0=s, width=w, y0=np.full(s.shape, top - 0.28),
                           height=np.full(s.shape, 0.28))


class HypnogramView(pg.GraphicsLayoutWidget):
    """Manual hypnogram, automatic hypnogram and hypnodensity over the whole night.

    Signals
    -------
    epochClicked(int)
        The user clicked or dragged to an epoch.
    epochShiftClicked(int)
        The user Shift+clicked an epoch (to extend a selection).
    """

    epochClicked = Signal(int)
    epochShiftClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.ci.setContentsMargins(4, 4, 10, 2)
        self.ci.layout.setVerticalSpacing(2)
        self._n = 1
        self._current = 0
        self._dragging = False
        self._stages_manual: np.ndarray | None = None
        self._stages_auto: np.ndarray | None = None

        self._time_axes: list[TimeAxis] = []
        self.time_axis = TimeAxis(orientation="bottom")
        self.manual_plot = self._make_plot("Manual", StageAxis(orientation="left"), row=0)
        # "Auto", not "Automatic": written upwards, the long word outgrew its track at the
        # view's minimum height and ran into the titles above and below it.
        self.auto_plot = self._make_plot("Auto", StageAxis(orientation="left"), row=1)
        self.auto_plot.getAxis("left").setToolTip("Automatic staging (SleepFM)")
        self.density_plot = self._make_plot("Hypnodensity", None, row=2,
                                            bottom=self.time_axis)
        # Named by a horizontal tick label, not a rotated title: the short strip has no room
        # for "Hypnodensity" written upwards, which ran into the title of the track above.
        self.density_plot.getAxis("left").showLabel(False)
        self.density_plot.getAxis("left").setTicks([[(0.5, "Density")], []])
        self.density_plot.getAxis("left").setToolTip(
            "Hypnodensity: the automatic staging's probability of each stage, per epoch")
        self.density_plot.setYRange(0, 1, padding=0)
        self.density_image = pg.ImageItem(axisOrder="row-major")
        self.density_plot.addItem(self.density_image)
        _cache(self.density_image)
        self.density_empty = pg.TextItem("", color="#555555", anchor=(0.5, 0.5))
        self.density_plot.addItem(self.density_empty, ignoreBounds=True)
        self.manual = _Track(self.manual_plot)
        self.auto = _Track(self.auto_plot)

        self._cursors = []
        self._selections = []
        for p in (self.manual_plot, self.auto_plot, self.density_plot):
            line = pg.InfiniteLine(pos=0.5, angle=90, movable=False,
                                   pen=pg.mkPen(_CURSOR_COLOR, width=2))
            line.setZValue(20)
            p.addItem(line, ignoreBounds=True)
            self._cursors.append(line)
            region = pg.LinearRegionItem(values=(0, 0), movable=False,
                                         brush=pg.mkBrush(*_SELECT_COLOR),
                                         pen=pg.mkPen(_SELECT_EDGE, width=2))
            region.setZValue(15)
            region.hide()
            p.addItem(region, ignoreBounds=True)
            self._selections.append(region)

        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 3)
        self.ci.layout.setRowStretchFactor(2, 2)
        # Low enough that the statistics table below keeps several rows in the default layout.
        self.setMinimumHeight(180)
        self.set_geometry(1, 30.0, 0.0, None)

    # -- construction ------------------------------------------------------------------------
    def _make_plot(self, title: str, left: pg.AxisItem | None, row: int,
                   bottom: pg.AxisItem | None = None) -> pg.PlotItem:
        axes = {}
        if left is not None:
            axes["left"] = left
        # Every plot gets a clock axis so that the grid lines fall on the same hours.
        self._time_axes.append(bottom or TimeAxis(orientation="bottom"))
        axes["bottom"] = self._time_axes[-1]
        plot = self.addPlot(row=row, col=0, axisItems=axes)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.vb.setDefaultPadding(0)
        plot.getAxis("left").setWidth(_LEFT_AXIS_WIDTH)
        plot.getAxis("left").setLabel(title)
        plot.getAxis("left").setPen(pg.mkPen("#444444"))
        plot.getAxis("left").setTextPen(pg.mkPen("#202020"))
        plot.getAxis("left").setStyle(tickTextOffset=4)
        plot.getAxis("bottom").setPen(pg.mkPen("#444444"))
        plot.getAxis("bottom").setTextPen(pg.mkPen("#202020"))
        if bottom is None:
            plot.getAxis("bottom").setStyle(showValues=False, tickLength=0)
            plot.getAxis("bottom").setHeight(2)
        plot.showGrid(x=True, y=False, alpha=0.25)
        _cache(plot.getAxis("bottom"))  # its grid lines span the plot, under the cursor
        plot.setYRange(-0.5, len(PLOT_ORDER) - 0.5, padding=0)
        if row > 0:
            plot.setXLink(self.manual_plot)
        return plot

    # -- data --------------------------------------------------------------------------------
    @property
    def n_epochs(self) -> int:
        return self._n

    def set_geometry(self, n_epochs: int, epoch_length: float, offset: float,
                     start: _dt.datetime | None) -> None:
        """Set the epochs shown (x runs over epoch indices) and the clock of the time axis."""
        self._n = max(1, int(n_epochs))
        for axis in self._time_axes:
            axis.configure(epoch_length, offset, start)
        # Limits first: the old ones would clip the new range.
        self.manual_plot.vb.setLimits(xMin=0, xMax=self._n)
        self.manual_plot.setXRange(0, self._n, padding=0)

    def set_manual(self, stages: np.ndarray | None) -> None:
        """Redraw the manual hypnogram."""
        self._stages_manual = None if stages is None else np.asarray(stages).copy()
        self.manual.set_stages(self._stages_manual, "Not scored yet")
        self._update_marks()

    def set_auto(self, stages: np.ndarray | None, probabilities: np.ndarray | None = None) -> None:
        """Redraw the automatic hypnogram and the hypnodensity (None: nothing to show)."""
        self._stages_auto = None if stages is None else np.asarray(stages).copy()
        self.auto.set_stages(self._stages_auto if stages is not None
                             else np.full(self._n, UNSCORED, np.int8),
                             "No automatic staging yet (run SleepFM staging)")
        if probabilities is None or np.asarray(probabilities).shape[0] == 0:
            self.density_image.clear()
            self.density_empty.setText("No stage probabilities" if stages is not None
                                       else "No automatic staging yet")
            self.density_empty.setPos(self._n / 2, 0.5)
        else:
            img = density_image(probabilities)
            self.density_image.setImage(img, autoLevels=False)
            self.density_image.setRect(QRectF(0, 0, img.shape[1], 1))
            self.density_empty.setText("")
        self._update_marks()

    def _update_marks(self) -> None:
        m, a = self._stages_manual, self._stages_auto
        if m is None or a is None or m.shape != a.shape:
            self.auto.set_marks(None)
            return
        self.auto.set_marks((m >= 0) & (a >= 0) & (m != a))

    def disagreement_mask(self) -> np.ndarray | None:
        """Epochs marked as disagreeing (what the orange marks show)."""
        m, a = self._stages_manual, self._stages_auto
        if m is None or a is None or m.shape != a.shape:
            return None
        return (m >= 0) & (a >= 0) & (m != a)

    # -- cursor and selection ----------------------------------------------------------------
    def set_current_epoch(self, epoch: int) -> None:
        """Move the current-epoch marker."""
        self._current = min(self._n - 1, max(0, int(epoch)))
        for line in self._cursors:
            line.setValue(self._current + 0.5)

    @property
    def current_epoch(self) -> int:
        return self._current

    def set_selection(self, start: int | None, stop: int | None = None) -> None:
        """Shade epochs ``start:stop`` (None hides the selection)."""
        for region in self._selections:
            if start is None:
                region.hide()
            else:
                region.setRegion((start, stop))
                region.show()

    # -- mouse -------------------------------------------------------------------------------
    def epoch_at(self, pos) -> int:
        """Epoch under a widget position (clipped to the night)."""
        scene = self.mapToScene(pos.toPoint() if isinstance(pos, QPointF) else pos)
        x = self.manual_plot.vb.mapSceneToView(scene).x()
        return min(self._n - 1, max(0, int(math.floor(x))))

    def pos_of_epoch(self, epoch: int, plot: pg.PlotItem | None = None):
        """Widget position of the middle of ``epoch`` on ``plot`` (for tests and tooltips)."""
        plot = plot or self.manual_plot
        view_pt = QPointF(epoch + 0.5, 2.0 if plot is not self.density_plot else 0.5)
        return self.mapFromScene(plot.vb.mapViewToScene(view_pt))

    def mousePressEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.LeftButton:
            epoch = self.epoch_at(ev.position())
            if ev.modifiers() & Qt.ShiftModifier:
                self.epochShiftClicked.emit(epoch)
            else:
                self._dragging = True
                self.epochClicked.emit(epoch)
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev):  # noqa: N802
        if self._dragging and ev.buttons() & Qt.LeftButton:
            epoch = self.epoch_at(ev.position())
            if epoch != self._current:
                self.epochClicked.emit(epoch)
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.LeftButton and self._dragging:
            self._dragging = False
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def wheelEvent(self, ev):  # noqa: N802
        ev.ignore()  # the whole night is always shown; let the parent scroll


__all__ = ["HypnogramView", "TimeAxis", "clock_ticks", "StageAxis", "stage_levels", "step_xy", "runs",
           "density_image"]
