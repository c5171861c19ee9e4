"""The overview strip under the traces: the whole night at a glance, clickable.

It shows the hypnogram (stage colours from ``sleepfm_engine.hypnogram``; the band's name says
whether the colours are the manual scoring or the automatic staging), a per-epoch amplitude
envelope of one channel, the events as a histogram of their onsets (a night of 1,000 events is
a profile, not a solid bar), the visible window (drag it) and the current epoch. Its clock ticks
follow :func:`~sleepfm_gui.qt_hypnogram.clock_ticks`, the hypnogram's rule, so both fall at the
same clock times. A click centres the traces on that time.
"""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem

from sleepfm_engine.hypnogram import CODE_NAMES, STAGE_COLORS

from .qt_axes import ClockAxis, clock_text
from .qt_hypnogram import clock_ticks

_STAGE_BAND = (0.5, 1.0)
_ENVELOPE_BAND = (0.24, 0.48)
_TICK_BAND = (0.0, 0.22)
#: Bins of the event histogram over a night (at least one epoch wide).
_EVENT_BINS = 480
_MIN_EVENT_BIN_S = 30.0
_EVENT_COLOR = "#C0501A"
#: Name of the stage band by what colours it.
STAGE_SOURCES = {"manual": "Stages: manual", "automatic": "Stages: automatic"}


