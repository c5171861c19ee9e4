"""Defects of the clinical-station trial (issue 12): statistics rows, axis titles, selection,
channel units, the overview's events, ticks and stage source, merged DREAMS epochs."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QPoint  # noqa: E402

from edf_factory import Sig, write_edf  # noqa: E402
from sleepfm_engine.formats import write_hypnogram  # noqa: E402
from sleepfm_engine.hypnogram import Hypnogram  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402
from sleepfm_gui.qt_hypnogram import HypnogramView  # noqa: E402
from sleepfm_gui.qt_overview import OverviewStrip  # noqa: E402
from sleepfm_gui.qt_stats import MIN_VISIBLE_ROWS  # noqa: E402

N = 1800  # seconds: 60 epochs


def _psg(tmp_path):
    rng = np.random.default_rng(2)
    return write_edf(tmp_path / "night.edf", [
        Sig("C4-M1", 64, rng.integers(-2000, 2000, 64 * N), unit="UV"),
        Sig("Thor", 16, rng.integers(-2000, 2000, 16 * N), unit="MV"),
        Sig("SpO2", 1, np.full(N, 960), unit="%", pmin=0, pmax=100, dmin=0, dmax=1000)])


@pytest.fixture
def shown(monkeypatch):
    got: list[tuple[str, str]] = []
    monkeypatch.setattr(errors, "show_warning", lambda parent, t, m: got.append((t, m)))
    monkeypatch.setattr(errors, "show_error", lambda parent, t, m: got.append((t, m)))
    return got


@pytest.fixture
def window(qtbot, tmp_path, shown):
    win = MainWindow()  # the default layout: no saved window state
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(_psg(tmp_path))
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    yield win
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    win.close()


def test_statistics_table_shows_several_rows_in_the_default_layout(qtbot, window):
    table = window.review.stats.table
    scroll = window.review_dock.widget()

    def visible_height() -> int:
        vp = table.viewport()
        top = vp.mapTo(scroll.viewport(), QPoint(0, 0)).y()
        return min(top + vp.height(), scroll.viewport().height()) - max(top, 0)

    # The default layout is applied once the window has its size.
    qtbot.waitUntil(lambda: visible_height() >= MIN_VISIBLE_ROWS * table.rowHeight(0),
                    timeout=5000)


def test_hypnogram_axis_titles_do_not_overlap_and_the_selection_stands_out(qtbot):
    view = HypnogramView()
    qtbot.addWidget(view)
    view.resize(900, view.minimumHeight())
    view.set_geometry(960, 30.0, 0.0, _dt.datetime(2024, 1, 1, 22, 0))
    view.show()
    qtbot.waitExposed(view)
    density_axis = view.density_plot.getAxis("left")
    assert not density_axis.label.isVisible()
    assert density_axis._tickLevels[0][0][1] == "Density"
    manual = view.manual_plot.getAxis("left").label.sceneBoundingRect()
    auto = view.auto_plot.getAxis("left").label.sceneBoundingRect()
    assert not manual.intersects(auto)
    view.set_selection(100, 200)
    region = view._selections[0]
    assert region.brush.color().alpha() >= 90
    assert all(line.pen.width() >= 2 for line in region.lines)


def test_channel_table_shows_the_traces_units_not_the_files(window):
    table = window.channels.table
    units = {table.item(r, 1).text(): table.item(r, 3) for r in range(table.rowCount())}
    assert units["C4-M1"].text() == "µV" and "UV" in units["C4-M1"].toolTip()
    assert units["Thor"].text() == "µV" and "MV" in units["Thor"].toolTip()
    assert units["SpO2"].text() == "%"
    # The same unit the trace rows are labelled with.
    assert window.trace.amplitude_per_row("C4-M1")[1] == "µV"


def test_overview_events_are_a_histogram_not_a_solid_bar(qtbot):
    strip = OverviewStrip()
    strip.set_recording(8 * 3600.0, _dt.datetime(2024, 1, 1, 21, 50, 11))
    rng = np.random.default_rng(0)
    onsets = np.concatenate([rng.uniform(0, 3600, 1400), rng.uniform(5 * 3600, 6 * 3600, 100)])
    strip.set_annotations(onsets)
    counts = strip.event_counts
    width = strip.event_bin_seconds()
    assert counts.sum() == 1500
    hour1 = counts[: int(3600 / width)]
    quiet = counts[int(2 * 3600 / width): int(4 * 3600 / width)]
    assert hour1.mean() > 10 * max(1, counts[int(5 * 3600 / width): int(6 * 3600 / width)].mean())
    assert not quiet.any()
    x, y = strip.ticks.getData()
    assert x.size == counts.size + 1 and y.max() > 2 * np.median(y[y > y.min()])


def test_overview_ticks_fall_at_the_hypnograms_clock_times(qtbot):
    start = _dt.datetime(2024, 1, 1, 21, 50, 11)
    strip = OverviewStrip()
    strip.set_recording(8 * 3600.0, start)
    hyp = HypnogramView()
    qtbot.addWidget(hyp)
    hyp.set_geometry(960, 30.0, 0.0, start)
    ov = strip.axis.tickValues(0, 8 * 3600.0, 900)[0][1]
    hy = [x * 30.0 for x in hyp.time_axis.tickValues(0, 960, 900)[0][1]]
    assert ov == pytest.approx(hy)
    assert strip.axis.tickStrings(ov[:2], 1, 3600)[0] == "22:00"


def test_overview_says_when_it_shows_the_automatic_staging(qtbot, window):
    strip = window.trace.overview
    assert strip.stage_source == "manual"
    auto = Hypnogram(np.full(60, 2, np.int8), start=window.rec.start, automatic=True)
    window.set_auto_hypnogram(auto)
    qtbot.waitUntil(lambda: strip.stage_source == "automatic", timeout=3000)
    names = [t for _, t in strip.plot.getAxis("left")._tickLevels[0]]
    assert "Stages: automatic" in names
    window.session.score(0, 1)
    qtbot.waitUntil(lambda: strip.stage_source == "manual", timeout=3000)


def test_importing_5_s_epochs_says_how_many_30_s_epochs_mixed_stages(qtbot, window, shown,
                                                                     tmp_path):
    stages = np.repeat(np.array([0, 2], np.int8), 180)  # 5-s epochs: 15 min W then 15 min N2
    stages[3] = 1                                      # one N1 5-s epoch inside epoch 0
    path = write_hypnogram(Hypnogram(stages, epoch_length=5.0, start=window.rec.start),
                           tmp_path / "five.csv")
    assert window.import_hypnogram(path)
    title, text = shown[-1]
    assert title == "Hypnogram epochs merged"
    assert "5-s epochs merged into 60 30-s epochs; 1 of them mixed" in text


def test_the_statistics_table_shows_no_data_time_apart_from_unscored_time(qtbot):
    from sleepfm_gui.qt_stats import StatsView

    view = StatsView()
    qtbot.addWidget(view)
    stages = np.array([0, 1, 2, 2, 2, 3, 3, 4, 4, 0])
    no_data = np.zeros(10, dtype=bool)
    no_data[3:5] = True  # a gap of an EDF+D file: one minute without data
    stats = Hypnogram(stages).statistics(no_data=no_data)
    view.set_statistics({"manual": stats, "auto": None, "agreement": None})
    assert view.value_text("no_data_min") == "1.0"
    assert view.value_text("TST") == "3.0"  # the gap is not sleep time
