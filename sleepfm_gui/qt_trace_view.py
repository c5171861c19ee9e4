"""The trace view: a recording's channels stacked, one page at a time, fast.

Rows are grouped and coloured by modality (EEG, EOG, EMG, ECG, respiration, levels, other), 30 s
per page by default with the epoch grid and a clock-time axis. Each page is prepared by
:class:`sleepfm_engine.display.PageSource` — only the visible window is read, filtered and
min/max-decimated to the plot's pixel width — and drawn into one reused curve per visible row,
so paging through an 8-hour night costs what one page costs. The next and previous pages are
prepared while the view is idle. What is shown — window, rows and their gains, filters,
derivations, events — is a Qt-free :class:`sleepfm_engine.display_model.DisplayModel`; the view
draws it and hands it what the user does.

Rows are auto-scaled, or calibrated (View ▸ Calibrated sensitivity, or per row): drawn at a
clinical sensitivity in µV per mm of screen (:mod:`sleepfm_engine.sensitivity`; mm from the
screen's physical resolution), the label saying it ("C4-M1  7 µV/mm"). Each trace row has a
scale bar at the page's right edge (75 µV on EEG when it fits); traces are clipped to their rows
(View ▸ Clip traces); rows keep at least :data:`MIN_ROW_PX` and scroll when they do not fit.

Keys (window-wide): PgDn/PgUp one page, Right/Left one epoch, Shift+Right/Left a tenth of a
page, Home/End, Up/Down select a channel, +/− gain (selected channel, else all), * auto-scale,
I invert, H hide, Ctrl+G go to a time or epoch.

Events are drawn from the model's event layers (only the window's, see
:meth:`DisplayModel.event_marks`): a coloured span on their rows with the type's code in the
row's label zone. A drag across a trace marks a span, a click selects an event, a drag on the
selected event's edge resizes it; what the user asks of events (score, edit, delete, accept)
leaves the view as signals for the window to apply to the scoring session.
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from typing import Any, Iterable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGraphicsItem, QGraphicsRectItem, QGraphicsScene,
                               QHBoxLayout, QLabel, QLineEdit, QMenu, QScrollBar, QSizePolicy,
                               QVBoxLayout, QWidget)

from sleepfm_engine.contract import EPOCH_SECONDS
from sleepfm_engine.display import Derivation, DisplayChannel, FilterSpec, PageSource
from sleepfm_engine.display_model import (GAIN_STEP, LABEL_ZONE, MAINS_FREQUENCIES, DisplayEvent,
                                          DisplayModel, EventMark, RejectedMark, RowState,
                                          level_role)
from sleepfm_engine.event_keys import EventKeyMap
from sleepfm_engine.events import EVENT_TYPES, FAMILIES, EventType, family

from .qt_axes import ChannelAxis, ClockAxis, EpochAxis, clock_text
from .qt_label_holder import LabelHolder
from .qt_overview import OverviewStrip

__all__ = ["GAIN_STEP", "MIN_ROW_PX", "RowState", "TraceView", "WINDOW_PRESETS", "parse_go_to"]

log = logging.getLogger("sleepfm_gui")

#: Page lengths offered (s).
WINDOW_PRESETS: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)
# Top of the plot: row 0 spans -0.5 to 0.5; the band above it holds the events that name no
# row shown (0.55-0.95) and, above them, the current epoch's scored stages.
_TOP = 1.25
_BAND = (0.55, 0.95)
# Label width (px) beside its text, and the least lane height (px) a label is drawn in.
_LABEL_PAD = 8
_MIN_LANE_PX = 10
#: Least height of a row (px): more rows than fit at this height scroll instead of squeezing,
#: so their labels never overlap.
MIN_ROW_PX = 28
# Rows beyond each edge of the view drawn with a page, so a small scroll finds them drawn.
_ROW_MARGIN = 1
# A screen that reports no physical size is taken as this many dots per inch.
_FALLBACK_DPI = 96.0


def _window_text(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"


def parse_go_to(text: str, start: _dt.datetime | None, duration: float,
                epoch_length: float = float(EPOCH_SECONDS)) -> float:
    """Seconds from the recording start of what a person typed in the go-to box.

    Accepted: an epoch number (``"12"``, ``"e12"``, ``"epoch 12"``, 1-based), a clock time
    (``"23:15"``, ``"23:15:30"``, after midnight when earlier than the start) or an elapsed
    time (``"+1:30:00"``, ``"+90m"``, ``"+45s"``).

    Raises
    ------
    ValueError
        With a message saying what is accepted, or that the time is outside the recording.
    """
    t = text.strip().lower()
    if not t:
        raise ValueError("type an epoch number (e.g. 120), a clock time (23:15) or an elapsed "
                         "time (+1:30:00)")
    m = re.fullmatch(r"(?:e|epoch\s*)?(\d+)", t)
    if m:
        k = int(m.group(1))
        n = int(math.floor(duration / epoch_length + 1e-9))
        if not 1 <= k <= max(n, 1):
            raise ValueError(f"epoch {k} is outside the recording (epochs 1 to {n})")
        return (k - 1) * epoch_length
    m = re.fullmatch(r"\+\s*(\d+(?:\.\d+)?)\s*(h|m|min|s)", t)
    if m:
        value = float(m.group(1)) * {"h": 3600, "m": 60, "min": 60, "s": 1}[m.group(2)]
    else:
        m = re.fullmatch(r"(\+)?\s*(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?", t)
        if not m:
            raise ValueError(f"cannot read {text!r}: type an epoch number (120), a clock time "
                             "(23:15 or 23:15:30) or an elapsed time (+1:30:00, +90m)")
        h, mi = int(m.group(2)), int(m.group(3))
        sec = float(m.group(4) or 0.0)
        if m.group(1) or start is None:
            value = h * 3600 + mi * 60 + sec
        else:
            if h > 23 or mi > 59 or sec >= 60:
                raise ValueError(f"{text!r} is not a clock time")
            day = start.replace(hour=h, minute=mi, second=int(sec), microsecond=0)
            day += _dt.timedelta(seconds=sec - int(sec))
            if day < start - _dt.timedelta(seconds=1e-6):
                day += _dt.timedelta(days=1)
            value = (day - start).total_seconds()
    if not 0 <= value <= duration:
        raise ValueError(f"{text.strip()!r} is outside the recording "
                         f"({clock_text(start, 0)} to {clock_text(start, duration)})")
    return value


class _TraceGraphics(pg.GraphicsLayoutWidget):
    """The plot canvas; tells the view when it has painted."""

    painted = Signal()

    def paintEvent(self, ev):  # noqa: N802 - Qt API
        super().paintEvent(ev)
        self.painted.emit()


class _TraceViewBox(pg.ViewBox):
    """A view box that never pans or zooms by itself; clicks and wheel go to the view."""

    clicked = Signal(float, float, object)
    wheeled = Signal(int)
    #: A Shift+wheel (delta): through the rows rather than the time.
    rowsWheeled = Signal(int)
    #: A left-button drag: (x at its start, y at its start, x now, phase) with phase
    #: "start", "move" or "finish".
    dragged = Signal(float, float, float, str)
    #: A right click: (x, y, screen position).
    contextRequested = Signal(float, float, object)

    def __init__(self):
        super().__init__(enableMouse=False, enableMenu=False, defaultPadding=0.0)

    def mouseClickEvent(self, ev):  # noqa: N802
        p = self.mapSceneToView(ev.scenePos())
        ev.accept()
        self.clicked.emit(p.x(), p.y(), ev.button())
        if ev.button() == Qt.RightButton:
            self.contextRequested.emit(p.x(), p.y(), QPointF(ev.screenPos()))

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        if ev.button() != Qt.LeftButton:
            ev.ignore()
            return
        ev.accept()
        a = self.mapSceneToView(ev.buttonDownScenePos())
        b = self.mapSceneToView(ev.scenePos())
        phase = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
        self.dragged.emit(a.x(), a.y(), b.x(), phase)

    def wheelEvent(self, ev, axis=None):  # noqa: N802
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        ev.accept()
        if ev.modifiers() & Qt.ShiftModifier:
            self.rowsWheeled.emit(int(delta))
        else:
            self.wheeled.emit(int(delta))


def _trace_path(x: np.ndarray, y: np.ndarray, has_gaps: bool) -> QPainterPath:
    """The path of one row's trace (broken at NaN gaps when it has any)."""
    return pg.arrayToQPath(x, y, connect="finite" if has_gaps else "all", finiteCheck=has_gaps)


