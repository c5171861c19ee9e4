"""The Analysis menu's SleepFM event head: enabled only for a release with ``model_events/``; it
scores a generated night into its own ``sleepfm-head`` layer with confidences, beside (and
without touching) psgscoring's layer, and its events are accepted as psgscoring's are."""
from __future__ import annotations

import shutil

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from sleepfm_engine.demo import demo_model_path  # noqa: E402
from sleepfm_engine.events import Event, EventSet, EventSource  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HEAD = "sleepfm-head"


class _InProcessServer:
    """The analysis process's real handlers, run on a thread of this process (tests only: no
    second torch start-up on a 2-core machine)."""

    running = False

    def submit(self, task, kwargs, on_event):
        import threading

        from sleepfm_engine.jobs import TaskState
        from sleepfm_gui.analysis_server import _HANDLERS

        def run():
            try:
                on_event("done", _HANDLERS[task](None, TaskState(), kwargs, lambda payload: None))
            except Exception as exc:  # handed to the window as the real server does
                on_event("failed", exc)

        threading.Thread(target=run).start()
        return 1

    def cancel(self, job_id):
        pass

    def close(self, timeout=10.0):
        pass


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A 30-min generated night at AHI 30."""
    from sleepfm_engine.synthetic import make_night, write_night
    from sleepfm_engine.synthetic.severity import Severity

    return write_night(make_night(hours=0.5, seed=4, severity=Severity(ahi=30)),
                       tmp_path_factory.mktemp("night") / "night.edf")


@pytest.fixture
def shown_errors(monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, text: shown.append((title, text)))
    monkeypatch.setattr(errors, "show_warning", lambda parent, title, text: shown.append((title, text)))
    return shown


@pytest.fixture
def window(qtbot, shown_errors, night):
    demo = demo_model_path()
    assert demo is not None and (demo / "model_events").is_dir()
    win = MainWindow(model_dir=str(demo))
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    win.analysis = _InProcessServer()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.trace.pagePainted, timeout=20000):
        assert win.open_recording_file(night)
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=30000)
    yield win
    win.close()


def test_the_event_head_scores_its_own_layer_with_confidence_and_is_accepted_like_psgscoring(
        qtbot, window, shown_errors):
    win = window
    assert win.detect_head_action.isEnabled()
    # psgscoring's layer, as a run of it leaves it: the head must not touch it.
    src = EventSource.detector("psgscoring", "test")
    psg = EventSet([Event(60.0, 12.0, "apnea_obstructive", source=src, confidence=0.7, id="psg-1")])
    with qtbot.waitSignal(win.eventsShown, timeout=10000):
        win.study.set_events(psg, "psgscoring")

    with qtbot.waitSignals([win.detectionFinished, win.eventsShown], timeout=300000):
        win.detect_head_action.trigger()
    assert shown_errors == []
    # The demo head has no training statistics: the status bar says its OOD check is not available.
    assert "OOD check not available for this event head" in win.statusBar().currentMessage()
    head = win.study.layers[HEAD]
    assert len(head) > 0
    assert all(e.source.kind == "detector" and e.source.name == HEAD for e in head)
    assert all(e.confidence is not None and 0.0 < e.confidence <= 1.0 for e in head)
    assert [e.id for e in win.study.layers["psgscoring"]] == ["psg-1"]

    # The panel names the layer for the head and shows each event's confidence.
    model = win.events.model
    rows = [model.row(i) for i in range(model.rowCount())]
    head_rows = [i for i, (e, layer) in enumerate(rows) if layer == HEAD]
    assert len(head_rows) == len(head)
    for i in head_rows:
        assert model.index(i, 4).data() == HEAD
        assert model.index(i, 5).data() == f"{rows[i][0].confidence:.0%}"

    # Accepting works as for psgscoring: the head's events become scored ones, undoably.
    assert win.accept_all_events(HEAD) == len(head)
    assert {e.id for e in win.session.events} == {e.id for e in head}
    assert [e.id for e in win.study.layers["psgscoring"]] == ["psg-1"]
    win.undo()
    assert len(win.session.events) == 0


def test_a_release_without_an_event_head_disables_the_action(qtbot, window, tmp_path):
    win = window
    assert win.detect_head_action.isEnabled()
    release = tmp_path / "no_head"
    for sub in ("model_base", "model_sleep_staging"):
        shutil.copytree(demo_model_path() / sub, release / sub)
    win.set_model_dir(release)
    assert not win.detect_head_action.isEnabled()
    win.set_model_dir(tmp_path / "missing")
    assert not win.detect_head_action.isEnabled()
