"""Trace view across pages: a page laid out ahead (prefetched while idle) draws what the page drawn
fresh does; position names move with the pages; the night overview keeps count of the events."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

import pyqtgraph as pg  # noqa: E402

from edf_factory import Sig, write_edf  # noqa: E402
from sleepfm_engine.events import Event, EventSet  # noqa: E402
from sleepfm_engine.recording import open_recording  # noqa: E402
from sleepfm_gui.qt_trace_view import TraceView  # noqa: E402
from test_gui_trace import RATE, make_psg  # noqa: E402


def _open(qtbot, path, prefetch: bool):
    v = TraceView()
    v.prefetch = prefetch
    qtbot.addWidget(v)
    v.resize(1200, 700)
    v.show()
    qtbot.waitExposed(v)
    rec = open_recording(path)
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.set_recording(rec)
    return v, rec


def _drawn(v):
    return {r.key: v.trace_data(r.key) for r in v.visible_channels}


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key][0], b[key][0])
        np.testing.assert_array_equal(a[key][1], b[key][1])


def test_a_prefetched_page_draws_the_same_curves_as_the_page_drawn_fresh(qtbot, tmp_path):
    path = make_psg(tmp_path / "psg.edf")
    ahead, rec_a = _open(qtbot, path, prefetch=True)
    fresh, rec_f = _open(qtbot, path, prefetch=False)
    ahead.set_gain(ahead.visible_channels[0].key, 2.0)
    fresh.set_gain(fresh.visible_channels[0].key, 2.0)
    ahead.render_now()
    # The first page and the next one (there is none before the first).
    qtbot.waitUntil(lambda: len(ahead._curves) >= 2 * len(ahead.visible_channels), timeout=5000)
    with qtbot.waitSignal(ahead.pagePainted, timeout=5000):
        ahead.next_page()
    with qtbot.waitSignal(fresh.pagePainted, timeout=5000):
        fresh.next_page()
    _same(_drawn(ahead), _drawn(fresh))
    # A scale changed after the page was laid out ahead is the one drawn.
    key = ahead.visible_channels[1].key
    for v in (ahead, fresh):
        v.set_gain(key, 3.0)
        v.set_inverted(key, True)
        v.render_now()
    _same(_drawn(ahead), _drawn(fresh))
    rec_a.close()
    rec_f.close()


def test_position_names_follow_the_pages_and_no_earlier_name_stays_shown(qtbot, tmp_path):
    seconds = 150
    # supine 0-20 s, right 20-70 s, left 70-75 s, prone after: pages of one, two and three runs.
    codes = np.select([np.arange(seconds) < 20, np.arange(seconds) < 70,
                       np.arange(seconds) < 75], [2, 0, 1], 3)
    sigs = [Sig("Airflow", RATE, (1000 * np.sin(2 * np.pi * 0.25 * np.arange(seconds * RATE)
                                                 / RATE)).astype(int)),
            Sig("Position", 1, codes, unit="", pmin=0, pmax=10, dmin=0, dmax=10)]
    rec = open_recording(write_edf(tmp_path / "position.edf", sigs))
    v = TraceView()
    qtbot.addWidget(v)
    v.resize(1200, 500)
    v.show()
    qtbot.waitExposed(v)
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.set_recording(rec)

    def shown():
        items = v.viewbox.childGroup.childItems()
        return sorted((round(t.pos().x(), 3), t.toPlainText()) for t in items
                      if isinstance(t, pg.TextItem) and t.isVisible() and t is not v._empty_text)

    pages = {0.0: [(0.0, "supine"), (20.0, "right")], 30.0: [(30.0, "right")],
             60.0: [(60.0, "right"), (70.0, "left"), (75.0, "prone")], 90.0: [(90.0, "prone")]}
    for start in (0.0, 30.0, 60.0, 90.0, 60.0, 0.0):
        _go(qtbot, v, start)
        assert shown() == pages[start]
    rec.close()


def _go(qtbot, v, start):
    if v.start != start:
        with qtbot.waitSignal(v.pagePainted, timeout=5000):
            v.go_to(start)


def test_the_night_overview_counts_events_added_and_removed_once_the_page_shows_them(qtbot,
                                                                                    tmp_path):
    v, rec = _open(qtbot, make_psg(tmp_path / "psg.edf"), prefetch=False)
    layer = EventSet([Event(10.0, 10.0, "arousal", ("C4",))])
    v.model.set_event_layers({"scored": layer})
    qtbot.waitUntil(lambda: v.overview.event_counts.sum() == 1, timeout=5000)
    for k in range(3):  # a burst of edits, each announced
        layer.add(Event(100.0 + 30 * k, 10.0, "hypopnea", ("Airflow",)))
        v.model.events_changed()
    assert len(v.event_marks()) == 1  # the page (0-30 s) drawn at once; none of the new is on it
    qtbot.waitUntil(lambda: v.overview.event_counts.sum() == 4, timeout=5000)
    layer.remove(next(iter(layer)).id)
    v.model.events_changed()
    qtbot.waitUntil(lambda: v.overview.event_counts.sum() == 3, timeout=5000)
    rec.close()