class _NightClockAxis(ClockAxis):
    """The overview's clock axis: ticks by the hypnogram's rule, ``HH:MM`` labels."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph API
        return clock_ticks(minVal, maxVal, self.start)

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [clock_text(self.start, v, with_seconds=False) for v in values]


class _OverviewViewBox(pg.ViewBox):
    clicked = Signal(float)

    def __init__(self):
        super().__init__(enableMouse=False, enableMenu=False, defaultPadding=0.0)

    def mouseClickEvent(self, ev):  # noqa: N802
        ev.accept()
        self.clicked.emit(self.mapSceneToView(ev.scenePos()).x())

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        ev.accept()
        self.clicked.emit(self.mapSceneToView(ev.scenePos()).x())

    def wheelEvent(self, ev, axis=None):  # noqa: N802
        ev.ignore()


class OverviewStrip(QObject):
    """The whole-night strip; ``plot`` goes into the trace view's graphics layout.

    Signals
    -------
    timeRequested(float)
        The user clicked or dragged to this time (s from the recording start).
    """

    timeRequested = Signal(float)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.axis = _NightClockAxis("bottom")
        self.viewbox = _OverviewViewBox()
        self.plot = pg.PlotItem(viewBox=self.viewbox, axisItems={"bottom": self.axis})
        self.plot.hideAxis("left")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        # Keep the strip's left edge under the traces' left edge.
        self.plot.showAxis("left")
        self.plot.getAxis("left").setStyle(tickLength=0, tickTextOffset=6)
        self.plot.getAxis("left").setTextPen(pg.mkPen("#303030"))
        self.plot.getAxis("left").setWidth(150)
        self.plot.getAxis("left").setPen(pg.mkPen("#444444"))
        self.viewbox.clicked.connect(self._on_click)
        self.viewbox.setYRange(0, 1, padding=0)
        self.viewbox.disableAutoRange()
        self._duration = 1.0

        self.stages = pg.ImageItem()
        self.stages.setZValue(-5)
        self.viewbox.addItem(self.stages)
        self.envelope = pg.PlotCurveItem(pen=pg.mkPen("#6E7781", width=1), antialias=False)
        self.viewbox.addItem(self.envelope)
        self.ticks = pg.PlotCurveItem(pen=pg.mkPen(_EVENT_COLOR, width=1), antialias=False,
                                      fillLevel=_TICK_BAND[0], brush=pg.mkBrush(_EVENT_COLOR))
        self.viewbox.addItem(self.ticks)
        # The whole-night items only change when a recording, stages or events are loaded, but a
        # page flip moves the region and the current line over them: cached, those repaints blit
        # a pixmap instead of redrawing every epoch and event tick (10,000 events: 20,000 points).
        for item in (self.stages, self.envelope, self.ticks, self.axis, self.plot.getAxis("left")):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.region = pg.LinearRegionItem(values=(0, 30), movable=True,
                                          brush=pg.mkBrush(60, 120, 220, 60),
                                          pen=pg.mkPen(40, 90, 200, 200))
        self.region.setZValue(10)
        self.region.sigRegionChangeFinished.connect(self._on_region)
        self.viewbox.addItem(self.region)
        self.current = pg.InfiniteLine(angle=90, pen=pg.mkPen("#D62728", width=1), movable=False)
        self.current.setZValue(11)
        self.viewbox.addItem(self.current)
        self._window = (0.0, 30.0)
        self._setting = False
        self.event_counts = np.zeros(0, dtype=np.int64)
        self.stage_source = "manual"
        self._name_bands()

    def _name_bands(self) -> None:
        self.plot.getAxis("left").setTicks([[
            (sum(_STAGE_BAND) / 2, STAGE_SOURCES[self.stage_source]),
            (sum(_TICK_BAND) / 2, "Events")], []])

    def set_stage_source(self, source: str) -> None:
        """Say what colours the stage band: ``"manual"`` or ``"automatic"`` (:data:`STAGE_SOURCES`)."""
        if source not in STAGE_SOURCES:
            raise ValueError(f"stage source must be one of {', '.join(STAGE_SOURCES)}, got {source!r}")
        self.stage_source = source
        self._name_bands()

    def set_recording(self, duration: float | None, start: _dt.datetime | None) -> None:
        self._duration = float(duration) if duration else 1.0
        self.axis.set_start(start)
        self.viewbox.setXRange(0, self._duration, padding=0)
        self.region.setBounds((0, self._duration))
        self.set_stages(None)
        self.set_envelope(None)
        self.set_annotations(np.empty(0))
        self.region.setVisible(duration is not None)
        self.current.setVisible(duration is not None)

    def set_window(self, start: float, length: float) -> None:
        self._window = (start, start + length)
        self._setting = True
        try:
            self.region.setRegion(self._window)
        finally:
            self._setting = False

    def set_current(self, t: float, epoch_length: float) -> None:
        self.current.setValue(t + epoch_length / 2.0)

    def set_stages(self, stages: np.ndarray | None, epoch_length: float = 30.0,
                   offset: float = 0.0) -> None:
        """Colour the upper band by stage (None clears it)."""
        if stages is None or len(stages) == 0:
            self.stages.clear()
            self.stages.hide()
            return
        stages = np.asarray(stages)
        rgba = np.zeros((stages.size, 1, 4), dtype=np.ubyte)
        for code, name in CODE_NAMES.items():
            c = QColor(STAGE_COLORS[name])
            rgba[stages == code, 0] = (c.red(), c.green(), c.blue(), 255)
        self.stages.setImage(rgba, levels=(0, 255))
        lo, hi = _STAGE_BAND
        self.stages.setRect(QRectF(offset, lo, stages.size * epoch_length, hi - lo))
        self.stages.show()

    def set_envelope(self, values: np.ndarray | None, epoch_length: float = 30.0) -> None:
        """Draw a per-epoch amplitude in the lower band, scaled robustly (None clears it)."""
        if values is None or len(values) == 0 or not np.isfinite(values).any():
            self.envelope.setData([], [])
            return
        v = np.asarray(values, dtype=np.float64)
        lo, hi = np.nanpercentile(v, [2, 98])
        span = hi - lo if hi > lo else 1.0
        y = np.clip((v - lo) / span, 0, 1)
        b0, b1 = _ENVELOPE_BAND
        x = (np.arange(v.size) + 0.5) * epoch_length
        self.envelope.setData(x, b0 + y * (b1 - b0), connect="finite")

    def event_bin_seconds(self) -> float:
        """Width of a bin of the event histogram for the night shown."""
        return max(_MIN_EVENT_BIN_S, self._duration / _EVENT_BINS)

    def set_annotations(self, onsets: np.ndarray) -> None:
        """Draw the events as a histogram of their onsets, the fullest bin the band's height."""
        onsets = np.asarray(onsets, dtype=np.float64)
        onsets = onsets[np.isfinite(onsets) & (onsets >= 0) & (onsets <= self._duration)]
        if onsets.size == 0:
            self.event_counts = np.zeros(0, dtype=np.int64)
            self.ticks.setData([], [], stepMode=None)  # no bins: no edges either
            return
        width = self.event_bin_seconds()
        n = int(np.ceil(self._duration / width))
        counts = np.bincount(np.minimum((onsets / width).astype(np.int64), n - 1), minlength=n)
        self.event_counts = counts
        lo, hi = _TICK_BAND
        edges = np.arange(n + 1) * width
        self.ticks.setData(edges, lo + (hi - lo) * counts / counts.max(), stepMode="center")

    def _on_click(self, x: float) -> None:
        self.timeRequested.emit(float(min(max(x, 0.0), self._duration)))

    def _on_region(self) -> None:
        if self._setting:
            return
        a, b = self.region.getRegion()
        if abs(a - self._window[0]) > 1e-6:
            self.timeRequested.emit((a + b) / 2.0)
