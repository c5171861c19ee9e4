"""Whole-night trends panel: SpO2, heart rate, body position and event density.

The panel draws a :class:`sleepfm_engine.trends.Trends` on the hypnogram's x axis (epoch
indices, :class:`~sleepfm_gui.qt_hypnogram.TimeAxis` clock ticks, the same left-axis width
and margins), so that it lines up with the hypnogram above it. A click or a drag selects an
epoch (``epochClicked``). The trends are read by an engine job on a worker thread
(:meth:`TrendsPanel.load`); until they arrive every plot says so, and the first page of the
recording never waits on them. Event density is recomputed from the events alone
(:meth:`TrendsPanel.set_events`), without reading the recording again.
"""
from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from sleepfm_engine.events import EVENT_TYPES, Event
from sleepfm_engine.position import POSITIONS, UNKNOWN_POSITION
from sleepfm_engine.trends import (DEFAULT_DENSITY_MINUTES, EventDensity, LevelTrend, Trends,
                                   event_density, trends_job)

from .qt_hypnogram import _CURSOR_COLOR, _LEFT_AXIS_WIDTH, TimeAxis

__all__ = ["TrendsView", "TrendsPanel", "SPO2_AXIS"]

#: SpO2 axis (%): the clinical 80-100 % scale, widened only when a nadir falls below it.
SPO2_AXIS: tuple[float, float] = (80.0, 100.0)
_HR_AXIS = (40.0, 120.0)
_LINE = {"spo2": "#1F78B4", "heart_rate": "#CB181D"}
_BAND_ALPHA = 70
_TEXT = "#555555"


#: Pixels one line of axis text needs (the axis font at its default size).
_TEXT_LINE_PX = 13


class _ClickableLayout(pg.GraphicsLayoutWidget):
    """A layout whose clicks and drags select an epoch on the x axis of ``x_plot``."""

    epochClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._dragging = False
        self._n = 1
        self.x_plot: pg.PlotItem | None = None

    def epoch_at(self, pos) -> int:
        scene = self.mapToScene(pos.toPoint() if isinstance(pos, QPointF) else pos)
        x = self.x_plot.vb.mapSceneToView(scene).x()
        return min(self._n - 1, max(0, int(math.floor(x))))

    def mousePressEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.LeftButton and self.x_plot is not None:
            self._dragging = True
            self.epochClicked.emit(self.epoch_at(ev.position()))
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev):  # noqa: N802
        if self._dragging and ev.buttons() & Qt.LeftButton:
            self.epochClicked.emit(self.epoch_at(ev.position()))
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


