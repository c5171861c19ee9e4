"""The page-per-stage picture of a synthetic night is drawn from the night's own signals."""
from __future__ import annotations

from sleepfm_engine.synthetic import make_night
from sleepfm_engine.synthetic.figure import pick_epochs, plot_graphoelements, plot_night

W, N1, N2, N3, R = 0, 1, 2, 3, 4
TRACES = ["F4-M1", "C4-M1", "O2-M1", "E1-M2", "E2-M2", "Chin1-Chin2"]


def test_pages_and_close_ups_are_written_as_png(tmp_path):
    stages = [W] * 6 + [N1] * 3 + [N2] * 6 + [N3] * 6 + [N2] * 2 + [R] * 6
    night = make_night(seed=5, montage=TRACES, stages=stages)
    picks = pick_epochs(night)
    titles = [t for t, _ in picks]
    assert titles == ["W, eyes closed", "W, eyes open", "N1", "N2", "N3", "R"]
    assert all(night.stage_names[e] == t.split(",")[0] for t, e in picks)
    for fn, name in ((plot_night, "page.png"), (plot_graphoelements, "close.png")):
        out = fn(night, tmp_path / name)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["close.png", "page.png"]
