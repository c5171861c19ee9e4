"""Scoring sidecars: debounced atomic autosave, explicit save, crash recovery, fallbacks."""
from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sleepfm_engine import scoring_store, sidecars
from sleepfm_engine.errors import HypnogramError
from sleepfm_engine.formats import read_hypnogram
from sleepfm_engine.hypnogram import UNSCORED, Hypnogram
from sleepfm_engine.scoring import ScoringSession, find_recovery
from sleepfm_engine.scoring_store import AUTOSAVE_SUFFIX, SAVED_SUFFIX, read_sidecar

W, N1, N2, N3, R = range(5)
START = dt.datetime(2024, 1, 2, 22, 0, 0)


@dataclass
class FakeRecording:
    path: Path
    start: dt.datetime = START
    duration: float = 20 * 30.0 + 12.0   # 20 whole epochs and a remainder


class ManualScheduler:
    """Collects scheduled calls; the test decides when they run."""

    def __init__(self):
        self.calls = []

    def __call__(self, delay, fn):
        handle = _Handle(fn, delay)
        self.calls.append(handle)
        return handle

    def run_pending(self):
        for h in list(self.calls):
            if not h.cancelled and not h.done:
                h.done = True
                h.fn()


class _Handle:
    def __init__(self, fn, delay):
        self.fn, self.delay, self.cancelled, self.done = fn, delay, False, False

    def cancel(self):
        self.cancelled = True


@pytest.fixture
def rec(tmp_path) -> FakeRecording:
    path = tmp_path / "night.edf"
    path.write_bytes(b"0" * 256)
    return FakeRecording(path)


def open_session(rec, sched=None, **kw) -> ScoringSession:
    return ScoringSession.for_recording(rec, scheduler=sched or ManualScheduler(), **kw)


def test_session_for_recording_has_whole_epochs_and_sidecar_beside_it(rec):
    s = open_session(rec)
    assert s.n_epochs == 20 and s.start == START
    assert s.autosave_path == rec.path.with_name("night.edf" + AUTOSAVE_SUFFIX)
    assert s.saved_path == rec.path.with_name("night.edf" + SAVED_SUFFIX)


def test_edits_are_coalesced_into_one_autosave(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched, autosave_delay=1.5)
    s.score(0, W)
    s.score(1, N1)
    s.score_range(2, 5, N2)
    assert len(sched.calls) == 1 and sched.calls[0].delay == 1.5
    assert not s.autosave_path.exists() and s.autosave_pending
    sched.run_pending()
    sc = read_sidecar(s.autosave_path)
    assert sc.kind == "autosave" and list(sc.manual.stages[:5]) == [W, N1, N2, N2, N2]
    assert sc.reviewed[:5].all() and not sc.reviewed[5:].any()
    assert not s.autosave_pending
    s.score(6, R)  # the next edit schedules the next write
    assert len(sched.calls) == 2


