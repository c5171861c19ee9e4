"""Trace view: opening, paging keys, go-to, gain, invert, hide, filters, derivations, events."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import Qt  # noqa: E402

from edf_factory import Sig, write_edf  # noqa: E402
from sleepfm_engine.display import FilterSpec  # noqa: E402
from sleepfm_engine.events import Event, EventSet  # noqa: E402
from sleepfm_engine.recording import open_recording  # noqa: E402
from sleepfm_gui.qt_trace_view import TraceView, parse_go_to  # noqa: E402

RATE = 128


def make_psg(path, minutes: float = 10, seed: int = 0):
    """A small PSG: referential EEG (C4, M1), EOG, chin EMG, ECG, airflow, 1-Hz SpO2."""
    rng = np.random.default_rng(seed)
    seconds = int(minutes * 60)
    n = seconds * RATE

    def walk(scale=40):
        x = np.cumsum(rng.normal(0, scale, n))
        return np.clip(x - np.linspace(x[0], x[-1], n), -30000, 30000).astype(int)

    sigs = [Sig("C4", RATE, walk()), Sig("M1", RATE, walk()), Sig("E1-M2", RATE, walk()),
            Sig("Chin1-Chin2", RATE, rng.integers(-2000, 2000, n)), Sig("ECG", RATE, walk()),
            Sig("Airflow", RATE, walk(10)),
            Sig("SpO2", 1, rng.integers(930, 990, seconds), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    return write_edf(path, sigs)


@pytest.fixture
def view(qtbot, tmp_path):
    v = TraceView()
    qtbot.addWidget(v)
    v.resize(1200, 700)
    v.show()
    qtbot.waitExposed(v)
    rec = open_recording(make_psg(tmp_path / "psg.edf"))
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.set_recording(rec)
    yield v
    rec.close()


def _page(qtbot, v, action):
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        action()


def test_opening_paints_the_first_30_s_page_with_every_channel(view):
    assert view.start == 0.0 and view.window_seconds == 30.0 and view.current_epoch == 0
    keys = [r.key for r in view.visible_channels]
    assert set(keys) == {"C4", "M1", "E1-M2", "Chin1-Chin2", "ECG", "Airflow", "SpO2"}
    x, y = view.trace_data("C4")
    assert x[0] <= 0.01 and x[-1] >= 29.99
    # Row i is drawn around its baseline (below its label zone); the auto-scale fits the page
    # into the row.
    i = keys.index("C4")
    assert abs(np.median(y) - view.model.row_baseline(i)) < 0.4
    # 30 s at 128 Hz is 3840 samples: more than two per pixel, so the page is decimated.
    assert y.size <= 2 * view._n_bins()


def test_page_keys_move_by_pages_and_epochs(qtbot, view):
    view.setFocus()
    _page(qtbot, view, lambda: qtbot.keyClick(view, Qt.Key_PageDown))
    assert view.start == 30.0 and view.current_epoch == 1
    _page(qtbot, view, lambda: qtbot.keyClick(view, Qt.Key_End))
    assert view.start == pytest.approx(view.duration - 30.0)
    assert view.current_epoch == view.n_epochs - 1
    _page(qtbot, view, lambda: qtbot.keyClick(view, Qt.Key_PageUp))
    assert view.start == pytest.approx(view.duration - 60.0)
    _page(qtbot, view, lambda: qtbot.keyClick(view, Qt.Key_Home))
    assert view.start == 0.0
    with qtbot.waitSignal(view.currentEpochChanged, timeout=2000) as sig:
        _page(qtbot, view, lambda: qtbot.keyClick(view, Qt.Key_Right))
    assert sig.args == [1] and view.start == 30.0


def test_window_presets_keep_the_current_epoch_on_screen(qtbot, view):
    view.go_to_epoch(7)
    view.set_window(120.0)
    assert view.start == 120.0 and view.current_epoch == 7  # epochs 4-7 share a 2-min page
    view.set_window(5.0)
    assert view.start == 210.0
    with pytest.raises(ValueError):
        view.set_window(0)


def test_go_to_accepts_epochs_clock_times_and_elapsed_times(view):
    start = view.rec.start  # 22:15:00 in the factory's header
    assert parse_go_to("3", start, 600) == 60.0
    assert parse_go_to("22:16:30", start, 600) == 90.0
    assert parse_go_to("+2m", start, 600) == 120.0
    assert parse_go_to("+0:01:00", start, 600) == 60.0
    with pytest.raises(ValueError, match="outside the recording"):
        parse_go_to("99", start, 600)
    with pytest.raises(ValueError, match="cannot read"):
        parse_go_to("soon", start, 600)
    # Clock times earlier than the start mean after midnight.
    late = _dt.datetime(2020, 1, 1, 23, 0, 0)
    assert parse_go_to("01:00", late, 3 * 3600) == 7200.0
    view.goto_edit.setText("5")
    view.goto_edit.returnPressed.emit()
    assert view.start == 120.0 and view.current_epoch == 4
    view.goto_edit.setText("nonsense")
    view.goto_edit.returnPressed.emit()
    assert "cannot read" in view.message_label.text()


def test_gain_keys_scale_the_selected_channel_only(qtbot, view):
    view.set_clip(False)  # the scaling alone: clipped samples stop at their row's edge
    view.render_now()
    before = {k: view.trace_data(k)[1].copy() for k in ("C4", "ECG")}
    amp = view.amplitude_per_row("C4")[0]
    view.select_channel("C4")
    _page(qtbot, view, lambda: (qtbot.keyClick(view, Qt.Key_Plus), view.render_now()))
    after = view.trace_data("C4")[1]
    base = view.model.row_baseline([r.key for r in view.visible_channels].index("C4"))
    assert np.allclose(after - base, (before["C4"] - base) * np.sqrt(2))
    assert view.amplitude_per_row("C4")[0] == pytest.approx(amp / np.sqrt(2))
    assert np.allclose(view.trace_data("ECG")[1], before["ECG"])
    view.select_channel(None)
    view.gain_down()
    view.render_now()
    assert view.gain("ECG") == pytest.approx(1 / np.sqrt(2))
    view.auto_scale()
    assert view.gain("C4") == 1.0
    with pytest.raises(ValueError):
        view.set_gain("C4", -1)


def test_invert_and_hide_channels(qtbot, view):
    view.set_clip(False)  # a row's edges are not symmetric about its trace's baseline
    view.render_now()
    base = view.model.row_baseline([r.key for r in view.visible_channels].index("ECG"))
    y0 = view.trace_data("ECG")[1] - base
    view.set_inverted("ECG", True)
    view.render_now()
    assert np.allclose(view.trace_data("ECG")[1] - base, -y0)
    n = len(view.visible_channels)
    view.set_channel_visible("ECG", False)
    view.render_now()
    assert len(view.visible_channels) == n - 1 and view.trace_data("ECG") is None
    assert view.hidden_channels == ["ECG"]
    view.show_all_channels()
    view.render_now()
    assert view.trace_data("ECG") is not None


def test_display_filters_change_the_trace_and_can_be_switched_off(qtbot, view):
    view.render_now()
    filtered = view.trace_data("C4")[1].copy()
    view.set_filter("EEG", FilterSpec(5.0, 10.0))
    view.render_now()
    narrow = view.trace_data("C4")[1]
    assert not np.allclose(narrow, filtered)
    view.set_filters_enabled(False)
    view.auto_scale("C4")
    view.render_now()
    st = view.row_state("C4")
    # Unfiltered, the row's centre is the raw median over the night (a random walk is far
    # from zero), not the filtered one.
    assert st.center == pytest.approx(view.model.night_scale("C4")[0])
    view.set_filters_enabled(True)
    assert view.model.night_scale("C4")[0] != pytest.approx(st.center, abs=abs(st.center) / 10)
    view.set_filters_enabled(False)
    assert not view.filters_check.isChecked()
    view.set_notch(50.0)
    assert view.notch_combo.currentData() == 50.0
    with pytest.raises(ValueError, match="no display filter"):
        view.set_filter("LEVEL", FilterSpec(1.0, None))


def test_derivation_row_from_two_electrodes(qtbot, view):
    from sleepfm_engine.display import Derivation

    view.add_derivation(Derivation("C4", "M1"))
    view.render_now()
    row = next(r for r in view.visible_channels if r.key == "C4-M1")
    assert row.kind == "EEG" and row.is_derived
    assert view.trace_data("C4-M1") is not None
    with pytest.raises(ValueError, match="sampled at"):
        view.add_derivation(Derivation("C4", "SpO2"))
    view.remove_derivation("C4-M1")
    assert "C4-M1" not in [r.key for r in view.display_channels]


def test_ten_thousand_events_draw_only_those_on_the_page(qtbot, view):
    rng = np.random.default_rng(0)
    onsets = np.sort(rng.uniform(0, view.duration, 10_000))
    view.model.set_event_layers({"file": EventSet(
        Event(float(t), 2.0, "arousal", id=f"e{i}") for i, t in enumerate(onsets))})
    expected = [f"e{i}" for i in np.flatnonzero(onsets < 30.0)]
    drawn = view.event_marks()
    assert [m.event.id for m in drawn] == expected
    assert all(0 <= m.x0 <= m.x1 <= 30 for m in drawn)
    _page(qtbot, view, view.next_page)
    assert [m.event.id for m in view.event_marks()] == [
        f"e{i}" for i in np.flatnonzero((onsets + 2.0 > 30.0) & (onsets < 60.0))]


def test_overview_click_and_current_epoch_from_outside(qtbot, view):
    with qtbot.waitSignal(view.pagePainted, timeout=5000):
        view.overview.timeRequested.emit(305.0)
    assert view.start == 300.0 and view.current_epoch == 10
    view.set_window(120.0)
    with qtbot.assertNotEmitted(view.currentEpochChanged):
        view.set_current_epoch(3)
    assert view.start == 0.0 and view.current_epoch == 3
    assert view._epoch_mark.isVisible()


def test_a_model_outlives_its_deleted_view(qtbot, tmp_path):
    from PySide6.QtCore import QCoreApplication, QEvent

    from sleepfm_engine.display_model import DisplayModel

    model = DisplayModel()
    v = TraceView(model=model)
    gone = []
    v.destroyed.connect(lambda *_: gone.append(True))
    v.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert gone == [True]
    model.set_notch(50.0)  # would call into the deleted widget if it still listened
    assert model.notch == 50.0
    rec = open_recording(make_psg(tmp_path / "psg.edf", minutes=2))
    model.set_recording(rec)
    assert [r.key for r in model.rows][0] == "C4"
    rec.close()


def test_spo2_label_shows_its_value_and_position_rows_show_names_not_a_trace(qtbot, tmp_path):
    seconds = 120
    n = seconds * RATE
    t = np.arange(n) / RATE
    sigs = [Sig("Airflow", RATE, (1000 * np.sin(2 * np.pi * 0.25 * t)).astype(int)),
            Sig("Snore", RATE, (np.where(t < 30, 5, 1500) * np.sin(2 * np.pi * 20 * t)).astype(int)),
            Sig("SpO2", 1, np.where(np.arange(seconds) < 60, 960, 890), unit="%", pmin=0,
                pmax=100, dmin=0, dmax=1000),
            Sig("Position", 1, np.where(np.arange(seconds) < 20, 2, 0), unit="", pmin=0, pmax=10,
                dmin=0, dmax=10)]
    rec = open_recording(write_edf(tmp_path / "levels.edf", sigs))
    v = TraceView()
    qtbot.addWidget(v)
    v.resize(1200, 500)
    v.show()
    qtbot.waitExposed(v)
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.set_recording(rec)
    labels = dict(zip([r.key for r in v.visible_channels], v.channel_axis._labels))
    assert labels["SpO2"].endswith("96 %") and labels["Position"].endswith("supine")
    assert [t.toPlainText() for t in v._position_texts] == ["supine", "right"]
    assert np.isnan(v.trace_data("Position")[1]).all()
    # The snore row's scale comes from the loud night (300 µV peak to peak), not from the
    # quiet first page (1 µV).
    assert v.amplitude_per_row("Snore")[0] > 100
    _page(qtbot, v, lambda: v.go_to_epoch(3))
    labels = dict(zip([r.key for r in v.visible_channels], v.channel_axis._labels))
    assert labels["SpO2"].endswith("89 %") and labels["Position"].endswith("right")
    rec.close()


def test_a_span_dragged_on_a_trace_shows_its_measurement(qtbot, tmp_path):
    t = np.arange(60 * RATE) / RATE
    wave = 400 * np.sin(2 * np.pi * 0.8 * t - np.pi / 2)  # 80 µV peak to peak at 0.8 Hz
    rec = open_recording(write_edf(tmp_path / "sw.edf", [Sig("C4", RATE, wave.astype(int))]))
    v = TraceView()
    qtbot.addWidget(v)
    v.resize(1000, 400)
    v.show()
    qtbot.waitExposed(v)
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.set_recording(rec, {"C4": "BAS"})
    y = v.model.row_baseline(0)
    v._on_drag(10.0, y, 10.5, "start")
    v._on_drag(10.0, y, 11.25, "finish")
    measured = v.model.measure_span()
    assert measured.peak_to_peak == pytest.approx(80, rel=0.05)
    assert v.measure_label.text() == measured.text() and "0.80 Hz" in measured.text()
    v.model.clear_span()
    assert v.measure_label.text() == ""
    rec.close()
