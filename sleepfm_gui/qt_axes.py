"""Axes of the trace view: clock time, epoch numbers and coloured channel labels."""
from __future__ import annotations

import datetime as _dt
import math
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPen, QPicture

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


class _PageAxis(pg.AxisItem):
    """A horizontal axis whose ticks and labels move with every page, drawn without detours.

    pyqtgraph's axis lays its ticks out with a general routine (any orientation, grids, fixed
    ticks) that builds two ``Point`` objects per tick, maps them to the device one by one,
    records the result into a ``QPicture`` and plays the picture back: most of a page flip's
    axis time. This one computes the same ticks and labels for a horizontal axis without a
    grid directly and draws them straight onto the painter; anything else goes to pyqtgraph.
    """

    def __init__(self, *args, **kwargs):
        self._specs: tuple | None = None
        super().__init__(*args, **kwargs)

    def _plain(self) -> bool:
        return (self.orientation in ("top", "bottom") and self.grid is False
                and self._tickLevels is None and not any(self.style["stopAxisAtTick"]))

    def generateDrawSpecs(self, p):  # noqa: N802 - pyqtgraph API
        if not self._plain():
            return super().generateDrawSpecs(p)
        style = self.style
        if style["tickFont"] is not None:
            p.setFont(style["tickFont"])
        bounds = self.mapRectFromParent(self.geometry())
        top = self.orientation == "top"
        # The axis line and tick positions exactly as pyqtgraph places them.
        line_y = bounds.bottom() - 1.0 if top else bounds.top() + 1.0
        span = (QPointF(bounds.left() - 1.0, line_y), QPointF(bounds.right() + 1.0, line_y))
        view = self.getViewWidget()
        device = self.deviceTransform(view.viewportTransform()) if view is not None else None
        if device is None or device.determinant() == 0:  # not shown yet
            return None
        length = QLineF(device.map(span[0]), device.map(span[1])).length()
        if length == 0:
            return None
        lo, hi = self.range
        levels = self.tickValues(lo, hi, length)
        if hi - lo == 0:
            scale, offset = 1.0, 0.0
        else:
            scale = bounds.width() / (hi - lo)
            offset = lo * scale
        x_min, x_max = sorted((lo * scale - offset, hi * scale - offset))
        tick_stop = bounds.bottom() if top else bounds.top()
        direction = -1.0 if top else 1.0
        positions: list[list[float | None]] = []
        tick_specs = []
        for i, (_, ticks) in enumerate(levels):
            tick_length = style["tickLength"] / (i * 0.5 + 1.0)
            pen = self._tick_pen(i)
            end = tick_stop + tick_length * direction
            level: list[float | None] = []
            for v in ticks:
                x = v * scale - offset
                if x < x_min or x > x_max:
                    level.append(None)
                    continue
                level.append(x)
                tick_specs.append((pen, QPointF(x, tick_stop), QPointF(x, end)))
            positions.append(level)
        axis_spec = (self.pen(), span[0], span[1])
        if not style["showValues"]:
            return axis_spec, tick_specs, []
        text_offset = max(0, style["tickLength"]) + style["tickTextOffset"][1]
        flags = (Qt.AlignmentFlag.AlignHCenter
                 | (Qt.AlignmentFlag.AlignBottom if top else Qt.AlignmentFlag.AlignTop)
                 | Qt.TextFlag.TextDontClip)
        box = self.boundingRect()
        text_widths: list[float] = []
        size2 = last_size2 = 0.0
        text_specs = []
        for i in range(min(len(levels), style["maxTextLevel"] + 1)):
            spacing, values = levels[i]
            strings = self.tickStrings(values, self.autoSIPrefixScale * self.scale, spacing)
            if not strings:
                continue
            rects = []
            for s, x in zip(strings, positions[i]):
                if x is None:
                    rects.append(None)
                    continue
                br = p.boundingRect(QRectF(0, 0, 100, 100), Qt.AlignmentFlag.AlignCenter, s)
                br.setHeight(br.height() * 0.8)  # as pyqtgraph: its boxes are a bit too tall
                rects.append(br)
                text_widths.append(br.width())
                size2 = max(size2, br.height())
            if i > 0:
                # Crowded levels below the first are not labelled (pyqtgraph's limits).
                fill = sum(text_widths) / length
                if any(len(text_specs) >= n and fill >= limit
                       for n, limit in style["textFillLimits"]):
                    break
            last_size2 = size2
            for s, x, r in zip(strings, positions[i], rects):
                if r is None:
                    continue
                w, h = r.width(), r.height()
                y = tick_stop - text_offset - h if top else tick_stop + text_offset
                rect = QRectF(x - w / 2.0, y, w, h)
                if box & rect != rect:
                    continue
                text_specs.append((rect, flags, s))
        self._updateMaxTextSize(last_size2)
        return axis_spec, tick_specs, text_specs

    def _tick_pen(self, level: int) -> QPen:
        """The tick pen of a level, faded as pyqtgraph fades it."""
        alpha = self.style["tickAlpha"]
        if alpha is None:
            alpha = 255 / (level + 1)
        elif isinstance(alpha, float):
            alpha = min(255, max(0, int(round(alpha * 255))))
        pen = self.tickPen()
        if pen.brush().style() == Qt.BrushStyle.SolidPattern:
            pen = QPen(pen)
            color = QColor(pen.color())
            color.setAlpha(int(alpha))
            pen.setColor(color)
        return pen

    def paint(self, p, opt, widget):  # noqa: N802 - Qt API
        if not self._plain():
            super().paint(p, opt, widget)
            return
        # pyqtgraph clears ``picture`` whenever the axis must be laid out again; an empty
        # picture marks the kept specs as current.
        if self.picture is None or self._specs is None:
            p.save()
            self._specs = self.generateDrawSpecs(p)
            p.restore()
            self.picture = QPicture()
        if self._specs is not None:
            p.save()
            if self.style["tickFont"] is not None:
                p.setFont(self.style["tickFont"])
            self.drawPicture(p, *self._specs)
            p.restore()


class ClockAxis(_PageAxis):
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


class EpochAxis(_PageAxis):
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