class _TracesItem(pg.GraphicsObject):
    """All visible rows in one graphics item: one path and one pen per row.

    One item instead of one curve per row spares the scene a bounding-box and bookkeeping pass
    per row on every paint, which is most of what a page flip would otherwise cost.
    """

    def __init__(self):
        super().__init__()
        self._paths: list[QPainterPath] = []
        self._pens: list[QPen] = []
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._rect = QRectF()

    def set_rows(self, rows: list[tuple[str, np.ndarray, np.ndarray, bool, QPen]],
                 rect: QRectF, paths: Sequence[QPainterPath | None] = ()) -> None:
        """``rows``: (key, x, y in plot coordinates, has_gaps, pen); ``paths``: the rows' paths
        where already built (None or missing: built here)."""
        self.prepareGeometryChange()
        paths = list(paths) + [None] * (len(rows) - len(paths))
        self._paths = [path if path is not None else _trace_path(x, y, gaps)
                       for (_, x, y, gaps, _), path in zip(rows, paths)]
        self._pens = [pen for *_, pen in rows]
        self._data = {key: (x, y) for key, x, y, _, _ in rows}
        self._rect = QRectF(rect)
        self.update()

    def data_for(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        return self._data.get(key)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p, opt, widget) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for path, pen in zip(self._paths, self._pens):
            p.setPen(pen)
            p.drawPath(path)


class _GridLines(pg.GraphicsObject):
    """Line segments between consecutive point pairs (a grid), in one pen.

    Takes the same ``setData(x, y)`` as a ``PlotCurveItem(connect="pairs")``; a curve item
    rebuilds its path, bounds and shape on every page, which a few straight lines do not need.
    """

    def __init__(self, pen: QPen):
        super().__init__()
        self._pen = QPen(pen)
        self._lines: list[QLineF] = []
        self._rect = QRectF()

    def setData(self, x: np.ndarray, y: np.ndarray) -> None:  # noqa: N802 - as PlotCurveItem
        self.prepareGeometryChange()
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        n = min(x.size, y.size) // 2 * 2
        self._lines = [QLineF(x0, y0, x1, y1) for x0, y0, x1, y1 in
                       zip(x[0:n:2].tolist(), y[0:n:2].tolist(), x[1:n:2].tolist(),
                           y[1:n:2].tolist())]
        self._rect = (QRectF(float(x[:n].min()), float(y[:n].min()),
                             float(np.ptp(x[:n])), float(np.ptp(y[:n]))) if n else QRectF())
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p, opt, widget) -> None:
        if self._lines:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            p.setPen(self._pen)
            p.drawLines(self._lines)


class _ScaleBarsItem(pg.GraphicsObject):
    """The rows' scale bars in one item: for each row a vertical bar of a round value (75 µV)
    at the right edge of the page, with its value beside it.

    The bars sit on the rows (plot y) and at the right edge of whatever the view shows, read at
    paint time, so a page flip changes nothing here; every bar is one path, painted in device
    pixels like the text.
    """

    def __init__(self):
        super().__init__()
        # (plot y of the bar's middle, height in rows, text, text colour)
        self._bars: list[tuple[float, float, str, QColor]] = []
        self._rect = QRectF()

    def set_bars(self, bars: list[tuple[float, float, str, QColor]], rect: QRectF) -> None:
        if bars == self._bars and QRectF(rect) == self._rect:
            return
        self.prepareGeometryChange()
        self._bars = bars
        self._rect = QRectF(rect)
        self.update()

    def texts(self) -> list[str]:
        return [text for _, _, text, _ in self._bars]

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p, opt, widget) -> None:
        vb = self.getViewBox()
        if not self._bars or vb is None:
            return
        (_, x1), (y0, y1) = vb.viewRange()
        tr = p.transform()
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        font = p.font()
        font.setPixelSize(10)
        p.setFont(font)
        fm = p.fontMetrics()
        right = tr.map(QPointF(x1, 0.0)).x() - 8.0
        path = QPainterPath()
        shown = []
        for y, h, text, colour in self._bars:
            if y - h / 2 > y1 or y + h / 2 < y0:
                continue
            top = tr.map(QPointF(x1, y + h / 2)).y()
            bottom = tr.map(QPointF(x1, y - h / 2)).y()
            for yy in (top, bottom):
                path.moveTo(right - 3, yy)
                path.lineTo(right + 3, yy)
            path.moveTo(right, top)
            path.lineTo(right, bottom)
            shown.append(((top + bottom) / 2, text, colour))
        pen = QPen(QColor(20, 20, 20), 1.5)
        p.setPen(pen)
        p.drawPath(path)
        for middle, text, colour in shown:
            w = fm.horizontalAdvance(text) + 6
            box = QRectF(right - 5 - w, middle - fm.height() / 2, w, fm.height())
            p.fillRect(box, QColor(255, 255, 255, 210))
            p.setPen(QPen(colour))
            p.drawText(box, int(Qt.AlignCenter), text)


class _EventsItem(pg.GraphicsObject):
    """The events of the page, painted in one item: each event a coloured span on the rows it
    was scored on (across the page when it names no row shown) with its short code in its
    row's label zone; the dragged span; the current epoch's scored stages in the top band.
    Text is painted in device pixels, where the label lanes are laid out."""

    def __init__(self):
        super().__init__()
        self._marks: list[EventMark] = []
        self._span: tuple[float, float, int | None] | None = None
        self._caption = ""
        self._caption_x = 0.0
        self._lane_px = 12.0
        self._label_px = 30.0
        self._bottom = -1.0
        self._rect = QRectF()
        self._colours: dict[str, QColor] = {}
        self._rejected: list[RejectedMark] = []

    def set_rejected(self, marks: list[RejectedMark]) -> None:
        """Candidates the detectors rejected, drawn under the events (none: not shown)."""
        self._rejected = marks
        self.update()

    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        """The whole reason of the rejected candidate under the pointer as the tooltip (its
        label is cut to the span)."""
        tip = ""
        if self._rejected and not ev.isExit():
            x, y = ev.pos().x(), ev.pos().y()
            for m in self._rejected:
                bands = [(-r - 0.5, -r + 0.5) for r in m.rows] or [_BAND]
                if m.x0 <= x <= m.x1 and any(y0 <= y <= y1 for y0, y1 in bands):
                    tip = m.text
                    break
        if tip != self.toolTip():
            self.setToolTip(tip)

    def set_marks(self, marks: list[EventMark], x0: float, x1: float, bottom: float,
                  lane_px: float, label_px: float) -> None:
        self.prepareGeometryChange()
        self._marks = marks
        self._bottom = bottom
        self._lane_px, self._label_px = lane_px, label_px
        self._rect = QRectF(x0, bottom, max(x1 - x0, 1e-9), _TOP - bottom)
        self.update()

    def set_span(self, span: tuple[float, float, int | None] | None) -> None:
        self._span = span
        self.update()

    def set_caption(self, text: str, x: float) -> None:
        self._caption, self._caption_x = text, x
        self.update()

    def _colour(self, hex_: str) -> QColor:
        c = self._colours.get(hex_)
        if c is None:
            c = self._colours[hex_] = QColor(hex_)
        return c

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def _paint_rejected(self, p) -> None:
        """Grey hatched, dashed spans on their rows with ``rejected: <reason>`` at the bottom,
        in device pixels (a hatch brush would be scaled by the plot's transform)."""
        tr = p.transform()
        p.save()
        p.resetTransform()
        font = p.font()
        font.setPixelSize(max(7, int(self._lane_px) - 3))
        p.setFont(font)
        fm = p.fontMetrics()
        pen = QPen(QColor(70, 70, 70, 210), 1, Qt.DashLine)
        brush = QBrush(QColor(90, 90, 90, 120), Qt.BDiagPattern)
        for m in self._rejected:
            p.setPen(pen)
            p.setBrush(brush)
            boxes = [tr.mapRect(QRectF(m.x0, y0, m.x1 - m.x0, y1 - y0)) for y0, y1 in
                     ([(-r - 0.5, -r + 0.5) for r in m.rows] or [_BAND])]
            for box in boxes:
                p.drawRect(box)
            # the reason once, at the bottom of its top row
            box = boxes[0]
            text = fm.elidedText(m.text, Qt.ElideRight, int(box.width()) - 6)
            if len(text) > 3:
                tb = QRectF(box.left() + 2, box.bottom() - fm.height() - 2,
                            fm.horizontalAdvance(text) + 4, fm.height())
                p.fillRect(tb, QColor(255, 255, 255, 200))
                p.setPen(QColor(50, 50, 50))
                p.drawText(tb, int(Qt.AlignCenter), text)
        p.restore()

    def paint(self, p, opt, widget) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self._rejected:
            self._paint_rejected(p)
        for m in self._marks:
            c = QColor(self._colour(m.colour))
            edge = QColor(c)
            edge.setAlpha(230 if m.selected else 150)
            c.setAlpha(80 if m.selected else 38)
            pen = QPen(edge, 2.0 if m.selected else 0)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.setBrush(QBrush(c))
            if m.rows:
                for r in m.rows:
                    p.drawRect(QRectF(m.x0, -r - 0.5, m.x1 - m.x0, 1.0))
            else:
                p.drawRect(QRectF(m.x0, self._bottom, m.x1 - m.x0, _BAND[1] - self._bottom))
                c.setAlpha(150)
                p.fillRect(QRectF(m.x0, _BAND[0], m.x1 - m.x0, _BAND[1] - _BAND[0]), c)
        if self._span is not None:
            a, b, row = self._span
            y0, y1 = ((-row - 0.5, -row + 0.5) if row is not None
                      else (self._bottom, _BAND[1]))
            pen = QPen(QColor(30, 30, 30, 200), 0, Qt.DashLine)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.setBrush(QBrush(QColor(60, 120, 220, 45)))
            p.drawRect(QRectF(a, y0, b - a, y1 - y0))
        tr = p.transform()
        p.resetTransform()
        font = p.font()
        font.setPixelSize(max(7, int(self._lane_px) - 3))
        p.setFont(font)
        lane = self._lane_px
        for m in self._marks:
            if m.lane is None:
                continue
            top_y = (-m.label_row + 0.5) if m.label_row is not None else _BAND[1]
            top = tr.map(QPointF(m.x0, top_y))
            box = QRectF(top.x() + 1, top.y() + m.lane * lane, self._label_px, lane - 1)
            c = self._colour(m.colour)
            p.fillRect(box, c)
            dark = 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue() < 140
            p.setPen(QPen(Qt.white if dark else Qt.black))
            p.drawText(box, int(Qt.AlignCenter), m.code)
        if self._caption:
            font.setPixelSize(12)
            font.setBold(True)
            p.setFont(font)
            a = tr.map(QPointF(self._caption_x, _TOP))
            b = tr.map(QPointF(self._caption_x, _BAND[1]))
            p.setPen(QPen(QColor("#1A3A6B")))
            p.drawText(QRectF(a.x() + 4, a.y(), 600, b.y() - a.y()),
                       int(Qt.AlignLeft | Qt.AlignVCenter), self._caption)


