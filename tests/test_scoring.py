"""Scoring session engine: edits, undo/redo, key map, review by confidence, statistics."""
from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED, Hypnogram
from sleepfm_engine.scoring import ScoringSession
from sleepfm_engine.scoring_keys import KeyMap, normalize_key

W, N1, N2, N3, R = range(5)
START = dt.datetime(2024, 1, 2, 22, 0, 0)


def probs_for(stages, confident=0.9, unsure_at=()):
    """Probabilities whose argmax is ``stages``; epochs in ``unsure_at`` get max p = 0.4."""
    n = len(stages)
    p = np.full((n, 5), (1 - confident) / 4, dtype=np.float32)
    p[np.arange(n), stages] = confident
    for e in unsure_at:
        p[e] = 0.15
        p[e, stages[e]] = 0.4
    return p


def session_with_auto(auto_stages, unsure_at=(), n=None, **kw):
    auto_stages = np.asarray(auto_stages)
    n = n or auto_stages.shape[0]
    auto = Hypnogram(auto_stages, probabilities=probs_for(auto_stages, unsure_at=unsure_at))
    return ScoringSession(n, auto=auto, autosave=False, **kw)


# -- edits -----------------------------------------------------------------------------------
def test_new_session_is_unscored_and_unmodified():
    s = ScoringSession(10, autosave=False)
    assert s.n_epochs == 10 and np.all(s.stages == UNSCORED)
    assert not s.is_modified and not s.can_undo and not s.can_redo


def test_score_accepts_codes_and_names_and_reports_no_change():
    s = ScoringSession(6, autosave=False)
    assert s.score(0, W) and s.score(1, "n1") and s.score(2, "N2") and s.score(3, "REM")
    assert s.score(4, "A") and s.score(5, "?") is False  # already unscored: nothing recorded
    assert list(s.stages) == [W, N1, N2, R, ARTEFACT, UNSCORED]
    assert s.score(0, "W") is False
    assert len(s._undo) == 5


@pytest.mark.parametrize("epoch, stage, exc", [(10, W, ValueError), (-1, W, ValueError),
                                               (1.5, W, TypeError), (0, 7, ValueError),
                                               (0, "deep-ish", ValueError), (0, 2.0, TypeError)])
def test_score_rejects_bad_epochs_and_stages(epoch, stage, exc):
    s = ScoringSession(10, autosave=False)
    with pytest.raises(exc):
        s.score(epoch, stage)
    assert not s.can_undo


def test_stages_view_is_read_only():
    s = ScoringSession(3, autosave=False)
    with pytest.raises(ValueError):
        s.stages[0] = W


def test_undo_redo_restore_exact_states_and_new_edit_clears_redo():
    s = ScoringSession(8, autosave=False)
    s.score_range(0, 4, N2)
    s.score(2, R)
    assert s.undo_label == "Score R"
    assert s.undo() == (2, 3)
    assert list(s.stages[:4]) == [N2] * 4 and s.redo_label == "Score R"
    assert s.undo() == (0, 4)
    assert np.all(s.stages == UNSCORED) and not s.is_modified
    assert s.redo() == (0, 4) and s.redo() == (2, 3)
    assert list(s.stages[:4]) == [N2, N2, R, N2]
    s.undo()
    s.score(7, W)
    assert not s.can_redo and s.redo() is None


def test_undo_with_nothing_to_undo_returns_none():
    s = ScoringSession(2, autosave=False)
    assert s.undo() is None and s.redo() is None


def test_undo_stack_is_bounded():
    s = ScoringSession(50, autosave=False, max_undo=3)
    for e in range(10):
        s.score(e, N2)
    for _ in range(3):
        assert s.undo() is not None
    assert s.undo() is None
    assert list(s.stages[:7]) == [N2] * 7 and np.all(s.stages[7:] == UNSCORED)


def test_score_range_is_one_edit_and_checks_bounds():
    s = ScoringSession(10, autosave=False)
    assert s.score_range(2, 6, N3)
    assert list(s.stages[2:6]) == [N3] * 4 and s.undo_label == "Score N3 (4 epochs)"
    assert s.score_range(3, 3, W) is False
    with pytest.raises(ValueError):
        s.score_range(5, 11, W)
    with pytest.raises(ValueError):
        s.score_range(6, 5, W)


def test_reviewed_marks_person_decisions_and_undo_restores_them():
    s = session_with_auto([N2] * 6)
    s.accept_auto((0, 3))
    assert not s.reviewed[:3].any()
    s.score(1, N3)
    assert s.reviewed[1]
    s.score(1, "?")
    assert not s.reviewed[1]
    s.undo()
    assert s.reviewed[1] and s.stage(1) == N3


