"""Trends panel: background loading, drawing, event density, click to navigate, alignment."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import Qt  # noqa: E402

from edf_factory import Sig, write_edf  # noqa: E402
from sleepfm_engine.events import Event, EventType  # noqa: E402
from sleepfm_engine.recording import open_recording  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402
from sleepfm_gui.qt_hypnogram import HypnogramView  # noqa: E402
from sleepfm_gui.qt_jobs import JobManager  # noqa: E402
from sleepfm_gui.qt_trends import TrendsPanel  # noqa: E402

N = 600  # seconds: 20 epochs


def _night(tmp_path):
    spo2 = np.full(N, 960)          # 96.0 %
    spo2[300:320] = 850             # a desaturation in epoch 10
    pos = np.full(N, 2)             # nsrr 2 = supine
    t = np.arange(64 * N) / 64
    eeg = (np.sin(2 * np.pi * 2 * t) * 500).astype(np.int64)
    return write_edf(tmp_path / "night.edf", [
        Sig("C4-M1", 64, eeg),
        Sig("SpO2", 1, spo2, unit="%", pmin=0, pmax=100, dmin=0, dmax=1000),
        Sig("Position", 1, pos, unit="", pmin=0, pmax=10, dmin=0, dmax=10)])


@pytest.fixture
def panel(qtbot):
    p = TrendsPanel()
    qtbot.addWidget(p)
    p.resize(900, 400)
    p.set_geometry(20, 30.0, 0.0, _dt.datetime(2024, 1, 1, 22, 0))
    p.show()
    qtbot.waitExposed(p)
    return p


def _load(qtbot, panel, path, events=()):
    jobs = JobManager()
    rec = open_recording(path)
    with qtbot.waitSignal(panel.trendsReady, timeout=20000) as blocker:
        panel.load(jobs, rec, None, list(events))
        # Until the job delivers, every plot says the trends are coming.
        assert panel.view.messages["spo2"].textItem.toPlainText() == "Loading trends…"
    qtbot.waitUntil(lambda: not jobs.running(), timeout=5000)
    rec.close()
    return blocker.args[0]


def test_trends_panel_loads_in_the_background_and_draws_spo2_and_position(qtbot, panel, tmp_path):
    trends = _load(qtbot, panel, _night(tmp_path))
    mean = panel.view._levels["spo2"][0]
    x, y = mean.getData()
    assert x.size == 2 * 20 and np.nanmin(y) < 96.0  # the desaturation lowers epoch 10's mean
    low_x, low_y = panel.view._levels["spo2"][2].getData()
    assert np.nanmin(low_y) == pytest.approx(85.0)
    assert trends.position is not None
    assert panel.view.messages["heart_rate"].textItem.toPlainText() == "No heart-rate channel"
    assert "heart-rate" in panel.notes.text()


def test_trends_panel_counts_events_that_arrive_while_it_loads_and_after(qtbot, panel, tmp_path):
    early = [Event(30, 10, EventType.apnea_obstructive)]
    _load(qtbot, panel, _night(tmp_path), early)
    assert len(panel.view._density_bars) == 1
    assert "Obstructive apnea (1)" in panel.legend.text()
    panel.set_events(early + [Event(60, 10, EventType.hypopnea), Event(90, 10, EventType.hypopnea)])
    assert len(panel.view._density_bars) == 2
    assert "Hypopnea (2)" in panel.legend.text()


def test_clicking_the_trends_selects_the_epoch_under_the_mouse(qtbot, panel, tmp_path):
    _load(qtbot, panel, _night(tmp_path))
    with qtbot.waitSignal(panel.epochClicked, timeout=2000) as blocker:
        qtbot.mouseClick(panel.view.viewport(), Qt.LeftButton, pos=panel.view.pos_of_epoch(12))
    assert blocker.args == [12]


def test_trends_time_axis_ticks_match_the_hypnograms(qtbot, panel):
    hyp = HypnogramView()
    qtbot.addWidget(hyp)
    start = _dt.datetime(2024, 1, 1, 22, 17, 40)
    hyp.set_geometry(960, 30.0, 12.0, start)
    panel.set_geometry(960, 30.0, 12.0, start)
    a = hyp.time_axis.tickValues(0, 960, 800)
    b = panel.view._time_axes[-1].tickValues(0, 960, 800)
    assert a == b and a[0][1]  # same clock ticks at the same x
    assert panel.view.x_of(12.0 + 30.0 * 7) == pytest.approx(7.0)


def test_a_failed_trends_job_says_so_on_the_panel(qtbot, panel, tmp_path, monkeypatch):
    from sleepfm_engine.errors import RecordingError
    from sleepfm_engine.jobs import Job
    from sleepfm_gui import qt_trends

    def broken(state):
        raise RecordingError(tmp_path / "night.edf", "truncated data record")

    monkeypatch.setattr(qt_trends, "trends_job", lambda *a, **k: Job("Whole-night trends", broken))
    jobs = JobManager()
    with open_recording(_night(tmp_path)) as rec:
        worker = panel.load(jobs, rec)
        with qtbot.waitSignal(worker.finished, timeout=20000):
            pass
    assert panel.trends is None
    assert panel.notes.text().startswith("Trends unavailable")
    assert "truncated data record" in panel.notes.text()


def test_main_window_opens_the_first_page_before_the_trends_and_navigates_from_them(
        qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "show_error", lambda *a: None)
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.trends.trendsReady, timeout=20000):
        with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
            assert win.open_recording_file(_night(tmp_path))
            # The open returned without computing the trends.
            assert win.trends.trends is None
    assert win.trends.view.n_epochs == win.session.n_epochs == 20
    with qtbot.waitSignal(win.trends.epochClicked, timeout=2000):
        qtbot.mouseClick(win.trends.view.viewport(), Qt.LeftButton,
                         pos=win.trends.view.pos_of_epoch(15))
    assert win.trace.current_epoch == 15
    assert win.review.current_epoch == 15
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    win.close_recording()
    assert win.trends.trends is None
    win.close()


def test_the_position_row_spreads_only_the_nights_positions_evenly_supine_on_top(qtbot):
    from sleepfm_gui.qt_trends import TrendsView

    view = TrendsView()
    qtbot.addWidget(view)
    view.set_geometry(8, 30.0, 0.0, None)
    view.set_position(np.array([2, 2, 0, 0, 2]), 30.0)  # right, then supine, then right
    ticks = view.position_plot.getAxis("left")._tickLevels[0]
    assert sorted(ticks, key=lambda t: -t[0]) == [(1.0, "supine"), (0.0, "right")]
    _, y = view.position_line.getData()
    assert set(np.unique(y[np.isfinite(y)])) == {0.0, 1.0}


def test_a_short_trends_panel_hides_row_titles_and_values_rather_than_overlap_them(qtbot):
    from sleepfm_gui.qt_trends import TrendsView

    view = TrendsView()
    qtbot.addWidget(view)
    view.set_geometry(8, 30.0, 0.0, None)
    view.set_position(np.array([0, 1, 2, 3, 0]), 30.0)
    rows = (view.spo2_plot, view.hr_plot, view.position_plot, view.density_plot)
    view.resize(900, 110)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: view.spo2_plot.vb.height() < 30)
    view.fit_titles()
    for plot in rows:
        axis = plot.getAxis("left")
        assert not axis.label.isVisible() and not axis.style["showValues"]
        assert axis.toolTip()  # the title is still there, as a tooltip
    view.resize(900, 400)
    qtbot.waitUntil(lambda: view.position_plot.vb.height() > 4 * 13)
    view.fit_titles()
    for plot in rows:
        axis = plot.getAxis("left")
        assert axis.label.isVisible() and axis.style["showValues"]