class TraceView(QWidget):
    """Stacked traces of one recording with paging, gains, filters, derivations and events.

    The view renders a :class:`~sleepfm_engine.display_model.DisplayModel` (window, rows and
    their states, filters, derivations, event layers) and forwards what the user does to it;
    its methods of the same names are kept so callers need not reach for the model.

    Parameters
    ----------
    parent : QWidget, optional
    model : DisplayModel, optional
        The display state to render (a new one when omitted).

    Signals
    -------
    pageChanged(float, float)
        The visible window changed (start, stop in s from the recording start).
    pagePainted(float)
        The page starting at this time has been painted (for timing and tests).
    currentEpochChanged(int)
        The current epoch moved (paging, arrows, a click on the traces).
    channelSelected(str)
        A row was selected (its key; ``""`` when the selection was cleared).
    displayChanged()
        A display setting changed (gain, polarity, visibility, filters, window, derivations).
    eventCreateRequested(float, float, str, str)
        Score an event on the dragged span: start, stop (s), the row's key (``""`` for the
        page band: no channel) and the type's value.
    eventEditRequested(str, float, float)
        Move or resize the event with this id to onset, duration (s).
    eventTypeRequested(str, str)
        Change the type of the event with this id (the type's value).
    eventDeleteRequested(str)
        Delete the event with this id.
    eventAcceptRequested(str)
        Accept the automatic event with this id.
    """

    pageChanged = Signal(float, float)
    pagePainted = Signal(float)
    currentEpochChanged = Signal(int)
    channelSelected = Signal(str)
    displayChanged = Signal()
    eventCreateRequested = Signal(float, float, str, str)
    eventEditRequested = Signal(str, float, float)
    eventTypeRequested = Signal(str, str)
    eventDeleteRequested = Signal(str)
    eventAcceptRequested = Signal(str)

    def __init__(self, parent=None, model: DisplayModel | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self.model = model if model is not None else DisplayModel()
        self.source: PageSource | None = None
        self._paint_pending: float | None = None
        # Rows' curves ready to draw (plot y and path) by trace, row place and scale: the pages
        # prefetched while idle are also laid out, so a flip to one of them only draws.
        self._curves: dict[tuple, tuple[Any, np.ndarray, QPainterPath]] = {}
        # (start, current epoch) of the page :meth:`_apply_window` has just drawn: the epoch
        # event that follows a page flip finds its mark, labels and caption already drawn.
        self._page_drawn: tuple[float, int] | None = None
        # (start, stop, row keys) of the page drawn last: the rows a scroll may still need.
        self._rows_drawn: tuple[float, float, tuple[str, ...]] | None = None
        #: Prepare the neighbouring pages while idle (benchmarks turn it off to time cold pages).
        self.prefetch = True
        self._pens: dict[str, QPen] = {}
        #: Keys that score an event on the dragged span (the window sets the user's).
        self.event_keys = EventKeyMap()
        # What a left-button drag does: ("span", row key) or ("start"/"end"/"move", event).
        self._drag: tuple[str, Any] | None = None
        # Dots per inch of the screen set by hand (None: the screen's own physical resolution).
        self._screen_dpi: float | None = None
        # Height of one row now (px), and what the scale bars were last drawn from.
        self._row_px = float(MIN_ROW_PX)
        self._bars_from: tuple | None = None
        self._viewbox_width = 0.0
        self._screen_window: Any = None  # the window whose screen changes are followed

        self._build_ui()
        self._build_actions()
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self.render_now)
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.setInterval(40)
        self._prefetch_timer.timeout.connect(self._prefetch)
        # The night overview's histogram counts every event of the night: recounted once for a
        # burst of changes (an edit announces two), once the page has shown them.
        self._overview_timer = QTimer(self)
        self._overview_timer.setSingleShot(True)
        self._overview_timer.timeout.connect(self._count_overview_events)
        unlisten = self.model.add_listener(self._on_model_event)
        # A model may outlive its view: a deleted view must not be called back.
        self.destroyed.connect(lambda *_: unlisten())
        if self.model.rec is not None:
            self._on_recording()
        self._update_enabled()

    @property
    def rec(self) -> Any:
        """The recording shown (None when none is)."""
        return self.model.rec

    # ------------------------------------------------------------------ construction
    def _build_ui(self) -> None:
        self.window_combo = QComboBox()
        for w in WINDOW_PRESETS:
            self.window_combo.addItem(_window_text(w), w)
        self.window_combo.setCurrentIndex(WINDOW_PRESETS.index(self.model.window))
        self.window_combo.setToolTip("Page length")
        self.window_combo.setFocusPolicy(Qt.ClickFocus)
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.set_window(float(self.window_combo.itemData(i))))
        self.goto_edit = QLineEdit()
        self.goto_edit.setPlaceholderText("Go to: epoch, 23:15 or +1:30:00")
        self.goto_edit.setClearButtonEnabled(True)
        self.goto_edit.setMaximumWidth(230)
        self.goto_edit.returnPressed.connect(self._on_goto)
        self.position_label = QLabel()
        self.position_label.setMinimumWidth(260)
        self.filters_check = QCheckBox("Filters")
        self.filters_check.setChecked(True)
        self.filters_check.setToolTip("Display filters (AASM defaults; per modality in "
                                      "View ▸ Display filters)")
        self.filters_check.setFocusPolicy(Qt.ClickFocus)
        self.filters_check.toggled.connect(self.set_filters_enabled)
        self.notch_combo = QComboBox()
        self.notch_combo.addItem("Notch off", None)
        for f in MAINS_FREQUENCIES:
            self.notch_combo.addItem(f"Notch {f:g} Hz", f)
        self.notch_combo.setToolTip("Mains notch filter")
        self.notch_combo.setFocusPolicy(Qt.ClickFocus)
        self.notch_combo.currentIndexChanged.connect(
            lambda i: self.set_notch(self.notch_combo.itemData(i)))
        self.message_label = QLabel()
        self.message_label.setStyleSheet("color: #A0522D")
        # The measuring cursor: what the span dragged on a trace measures.
        self.measure_label = QLabel()
        self.measure_label.setToolTip("Span dragged on a trace: peak-to-peak amplitude, "
                                      "duration, dominant frequency")
        # kept clear of the Filters box beside it
        self.measure_label.setContentsMargins(0, 0, 10, 0)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(QLabel("Page"))
        bar.addWidget(self.window_combo)
        bar.addWidget(self.goto_edit)
        bar.addWidget(LabelHolder(self.position_label))  # new text every page
        bar.addWidget(self.message_label, 1)
        bar.addWidget(self.measure_label)
        bar.addWidget(self.filters_check)
        bar.addWidget(self.notch_combo)

        self.graphics = _TraceGraphics()
        self.graphics.setBackground("w")
        self.graphics.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.graphics.ci.setContentsMargins(2, 2, 8, 2)
        self.graphics.ci.setSpacing(0)
        self.graphics.painted.connect(self._on_painted)
        # Every page moves the traces, events, grids and marks: keeping a BSP index of their
        # bounds up to date costs more than the few dozen items it would spare a search of.
        self.graphics.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.clock_axis = ClockAxis("bottom")
        self.epoch_axis = EpochAxis(self.model.epoch_length)
        self.channel_axis = ChannelAxis(on_click=self._on_label_click)
        self.viewbox = _TraceViewBox()
        self.plot = pg.PlotItem(viewBox=self.viewbox, axisItems={
            "bottom": self.clock_axis, "top": self.epoch_axis, "left": self.channel_axis})
        self.plot.showAxis("top")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.viewbox.disableAutoRange()
        self.viewbox.clicked.connect(self._on_plot_click)
        self.viewbox.dragged.connect(self._on_drag)
        self.viewbox.contextRequested.connect(self._on_context)
        self.viewbox.wheeled.connect(self._on_wheel)
        self.viewbox.rowsWheeled.connect(self._on_rows_wheel)
        self.graphics.addItem(self.plot, row=0, col=0)
        # Its labels change only with the rows; a page flip repaints the axes beside it.
        self.channel_axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

        self._epoch_grid = _GridLines(pg.mkPen("#8C96A0", width=1))
        self._second_grid = _GridLines(pg.mkPen("#E4E8EC", width=1))
        for item, z in ((self._second_grid, -20), (self._epoch_grid, -19)):
            item.setZValue(z)
            self.viewbox.addItem(item, ignoreBounds=True)
        # Names of the positions a position row shows instead of its trace, and the hidden ones
        # kept for the next page (a new text item costs more than a page's traces).
        self._position_texts: list[pg.TextItem] = []
        self._position_spare: list[pg.TextItem] = []
        self._epoch_mark = QGraphicsRectItem()
        self._epoch_mark.setPen(QPen(Qt.NoPen))
        self._epoch_mark.setBrush(QBrush(QColor(255, 236, 150, 70)))
        self._epoch_mark.setZValue(-30)
        self._epoch_mark.hide()
        self.viewbox.addItem(self._epoch_mark, ignoreBounds=True)
        self._row_mark = QGraphicsRectItem()
        self._row_mark.setPen(QPen(Qt.NoPen))
        self._row_mark.setBrush(QBrush(QColor(60, 120, 220, 28)))
        self._row_mark.setZValue(-29)
        self._row_mark.hide()
        self.viewbox.addItem(self._row_mark, ignoreBounds=True)
        self.traces = _TracesItem()
        self.viewbox.addItem(self.traces, ignoreBounds=True)
        self.scale_bars = _ScaleBarsItem()
        self.scale_bars.setZValue(4)
        self.viewbox.addItem(self.scale_bars, ignoreBounds=True)
        self.viewbox.sigResized.connect(self._on_viewbox_resized)
        self.events_item = _EventsItem()
        self.events_item.setZValue(5)
        self.viewbox.addItem(self.events_item, ignoreBounds=True)
        self._empty_text = pg.TextItem("Open a recording (File ▸ Open, or drop an EDF/BDF file "
                                       "here)", color="#777777", anchor=(0.5, 0.5))
        self.viewbox.addItem(self._empty_text, ignoreBounds=True)
        self._empty_text.setPos(0.5, -0.5)

        self.overview = OverviewStrip()
        self.overview.timeRequested.connect(self._on_overview_time)
        self.graphics.addItem(self.overview.plot, row=1, col=0)
        self.overview.plot.setMaximumHeight(78)
        self.overview.plot.setMinimumHeight(78)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        # More rows than fit at MIN_ROW_PX scroll (the bar shows only then).
        self.row_scroll = QScrollBar(Qt.Vertical)
        self.row_scroll.setToolTip("Scroll through the channels")
        self.row_scroll.hide()
        self.row_scroll.valueChanged.connect(lambda _v: self._update_row_geometry())
        traces = QHBoxLayout()
        traces.setContentsMargins(0, 0, 0, 0)
        traces.setSpacing(0)
        traces.addWidget(self.graphics, 1)
        traces.addWidget(self.row_scroll)
        lay.addLayout(traces, 1)

    def _build_actions(self) -> None:
        def act(text: str, keys: Sequence[str | QKeySequence.StandardKey], slot, tip: str = ""):
            a = QAction(text, self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.WindowShortcut)
            a.setToolTip(tip or text)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.navigation_actions = [
            act("Next page", ["PgDown"], self.next_page),
            act("Previous page", ["PgUp"], self.prev_page),
            act("Next epoch", ["Right"], lambda: self.step_epochs(1)),
            act("Previous epoch", ["Left"], lambda: self.step_epochs(-1)),
            act("Scroll right", ["Shift+Right"], lambda: self.scroll(0.1)),
            act("Scroll left", ["Shift+Left"], lambda: self.scroll(-0.1)),
            act("First page", ["Home"], self.home),
            act("Last page", ["End"], self.end),
            act("Go to time or epoch…", ["Ctrl+G"], self.focus_goto),
        ]
        self.channel_actions = [
            act("Select next channel", ["Down"], lambda: self.select_relative(1)),
            act("Select previous channel", ["Up"], lambda: self.select_relative(-1)),
            act("Increase gain", ["+", "=", "Shift+="], lambda: self.gain_up()),
            act("Decrease gain", ["-"], lambda: self.gain_down()),
            act("Auto-scale", ["*", "Shift+8"], lambda: self.auto_scale()),
            act("Invert channel", ["I"], lambda: self.toggle_invert()),
            act("Hide channel", ["H"], lambda: self.hide_selected()),
            act("Show all channels", ["Shift+H"], self.show_all_channels),
        ]
        self.calibrated_action = act(
            "Calibrated sensitivity (µV/mm)", [], lambda on: self.set_calibrated(on),
            "Draw EEG, EOG, EMG and ECG at their clinical sensitivity in µV per mm of screen")
        self.clip_action = act("Clip traces to their rows", [], lambda on: self.set_clip(on),
                               "Samples beyond a row are drawn at its edge, never over the next")
        for a in (self.calibrated_action, self.clip_action):
            a.setCheckable(True)
        #: Display settings for the View menu.
        self.view_actions = [self.calibrated_action, self.clip_action]
        self._sync_view_actions()

    # ------------------------------------------------------------------ the model
    def _on_model_event(self, ev: DisplayEvent) -> None:
        """Bring the drawing up to date with what changed in the model."""
        kind = ev.kind
        page_drawn, self._page_drawn = self._page_drawn, None
        if kind == "recording":
            self._on_recording()
        elif kind == "rows":
            self._refresh_visible()
            self._draw_events()  # events sit on rows by index
            self._request_render()
            self.displayChanged.emit()
        elif kind == "row":
            self._sync_view_actions()
            self._update_labels()
            self._request_render()
            self.displayChanged.emit()
        elif kind == "filters":
            self._sync_filter_widgets()
            self._request_render()
            self.displayChanged.emit()
        elif kind == "window":
            self._sync_window_combo()
            self._apply_window()
            self.displayChanged.emit()
        elif kind == "page":
            self._apply_window()
        elif kind == "epoch":
            if page_drawn != (self.model.start, self.model.current_epoch):
                self._update_epoch_mark()
                self._update_position_label()
                self._update_labels()  # the levels shown are the current epoch's
                self._draw_caption()
            if ev.announce:
                self.currentEpochChanged.emit(self.model.current_epoch)
        elif kind == "selection":
            self._ensure_row_visible(self.model.selected)
            self._update_labels()
            self._update_row_mark()
            self.channelSelected.emit(self.model.selected or "")
        elif kind == "events":
            self._overview_timer.start(0)
            self._draw_events()
        elif kind == "span":
            self._draw_span()
            measured = self.model.measure_span()
            self.measure_label.setText("" if measured is None else measured.text())
        elif kind == "stages":
            self._draw_caption()

    def _on_recording(self) -> None:
        self._render_timer.stop()
        self._prefetch_timer.stop()
        self._curves.clear()  # the last recording's pages
        self._rows_drawn = None
        rec = self.model.rec
        self.overview.set_annotations(self.model.event_onsets())
        self._draw_events()
        if rec is None:
            self.source = None
            self.overview.set_recording(None, None)
            self._update_enabled()
            self._sync_curves()
            self.message_label.clear()
            self.graphics.update()
            return
        self.source = PageSource(rec, cache_size=24 * max(1, len(rec.channels)))
        self._refresh_visible()
        self.clock_axis.set_start(rec.start)
        self.overview.set_recording(rec.duration, rec.start)
        self._update_enabled()
        self._apply_window()

    def _sync_window_combo(self) -> None:
        i = self.window_combo.findData(self.model.window)
        if i >= 0 and i != self.window_combo.currentIndex():
            self.window_combo.blockSignals(True)
            self.window_combo.setCurrentIndex(i)
            self.window_combo.blockSignals(False)

    def _sync_filter_widgets(self) -> None:
        notch = self.model.notch
        i = self.notch_combo.findData(notch) if notch is not None else 0
        if i >= 0 and i != self.notch_combo.currentIndex():
            self.notch_combo.blockSignals(True)
            self.notch_combo.setCurrentIndex(i)
            self.notch_combo.blockSignals(False)
        if self.filters_check.isChecked() != self.model.filters_enabled:
            self.filters_check.blockSignals(True)
            self.filters_check.setChecked(self.model.filters_enabled)
            self.filters_check.blockSignals(False)

    # ------------------------------------------------------------------ recording
    def set_recording(self, rec: Any, modalities: dict[str, str] | None = None,
                      derivations: Iterable[Derivation] = ()) -> None:
        """Show a recording (None clears the view).

        Parameters
        ----------
        rec : Recording or None
        modalities : dict, optional
            ``{label: modality}`` (``ChannelMap.as_dict()``); classified when omitted.
        derivations : iterable of Derivation
            Extra rows computed from two channels.
        """
        self.model.set_recording(rec, modalities, derivations)

    def set_modalities(self, modalities: dict[str, str]) -> None:
        """Regroup and recolour the rows after channels were reassigned."""
        self.model.set_modalities(modalities)

    def _refresh_visible(self) -> None:
        self._sync_curves()
        self._sync_view_actions()
        self._update_row_geometry()
        self._update_labels()

    def _sync_curves(self) -> None:
        rows = self.model.visible_rows
        self._pens = {r.key: pg.mkPen(r.color, width=1) for r in rows}
        if not rows:
            self.traces.set_rows([], QRectF())
            self._update_scale_bars()

    @property
    def display_channels(self) -> list[DisplayChannel]:
        """Every row (hidden ones included), in display order."""
        return self.model.rows

    @property
    def visible_channels(self) -> list[DisplayChannel]:
        return self.model.visible_rows

    def row_state(self, key: str) -> RowState:
        """Display settings of a row (raises KeyError naming the key)."""
        return self.model.row_state(key)

    def trace_data(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x, y)`` drawn for row ``key`` in plot coordinates (row ``i`` centred on ``-i``);
        None when the row is hidden, or scrolled out of view and not drawn yet."""
        return self.traces.data_for(key)

    # ------------------------------------------------------------------ navigation
    @property
    def duration(self) -> float:
        return self.model.duration

    @property
    def start(self) -> float:
        """Start of the visible window (s from the recording start)."""
        return self.model.start

    @property
    def window_seconds(self) -> float:
        return self.model.window

    @property
    def n_epochs(self) -> int:
        return self.model.n_epochs

    @property
    def current_epoch(self) -> int:
        return self.model.current_epoch

    def set_window(self, seconds: float) -> None:
        """Page length in seconds (any positive value; the presets are in the combo box)."""
        self.model.set_window(seconds)

    def go_to(self, seconds: float, *, align: bool = False) -> None:
        """Show the window starting at ``seconds`` (clamped to the recording).

        With ``align`` the page is the one of whole epochs that contains ``seconds``.
        """
        self.model.go_to(seconds, align=align)

    def go_to_epoch(self, epoch: int) -> None:
        """Show the page that holds ``epoch`` (0-based) and make it current."""
        self.model.go_to_epoch(epoch)

    @Slot(int)
    def set_current_epoch(self, epoch: int) -> None:
        """Make ``epoch`` current (from the hypnogram or scoring) without emitting it back."""
        self.model.set_current_epoch(epoch)

    def next_page(self) -> None:
        self.model.page(1)

    def prev_page(self) -> None:
        self.model.page(-1)

    def step_epochs(self, n: int) -> None:
        """Move the current epoch by ``n``; the page follows when the epoch leaves it."""
        self.model.step_epochs(n)

    def scroll(self, fraction: float) -> None:
        """Move the window by a fraction of its length (not aligned to epochs)."""
        self.model.scroll(fraction)

    def home(self) -> None:
        self.model.home()

    def end(self) -> None:
        self.model.end()

    def focus_goto(self) -> None:
        self.goto_edit.setFocus(Qt.ShortcutFocusReason)
        self.goto_edit.selectAll()

    def go_to_text(self, text: str) -> float:
        """Go to what a person typed (see :func:`parse_go_to`); returns the time (s).

        Raises
        ------
        ValueError
            If the text cannot be read or is outside the recording.
        """
        if self.rec is None:
            raise ValueError("no recording is open")
        t = parse_go_to(text, self.rec.start, self.duration, self.model.epoch_length)
        self.go_to(t, align=True)
        return t

    def _on_goto(self) -> None:
        try:
            self.go_to_text(self.goto_edit.text())
        except ValueError as exc:
            self.message_label.setText(str(exc))
            return
        self.message_label.clear()
        self.goto_edit.clear()
        self.graphics.setFocus(Qt.OtherFocusReason)

    def _on_overview_time(self, t: float) -> None:
        if self.model.window >= self.model.epoch_length:
            self.go_to(t, align=True)
        else:
            self.go_to(t - self.model.window / 2.0)

    def _on_wheel(self, delta: int) -> None:
        if delta:
            self.scroll(-0.1 * np.sign(delta))

    # ------------------------------------------------------------------ channels
    def select_channel(self, key: str | None) -> None:
        """Select a row (gain keys then act on it); None clears the selection."""
        self.model.select(key)

    @property
    def selected_channel(self) -> str | None:
        return self.model.selected

    def select_relative(self, step: int) -> None:
        self.model.select_relative(step)

    def gain(self, key: str) -> float:
        return self.model.row_state(key).gain

    def set_gain(self, key: str, gain: float) -> None:
        self.model.set_gain(key, gain)

    def gain_up(self, key: str | None = None) -> None:
        """Enlarge the traces of ``key`` (else the selected row, else all rows)."""
        self.model.gain_up(key)

    def gain_down(self, key: str | None = None) -> None:
        self.model.gain_down(key)

    def auto_scale(self, key: str | None = None) -> None:
        """Fit the traces of the current page into their rows (gain back to 1)."""
        self.model.auto_scale(key)

    def set_inverted(self, key: str, inverted: bool) -> None:
        self.model.set_inverted(key, inverted)

    def toggle_invert(self, key: str | None = None) -> None:
        self.model.toggle_invert(key)

    def set_channel_visible(self, key: str, visible: bool) -> None:
        self.model.set_visible(key, visible)

    def hide_selected(self) -> None:
        key = self.model.selected
        if key is not None:
            self.model.select_relative(1)
            self.model.set_visible(key, False)

    def show_all_channels(self) -> None:
        self.model.show_all()

    @property
    def hidden_channels(self) -> list[str]:
        return self.model.hidden

    def amplitude_per_row(self, key: str) -> tuple[float, str] | None:
        """Signal range one row height stands for, in the unit shown (e.g. ``(120.0, "µV")``)."""
        return self.model.amplitude_per_row(key)

    # ------------------------------------------------------------------ derivations
    @property
    def derivations(self) -> list[Derivation]:
        return self.model.derivations

    def add_derivation(self, d: Derivation) -> None:
        """Add a derived row (``plus − minus``); raises ValueError if it cannot be computed."""
        self.model.add_derivation(d)

    def remove_derivation(self, label: str) -> None:
        self.model.remove_derivation(label)

    # ------------------------------------------------------------------ filters
    @property
    def filters(self) -> dict[str, FilterSpec]:
        return self.model.filters

    def set_filter(self, kind: str, spec: FilterSpec) -> None:
        """Display filter of one kind of row (EEG, EOG, EMG, ECG, RESP, SNORE)."""
        self.model.set_filter(kind, spec)

    def reset_filters(self) -> None:
        self.model.reset_filters()

    @property
    def notch(self) -> float | None:
        return self.model.notch

    def set_notch(self, hz: float | None) -> None:
        """Mains notch (50 or 60 Hz) on every filtered row; None turns it off."""
        self.model.set_notch(hz)

    @property
    def filters_enabled(self) -> bool:
        return self.model.filters_enabled

    def set_filters_enabled(self, enabled: bool) -> None:
        self.model.set_filters_enabled(enabled)

    # ------------------------------------------------------------------ events
    def event_marks(self) -> list[EventMark]:
        """What :meth:`_draw_events` drew for the page (for tests and timing)."""
        return list(self.events_item._marks)

    def _label_geometry(self) -> tuple[float, float, int, int]:
        """(label width px, lane height px, lanes in a row's label zone, lanes in the band)."""
        fm = self.fontMetrics()
        row_px = self._row_px  # rows scroll rather than shrink below MIN_ROW_PX
        lane_px = float(min(max(fm.height(), _MIN_LANE_PX), 16))
        lanes = int(LABEL_ZONE * row_px // lane_px)
        band_lanes = max(1, int((_BAND[1] - _BAND[0]) * row_px // lane_px))
        label_px = float(fm.horizontalAdvance("Tachy") + _LABEL_PAD)
        return label_px, lane_px, lanes, band_lanes

    def _draw_events(self) -> None:
        m = self.model
        label_px, lane_px, lanes, band_lanes = self._label_geometry()
        width_px = self.viewbox.width() or max(self.graphics.width() - 160, 400)
        seconds_per_px = m.window / max(width_px, 1.0)
        marks = (m.event_marks(label_px * seconds_per_px, lanes, band_lanes)
                 if m.rec is not None else [])
        n_rows = max(len(m.visible_rows), 1)
        self.events_item.set_marks(marks, m.start, m.stop, -(n_rows - 1) - 0.5, lane_px,
                                   label_px)
        self.events_item.set_rejected(m.rejected_marks() if m.rec is not None else [])
        self._draw_span()
        self._draw_caption()

    def _draw_span(self) -> None:
        span = self.model.span
        if span is None or self.rec is None:
            self.events_item.set_span(None)
            return
        a, b, key = span
        keys = [r.key for r in self.model.visible_rows]
        row = keys.index(key) if key in keys else None
        self.events_item.set_span((a, b, row))

    def _draw_caption(self) -> None:
        el = self.model.epoch_length
        x = max(self.model.start, self.model.current_epoch * el)
        self.events_item.set_caption(self.model.stage_caption(), x)

    # ------------------------------------------------------------------ overview
    def set_hypnogram(self, stages: np.ndarray | None, epoch_length: float = float(EPOCH_SECONDS),
                      offset: float = 0.0) -> None:
        """Stages to colour the overview strip with (codes as in ``sleepfm_engine.hypnogram``)."""
        self.overview.set_stages(stages, epoch_length, offset)

    def set_envelope(self, values: np.ndarray | None, epoch_length: float = float(EPOCH_SECONDS)) -> None:
        """Whole-night per-epoch amplitude for the overview strip."""
        self.overview.set_envelope(values, epoch_length)

    # ------------------------------------------------------------------ drawing
    def _apply_window(self) -> None:
        if self.rec is None:
            return
        self.viewbox.setXRange(self.model.start, self.model.stop, padding=0)
        # Apply the new range now: left to the paint, it would change the items' transforms
        # during the paint and make Qt paint everything a second time.
        self.viewbox.updateMatrix()
        self._update_grid()
        self._update_epoch_mark()
        self._update_position_label()
        self.overview.set_window(self.model.start, self.model.window)
        self._draw_events()
        self._request_render(immediate=True)
        self._page_drawn = (self.model.start, self.model.current_epoch)
        self.pageChanged.emit(self.model.start, self.model.stop)

    def _request_render(self, immediate: bool = False) -> None:
        if self.rec is None:
            return
        if immediate:
            self.render_now()
        else:
            self._render_timer.start(0)

    def _n_bins(self) -> int:
        w = int(self.viewbox.width()) if self.viewbox.width() > 0 else 0
        if w <= 0:
            w = max(self.graphics.width() - 160, 400)
        return max(200, w)

    @Slot()
    def render_now(self) -> None:
        """Prepare and set the data of the visible rows in view (and a row beyond each edge)
        for the current window; the rows scrolled away are prepared when they come into view."""
        self._render_timer.stop()
        if self.rec is None or self.source is None:
            return
        self._lay_out_rows()
        self._update_labels()
        self._paint_pending = self.model.start

    def _lay_out_rows(self) -> None:
        """Set the traces of the rows to draw for the current window (from the caches where
        laid out already) and prepare the neighbouring pages' while idle."""
        m = self.model
        filters, notch = m.active_filters()
        start, stop = m.start, m.stop
        visible = m.visible_rows
        wanted = self._rows_to_draw()
        # A row never scaled yet is prepared wherever it is: its first page may set its scale
        # (a row with no data over the night), which its label and scale bar show.
        drawn = [i for i, row in enumerate(visible)
                 if i in wanted or m.row_state(row.key).span is None]
        traces = self.source.render([visible[i] for i in drawn], start, stop, self._n_bins(),
                                    filters, notch)
        rows = []
        self._position_spare += self._position_texts
        self._position_texts = []
        paths: list[QPainterPath | None] = []
        for i, tr in zip(drawn, traces):
            row = visible[i]
            m.fit(row.key, tr.y)
            if level_role(row) == "position":
                self._draw_positions(row, tr.x, tr.y, m.row_baseline(i))
                y = np.full(tr.y.shape, np.nan)  # its names stand for the trace
                rows.append((row.key, tr.x, y, True, self._pens[row.key]))
                paths.append(None)
                continue
            y, path = self._row_curve(i, row, tr)
            rows.append((row.key, tr.x, y, tr.has_gaps, self._pens[row.key]))
            paths.append(path)
        for item in self._position_spare:
            item.hide()
        n = max(len(visible), 1)
        self.traces.set_rows(rows, QRectF(start, -(n - 1) - 1.5, stop - start, n + 2.0), paths)
        self._rows_drawn = (start, stop, tuple(visible[i].key for i in drawn))
        if self.prefetch:
            self._prefetch_timer.start()

    def _rows_to_draw(self) -> set[int]:
        """Indices of the visible rows in view, partly or whole, and one beyond each edge."""
        n = len(self.model.visible_rows)
        (_, _), (y0, y1) = self.viewbox.viewRange()
        # Row i spans -i - 0.5 to -i + 0.5; one that only touches an edge is not in view.
        first = max(0, int(math.floor(-y1 - 0.5 + 1e-6)) + 1 - _ROW_MARGIN)
        last = min(n - 1, int(math.ceil(0.5 - y0 - 1e-6)) - 1 + _ROW_MARGIN)
        return set(range(first, last + 1))

    def _draw_rows_in_view(self) -> None:
        """Prepare the rows scrolled into view that the page shown has not drawn, now (a few
        rows; the page's other rows come from the caches)."""
        if self.rec is None or self.source is None or self._rows_drawn is None:
            return
        start, stop, keys = self._rows_drawn
        if (start, stop) != (self.model.start, self.model.stop):
            return  # a new page is being drawn, with the rows in view
        visible = self.model.visible_rows
        drawn = set(keys)
        if any(i >= len(visible) or visible[i].key not in drawn for i in self._rows_to_draw()):
            # The labels and the page are as they were: only the traces change.
            self._lay_out_rows()

    def _draw_positions(self, row: DisplayChannel, x: np.ndarray, y: np.ndarray,
                        baseline: float) -> None:
        """Write the name of each position run of a position row on the row."""
        for t0, _, name in self.model.position_runs(row.key, x, y):
            if self._position_spare:
                text = self._position_spare.pop()
                text.setText(name, color=row.color)
                text.show()
            else:
                text = pg.TextItem(name, color=row.color, anchor=(0.0, 0.5))
                self.viewbox.addItem(text, ignoreBounds=True)
            text.setPos(max(t0, self.model.start), baseline)
            self._position_texts.append(text)

    def _row_curve(self, i: int, row: DisplayChannel, tr: Any) -> tuple[np.ndarray, QPainterPath]:
        """Plot y and path of trace ``tr`` drawn in visible row ``i``: scaled, moved to the
        row and clamped to it; kept, so a page prefetched (or drawn again) is not laid out
        twice."""
        m = self.model
        center, k = m.row_transform(row.key)
        baseline = m.row_baseline(i)
        limits = m.row_limits(i) if m.clip else None
        key = (id(tr), baseline, center, k, limits)
        hit = self._curves.pop(key, None)
        if hit is None or hit[0] is not tr:
            y = (tr.y - center) * k + baseline
            if limits is not None:
                # Clamped to the row: a large wave stays off its neighbours.
                np.clip(y, *limits, out=y)
            hit = (tr, y, _trace_path(tr.x, y, tr.has_gaps))
        self._curves[key] = hit  # the most recently used last
        # The page shown, its two neighbours and the one before.
        while len(self._curves) > 4 * max(len(m.visible_rows), 1):
            self._curves.pop(next(iter(self._curves)))
        return hit[1], hit[2]

    def _prefetch(self) -> None:
        """Prepare the next and previous pages while nothing else happens."""
        if self.rec is None or self.source is None or not self.model.visible_rows:
            return
        m = self.model
        filters, notch = m.active_filters()
        n_bins = self._n_bins()
        visible = m.visible_rows
        for direction in (1, -1):
            s = m.clamp(m.start + direction * m.window)
            if abs(s - m.start) > 1e-9:
                # The rows the page shown draws: a flip draws those; the others are prepared
                # when scrolled into view.
                drawn = sorted(self._rows_to_draw())
                traces = self.source.render([visible[i] for i in drawn], s, s + m.window,
                                            n_bins, filters, notch)
                for i, tr in zip(drawn, traces):
                    row = visible[i]
                    # Rows not scaled yet get their scale when shown (position rows: names).
                    if m.row_state(row.key).span is not None and level_role(row) != "position":
                        self._row_curve(i, row, tr)

    def _count_overview_events(self) -> None:
        self.overview.set_annotations(self.model.event_onsets())

    def _on_painted(self) -> None:
        if self._paint_pending is not None:
            start, self._paint_pending = self._paint_pending, None
            self.pagePainted.emit(start)

    def _update_labels(self) -> None:
        labels, colors = [], []
        for row in self.model.visible_rows:
            st = self.model.row_state(row.key)
            text = row.label
            amp = self.amplitude_per_row(row.key)
            level = self.model.level_text(row.key)
            sensitivity = self.model.sensitivity_text(row.key)
            if level is not None:
                # A level's value says more than its scale (SpO2's axis is fixed at 80-100 %).
                text += f"  {level}"
            elif sensitivity is not None:
                text += f"  {sensitivity}"
            elif amp is not None:
                value, unit = amp
                if unit == "µV" and value >= 10_000:
                    value, unit = value / 1000.0, "mV"
                text += f"  {_short_number(value)} {unit}".rstrip()
            if st.inverted:
                text += " ⇅"
            labels.append(text)
            colors.append(row.color)
        selected = None
        if self.model.selected is not None:
            for row, text in zip(self.model.visible_rows, labels):
                if row.key == self.model.selected:
                    selected = text
        self.channel_axis.set_rows(labels, colors, selected)
        self._update_scale_bars()
        self._update_row_mark()
        self._empty_text.setVisible(self.rec is None)

    def _update_row_mark(self) -> None:
        keys = [r.key for r in self.model.visible_rows]
        if self.model.selected in keys and self.rec is not None:
            i = keys.index(self.model.selected)
            self._row_mark.setRect(QRectF(0, -i - 0.5, max(self.duration, 1.0), 1.0))
            self._row_mark.show()
        else:
            self._row_mark.hide()

    # ------------------------------------------------------------------ row geometry
    def set_screen_dpi(self, dpi: float | None) -> None:
        """Dots per inch of the screen, as measured with a ruler (None: what the screen says).

        Raises
        ------
        ValueError
            If ``dpi`` is not a positive number.
        """
        if dpi is not None and not (float(dpi) > 0 and math.isfinite(float(dpi))):
            raise ValueError(f"dots per inch must be a positive number, got {dpi}")
        self._screen_dpi = None if dpi is None else float(dpi)
        self._update_row_geometry()

    def pixels_per_mm(self) -> float:
        """Pixels (of this widget's coordinates) per mm of screen: the set DPI, else the
        screen's physical one (Qt 6 gives it in device-independent pixels, as widgets are)."""
        dpi = self._screen_dpi
        if dpi is None:
            screen = self.screen()
            dpi = screen.physicalDotsPerInchY() if screen is not None else 0.0
            if not (dpi > 0 and math.isfinite(dpi)):
                dpi = _FALLBACK_DPI
        return dpi / 25.4

    def _viewbox_height(self) -> float:
        return float(self.viewbox.height() or max(self.graphics.height() - 100, 100))

    def _update_row_geometry(self) -> None:
        """Fit the rows to the height, at least :data:`MIN_ROW_PX` each: when they do not fit,
        show as many as do and let the scroll bar move through them. The model learns the
        row height in mm, which calibrated rows are drawn from."""
        n = max(len(self.model.visible_rows), 1)
        bottom = -(n - 1) - 0.6  # row 0 sits at y = 0, the events band above it
        total = _TOP - bottom
        height = self._viewbox_height()
        shown = min(total, height / MIN_ROW_PX)
        # Scroll step v > 0 puts row v - 1 at the top, the band scrolled away.
        steps = 0 if shown >= total - 1e-9 else int(math.ceil(1.5 - bottom - shown - 1e-9))
        sb = self.row_scroll
        sb.blockSignals(True)
        sb.setRange(0, steps)
        sb.setPageStep(max(1, int(shown) - 1))
        sb.blockSignals(False)
        sb.setVisible(steps > 0)
        v = sb.value()
        top = _TOP if v == 0 else max(0.5 - (v - 1), bottom + shown)
        self.viewbox.setYRange(top - shown, top, padding=0)
        self._row_px = height / shown
        mm = self._row_px / self.pixels_per_mm()
        if abs(mm - self.model.row_mm) > 1e-6:
            self.model.set_row_mm(mm)
            if self.rec is not None:
                self._update_scale_bars()
                self._request_render()  # calibrated rows follow the new mm
        self._draw_rows_in_view()

    def _on_rows_wheel(self, delta: int) -> None:
        """Shift+wheel scrolls through the rows (three a notch) when they do not all fit."""
        if delta:
            self.row_scroll.setValue(self.row_scroll.value() - 3 * int(np.sign(delta)))

    def _on_viewbox_resized(self) -> None:
        if self.rec is None:
            return
        self._update_row_geometry()
        width = self.viewbox.width()
        if width != self._viewbox_width:
            # The scroll bar came or went: the pixel columns and label lanes changed.
            self._viewbox_width = width
            self._request_render()
            self._draw_events()

    def rows_in_view(self) -> list[int]:
        """Visible rows (indices) whole on the screen now, top to bottom."""
        (_, _), (y0, y1) = self.viewbox.viewRange()
        return [i for i in range(len(self.model.visible_rows))
                if -i - 0.5 >= y0 - 1e-6 and -i + 0.5 <= y1 + 1e-6]

    def _ensure_row_visible(self, key: str | None) -> None:
        """Scroll row ``key`` into view (a row selected with the arrow keys)."""
        keys = [r.key for r in self.model.visible_rows]
        if key not in keys or self.row_scroll.maximum() == 0:
            return
        i = keys.index(key)
        (_, _), (y0, y1) = self.viewbox.viewRange()
        shown = y1 - y0
        if -i + 0.5 > y1 + 1e-6:
            self.row_scroll.setValue(i + 1)
        elif -i - 0.5 < y0 - 1e-6:
            self.row_scroll.setValue(int(math.ceil(2 + i - shown - 1e-9)))

    def _update_scale_bars(self) -> None:
        """One scale bar per trace row (none on level rows), redrawn only when a row's scale
        or the row height changed."""
        m = self.model
        rows = m.visible_rows
        source = (m.row_mm, tuple((r.key, r.color, m.row_state(r.key).sensitivity,
                                   m.row_state(r.key).span, m.row_state(r.key).gain)
                                  for r in rows))
        if source == self._bars_from:
            return
        self._bars_from = source
        bars = []
        for i, row in enumerate(rows):
            bar = m.scale_bar(row.key) if self.rec is not None else None
            if bar is not None:
                bars.append((m.row_baseline(i), bar.height, bar.text, QColor(row.color)))
        n = max(len(rows), 1)
        self.scale_bars.set_bars(bars, QRectF(-1.0, -n - 0.5, max(self.duration, 1.0) + 2.0,
                                              n + 1.0))

    def scale_bar_texts(self) -> dict[str, str]:
        """``{row key: "75 µV"}`` of the scale bars drawn (visible trace rows)."""
        m = self.model
        out = {}
        for row in m.visible_rows:
            bar = m.scale_bar(row.key)
            if bar is not None:
                out[row.key] = bar.text
        return out

    def _sync_view_actions(self) -> None:
        for action, on in ((self.calibrated_action, self.model.calibrated),
                           (self.clip_action, self.model.clip)):
            if action.isChecked() != on:
                action.blockSignals(True)
                action.setChecked(on)
                action.blockSignals(False)

    def set_clip(self, on: bool) -> None:
        """Clip traces to their rows (View menu; on by default)."""
        self.model.set_clip(on)

    def set_calibrated(self, on: bool, key: str | None = None) -> None:
        """Calibrated sensitivity (µV/mm) for row ``key``, else for every row with a clinical
        default and the recordings opened later (see ``DisplayModel.set_calibrated``)."""
        self.model.set_calibrated(on, key)

    def _update_grid(self) -> None:
        a, b = self.model.start, self.model.stop
        n_rows = max(len(self.model.visible_rows), 1)
        top, bottom = _TOP, -(n_rows - 1) - 0.6
        el = self.model.epoch_length
        ks = np.arange(math.ceil(a / el - 1e-9), math.floor(b / el + 1e-9) + 1)
        xs = np.repeat(ks * el, 2)
        ys = np.tile([top, bottom], ks.size)
        self._epoch_grid.setData(xs, ys)
        if self.model.window <= 120:
            step = 1.0 if self.model.window <= 60 else 5.0
            ss = np.arange(math.ceil(a / step), math.floor(b / step) + 1) * step
            ss = ss[np.abs(ss / el - np.round(ss / el)) > 1e-9]
            self._second_grid.setData(np.repeat(ss, 2), np.tile([top, bottom], ss.size))
            self._second_grid.show()
        else:
            self._second_grid.hide()
        self.epoch_axis.offset = 0.0
        self.epoch_axis.epoch_length = el

    def _update_epoch_mark(self) -> None:
        if self.rec is None or self.model.window <= self.model.epoch_length + 1e-9:
            self._epoch_mark.hide()
        else:
            n_rows = max(len(self.model.visible_rows), 1)
            t0 = self.model.current_epoch * self.model.epoch_length
            self._epoch_mark.setRect(QRectF(t0, -(n_rows - 1) - 0.6, self.model.epoch_length,
                                            n_rows - 0.4 + _TOP))
            self._epoch_mark.show()
        el = self.model.epoch_length
        self.overview.set_current(self.model.current_epoch * el, el)

    def _update_position_label(self) -> None:
        if self.rec is None:
            self.position_label.clear()
            return
        s = self.rec.start
        self.position_label.setText(
            f"Epoch <b>{self.model.current_epoch + 1}</b>/{self.n_epochs} · "
            f"{clock_text(s, self.model.start)} – {clock_text(s, self.model.stop)}")

    def _update_enabled(self) -> None:
        on = self.rec is not None
        for w in (self.window_combo, self.goto_edit, self.filters_check, self.notch_combo):
            w.setEnabled(on)
        for a in self.navigation_actions + self.channel_actions:
            a.setEnabled(on)
        self._empty_text.setVisible(not on)
        if not on:
            self.viewbox.setRange(xRange=(0, 1), yRange=(-1, 0), padding=0)
            self._empty_text.setPos(0.5, -0.5)

    # ------------------------------------------------------------------ mouse
    def _row_at(self, y: float) -> int | None:
        """Visible row under plot y; None above the rows (the page band)."""
        row = int(round(-y))
        return row if 0 <= row < len(self.model.visible_rows) else None

    def _pixel_seconds(self) -> float:
        return self.model.window / max(self.viewbox.width() or 1.0, 1.0)

    def _on_plot_click(self, x: float, y: float, button) -> None:
        if self.rec is None:
            return
        self.setFocus(Qt.MouseFocusReason)
        row = self._row_at(y)
        if row is not None:
            self.select_channel(self.model.visible_rows[row].key)
        hit = self.model.event_at(x, row, tolerance=3 * self._pixel_seconds())
        self.model.select_event(hit[1].id if hit is not None else None)
        if button == Qt.LeftButton:
            self.model.clear_span()
        if button == Qt.LeftButton and 0 <= x <= self.duration:
            epoch = min(self.n_epochs - 1, int(x // self.model.epoch_length))
            self.model.select_epoch(epoch)

    def _on_drag(self, x0: float, y0: float, x: float, phase: str) -> None:
        """A drag across a trace (or the band above the rows) marks a span to score; a drag
        on the edge of the selected event resizes it, inside it moves it."""
        m = self.model
        if m.rec is None:
            return
        if phase == "start":
            self.setFocus(Qt.MouseFocusReason)
            row = self._row_at(y0)
            self._drag = ("span", m.visible_rows[row].key if row is not None else None)
            found = m.find_event(m.selected_event) if m.selected_event else None
            if found is not None:
                e = found[1]
                near = 4 * self._pixel_seconds()
                if abs(x0 - e.onset) <= near:
                    self._drag = ("start", e)
                elif abs(x0 - e.end) <= near:
                    self._drag = ("end", e)
                elif e.onset < x0 < e.end:
                    self._drag = ("move", e)
        if self._drag is None:
            return
        mode, what = self._drag
        if mode == "span":
            m.set_span(x0, x, what)
            if phase == "finish":
                self._drag = None
            return
        e = what
        a, b = e.onset, e.end
        if mode == "start":
            a = min(x, b)
        elif mode == "end":
            b = max(x, a)
        else:
            a, b = a + (x - x0), b + (x - x0)
        a, b = max(0.0, a), min(self.duration, b)
        keys = [r.key for r in m.visible_rows]
        rows = m.event_rows(e)
        m.set_span(a, b, keys[rows[0]] if rows else None)
        if phase == "finish":
            self._drag = None
            m.clear_span()
            if (a, b) != (e.onset, e.end):
                self.eventEditRequested.emit(e.id, a, b - a)

    def create_event_on_span(self, kind: EventType | str) -> bool:
        """Ask for an event of ``kind`` on the dragged span; False when no span is marked."""
        span = self.model.span
        if span is None:
            return False
        a, b, key = span
        self.model.clear_span()
        self.eventCreateRequested.emit(a, b, key or "", EventType(kind).value)
        return True

    def _on_context(self, x: float, y: float, screen: QPointF) -> None:
        menu = self.event_menu()
        if menu is not None:
            menu.exec(screen.toPoint())

    def event_menu(self) -> QMenu | None:
        """The context menu of the traces: score the dragged span as a type, or change,
        delete or accept the selected event; None when there is nothing to act on."""
        m = self.model
        found = m.find_event(m.selected_event) if m.selected_event else None
        if m.span is None and found is None:
            return None
        menu = QMenu(self)
        if m.span is not None:
            self._type_menu(menu.addMenu("Score as"), self.create_event_on_span)
        if found is not None:
            e = found[1]
            self._type_menu(menu.addMenu("Change type to"),
                            lambda t, i=e.id: self.eventTypeRequested.emit(i, EventType(t).value))
            menu.addAction("Delete (Del)", lambda i=e.id: self.eventDeleteRequested.emit(i))
            if e.source.kind == "detector":
                menu.addAction("Accept (Enter)", lambda i=e.id: self.eventAcceptRequested.emit(i))
        return menu

    def _type_menu(self, menu: QMenu, act) -> None:
        """The types with a key first (the key shown), then every type by family."""
        keyed = {t: k for k, t in reversed(self.event_keys.items())}
        for t, k in keyed.items():
            menu.addAction(f"{EVENT_TYPES[t].label}\t{k}", lambda t=t: act(t))
        for fam in FAMILIES:
            sub = menu.addMenu(fam.capitalize())
            for t in EventType:
                if family(t) == fam:
                    sub.addAction(EVENT_TYPES[t].label, lambda t=t: act(t))

    def _on_label_click(self, row: int, button, screen_pos: QPointF) -> None:
        key = self.model.visible_rows[row].key
        self.select_channel(key)
        if button == Qt.RightButton:
            self.channel_menu(key).exec(screen_pos.toPoint())

    def channel_menu(self, key: str) -> QMenu:
        """The context menu of one row: gain, auto-scale, invert, hide."""
        menu = QMenu(self)
        st = self.row_state(key)
        menu.addAction("Increase gain (+)", lambda: self.gain_up(key))
        menu.addAction("Decrease gain (−)", lambda: self.gain_down(key))
        menu.addAction("Auto-scale (*)", lambda: self.auto_scale(key))
        cal = menu.addAction("Calibrated (µV/mm)",
                             lambda: self.set_calibrated(st.sensitivity is None, key))
        cal.setCheckable(True)
        cal.setChecked(st.sensitivity is not None)
        cal.setEnabled(self.model.can_calibrate(key))
        inv = menu.addAction("Inverted (I)", lambda: self.set_inverted(key, not st.inverted))
        inv.setCheckable(True)
        inv.setChecked(st.inverted)
        menu.addAction("Hide (H)", lambda: self.set_channel_visible(key, False))
        return menu

    def showEvent(self, ev):  # noqa: N802
        super().showEvent(ev)
        handle = self.window().windowHandle()
        if handle is not None and handle is not self._screen_window:
            # On another screen a mm is another number of pixels: calibrated rows follow.
            self._screen_window = handle
            handle.screenChanged.connect(self._on_screen_changed)

    def _on_screen_changed(self, _screen) -> None:
        self._update_row_geometry()

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        if self.rec is not None:
            self._update_row_geometry()
            self._request_render()
            self._draw_events()  # label lanes depend on the rows' height in pixels

    # ------------------------------------------------------------------ state
    def display_state(self) -> dict:
        """Display settings worth keeping between sessions (JSON-able)."""
        return self.model.to_dict()

    def restore_display_state(self, state: dict) -> None:
        """Apply what :meth:`display_state` returned; bad entries are skipped (and logged)."""
        for problem in self.model.restore(state):
            log.warning("display setting ignored: %s", problem)
        self._sync_view_actions()


def _short_number(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:.1f}"
    return f"{v:.2g}"
