"""Axes of the trace view: clock time, epoch numbers and coloured channel labels."""
from __future__ import annotations

import datetime as _dt
import math
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QFont, QPen

# Tick steps (s) a clock axis chooses from, so ticks fall on whole seconds, minutes and hours.
_CLOCK_STEPS = (0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800)
_AXIS_PEN = pg.mkPen("#444444")
_TEXT_PEN = pg.mkPen("#222222")


def clock_text(start: _dt.datetime | None, seconds: float, with_seconds: bool = True) -> str:
    """Clock time of ``seconds`` after ``start`` (elapsed time when the start is unknown)."""
    if start is not None:
        t = start + _dt.timedelta(seconds=float(seconds))
        text = t.strftime("%H:%M:%S" if with_seconds else "%H:%M")
        frac = seconds - math.floor(seconds)
        if with_seconds and frac > 1e-6:
            text += f".{int(round(frac * 10)) % 10}"
        return text
    s = max(0.0, float(seconds))
    h, rem = divmod(int(s), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if with_seconds else f"{h}:{m:02d}"


class ClockAxis(pg.AxisItem):
    """Bottom axis showing the clock time of the recording (``HH:MM:SS``)."""

    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, pen=_AXIS_PEN, textPen=_TEXT_PEN, **kwargs)
        self.start: _dt.datetime | None = None
        self.enableAutoSIPrefix(False)
        # A fixed height: labels of new pages must not re-lay out the plot (a second paint).
        # Text on the major ticks only: minor ticks are at least four times denser than the
        # ~90-px major ones, so pyqtgraph measured their labels on every page only to drop them
        # for crowding (most of a page flip's axis time).
        self.setStyle(autoExpandTextSpace=False, maxTextLevel=0)
        self.setHeight(28)

    def set_start(self, start: _dt.datetime | None) -> None:
        self.start = start
        self.picture = None
        self.update()

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph API
        span = max(maxVal - minVal, 1e-9)
        # About one labelled tick per 90 px.
        want = span / max(size / 90.0, 1.0)
        major = next((s for s in _CLOCK_STEPS if s >= want), _CLOCK_STEPS[-1])
        minor = next((s for s in reversed(_CLOCK_STEPS) if s <= major / 4), major / 5)
        return [(major, 0), (minor, 0)]

    def tickValues(self, minVal, maxVal, size):  # noqa: N802
        out = []
        for spacing, _ in self.tickSpacing(minVal, maxVal, size):
            first = math.ceil(minVal / spacing - 1e-9) * spacing
            n = int((maxVal - first) / spacing + 1e-9) + 1
            out.append((spacing, [first + i * spacing for i in range(max(n, 0))]))
        return out

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        with_seconds = spacing < 60
        return [clock_text(self.start, v, with_seconds) for v in values]


class EpochAxis(pg.AxisItem):
    """Top axis labelling the epochs (1-based numbers at their starts)."""

    def __init__(self, epoch_length: float = 30.0, **kwargs):
        super().__init__("top", pen=_AXIS_PEN, textPen=_TEXT_PEN, **kwargs)
        self.epoch_length = float(epoch_length)
        self.offset = 0.0
        self.enableAutoSIPrefix(False)
        self.setStyle(autoExpandTextSpace=False, tickLength=0)
        self.setHeight(22)

    def tickValues(self, minVal, maxVal, size):  # noqa: N802
        # One label in the middle of each epoch (thinned when the epochs get narrow).
        el = self.epoch_length
        n_visible = max((maxVal - minVal) / el, 1e-9)
        step = 1
        while n_visible / step > max(size / 80.0, 1.0):
            step *= 2
        first = math.floor((minVal - self.offset) / el)
        first -= first % step
        values = []
        k = first
        while self.offset + k * el <= maxVal:
            centre = self.offset + (k + 0.5) * el
            if minVal <= centre <= maxVal:
                values.append(centre)
            k += step
        return [(el * step, values)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [f"epoch {int(math.floor((v - self.offset) / self.epoch_length)) + 1}"
                for v in values]


class ChannelAxis(pg.AxisItem):
    """Left axis with one coloured label per trace row (row ``i`` sits at ``y = -i``).

    ``on_click(row, button)`` is called when a label is clicked.
    """

    def __init__(self, on_click: Callable[[int, object, QPointF], None] | None = None, **kwargs):
        super().__init__("left", pen=_AXIS_PEN, textPen=_TEXT_PEN, **kwargs)
        self._labels: list[str] = []
        self._colors: dict[str, QColor] = {}
        self._selected: str | None = None
        self._on_click = on_click
        font = QFont()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        self.setTickFont(font)
        self.setStyle(tickLength=0, autoExpandTextSpace=False, hideOverlappingLabels=False)
        self.setWidth(150)

    def set_rows(self, labels: list[str], colors: list[str], selected: str | None = None) -> None:
        """Labels (display text) and colours of the rows, top to bottom."""
        if labels == self._labels and selected == self._selected and all(
                self._colors.get(lab) == QColor(c) for lab, c in zip(labels, colors)):
            return
        self._labels = list(labels)
        self._colors = {lab: QColor(c) for lab, c in zip(labels, colors)}
        self._selected = selected
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802
        values = [-float(i) for i in range(len(self._labels)) if minVal - 0.5 <= -i <= maxVal + 0.5]
        return [(1.0, values)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        out = []
        for v in values:
            i = int(round(-v))
            out.append(self._labels[i] if 0 <= i < len(self._labels) else "")
        return out

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):  # noqa: N802
        pen, p1, p2 = axisSpec
        p.setPen(pen)
        p.drawLine(p1, p2)
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        p.setClipRect(self.boundingRect().toAlignedRect())
        for rect, flags, text in textSpecs:
            color = self._colors.get(text, QColor("#222222"))
            font = p.font()
            font.setBold(text == self._selected)
            p.setFont(font)
            p.setPen(QPen(color))
            p.drawText(QRectF(rect), int(flags), text)

    def mouseClickEvent(self, ev):  # noqa: N802 - pyqtgraph API
        view = self.linkedView()
        if view is None or self._on_click is None:
            return
        y = view.mapSceneToView(ev.scenePos()).y()
        row = int(round(-y))
        if 0 <= row < len(self._labels):
            ev.accept()
            self._on_click(row, ev.button(), ev.screenPos())

    def mouseDragEvent(self, ev):  # noqa: N802
        ev.ignore()

    def wheelEvent(self, ev):  # noqa: N802
        ev.ignore()