def test_accept_auto_single_and_range_skips_auto_unscored():
    auto = np.array([W, N1, UNSCORED, N2, R, R])
    s = session_with_auto(auto)
    s.score(2, N3)
    assert s.accept_auto(0) == 1 and s.stage(0) == W
    changed = s.accept_auto(range(1, 6))
    assert changed == 4
    assert list(s.stages) == [W, N1, N3, N2, R, R]  # epoch 2 kept: no automatic stage there
    assert s.undo_label == "Accept automatic stage (5 epochs)"
    s.undo()
    assert list(s.stages) == [W, UNSCORED, N3, UNSCORED, UNSCORED, UNSCORED]
    assert s.accept_auto(slice(0, 2)) == 1


def test_accept_auto_without_automatic_hypnogram_raises():
    s = ScoringSession(4, autosave=False)
    with pytest.raises(ValueError, match="no automatic"):
        s.accept_auto(0)


def test_initial_manual_hypnogram_is_not_an_edit():
    s = ScoringSession(4, manual=Hypnogram([W, N1, N2, N2]), autosave=False)
    assert list(s.stages) == [W, N1, N2, N2] and not s.is_modified and not s.can_undo


def test_import_manual_regrids_5s_scoring_and_is_undoable():
    s = ScoringSession(4, start=START, autosave=False)
    five_s = Hypnogram(np.repeat([W, N2, N2, R], 6), epoch_length=5.0, start=START)
    with pytest.warns(UserWarning, match="re-gridded"):
        s.import_manual(five_s)
    assert list(s.stages) == [W, N2, N2, R] and s.is_modified
    s.undo()
    assert np.all(s.stages == UNSCORED)


def test_automatic_hypnogram_is_aligned_by_start_time():
    s = ScoringSession(6, start=START, autosave=False)
    later = Hypnogram([N2, N3, R], start=START + dt.timedelta(seconds=60),
                      probabilities=probs_for([N2, N3, R]))
    s.set_auto(later)
    assert list(s.auto.stages) == [UNSCORED, UNSCORED, N2, N3, R, UNSCORED]
    conf = s.confidence()
    assert np.isnan(conf[0]) and conf[2] == pytest.approx(0.9)


def test_listeners_get_events_and_can_unsubscribe():
    s = session_with_auto([N2] * 5)
    events = []
    unsubscribe = s.add_listener(events.append)
    s.score_range(1, 3, W)
    s.undo()
    s.set_auto(Hypnogram([N3] * 5))
    assert [(e.kind, e.start, e.stop) for e in events] == [("manual", 1, 3), ("manual", 1, 3),
                                                            ("auto", 0, 5)]
    assert events[1].label == "Undo Score W (2 epochs)"
    unsubscribe()
    s.score(0, R)
    assert len(events) == 3


# -- review ----------------------------------------------------------------------------------
def test_next_review_uncertain_and_wraps():
    s = session_with_auto([N2] * 10, unsure_at=(3, 7))
    assert s.next_review_epoch(0, "uncertain") == 3
    assert s.next_review_epoch(3, "uncertain") == 7
    assert s.next_review_epoch(7, "uncertain") == 3  # wrapped
    assert s.next_review_epoch(7, "uncertain", wrap=False) is None
    assert s.next_review_epoch(5, "uncertain", direction=-1) == 3
    assert s.next_review_epoch(2, "uncertain", direction=-1) == 7


def test_review_threshold_changes_what_counts_as_unsure():
    s = session_with_auto([N2] * 4, unsure_at=(2,))
    s.review_threshold = 0.3
    assert s.next_review_epoch(0, "uncertain") is None
    s.review_threshold = 0.95
    assert s.review_count("uncertain") == 4


def test_next_review_disagree_needs_both_scored():
    s = session_with_auto([N2, N2, N3, N2, N2, UNSCORED])
    s.score(2, N3)       # agrees
    s.score(4, R)        # disagrees
    s.score(5, W)        # no automatic stage: nothing to disagree with
    assert s.next_review_epoch(0, "disagree") == 4
    assert s.review_count("disagree") == 1


def test_review_mode_skips_unsure_epochs_a_person_decided_but_keeps_disagreements():
    s = session_with_auto([N2] * 8, unsure_at=(2, 5))
    assert s.next_review_epoch(0) == 2
    s.score(2, N2)                      # decided, agrees: done
    assert s.next_review_epoch(0) == 5
    s.score(5, N1)                      # decided but disagrees: still shown
    s.accept_auto((0, 8))               # a range keeps what a person decided
    assert s.stage(5) == N1
    assert list(np.flatnonzero(s.review_mask("review"))) == [5]
    s.accept_auto(5)                    # one epoch, explicitly: the automatic stage wins
    assert s.stage(5) == N2 and s.review_count("review") == 0


