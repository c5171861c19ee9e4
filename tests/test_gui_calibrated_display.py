"""Trace view, calibrated display: µV/mm rows on the screen's mm, scale bars, clipping to the
row, and many channels scrolling instead of squeezing."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QPainter, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from edf_factory import Sig, write_edf  # noqa: E402
from sleepfm_engine.recording import open_recording  # noqa: E402
from sleepfm_gui.qt_trace_view import MIN_ROW_PX, TraceView  # noqa: E402

RATE = 128
DPI = 100.0  # set by hand: what the offscreen screen reports is not a real screen's


def _psg(path, seconds: int = 300):
    """C4-M1 carrying a 0.5-Hz wave of 75 µV peak to peak (0.1 µV per digit), an EOG, chin EMG,
    ECG, airflow and a 1-Hz SpO2."""
    t = np.arange(seconds * RATE) / RATE
    rng = np.random.default_rng(3)
    noise = rng.integers(-200, 200, t.size)
    sigs = [Sig("C4-M1", RATE, (375 * np.sin(2 * np.pi * 0.5 * t)).astype(int)),
            Sig("E1-M2", RATE, noise), Sig("Chin1-Chin2", RATE, noise // 4),
            Sig("ECG", RATE, rng.integers(-5000, 5000, t.size)), Sig("Airflow", RATE, noise),
            Sig("SpO2", 1, rng.integers(930, 990, seconds), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    return write_edf(path, sigs)


def _eeg64(path, seconds: int = 120):
    """A 64-channel EEG: 10-10 sites, a few µV of noise each."""
    names = [f"{h}{k}" for h in ("F", "T", "P", "AF", "FT", "TP", "PO") for k in range(1, 9)]
    names += [f"FC{k}" for k in range(1, 7)] + ["O1", "O2"]
    rng = np.random.default_rng(4)
    sigs = [Sig(f"EEG {name}", RATE, rng.integers(-300, 300, seconds * RATE)) for name in names]
    return write_edf(path, sigs)


def _show(qtbot, path, size=(1200, 700)):
    v = TraceView()
    qtbot.addWidget(v)
    v.set_screen_dpi(DPI)
    v.resize(*size)
    v.show()
    qtbot.waitExposed(v)
    rec = open_recording(path)
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.set_recording(rec)
    return v, rec


@pytest.fixture
def view(qtbot, tmp_path):
    v, rec = _show(qtbot, _psg(tmp_path / "psg.edf"))
    yield v
    rec.close()


def _labels(v: TraceView) -> list[str]:
    return list(v.channel_axis._labels)


def _screen_mm(v: TraceView, y0: float, y1: float) -> float:
    """mm on the screen between plot heights y0 and y1."""
    a = v.viewbox.mapViewToDevice(QPointF(0.0, y0))
    b = v.viewbox.mapViewToDevice(QPointF(0.0, y1))
    return abs(a.y() - b.y()) / v.pixels_per_mm()


def test_every_trace_row_shows_a_scale_bar_with_its_value_and_levels_none(view):
    texts = view.scale_bar_texts()
    assert set(texts) == {"C4-M1", "E1-M2", "Chin1-Chin2", "ECG", "Airflow"}  # SpO2 is a level
    for key, text in texts.items():
        number, unit = text.split(" ")
        assert float(number) > 0 and unit in ("µV", "mV", ""), (key, text)
    assert sorted(view.scale_bars.texts()) == sorted(texts.values())


def test_a_calibrated_eeg_row_draws_75_microvolts_as_75_over_7_mm_of_screen(qtbot, view):
    view.set_calibrated(True)
    view.render_now()
    assert "C4-M1  7 µV/mm" in _labels(view)
    assert "ECG  100 µV/mm" in _labels(view)
    assert any(lab.startswith("SpO2  ") and lab.endswith("%") for lab in _labels(view))
    view.set_clip(False)
    view.set_filters_enabled(False)  # the 0.3-Hz high-pass would take 11 % off a 0.5-Hz wave
    view.render_now()
    _, y = view.trace_data("C4-M1")
    assert _screen_mm(view, y.max(), y.min()) == pytest.approx(75.0 / 7.0, rel=0.03)
    # The scale bar says what a row's height stands for at this sensitivity.
    bar = view.model.scale_bar("C4-M1")
    assert _screen_mm(view, 0.0, bar.height) == pytest.approx(bar.value / 7.0, rel=0.01)
    # A larger window keeps the mm, not the row: the wave stays 75/7 mm tall.
    with qtbot.waitSignal(view.pagePainted, timeout=5000):
        view.resize(1200, 900)
    view.render_now()
    _, y = view.trace_data("C4-M1")
    assert _screen_mm(view, y.max(), y.min()) == pytest.approx(75.0 / 7.0, rel=0.03)


def test_the_gain_keys_step_a_calibrated_rows_sensitivity_shown_in_its_label(qtbot, view):
    view.select_channel("C4-M1")
    view.set_calibrated(True, "C4-M1")
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_Plus)
    assert view.row_state("C4-M1").sensitivity == 5.0
    assert "C4-M1  5 µV/mm" in _labels(view)
    menu = view.channel_menu("C4-M1")
    cal = next(a for a in menu.actions() if a.text().startswith("Calibrated"))
    assert cal.isChecked()
    cal.trigger()
    assert view.row_state("C4-M1").sensitivity is None
    assert not any(a.text().startswith("Calibrated") and a.isEnabled()
                   for a in view.channel_menu("SpO2").actions())


def test_the_clip_toggle_keeps_a_large_trace_inside_its_row(view):
    keys = [r.key for r in view.visible_channels]
    i = keys.index("ECG")
    lo, hi = view.model.row_limits(i)
    for _ in range(4):
        view.gain_up("ECG")
    view.render_now()
    y = view.trace_data("ECG")[1]
    assert view.clip_action.isChecked()
    assert y.min() >= lo and y.max() <= hi
    assert np.isclose(y, lo).any() and np.isclose(y, hi).any()  # clamped, not dropped
    view.clip_action.trigger()
    assert not view.model.clip
    view.render_now()
    y = view.trace_data("ECG")[1]
    assert y.min() < lo and y.max() > hi
    # The View menu's items are the view's.
    assert view.clip_action in view.view_actions and view.calibrated_action in view.view_actions


def _wheel(v: TraceView, delta: int, modifiers) -> None:
    """One wheel notch over the middle of the traces."""
    port = v.graphics.viewport()
    centre = v.graphics.mapFromScene(v.viewbox.sceneBoundingRect().center())
    ev = QWheelEvent(QPointF(centre), QPointF(port.mapToGlobal(centre)), QPoint(0, 0),
                     QPoint(0, delta), Qt.NoButton, modifiers, Qt.NoScrollPhase, False)
    QApplication.sendEvent(port, ev)


def _label_rects(v: TraceView) -> list[QRectF]:
    img = QImage(8, 8, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        _, _, text_specs = v.channel_axis.generateDrawSpecs(p)
    finally:
        p.end()
    return sorted((QRectF(rect) for rect, _, text in text_specs if text), key=lambda r: r.top())


def test_a_64_channel_eeg_scrolls_with_rows_of_a_least_height_and_labels_apart(qtbot, tmp_path):
    v, rec = _show(qtbot, _eeg64(tmp_path / "eeg64.edf"))
    try:
        assert len(v.visible_channels) == 64
        assert v.row_scroll.isVisible()
        shown = v.rows_in_view()
        assert shown[0] == 0 and 8 < len(shown) < 64
        a = v.viewbox.mapViewToDevice(QPointF(0.0, 0.0))
        b = v.viewbox.mapViewToDevice(QPointF(0.0, -1.0))
        assert b.y() - a.y() >= MIN_ROW_PX - 0.5
        rects = _label_rects(v)
        assert len(rects) >= len(shown)
        for upper, lower in zip(rects, rects[1:]):
            assert upper.bottom() <= lower.top() + 0.5, (upper, lower)
        # Scrolled to the end, the last rows are in view and their labels still apart.
        v.row_scroll.setValue(v.row_scroll.maximum())
        assert v.rows_in_view()[-1] == 63
        rects = _label_rects(v)
        for upper, lower in zip(rects, rects[1:]):
            assert upper.bottom() <= lower.top() + 0.5
        # Shift+wheel scrolls through the rows, the plain wheel through the time.
        v.row_scroll.setValue(0)
        _wheel(v, -120, Qt.ShiftModifier)
        assert v.row_scroll.value() == 3 and v.rows_in_view()[0] == 2 and v.start == 0.0
        _wheel(v, -120, Qt.NoModifier)
        assert v.row_scroll.value() == 3 and v.start > 0.0
        # Selecting a row off screen scrolls it into view.
        v.row_scroll.setValue(0)
        v.select_channel(v.visible_channels[40].key)
        assert 40 in v.rows_in_view()
        # A page flip draws the rows in view; the ones scrolled away are drawn when scrolled to.
        with qtbot.waitSignal(v.pagePainted, timeout=5000):
            v.next_page()
        assert all(v.trace_data(v.visible_channels[i].key) is not None for i in v.rows_in_view())
        assert v.trace_data(v.visible_channels[0].key) is None
        v.row_scroll.setValue(0)
        assert all(v.trace_data(v.visible_channels[i].key) is not None for i in v.rows_in_view())
    finally:
        rec.close()


def test_a_few_channels_fill_the_height_without_a_scroll_bar(view):
    assert not view.row_scroll.isVisible()
    assert view.rows_in_view() == list(range(len(view.visible_channels)))


def test_restored_preferences_check_the_view_menu_items(qtbot):
    v = TraceView()
    qtbot.addWidget(v)
    assert v.clip_action.isChecked() and not v.calibrated_action.isChecked()
    v.restore_display_state({"calibrated": True, "clip": False})
    assert v.calibrated_action.isChecked() and not v.clip_action.isChecked()
    assert v.display_state()["calibrated"] is True


def test_a_move_to_another_screen_measures_the_rows_in_its_mm(view, monkeypatch):
    px_per_row = view.model.row_mm * view.pixels_per_mm()
    monkeypatch.setattr(view, "pixels_per_mm", lambda: 2.0)  # a screen of 50.8 dpi
    handle = view.window().windowHandle()
    handle.screenChanged.emit(handle.screen())
    assert view.model.row_mm == pytest.approx(px_per_row / 2.0)
