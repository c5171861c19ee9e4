"""The application pairs a hypnogram with a recording through the engine's one alignment check:
a 6-h hypnogram beside a 10-min recording is cut to it and the note says both durations."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from sleepfm_engine.formats import write_hypnogram  # noqa: E402
from sleepfm_engine.hypnogram import Hypnogram  # noqa: E402
from sleepfm_engine.recording import open_recording  # noqa: E402
from test_gui_main import _open, dialogs, window  # noqa: E402,F401  (fixtures)
from test_gui_trace import make_psg  # noqa: E402


def test_a_long_paired_hypnogram_is_cut_to_the_recording_and_said(qtbot, window, tmp_path):
    path = make_psg(tmp_path / "night.edf", minutes=10)
    with open_recording(path) as rec:
        start = rec.start
    stages = np.random.default_rng(0).integers(0, 5, 720)
    write_hypnogram(Hypnogram(stages, start=start), tmp_path / "night.hypnogram.csv")
    _open(qtbot, window, path)
    note = window.study.paired.note
    assert "360.0 min" in note and "10.0 min" in note
    assert window.study.paired.hypnogram.n_epochs == 20
    assert np.array_equal(window.session.stages, stages[:20])
