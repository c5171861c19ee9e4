"""Main window status bar: a temporary message and the recording's permanent label side by side."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QRect  # noqa: E402
from PySide6.QtWidgets import QLabel, QWidget  # noqa: E402

from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402
from test_gui_trace import make_psg  # noqa: E402

# Qt's QStatusBar draws a temporary message from this far in from its left edge.
_MESSAGE_LEFT = 6


def test_a_temporary_message_and_the_recording_label_do_not_overlap(qtbot, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(errors, "show_error", lambda *a: pytest.fail(f"error shown: {a}"))
    path = make_psg(tmp_path / "night.edf", minutes=2)
    # The window says where the weights come from before it is shown: the case that overlapped.
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(path)
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    message = "Imported 12 events from night.events.csv"
    bar = win.statusBar()
    bar.showMessage(message, 60000)
    qtbot.waitUntil(lambda: bar.currentMessage() == message)
    label = next(w for w in bar.findChildren(QLabel) if path.name in w.text())
    assert label.isVisible()
    message_px = bar.fontMetrics().horizontalAdvance(message)
    message_box = QRect(0, 0, _MESSAGE_LEFT + message_px, bar.height())
    assert label.geometry().left() >= message_box.right()
    # nothing else visible in the bar lies under the message either
    for w in bar.findChildren(QWidget):
        if w.parent() is bar and w.isVisible() and w is not label:
            assert not w.geometry().intersects(message_box), w
    bar.clearMessage()
    assert label.isVisible()
    win.close()