def test_lowest_mode_visits_by_increasing_confidence():
    stages = np.array([N2] * 6)
    p = probs_for(stages)
    conf = [0.9, 0.5, 0.3, 0.7, 0.3, 0.95]
    for i, c in enumerate(conf):
        p[i] = (1 - c) / 4
        p[i, N2] = c
    s = ScoringSession(6, auto=Hypnogram(stages, probabilities=p), autosave=False)
    order = [s.next_review_epoch(0, "lowest") for _ in range(6)]
    assert order == [2, 4, 1, 3, 0, 5]
    assert s.next_review_epoch(0, "lowest") == 2  # wrapped
    s.score(4, N2)                                 # decided: leaves the list
    assert s.next_review_epoch(0, "lowest") == 1
    assert s.next_review_epoch(0, "lowest", direction=-1) == 2


def test_review_without_automatic_hypnogram_finds_nothing_but_unscored_mode_works():
    s = ScoringSession(4, autosave=False)
    s.score(0, W)
    assert s.next_review_epoch(0) is None
    assert s.next_review_epoch(0, "unscored") == 1


def test_unknown_review_mode_and_bad_direction_raise():
    s = session_with_auto([N2] * 3)
    with pytest.raises(ValueError, match="review mode"):
        s.next_review_epoch(0, "vibes")
    with pytest.raises(ValueError, match="direction"):
        s.next_review_epoch(0, direction=2)


# -- statistics ------------------------------------------------------------------------------
def test_statistics_follow_edits_with_manual_as_reference():
    s = session_with_auto([W, N2, N2, N3, R, W])
    st = s.statistics()
    assert st["agreement"]["n_compared"] == 0 and st["manual"]["TST"] == 0.0
    s.accept_auto((0, 6))
    s.score(3, N2)
    st = s.statistics()
    assert st["manual"]["TST"] == pytest.approx(2.0)  # 4 sleep epochs of 30 s
    assert st["agreement"]["accuracy"] == pytest.approx(5 / 6)
    cm = np.array(st["agreement"]["confusion_matrix"])
    assert cm[N2, N3] == 1  # row = manual N2, column = automatic N3
    assert ScoringSession(3, autosave=False).statistics()["agreement"] is None


# -- key map ---------------------------------------------------------------------------------
def test_default_keys_follow_aasm():
    km = KeyMap()
    assert [km.stage(k) for k in "012345"] == [W, N1, N2, N3, R, R]
    assert km.stage("6") == ARTEFACT and km.stage("Del") == UNSCORED
    assert km.action("ctrl+z") == "undo" and km.action("Ctrl+Shift+Z") == "redo"
    assert km.action("Tab") == "review_next" and km.action("Shift+Backtab") == "review_prev"
    assert km.action("A") == "accept_auto" and km.stage("A") is None
    assert km.action("F13") is None and km.action("") is None


@pytest.mark.parametrize("raw, canon", [("ctrl+shift+z", "Ctrl+Shift+Z"), ("Shift+Ctrl+Z", "Ctrl+Shift+Z"),
                                        ("delete", "Del"), ("Num+3", "3"), ("backtab", "Shift+Tab"),
                                        ("Ctrl++", "Ctrl++"), ("n", "N")])
def test_normalize_key(raw, canon):
    assert normalize_key(raw) == canon


def test_key_map_rebinding_and_round_trip():
    km = KeyMap()
    km.bind("w", "stage:W")
    km.bind("5", "stage:A")
    km.unbind("Backspace")
    assert km.stage("W") == W and km.stage("5") == ARTEFACT and km.action("Backspace") is None
    assert km.keys_for("stage:R") == ["4"]
    assert KeyMap.from_dict(km.to_dict()) == km
    with pytest.raises(ValueError, match="unknown scoring action"):
        km.bind("7", "stage:N4")
    with pytest.raises(ValueError):
        km.bind("Ctrl+", "undo")


def test_session_uses_its_key_map():
    km = KeyMap({"W": "stage:W"})
    s = ScoringSession(2, key_map=km, autosave=False)
    assert s.key_map.stage("w") == W and s.key_map.stage("0") is None


def test_no_warnings_on_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = session_with_auto([N2] * 4)
        s.score(0, W)
        s.accept_auto((0, 4))
        s.statistics()
