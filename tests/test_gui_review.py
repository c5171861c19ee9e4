"""ReviewPanel (pytest-qt): scoring keys, undo/redo, review jumps, navigation, stats, autosave."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QEvent, Qt  # noqa: E402
from PySide6.QtGui import QKeyEvent  # noqa: E402

from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED, Hypnogram  # noqa: E402
from sleepfm_engine.scoring import ScoringSession, find_recovery  # noqa: E402
from sleepfm_gui.qt_review import (ReviewPanel, close_scoring_session, key_string,  # noqa: E402
                                   open_scoring_session, render_screenshot)
from sleepfm_gui.qt_risk import RESEARCH_NOTICE  # noqa: E402

W, N1, N2, N3, R = range(5)
START = dt.datetime(2024, 1, 2, 22, 0, 0)
N = 120


@dataclass
class FakeRecording:
    path: Path
    start: dt.datetime = START
    duration: float = N * 30.0


def auto_hypnogram(unsure_at=(10, 40, 90)):
    stages = np.array(([W] * 10 + [N1] * 5 + [N2] * 30 + [N3] * 20 + [N2] * 15 + [R] * 20
                       + [N2] * 20), dtype=np.int8)[:N]
    p = np.full((N, 5), 0.025, dtype=np.float32)
    p[np.arange(N), stages] = 0.9
    for e in unsure_at:
        p[e] = 0.15
        p[e, stages[e]] = 0.4
    return Hypnogram(stages, start=START, probabilities=p, scorer="SleepFM test")


@pytest.fixture
def panel(qtbot):
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.resize(1000, 600)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def session():
    s = ScoringSession(N, start=START, auto=auto_hypnogram(), autosave=False)
    yield s
    s.close()


def press(qtbot, widget, key, mods=Qt.NoModifier):
    qtbot.keyClick(widget, key, mods)


def key_event(key, mods=Qt.NoModifier, text=""):
    return QKeyEvent(QEvent.KeyPress, key, mods, text)


def test_digit_keys_score_and_advance(qtbot, panel, session):
    panel.set_session(session)
    panel.set_current_epoch(5)
    with qtbot.waitSignal(panel.epochActivated) as sig:
        press(qtbot, panel, Qt.Key_2)
    assert sig.args == [6] and session.stage(5) == N2
    for key in (Qt.Key_0, Qt.Key_1, Qt.Key_3, Qt.Key_4, Qt.Key_5, Qt.Key_6):
        press(qtbot, panel, key)
    assert list(session.stages[5:12]) == [N2, W, N1, N3, R, R, ARTEFACT]
    assert panel.current_epoch == 12
    panel.set_current_epoch(6)
    press(qtbot, panel, Qt.Key_Delete)
    assert session.stage(6) == UNSCORED


def test_scoring_the_last_epoch_stays_on_it(qtbot, panel, session):
    panel.set_session(session)
    panel.set_current_epoch(N - 1)
    press(qtbot, panel, Qt.Key_2)
    assert session.stage(N - 1) == N2 and panel.current_epoch == N - 1


def test_undo_redo_keys_and_cursor_follows(qtbot, panel, session):
    panel.set_session(session)
    panel.set_current_epoch(20)
    press(qtbot, panel, Qt.Key_3)
    press(qtbot, panel, Qt.Key_3)
    assert panel.current_epoch == 22
    with qtbot.waitSignal(panel.epochActivated) as sig:
        press(qtbot, panel, Qt.Key_Z, Qt.ControlModifier)
    assert sig.args == [21] and session.stage(21) == UNSCORED and session.stage(20) == N3
    press(qtbot, panel, Qt.Key_Y, Qt.ControlModifier)
    assert session.stage(21) == N3
    press(qtbot, panel, Qt.Key_Z, Qt.ControlModifier)
    press(qtbot, panel, Qt.Key_Z, Qt.ShiftModifier | Qt.ControlModifier)
    assert session.stage(21) == N3


def test_handle_key_lets_unbound_keys_through(panel, session):
    panel.set_session(session)
    assert panel.handle_key(key_event(Qt.Key_PageDown)) is False
    assert panel.handle_key(key_event(Qt.Key_Q, text="q")) is False
    assert panel.handle_key(key_event(Qt.Key_2, text="2")) is True
    assert session.stage(0) == N2


def test_handle_key_without_session_uses_nothing(panel):
    assert panel.handle_key(key_event(Qt.Key_2, text="2")) is False


def test_key_string_matches_key_map_spelling():
    assert key_string(key_event(Qt.Key_Z, Qt.ControlModifier)) == "Ctrl+Z"
    assert key_string(key_event(Qt.Key_Backtab, Qt.ShiftModifier)) == "Shift+Tab"
    assert key_string(key_event(Qt.Key_3, Qt.KeypadModifier)) == "3"
    assert key_string(key_event(Qt.Key_Shift, Qt.ShiftModifier)) == ""


def test_configured_keys_are_used(qtbot, panel, session):
    session.key_map.bind("W", "stage:W")
    session.key_map.bind("2", "stage:N3")
    panel.set_session(session)
    press(qtbot, panel, Qt.Key_W)
    press(qtbot, panel, Qt.Key_2)
    assert list(session.stages[:2]) == [W, N3]


def test_review_key_jumps_to_unsure_epochs_and_back(qtbot, panel, session):
    panel.set_session(session)
    with qtbot.waitSignal(panel.epochActivated) as sig:
        press(qtbot, panel, Qt.Key_N)
    assert sig.args == [10]
    press(qtbot, panel, Qt.Key_Tab)
    assert panel.current_epoch == 40
    press(qtbot, panel, Qt.Key_Backtab, Qt.ShiftModifier)
    assert panel.current_epoch == 10
    press(qtbot, panel, Qt.Key_N, Qt.ShiftModifier)
    assert panel.current_epoch == 90  # wrapped backwards


def test_review_follows_disagreement_and_accepting_clears_it(qtbot, panel, session):
    panel.set_session(session)
    panel.set_review_mode("disagree")
    panel.set_current_epoch(30)
    press(qtbot, panel, Qt.Key_4)           # automatic says N2 here
    panel.set_current_epoch(0)
    press(qtbot, panel, Qt.Key_N)
    assert panel.current_epoch == 30
    with qtbot.assertNotEmitted(panel.statusMessage):
        press(qtbot, panel, Qt.Key_A)       # accept the automatic stage, move on
    assert session.stage(30) == N2 and panel.current_epoch == 31
    with qtbot.waitSignal(panel.statusMessage) as sig:
        press(qtbot, panel, Qt.Key_N)
    assert "Nothing left" in sig.args[0] and panel.current_epoch == 31


def test_clicking_the_hypnogram_navigates(qtbot, panel, session):
    panel.set_session(session)
    view = panel.hypnogram
    for plot in (view.manual_plot, view.auto_plot, view.density_plot):
        with qtbot.waitSignal(panel.epochActivated) as sig:
            qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.pos_of_epoch(37, plot))
        assert sig.args == [37]
    assert panel.current_epoch == 37 and view.current_epoch == 37


def test_dragging_on_the_hypnogram_moves_through_epochs(qtbot, panel, session):
    panel.set_session(session)
    view = panel.hypnogram
    seen = []
    panel.epochActivated.connect(seen.append)
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.LeftButton, pos=view.pos_of_epoch(10))
    qtbot.mouseMove(vp, view.pos_of_epoch(60))
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=view.pos_of_epoch(60))
    assert seen[0] == 10 and seen[-1] == 60 and panel.current_epoch == 60


def test_shift_click_selects_a_range_that_a_key_scores(qtbot, panel, session):
    panel.set_session(session)
    view = panel.hypnogram
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.pos_of_epoch(50))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, Qt.ShiftModifier, view.pos_of_epoch(54))
    assert panel.selection == (50, 55)
    press(qtbot, panel, Qt.Key_3)
    assert list(session.stages[49:56]) == [UNSCORED] + [N3] * 5 + [UNSCORED]
    assert panel.selection is None and panel.current_epoch == 55
    assert session.undo_label == "Score N3 (5 epochs)"


def test_accepting_a_selected_range(qtbot, panel, session):
    panel.set_session(session)
    panel.set_current_epoch(0)
    panel.select_range(0, 15)
    press(qtbot, panel, Qt.Key_A)
    assert list(session.stages[:15]) == list(session.auto.stages[:15])
    assert panel.current_epoch == 15
    panel.select_range(20, 25)
    press(qtbot, panel, Qt.Key_Escape)
    assert panel.selection is None


def test_set_current_epoch_moves_marker_without_echo(qtbot, panel, session):
    panel.set_session(session)
    with qtbot.assertNotEmitted(panel.epochActivated):
        panel.set_current_epoch(77)
    assert panel.hypnogram.current_epoch == 77
    assert panel.hypnogram._cursors[0].value() == pytest.approx(77.5)
    panel.set_current_epoch(10_000)
    assert panel.current_epoch == N - 1


def test_statistics_update_after_scoring(qtbot, panel, session):
    panel.set_session(session)
    assert panel.stats.value_text("TST") == "0.0"
    assert panel.stats.value_text("TST", "auto") == f"{(N - 10) * 0.5:.1f}"
    panel.set_current_epoch(10)
    for _ in range(4):
        press(qtbot, panel, Qt.Key_2)
    qtbot.waitUntil(lambda: panel.stats.value_text("TST") == "2.0")
    qtbot.waitUntil(lambda: panel.stats.confusion_counts()[2][1] == 4)  # manual N2, auto N1
    assert "Accuracy" in panel.stats.summary.text()


def test_manual_track_redraws_after_scoring(qtbot, panel, session):
    panel.set_session(session)
    press(qtbot, panel, Qt.Key_4)
    y = panel.hypnogram.manual.rem.yData
    assert np.isfinite(y[:2]).all() and not np.isfinite(y[2:]).any()


def test_automatic_hypnogram_arrives_later(qtbot, panel):
    s = ScoringSession(N, start=START, autosave=False)
    panel.set_session(s)
    assert panel.hypnogram.density_image.image is None
    panel.set_auto_hypnogram(auto_hypnogram())
    assert s.has_auto and panel.hypnogram.density_image.image.shape[1] == N
    assert panel.stats.value_text("TST", "auto") != "\u2014"
    s.close()


def test_autosave_and_recovery_after_a_crash(qtbot, tmp_path):
    rec = FakeRecording(tmp_path / "night.edf")
    rec.path.write_bytes(b"0" * 64)
    s = ScoringSession.for_recording(rec, auto=auto_hypnogram(), autosave_delay=0.05)
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.set_session(s)
    w.set_current_epoch(3)
    for key in (Qt.Key_1, Qt.Key_2, Qt.Key_2):
        qtbot.keyClick(w, key)
    qtbot.waitUntil(lambda: s.autosave_path.exists() and not s.autosave_pending)  # noqa: F821 (`del s` below simulates the crash)
    # Crash: the window and the session vanish without closing or saving.
    w.set_session(None)
    del s

    info = find_recovery(rec.path)
    assert info is not None and info.n_changed == 3
    s2 = ScoringSession.for_recording(rec, recover=info, autosave_delay=0.05)
    w2 = ReviewPanel()
    qtbot.addWidget(w2)
    w2.set_session(s2)
    assert list(s2.stages[3:6]) == [N1, N2, N2]
    assert "modified" in w2.status.text()
    w2.set_current_epoch(6)
    qtbot.keyClick(w2, Qt.Key_3)
    qtbot.waitUntil(lambda: not s2.autosave_pending)
    s2.save()
    qtbot.waitUntil(lambda: "saved" in w2.status.text())
    assert find_recovery(rec.path) is None
    s2.close()


def _crashed_recording(tmp_path, stages=((3, N2), (4, R))):
    rec = FakeRecording(tmp_path / "night.edf")
    rec.path.write_bytes(b"0" * 64)
    s = ScoringSession.for_recording(rec, autosave_delay=60)
    for epoch, stage in stages:
        s.score(epoch, stage)
    s.flush_autosave()
    return rec


def test_open_scoring_session_recovers_when_the_user_agrees(tmp_path):
    rec = _crashed_recording(tmp_path)
    asked = []
    s = open_scoring_session(rec, ask=lambda info: asked.append(info) or True)
    assert len(asked) == 1 and asked[0].n_changed == 2
    assert (s.stage(3), s.stage(4)) == (N2, R) and s.is_modified
    s.close()


def test_open_scoring_session_discards_when_the_user_says_so(tmp_path):
    rec = _crashed_recording(tmp_path)
    s = open_scoring_session(rec, ask=lambda info: False)
    assert s.stage(3) == UNSCORED and find_recovery(rec.path) is None
    s.close()
    assert open_scoring_session(rec, ask=lambda info: pytest.fail("nothing to ask")).stage(3) \
        == UNSCORED


def test_close_scoring_session_save_discard_cancel(tmp_path):
    rec = FakeRecording(tmp_path / "night.edf")
    rec.path.write_bytes(b"0" * 64)
    s = ScoringSession.for_recording(rec, autosave_delay=60)
    s.score(0, W)
    assert close_scoring_session(s, ask=lambda _: "cancel") is False
    assert close_scoring_session(s, ask=lambda _: "save") is True
    assert ScoringSession.for_recording(rec).stage(0) == W
    s2 = ScoringSession.for_recording(rec, autosave_delay=60)
    s2.score(1, N3)
    s2.flush_autosave()
    assert close_scoring_session(s2, ask=lambda _: "discard") is True
    assert find_recovery(rec.path) is None
    assert ScoringSession.for_recording(rec).stage(1) == UNSCORED
    s3 = ScoringSession.for_recording(rec)
    assert close_scoring_session(s3, ask=lambda _: pytest.fail("nothing unsaved")) is True


def test_risk_view_is_marked_research_only(panel):
    rows = [("327.3", "Sleep apnea", 1.5), ("401.1", "Hypertension", 2.5),
            ("250.2", "Type 2 diabetes", float("nan"))]
    panel.set_risk(rows)
    rv = panel.risk
    assert "Research use only" in rv.notice.text() and rv.notice.text() == RESEARCH_NOTICE
    assert "uncalibrated" in rv.notice.text()
    assert [rv.table.item(r, 2).text() for r in range(rv.table.rowCount())] == [
        "Hypertension", "Sleep apnea"]
    assert "Disease risk (research only)" in [panel.tabs.tabText(i)
                                              for i in range(panel.tabs.count())]
    panel.set_risk(None)
    assert rv.table.rowCount() == 0


def test_risk_view_reads_records_and_limits_rows(panel):
    class Table:
        score_name = "log hazard"

        def to_records(self):
            return [{"phecode": f"{i}.0", "phenotype": f"P{i}", "log_hazard": i / 10}
                    for i in range(40)]

    panel.set_risk(Table())
    rv = panel.risk
    rv.top_spin.setValue(5)
    assert rv.table.rowCount() == 5 and rv.table.item(0, 2).text() == "P39"
    assert "log hazard" in rv.table.horizontalHeaderItem(3).text()


def test_risk_view_reads_the_engine_risk_table_shape(panel):
    class EngineLikeRiskTable:  # the fields of sleepfm_engine.inference.RiskTable
        model_id, age, sex, n_tokens_used, truncated = "diag-v1", 54.0, "F", 6480, True

        def rows(self):
            return [{"rank": 1, "label_idx": 7, "phecode": "327.3", "phenotype": "Sleep apnea",
                     "log_hazard": 0.8},
                    {"rank": 2, "label_idx": 3, "phecode": "401.1", "phenotype": "Hypertension",
                     "log_hazard": -0.2}]

    panel.set_risk(EngineLikeRiskTable())
    rv = panel.risk
    assert rv.table.item(0, 1).text() == "327.3" and rv.table.item(1, 3).text() == "-0.200"
    assert "diag-v1" in rv.info.text() and "9.0 h" in rv.info.text()
    assert "truncated" in rv.info.text()


def test_screenshot_renders(qtbot, tmp_path):
    out = render_screenshot(str(tmp_path / "panel.png"), size=(900, 600), realistic=False)
    data = Path(out).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
