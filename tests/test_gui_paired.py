"""Opening a recording loads the manual scoring paired with it by name, unless one is stored."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from conftest import SHARED  # noqa: E402
from sleepfm_engine.formats import write_hypnogram  # noqa: E402
from sleepfm_engine.hypnogram import UNSCORED, Hypnogram  # noqa: E402
from sleepfm_engine.recording import RecordingWarning  # noqa: E402
from test_gui_main import _open, dialogs, window  # noqa: E402,F401  (fixtures)
from test_gui_trace import make_psg  # noqa: E402

DREAMS = SHARED / "data" / "dreams" / "excerpt3.edf"
STAGES = np.array([0, 0, 1, 2, 2, 2, 3, 3, 2, 4, 4, 2, 2, 1, 0, 2, 2, 3, 4, 0], dtype=np.int8)


def _night_with_sidecar(tmp_path):
    path = make_psg(tmp_path / "night.edf")
    from sleepfm_engine.recording import open_recording

    with open_recording(path) as rec:
        start = rec.start
    write_hypnogram(Hypnogram(STAGES, start=start), tmp_path / "night.hypnogram.csv")
    return path


def test_paired_sidecar_hypnogram_becomes_the_manual_scoring(qtbot, window, tmp_path):
    path = _night_with_sidecar(tmp_path)
    _open(qtbot, window, path)
    assert np.array_equal(window.session.stages, STAGES)
    assert "manual scoring from night.hypnogram.csv" in window._status.text()
    # The study document keeps the paired file beside what was read from it.
    paired = window.study.paired
    assert paired.source == tmp_path / "night.hypnogram.csv"
    assert np.array_equal(paired.hypnogram.stages, STAGES)
    # Loaded as the starting point, not as an edit: nothing to save, nothing autosaved.
    assert not window.session.is_modified
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.edf", "night.hypnogram.csv"]


def test_saved_scoring_wins_over_the_paired_file(qtbot, window, tmp_path):
    path = _night_with_sidecar(tmp_path)
    _open(qtbot, window, path)
    window.session.score(0, 4)
    window.session.save()
    window.close_recording()
    _open(qtbot, window, path)
    assert window.session.stage(0) == 4
    assert "manual scoring from" not in window._status.text() and window.study.paired is None


def test_unreadable_paired_file_is_noted_and_the_recording_opens(qtbot, window, dialogs, tmp_path):
    path = make_psg(tmp_path / "night.edf")
    (tmp_path / "night.hypnogram.csv").write_text("onset,duration,stage\n0,30,Banana\n")
    _open(qtbot, window, path)
    assert np.all(window.session.stages == UNSCORED)
    assert "paired hypnogram unreadable" in window._status.text() and not dialogs
    assert window.study.paired.hypnogram is None
    assert window.study.paired.note.startswith("paired hypnogram unreadable")


@pytest.mark.skipif(not DREAMS.exists(), reason="the DREAMS excerpt in ../shared/data is absent")
def test_dreams_excerpt_opens_with_its_hypnogram_and_its_folder_untouched(qtbot, window):
    before = sorted((p.name, p.stat().st_mtime) for p in DREAMS.parent.iterdir())
    with pytest.warns(RecordingWarning):
        _open(qtbot, window, DREAMS)
    assert "manual scoring from Hypnogram_excerpt3.txt" in window._status.text()
    stages = window.session.stages
    assert stages.shape[0] == window.session.n_epochs and np.isin(stages, [0, 1, 2, 3, 4]).mean() > 0.9
    window.session.score(0, 4)
    window.close_recording()
    assert sorted((p.name, p.stat().st_mtime) for p in DREAMS.parent.iterdir()) == before


def test_demo_night_is_generated_as_a_job_and_opens_with_its_ground_truth(qtbot, window, dialogs,
                                                                         monkeypatch):
    import sleepfm_engine.demo as demo
    from sleepfm_engine.formats import read_hypnogram

    night, generate = demo.demo_night_path, demo.demo_recording_path
    monkeypatch.setattr(demo, "demo_night_path", lambda hours=0.25, seed=demo.DEMO_SEED: night(hours, seed))
    monkeypatch.setattr(demo, "demo_recording_path", lambda state=None: generate(hours=0.25, state=state))
    window.open_demo()
    qtbot.waitUntil(lambda: bool(dialogs) or (window.rec is not None and not window.jobs.running()),
                    timeout=20000)
    assert not dialogs
    path = night(hours=0.25)
    assert window.rec.path == path
    truth = read_hypnogram(path.with_suffix(".hypnogram.csv"))
    assert np.array_equal(window.session.stages, truth.stages)
    assert f"manual scoring from {path.stem}.hypnogram.csv" in window._status.text()
