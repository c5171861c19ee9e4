"""Trace view axes: the clock and epoch axes lay out what pyqtgraph's general axis would."""
from __future__ import annotations

import datetime as _dt

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sleepfm_gui.qt_axes import ClockAxis, EpochAxis  # noqa: E402


@pytest.fixture
def plot(qtbot):
    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    w.resize(1000, 300)
    clock, epochs = ClockAxis("bottom"), EpochAxis(30.0)
    clock.set_start(_dt.datetime(2024, 1, 1, 22, 0, 0))
    item = w.addPlot(axisItems={"bottom": clock, "top": epochs})
    w.show()
    qtbot.waitExposed(w)
    yield item, clock, epochs
    w.close()


def _specs(axis, generate):
    img = QImage(1200, 400, QImage.Format.Format_ARGB32_Premultiplied)
    p = QPainter(img)
    try:
        axis_spec, ticks, texts = generate(axis, p)
    finally:
        p.end()
    return ((axis_spec[1].x(), axis_spec[1].y(), axis_spec[2].x(), axis_spec[2].y()),
            [(pen.color().alpha(), a.x(), a.y(), b.x(), b.y()) for pen, a, b in ticks],
            [(r.x(), r.y(), r.width(), r.height(), int(flags), text) for r, flags, text in texts])


@pytest.mark.parametrize("x_range", [(0.0, 30.0), (3615.0, 3625.0), (7200.0, 7500.0),
                                     (100.0, 7300.0)])
def test_page_axes_place_ticks_and_labels_as_the_general_pyqtgraph_axis(plot, qtbot, x_range):
    item, clock, epochs = plot
    item.setXRange(*x_range, padding=0)
    item.vb.updateMatrix()
    QApplication.processEvents()  # the axes take the new range from posted events
    for axis in (clock, epochs):
        fast = _specs(axis, type(axis).generateDrawSpecs)
        assert fast == _specs(axis, pg.AxisItem.generateDrawSpecs)
        if axis is clock:
            assert len(fast[1]) > len(fast[2]) > 1, "major and minor ticks, major ones labelled"


def test_page_axes_with_fixed_ticks_fall_back_to_pyqtgraph(plot, qtbot):
    item, clock, _ = plot
    clock.setTicks([[(10.0, "ten"), (20.0, "twenty")]])
    item.setXRange(0.0, 30.0, padding=0)
    item.vb.updateMatrix()
    QApplication.processEvents()  # the axes take the new range from posted events
    texts = [t for *_, t in _specs(clock, type(clock).generateDrawSpecs)[2]]
    assert texts == ["ten", "twenty"]