class TrendsView(_ClickableLayout):
    """Four whole-night plots over epochs: SpO2, heart rate, body position, event density.

    Signals
    -------
    epochClicked(int)
        The user clicked or dragged to an epoch.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        # The hypnogram's margins and left-axis width: the two x axes line up.
        self.ci.setContentsMargins(4, 4, 10, 2)
        self.ci.layout.setVerticalSpacing(2)
        self._epoch_length = 30.0
        self._offset = 0.0
        self._time_axes: list[TimeAxis] = []
        # Short titles: written upwards, a long one runs past a short row into its neighbour.
        self.spo2_plot = self._make_plot("SpO2", 0, "SpO2 (%): mean line over the min-max band")
        self.hr_plot = self._make_plot("HR", 1, "Heart rate (bpm): mean line over the min-max band")
        self.position_plot = self._make_plot("Pos.", 2, "Body position")
        self.density_plot = self._make_plot("Ev/h", 3, "Events per hour, per type", last=True)
        self.x_plot = self.spo2_plot
        self.spo2_plot.setYRange(*SPO2_AXIS, padding=0)
        self.hr_plot.setYRange(*_HR_AXIS, padding=0)
        self._position_levels: dict[int, float] = {}
        self._label_positions(range(len(POSITIONS)))

        self._levels: dict[str, tuple[pg.PlotDataItem, pg.FillBetweenItem, pg.PlotDataItem,
                                      pg.PlotDataItem]] = {}
        for name, plot in (("spo2", self.spo2_plot), ("heart_rate", self.hr_plot)):
            low = pg.PlotDataItem(pen=pg.mkPen(None), connect="finite")
            high = pg.PlotDataItem(pen=pg.mkPen(None), connect="finite")
            colour = pg.mkColor(_LINE[name])
            colour.setAlpha(_BAND_ALPHA)
            band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(colour))
            mean = pg.PlotDataItem(pen=pg.mkPen(_LINE[name], width=1.2), connect="finite")
            for item in (low, high, band, mean):
                plot.addItem(item)
            self._levels[name] = (mean, band, low, high)
        self.position_line = pg.PlotDataItem(pen=pg.mkPen("#8C6BB1", width=2), connect="finite")
        self.position_plot.addItem(self.position_line)
        self._density_bars: list[pg.BarGraphItem] = []

        self.messages: dict[str, pg.TextItem] = {}
        self._cursors = []
        for key, plot in (("spo2", self.spo2_plot), ("heart_rate", self.hr_plot),
                          ("position", self.position_plot), ("density", self.density_plot)):
            text = pg.TextItem("", color=_TEXT, anchor=(0.5, 0.5))
            plot.addItem(text, ignoreBounds=True)
            self.messages[key] = text
            line = pg.InfiniteLine(pos=0.5, angle=90, movable=False,
                                   pen=pg.mkPen(_CURSOR_COLOR, width=2))
            line.setZValue(20)
            plot.addItem(line, ignoreBounds=True)
            self._cursors.append(line)
        for row in range(4):
            self.ci.layout.setRowStretchFactor(row, 2 if row < 2 else 1)
        self.ci.layout.setRowStretchFactor(3, 2)
        # Small enough to leave the hypnogram and its statistics room in the default layout.
        self.setMinimumHeight(110)
        self.set_geometry(1, 30.0, 0.0, None)
        self._built = True

    def _label_positions(self, codes) -> None:
        # Only the positions of the night take a level, evenly spread: five labels do not fit
        # a short row, and three of five levels crowd their labels together. Supine on top:
        # the position whose events matter most reads first.
        night = sorted({int(c) for c in codes})
        self._position_levels = {c: float(len(night) - 1 - i) for i, c in enumerate(night)}
        self.position_plot.getAxis("left").setTicks(
            [[(level, POSITIONS[c]) for c, level in self._position_levels.items()], []])
        # Room above and below the outer levels, so that their labels are not cut.
        self.position_plot.setYRange(-0.6, len(night) - 0.4, padding=0)

    def resizeEvent(self, ev):  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        if getattr(self, "_built", False):  # pyqtgraph resizes before the rows exist
            self.fit_titles()

    def fit_titles(self) -> None:
        """Show a row's title (and the position names) only where the row is tall enough:
        in a short panel they would be drawn over each other; the titles stay as tooltips."""
        for plot in (self.spo2_plot, self.hr_plot, self.position_plot, self.density_plot):
            axis = plot.getAxis("left")
            height = plot.vb.height()
            axis.showLabel(height >= axis.label.boundingRect().width())
            # Two values need about two lines of text; the position row one line per name.
            lines = len(self._position_levels) if plot is self.position_plot else 2
            axis.setStyle(showValues=height >= _TEXT_LINE_PX * max(1, lines))

    def _position_middle(self) -> float:
        return (len(self._position_levels) - 1) / 2.0

    def _make_plot(self, title: str, row: int, tip: str, last: bool = False) -> pg.PlotItem:
        axis = TimeAxis(orientation="bottom")
        self._time_axes.append(axis)
        plot = self.addPlot(row=row, col=0, axisItems={"bottom": axis})
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.vb.setDefaultPadding(0)
        left = plot.getAxis("left")
        left.setWidth(_LEFT_AXIS_WIDTH)
        left.setLabel(title)
        left.setToolTip(tip)
        left.setPen(pg.mkPen("#444444"))
        left.setTextPen(pg.mkPen("#202020"))
        left.setStyle(tickTextOffset=4)
        axis.setPen(pg.mkPen("#444444"))
        axis.setTextPen(pg.mkPen("#202020"))
        if not last:
            axis.setStyle(showValues=False, tickLength=0)
            axis.setHeight(2)
        plot.showGrid(x=True, y=True, alpha=0.2)
        if row > 0:
            plot.setXLink(self._first_plot)
        else:
            self._first_plot = plot
        return plot

    # -- geometry ----------------------------------------------------------------------------
    @property
    def n_epochs(self) -> int:
        return self._n

    def set_geometry(self, n_epochs: int, epoch_length: float, offset: float,
                     start: _dt.datetime | None) -> None:
        """Epochs shown and the clock, exactly as :meth:`HypnogramView.set_geometry`."""
        self._n = max(1, int(n_epochs))
        self._epoch_length, self._offset = float(epoch_length), float(offset)
        for axis in self._time_axes:
            axis.configure(epoch_length, offset, start)
        self.spo2_plot.vb.setLimits(xMin=0, xMax=self._n)
        self.spo2_plot.setXRange(0, self._n, padding=0)
        for text in self.messages.values():
            text.setPos(self._n / 2, text.pos().y())

    def x_of(self, seconds: np.ndarray | float) -> np.ndarray:
        """x (epochs) of times in seconds from the recording start."""
        return (np.asarray(seconds, dtype=np.float64) - self._offset) / self._epoch_length

    def set_current_epoch(self, epoch: int) -> None:
        """Move the current-epoch marker."""
        e = min(self._n - 1, max(0, int(epoch)))
        for line in self._cursors:
            line.setValue(e + 0.5)

    # -- data --------------------------------------------------------------------------------
    def _say(self, key: str, text: str, y: float) -> None:
        self.messages[key].setText(text)
        self.messages[key].setPos(self._n / 2, y)

    def show_message(self, text: str) -> None:
        """Clear every plot and write ``text`` on each (``"Loading trends…"``)."""
        self.set_level("spo2", None, text)
        self.set_level("heart_rate", None, text)
        self.set_position(None, None, text)
        self.set_density(None, text)

    def _steps(self, starts: np.ndarray, width: float, values: np.ndarray):
        x0 = self.x_of(starts)
        x = np.repeat(x0, 2) + np.tile([0.0, width / self._epoch_length], x0.shape[0])
        return x, np.repeat(np.asarray(values, dtype=np.float64), 2)

    def set_level(self, name: str, trend: LevelTrend | None, missing: str = "") -> None:
        """Draw SpO2 or heart rate (mean line over a min-max band); None shows ``missing``."""
        mean, band, low, high = self._levels[name]
        plot = self.spo2_plot if name == "spo2" else self.hr_plot
        lo_axis, hi_axis = SPO2_AXIS if name == "spo2" else _HR_AXIS
        if trend is None:
            for item in (mean, low, high):
                item.setData([], [])
            plot.setYRange(lo_axis, hi_axis, padding=0)
            self._say(name, missing, (lo_axis + hi_axis) / 2)
            return
        w = trend.bin_seconds
        low.setData(*self._steps(trend.starts, w, trend.low))
        high.setData(*self._steps(trend.starts, w, trend.high))
        mean.setData(*self._steps(trend.starts, w, trend.mean))
        finite = trend.low[np.isfinite(trend.low)]
        if name == "spo2":
            # Fixed clinical scale; only a deeper nadir widens it (to a 5-% step).
            bottom = min(lo_axis, math.floor(float(finite.min()) / 5) * 5) if finite.size else lo_axis
            top = hi_axis
        else:
            top_v = trend.high[np.isfinite(trend.high)]
            bottom = min(lo_axis, math.floor(float(finite.min()) / 10) * 10) if finite.size else lo_axis
            top = max(hi_axis, math.ceil(float(top_v.max()) / 10) * 10) if top_v.size else hi_axis
        plot.setYRange(bottom, top, padding=0)
        self._say(name, "" if finite.size else f"{trend.channel}: no valid sample",
                  (bottom + top) / 2)

    def set_position(self, codes: np.ndarray | None, bin_seconds: float | None,
                     missing: str = "") -> None:
        """Draw body position per bin (a gap where unknown)."""
        if codes is None:
            self.position_line.setData([], [])
            self._label_positions(range(len(POSITIONS)))
            self._say("position", missing, self._position_middle())
            return
        c = np.asarray(codes).astype(np.int64)
        self._label_positions({int(v) for v in np.unique(c) if v != UNKNOWN_POSITION}
                              or range(len(POSITIONS)))
        levels = np.array([self._position_levels.get(int(v), np.nan) for v in c],
                          dtype=np.float64)
        starts = np.arange(c.shape[0]) * float(bin_seconds)
        self.position_line.setData(*self._steps(starts, float(bin_seconds), levels))
        known = bool(np.any(c != UNKNOWN_POSITION))
        self._say("position", "" if known else "position unknown all night",
                  self._position_middle())

    def set_density(self, density: EventDensity | None, missing: str = "") -> None:
        """Draw events per hour per type as stacked bars (type colours)."""
        for bar in self._density_bars:
            self.density_plot.removeItem(bar)
        self._density_bars = []
        if density is None or not density.counts:
            self.density_plot.setYRange(0, 1, padding=0)
            self._say("density", missing if density is None else "no scored events", 0.5)
            return
        n = density.n_bins
        x0 = self.x_of(np.arange(n) * density.bin_seconds)
        width = np.full(n, density.bin_seconds / self._epoch_length)
        bottom = np.zeros(n)
        for kind in density.counts:
            rate = density.per_hour(kind)
            bar = pg.BarGraphItem(x0=x0, width=width, y0=bottom.copy(), height=rate,
                                  brush=pg.mkBrush(EVENT_TYPES[kind].colour),
                                  pen=pg.mkPen("#FFFFFF", width=0.5))
            self.density_plot.addItem(bar)
            self._density_bars.append(bar)
            bottom = bottom + rate
        top = float(bottom.max()) if n else 1.0
        self.density_plot.setYRange(0, max(1.0, top * 1.05), padding=0)
        self._say("density", "", 0.5)

    # -- mouse helpers for tests -------------------------------------------------------------
    def pos_of_epoch(self, epoch: int):
        """Widget position of the middle of ``epoch`` on the SpO2 plot."""
        y = sum(SPO2_AXIS) / 2
        return self.mapFromScene(self.spo2_plot.vb.mapViewToScene(QPointF(epoch + 0.5, y)))


class TrendsPanel(QWidget):
    """The trends view with its legend and the loading of the trends in the background.

    Signals
    -------
    epochClicked(int)
        The user clicked or dragged to an epoch.
    trendsReady(object)
        The trends of the open recording were drawn (a :class:`~sleepfm_engine.trends.Trends`).
    """

    epochClicked = Signal(int)
    trendsReady = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = TrendsView()
        self.view.epochClicked.connect(self.epochClicked)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.RichText)
        # One line whatever the number of types (the full list is its tooltip): the plots
        # keep the height.
        self.legend.setWordWrap(False)
        self.legend.setMinimumWidth(1)
        self.notes = QLabel()
        self.notes.setStyleSheet(f"color: {_TEXT}")
        lay = QVBoxLayout(self)
        # The review panel's margins: the x axes line up with the hypnogram's.
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(2)
        lay.addWidget(self.legend)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.notes)
        self.trends: Trends | None = None
        self._duration = 0.0
        # The latest events: those that arrive while the job runs are counted when it ends.
        self._events: list[Event] = []
        self.clear()

    def clear(self) -> None:
        """No recording: nothing to show."""
        self.trends = None
        self._events = []
        self.view.show_message("No recording")
        self.legend.setText("")
        self.notes.setText("")

    def set_geometry(self, n_epochs: int, epoch_length: float, offset: float,
                     start: _dt.datetime | None) -> None:
        """The hypnogram's epochs and clock (see :meth:`TrendsView.set_geometry`)."""
        self.view.set_geometry(n_epochs, epoch_length, offset, start)

    def set_current_epoch(self, epoch: int) -> None:
        self.view.set_current_epoch(epoch)

    def load(self, jobs: Any, recording: Any, channel_map: Any = None,
             events: Iterable[Event] | None = None):
        """Read the trends of ``recording`` as a job of ``jobs`` (a
        :class:`~sleepfm_gui.qt_jobs.JobManager`); returns its worker.

        The job reads through its own handle; a newer ``load`` replaces a running one.
        """
        self._duration = float(recording.duration)
        self.trends = None
        self._events = list(events or ())
        self.view.show_message("Loading trends…")
        self.notes.setText("")
        return jobs.submit(trends_job(recording, channel_map, events), key="trends",
                           on_success=self.set_trends, on_error=self._on_error,
                           error_title="Cannot compute the trends", show_errors=False)

    def _on_error(self, exc: BaseException) -> None:
        from .errors import describe_exception

        self.view.show_message("Trends unavailable")
        self.notes.setText(f"Trends unavailable: {describe_exception(exc)}")

    def set_trends(self, trends: Trends) -> None:
        """Draw ``trends`` and emit ``trendsReady``."""
        self.trends = trends
        self._duration = trends.duration
        self.view.set_level("spo2", trends.spo2, "No SpO2 channel")
        self.view.set_level("heart_rate", trends.heart_rate, "No heart-rate channel")
        if trends.position is None:
            self.view.set_position(None, None, "No position channel")
        else:
            self.view.set_position(trends.position.codes, trends.position.bin_seconds)
        self._show_density(event_density(self._events, trends.duration, DEFAULT_DENSITY_MINUTES))
        self.notes.setText(" · ".join(trends.notes))
        self.trendsReady.emit(trends)

    def set_events(self, events: Iterable[Event] | None) -> None:
        """Recount the event density from ``events`` (no recording read)."""
        self._events = list(events or ())
        if self.trends is None:
            return  # counted when the trends arrive
        self._show_density(event_density(self._events, self._duration, DEFAULT_DENSITY_MINUTES))

    def _show_density(self, density: EventDensity | None) -> None:
        self.view.set_density(density, "No events")
        if density is None or not density.counts:
            self.legend.setText(f"Event density per {DEFAULT_DENSITY_MINUTES:g} min: none")
            return
        chips = " ".join(
            f"<span style='color:{EVENT_TYPES[k].colour}'>■</span>&nbsp;{EVENT_TYPES[k].label} "
            f"({int(c.sum())})" for k, c in density.counts.items())
        text = f"Events per hour, {density.bin_seconds / 60:g}-min bins: {chips}"
        self.legend.setText(text)
        self.legend.setToolTip(text)