def test_no_autosave_without_edits(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.set_auto(Hypnogram([N2] * 20, start=START))
    s.close()
    assert sched.calls == [] and not s.autosave_path.exists()


def test_default_thread_timer_writes_the_autosave(rec):
    written = threading.Event()
    from sleepfm_engine.scoring import thread_scheduler

    def sched(delay, fn):
        def run():
            fn()
            written.set()
        return thread_scheduler(delay, run)

    s = ScoringSession.for_recording(rec, scheduler=sched, autosave_delay=0.01)
    s.score(3, N3)
    assert written.wait(10.0)
    assert read_sidecar(s.autosave_path).manual.stages[3] == N3
    s.close()


def test_autosave_write_is_atomic(rec, monkeypatch):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score(0, W)
    sched.run_pending()
    target = s.autosave_path
    before = target.read_bytes()

    def boom(self, *a, **k):
        raise OSError("disk full")

    s.score(1, N2)
    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(OSError, match="disk full"):
        s.flush_autosave()
    monkeypatch.undo()
    assert s.autosave_path == target and target.read_bytes() == before
    assert [p.name for p in rec.path.parent.iterdir() if ".part" in p.name] == []


def test_crash_then_recovery_restores_unsaved_scoring(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score_range(0, 10, N2)
    s.score(4, R)
    sched.run_pending()
    del s  # crash: no close, no save

    info = find_recovery(rec.path)
    assert info is not None
    assert info.n_changed == 10 and info.n_scored == 10 and info.saved_path is None
    assert not info.recording_changed and "night.edf" in info.describe()
    s2 = open_session(rec, recover=info)
    assert list(s2.stages[:6]) == [N2, N2, N2, N2, R, N2] and s2.is_modified
    assert not s2.can_undo
    s2.save()
    assert find_recovery(rec.path) is None
    s3 = open_session(rec)
    assert s3.stage(4) == R and not s3.is_modified


def test_explicit_save_removes_autosave_and_newer_save_wins(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score(0, W)
    sched.run_pending()
    assert s.autosave_path.exists()
    s.save()
    assert not s.autosave_path.exists() and not s.is_modified
    assert find_recovery(rec.path) is None
    s.score(1, N1)
    sched.run_pending()
    info = find_recovery(rec.path)
    assert info is not None and info.n_changed == 1 and info.saved_path == s.saved_path
    s.undo()
    assert not s.is_modified


def test_autosave_equal_to_saved_offers_no_recovery(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score(0, W)
    s.save()
    s.score(1, N1)
    s.undo()
    sched.run_pending()   # autosave written, same stages as the save
    assert s.autosave_path.exists()
    assert find_recovery(rec.path) is None


def test_discarding_recovery_deletes_the_autosave(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score(0, W)
    sched.run_pending()
    info = find_recovery(rec.path)
    info.discard()
    assert find_recovery(rec.path) is None
    assert np.all(open_session(rec).stages == UNSCORED)


def test_close_keeps_unsaved_autosave_or_discards_it(rec):
    s = open_session(rec)
    s.score(0, W)            # pending, never run by the scheduler
    s.close()                # flushes
    assert find_recovery(rec.path) is not None
    s2 = open_session(rec, recover=find_recovery(rec.path))
    s2.close(keep_autosave=False)
    assert find_recovery(rec.path) is None


def test_read_only_folder_falls_back_to_user_data(rec, monkeypatch, isolated_user_dirs):
    monkeypatch.setattr(sidecars, "folder_is_writable", lambda folder: folder != rec.path.parent)
    sched = ManualScheduler()
    s = open_session(rec, sched)
    assert s.autosave_path.parent == isolated_user_dirs / "scoring"
    s.score(2, N3)
    sched.run_pending()
    assert not rec.path.with_name("night.edf" + AUTOSAVE_SUFFIX).exists()
    info = find_recovery(rec.path)
    assert info is not None and info.autosave_path.parent == isolated_user_dirs / "scoring"
    s.save()
    assert s.saved_path.parent == isolated_user_dirs / "scoring"
    assert open_session(rec).stage(2) == N3


def test_failed_write_beside_recording_moves_autosave_to_user_data(rec, monkeypatch,
                                                                  isolated_user_dirs):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score(0, W)
    real = scoring_store.write_text_atomic

    def refuse_beside(target, text):
        if Path(target).parent == rec.path.parent:
            raise PermissionError("read-only")
        return real(target, text)

    monkeypatch.setattr(scoring_store, "write_text_atomic", refuse_beside)
    with pytest.warns(UserWarning, match="cannot autosave"):
        sched.run_pending()
    assert s.autosave_path.parent == isolated_user_dirs / "scoring"
    assert find_recovery(rec.path).n_changed == 1


def test_recovery_notices_a_replaced_recording(rec):
    sched = ManualScheduler()
    s = open_session(rec, sched)
    s.score(0, W)
    sched.run_pending()
    rec.path.write_bytes(b"1" * 512)
    assert find_recovery(rec.path).recording_changed


def test_corrupt_autosave_is_ignored_with_a_warning(rec):
    bad = rec.path.with_name("night.edf" + AUTOSAVE_SUFFIX)
    bad.write_text("{not json", encoding="utf-8")
    with pytest.warns(UserWarning, match="unreadable scoring file"):
        assert find_recovery(rec.path) is None


def test_read_sidecar_errors_name_the_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(HypnogramError, match="x.json"):
        read_sidecar(p)
    p.write_text(json.dumps({"format": "sleepfm-scoring", "version": 99}), encoding="utf-8")
    with pytest.raises(HypnogramError, match="newer version"):
        read_sidecar(p)
    with pytest.raises(HypnogramError, match="no such file"):
        read_sidecar(tmp_path / "missing.json")


def test_saved_sidecar_keeps_automatic_hypnogram_and_review_marks(rec):
    p = np.full((20, 5), 0.05, dtype=np.float32)
    p[:, N2] = 0.8
    auto = Hypnogram([N2] * 20, start=START, probabilities=p)
    s = open_session(rec, auto=auto)
    s.score(5, N3)
    s.save()
    s2 = open_session(rec)
    assert s2.auto is not None and np.allclose(s2.auto.probabilities, p)
    assert s2.reviewed[5] and s2.reviewed.sum() == 1


def test_export_writes_a_hypnogram_file_but_is_not_a_save(rec, tmp_path):
    s = open_session(rec)
    s.score_range(0, 20, N2)
    out = s.export(tmp_path / "scoring.csv")
    back = read_hypnogram(out)
    assert back.n_epochs == 20 and np.all(back.stages == N2)
    assert s.is_modified


def test_session_without_recording_does_not_autosave_and_needs_a_save_path(tmp_path):
    sched = ManualScheduler()
    s = ScoringSession(5, scheduler=sched)
    s.score(0, W)
    assert sched.calls == [] and s.autosave_path is None
    with pytest.raises(ValueError, match="give a path"):
        s.save()
    assert s.save(tmp_path / "s.json").exists()
