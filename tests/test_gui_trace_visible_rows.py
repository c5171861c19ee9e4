"""Trace view with more rows than fit: a page flip reads and draws only the rows in view (and a
row beyond each edge); the rows scrolled into view are drawn at once, as a fresh page draws
them, a page laid out ahead (prefetched) included."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from test_gui_calibrated_display import _eeg64, _show  # noqa: E402


def _count_reads(v) -> Counter:
    """Count the source's raw reads per row key from now on."""
    reads: Counter = Counter()
    read = v.source.read

    def counted(ch, start, stop):
        reads[ch.key] += 1
        return read(ch, start, stop)

    v.source.read = counted
    return reads


def _near_view(v) -> set[str]:
    """Keys of the rows in view, whole or partly, and one beyond each edge."""
    (_, _), (y0, y1) = v.viewbox.viewRange()
    # Row i spans -i - 0.5 to -i + 0.5.
    shown = [i for i in range(len(v.visible_channels))
             if -i - 0.5 < y1 - 1e-6 and -i + 0.5 > y0 + 1e-6]
    assert set(v.rows_in_view()) <= set(shown)
    lo, hi = max(0, shown[0] - 1), min(len(v.visible_channels) - 1, shown[-1] + 1)
    return {v.visible_channels[i].key for i in range(lo, hi + 1)}


def _drawn(v) -> dict:
    return {r.key: v.trace_data(r.key) for r in v.visible_channels
            if v.trace_data(r.key) is not None}


def _go(qtbot, v, start: float) -> None:
    with qtbot.waitSignal(v.pagePainted, timeout=5000):
        v.go_to(start)


def _fresh(qtbot, path, scroll: int, start: float):
    """A view that draws page ``start`` scrolled to ``scroll`` with nothing laid out before."""
    v, rec = _show(qtbot, path)
    v.prefetch = False
    v.row_scroll.setValue(scroll)
    v.source.clear_cache()
    v._curves.clear()
    _go(qtbot, v, start)
    return v, rec


def _assert_rows_in_view_as_fresh(v, fresh) -> None:
    assert v.rows_in_view() == fresh.rows_in_view()
    for i in v.rows_in_view():
        key = v.visible_channels[i].key
        got, want = v.trace_data(key), fresh.trace_data(key)
        assert got is not None and want is not None, key
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.fixture
def eeg64(tmp_path):
    return _eeg64(tmp_path / "eeg64.edf")


def test_a_page_flip_reads_and_draws_only_the_rows_in_view_and_one_beyond(qtbot, eeg64):
    v, rec = _show(qtbot, eeg64)
    try:
        v.prefetch = False
        v.row_scroll.setValue(10)
        reads = _count_reads(v)
        _go(qtbot, v, 30.0)
        near = _near_view(v)
        assert 8 < len(near) < 40
        assert set(reads) == near
        assert set(_drawn(v)) == near
        # Rows far from the view were neither read nor drawn.
        for key in (v.visible_channels[0].key, v.visible_channels[63].key):
            assert reads[key] == 0 and v.trace_data(key) is None
        # Every row keeps its scale bar and its label, drawn or not.
        assert len(v.scale_bar_texts()) == 64
        assert len(v.channel_axis._labels) == 64
    finally:
        rec.close()


def test_rows_scrolled_into_view_are_drawn_at_once_as_a_fresh_page_draws_them(qtbot, eeg64):
    v, rec = _show(qtbot, eeg64)
    try:
        v.prefetch = False
        _go(qtbot, v, 60.0)
        bottom = v.row_scroll.maximum()
        reads = _count_reads(v)
        v.row_scroll.setValue(bottom)  # no wait: the scroll draws them before returning
        assert v.rows_in_view()[-1] == 63
        assert set(_drawn(v)) >= _near_view(v)
        # Only the rows newly in view were read.
        assert set(reads) <= _near_view(v) and reads[v.visible_channels[0].key] == 0
        fresh, rec_f = _fresh(qtbot, eeg64, bottom, 60.0)
        _assert_rows_in_view_as_fresh(v, fresh)
        # Scrolled back, the top rows are drawn again as they were.
        v.row_scroll.setValue(0)
        fresh.row_scroll.setValue(0)
        _assert_rows_in_view_as_fresh(v, fresh)
        rec_f.close()
    finally:
        rec.close()


def test_a_page_laid_out_ahead_shows_no_missing_rows_after_a_scroll(qtbot, eeg64):
    v, rec = _show(qtbot, eeg64)
    try:
        v._prefetch_timer.stop()
        v._prefetch()  # the next page laid out for the rows in view at the top
        bottom = v.row_scroll.maximum()
        # Scrolled before the flip: the flip draws the rows now in view.
        v.row_scroll.setValue(bottom)
        v._prefetch_timer.stop()
        _go(qtbot, v, 30.0)
        fresh, rec_f = _fresh(qtbot, eeg64, bottom, 30.0)
        _assert_rows_in_view_as_fresh(v, fresh)
        # Flipped to a page laid out ahead, then scrolled: the rows scrolled to are drawn.
        v._prefetch_timer.stop()
        v._prefetch()
        _go(qtbot, v, 60.0)
        v.row_scroll.setValue(0)
        fresh.row_scroll.setValue(0)
        _go(qtbot, fresh, 60.0)
        _assert_rows_in_view_as_fresh(v, fresh)
        rec_f.close()
    finally:
        rec.close()


def test_rows_that_all_fit_are_all_drawn_on_a_flip(qtbot, tmp_path):
    from test_gui_calibrated_display import _psg

    v, rec = _show(qtbot, _psg(tmp_path / "psg.edf"))
    try:
        assert not v.row_scroll.isVisible()
        _go(qtbot, v, 30.0)
        assert set(_drawn(v)) == {r.key for r in v.visible_channels}
    finally:
        rec.close()
