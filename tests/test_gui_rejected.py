"""Rejected candidates on the traces: the events panel's toggle draws them, grey, on their rows."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QPointF  # noqa: E402

from sleepfm_engine.events import Event, EventSet, EventSource, RejectedCandidate  # noqa: E402
from test_gui_events import _open, _row, dialogs, make_edf_plus, window  # noqa: E402,F401

SOURCE = EventSource.detector("psgscoring", "0.37.0", {})


def _pixels(win, x0: float, x1: float, row: int):
    """The trace view's pixels (RGB) of the time span ``x0``-``x1`` on visible row ``row``."""
    vb, gv = win.trace.viewbox, win.trace.graphics
    a = gv.mapFromScene(vb.mapViewToScene(QPointF(x0, -row + 0.3)))
    b = gv.mapFromScene(vb.mapViewToScene(QPointF(x1, -row - 0.3)))
    img = gv.grab().toImage()
    return [img.pixelColor(x, y).rgb() for x in range(a.x() + 2, b.x() - 2, 3)
            for y in range(a.y(), b.y(), 3)]


class _Hover:
    """A pyqtgraph hover event at ``(x, y)`` in the item's (plot) coordinates."""

    def __init__(self, x: float, y: float):
        self._pos = QPointF(x, y)

    def pos(self) -> QPointF:
        return self._pos

    def isExit(self) -> bool:  # noqa: N802 - pyqtgraph API
        return False


def test_the_rejected_toggle_draws_candidates_grey_on_their_rows(qtbot, window, tmp_path):
    win = window
    _open(qtbot, win, make_edf_plus(tmp_path / "night.edf"))
    scored = Event(2.0, 10.0, "desaturation", channels=("SpO2",), source=SOURCE, id="d1")
    cand = Event(14.0, 12.0, "hypopnea", channels=("Airflow", "Thor"), source=SOURCE, id="r1")
    layer = EventSet([scored], rejected=[RejectedCandidate(cand, "flow reduced only 20 %")])
    with qtbot.waitSignal(win.eventsShown, timeout=5000):
        win.study.set_events(layer, "psgscoring")
    airflow, chin = _row(win, "Airflow"), _row(win, "Chin1-Chin2")
    before = _pixels(win, 14.0, 26.0, airflow), _pixels(win, 14.0, 26.0, chin)
    assert win.trace.events_item._rejected == []  # off by default
    win.events.rejected_check.setChecked(True)
    mark, = win.trace.events_item._rejected
    assert mark.rows == (airflow, _row(win, "Thor"))
    assert mark.text == "rejected: flow reduced only 20 %"
    win.trace.graphics.repaint()
    after = _pixels(win, 14.0, 26.0, airflow), _pixels(win, 14.0, 26.0, chin)
    assert after[0] != before[0]  # drawn on its row
    assert after[1] == before[1]  # and not on a row it was not considered on
    # its whole reason is the tooltip over it, and nothing is elsewhere
    item = win.trace.events_item
    item.hoverEvent(_Hover(20.0, -_row(win, "Thor")))
    assert item.toolTip() == "rejected: flow reduced only 20 %"
    item.hoverEvent(_Hover(20.0, -chin))
    assert item.toolTip() == ""
    # the scored event is drawn as before, the candidate is still not an event
    assert [m.event.id for m in win.trace.event_marks()] == ["d1"]
    win.events.rejected_check.setChecked(False)
    assert win.trace.events_item._rejected == [] and not win.study.display.show_rejected
