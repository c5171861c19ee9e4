"""Events in the window: drawn on their rows, the page's scored stage, creating, editing and
undoing events, automatic events and the events panel."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402

from edf_factory import Sig, tal_record, write_edf  # noqa: E402
from sleepfm_engine.events import Event, EventSet, EventSource, EventType  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402

RATE = 32


def make_edf_plus(path, seconds: int = 300, annotations=()):
    """An EDF+ night: C4-M1, chin, airflow, thoracic effort, SpO2 and an annotation signal
    holding ``annotations`` ((onset, duration, text) in the first record)."""
    rng = np.random.default_rng(0)
    n = seconds * RATE
    sigs = [Sig("C4-M1", RATE, rng.integers(-2000, 2000, n)),
            Sig("Chin1-Chin2", RATE, rng.integers(-2000, 2000, n)),
            Sig("Airflow", RATE, rng.integers(-2000, 2000, n)),
            Sig("Thor", RATE, rng.integers(-2000, 2000, n)),
            Sig("SpO2", 1, rng.integers(930, 990, seconds), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    records = [tal_record(r, annotations if r == 0 else (), width=200) for r in range(seconds)]
    return write_edf(path, sigs, reserved="EDF+C", annotation_records=records)


@pytest.fixture
def dialogs(monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, text: shown.append((title, text)))
    monkeypatch.setattr(errors, "show_warning", lambda parent, title, text: shown.append((title, text)))
    return shown


@pytest.fixture
def window(qtbot, dialogs):
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    qtbot.addWidget(win)
    win.resize(1400, 1000)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def _open(qtbot, win, path) -> None:
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(path)
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)


def _shown(qtbot, win, action) -> None:
    """Run ``action`` and wait until the events panel and indices show its result."""
    with qtbot.waitSignal(win.eventsShown, timeout=5000):
        action()


def _row(win, key: str) -> int:
    return [r.key for r in win.trace.visible_channels].index(key)


# ------------------------------------------------------------------ events on the traces
def test_file_events_sit_on_their_rows_and_its_stage_notes_give_way_to_the_scoring(
        qtbot, window, tmp_path):
    path = make_edf_plus(tmp_path / "night.edf", annotations=[
        (0, 30, "Sleep stage N2"), (4, 12, "Obstructive apnea@@Airflow"),
        (4, 12, "Obstructive apnea@@Thor"), (20, 0, "Lights off")])
    _shown(qtbot, window, lambda: _open(qtbot, window, path))
    # The stage note is the file's hypnogram, not an event.
    assert sorted(e.type.value for e, _ in window.study.events) == ["apnea_obstructive",
                                                                     "lights_off"]
    marks = {m.event.type: m for m in window.trace.event_marks()}
    apnea = marks[EventType.apnea_obstructive]
    assert apnea.rows == (_row(window, "Airflow"), _row(window, "Thor")) and apnea.code == "OA"
    assert marks[EventType.lights_off].rows == ()
    # The page says what the technologist scored, whatever the file's note said.
    window.session.score(0, "R")
    assert window.trace.events_item._caption == "Manual R"
    assert window.events.model.rowCount() == 2


def test_labels_on_the_page_never_overlap_each_other(qtbot, window, tmp_path):
    _open(qtbot, window, make_edf_plus(tmp_path / "night.edf"))
    events = [Event(float(t), 4.0, "hypopnea", channels=("Airflow",)) for t in range(0, 30, 1)]
    window.study.set_events(events, "script")
    label_px, lane_px, lanes, band_lanes = window.trace._label_geometry()

    def check() -> None:
        boxes = []
        for m in window.trace.event_marks():
            if m.lane is None:
                continue
            # In the row's label zone, or the band above the rows when the rows are too low.
            assert m.label_row == (_row(window, "Airflow") if lanes else None)
            x = window.trace.viewbox.mapViewToScene(QPointF(m.x0, 0)).x()
            boxes.append((m.lane, x, x + label_px))
        assert boxes
        for i, (lane, a, b) in enumerate(boxes):
            for lane2, a2, b2 in boxes[i + 1:]:
                assert lane != lane2 or a2 >= b - 0.5 or b2 <= a + 0.5

    check()
    # Taller rows hold their labels themselves.
    window.trends_dock.hide()
    window.review_dock.hide()
    qtbot.waitUntil(lambda: window.trace._label_geometry()[2] >= 1, timeout=5000)
    label_px, lane_px, lanes, band_lanes = window.trace._label_geometry()
    window.study.display.events_changed()
    check()


def test_the_events_panel_filters_what_the_traces_draw(qtbot, window, tmp_path):
    _open(qtbot, window, make_edf_plus(tmp_path / "night.edf"))
    _shown(qtbot, window, lambda: window.study.set_events(
        [Event(2.0, 10.0, "apnea_central", id="ca"), Event(5.0, 3.0, "arousal", id="ar")],
        "script"))
    assert "2 of 2 events" in window.events.counts_label.text()
    window.events.set_type_filter(EventType.arousal)
    assert window.events.model.rowCount() == 1
    assert [m.event.id for m in window.trace.event_marks()] == ["ar"]
    window.events.set_type_filter(None)
    assert [m.event.id for m in window.trace.event_marks()] == ["ca", "ar"]


# ------------------------------------------------------------------ create, edit, undo
def _scene_point(win, t: float, y: float):
    """Viewport pixel of plot point (t, y)."""
    scene = win.trace.viewbox.mapViewToScene(QPointF(t, y))
    return win.trace.graphics.mapFromScene(scene)


def _drag(qtbot, win, t0: float, t1: float, y: float) -> None:
    vp = win.trace.graphics.viewport()
    a, b = _scene_point(win, t0, y), _scene_point(win, t1, y)
    qtbot.mousePress(vp, Qt.LeftButton, pos=a)
    for k in range(1, 6):
        qtbot.mouseMove(vp, pos=a + (b - a) * (k / 5))
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=b)


def _click(qtbot, win, t: float, y: float, button=Qt.LeftButton) -> None:
    qtbot.mouseClick(win.trace.graphics.viewport(), button, pos=_scene_point(win, t, y))


@pytest.fixture
def opened(qtbot, window, tmp_path):
    window.settings.set_value("scoring/scorer", "J. Doe")
    _open(qtbot, window, make_edf_plus(tmp_path / "night.edf"))
    return window


def test_drag_across_a_trace_then_a_key_scores_an_event_there_undoably(qtbot, opened):
    win = opened
    y = -_row(win, "Airflow")
    _drag(qtbot, win, 4.0, 16.0, y)
    a, b, key = win.study.display.span
    assert key == "Airflow" and a == pytest.approx(4.0, abs=0.2) and b == pytest.approx(16, abs=0.2)
    with qtbot.waitSignal(win.trace.pagePainted, timeout=5000, raising=False):
        qtbot.keyClick(win.trace, Qt.Key_O)
    (event,) = list(win.session.events)
    assert event.type == EventType.apnea_obstructive and event.channels == ("Airflow",)
    assert event.source == EventSource("manual", "J. Doe")
    assert win.study.display.span is None and win.study.display.selected_event == event.id
    assert [m.event.id for m in win.trace.event_marks()] == [event.id]
    qtbot.keyClick(win.trace, Qt.Key_Z, Qt.ControlModifier)
    assert len(win.session.events) == 0 and win.trace.event_marks() == []
    qtbot.keyClick(win.trace, Qt.Key_Y, Qt.ControlModifier)
    assert list(win.session.events) == [event]


def test_h_on_a_span_scores_a_hypopnea_instead_of_hiding_the_channel(qtbot, opened):
    win = opened
    n = len(win.trace.visible_channels)
    _drag(qtbot, win, 2.0, 12.0, -_row(win, "Thor"))
    qtbot.keyClick(win.trace, Qt.Key_H)
    assert [e.type for e in win.session.events] == [EventType.hypopnea]
    assert len(win.trace.visible_channels) == n


def test_a_selected_event_changes_type_resizes_and_deletes_with_undo(qtbot, opened):
    win = opened
    e = win.create_event(5.0, 15.0, "Airflow", "hypopnea")
    win.study.display.select_event(None)
    y = -_row(win, "Airflow")
    _click(qtbot, win, 10.0, y)
    assert win.study.display.selected_event == e.id
    qtbot.keyClick(win.trace, Qt.Key_C)
    assert win.session.events[e.id].type == EventType.apnea_central
    # Drag its end from 15 s to 20 s.
    _drag(qtbot, win, 15.0, 20.0, y)
    assert win.session.events[e.id].end == pytest.approx(20.0, abs=0.2)
    assert win.session.events[e.id].onset == 5.0
    qtbot.keyClick(win.trace, Qt.Key_Delete)
    assert e.id not in win.session.events
    # The stage of the epoch was not touched by Del: it went to the event.
    assert win.session.stage(0) == -1
    for expected in (pytest.approx(20.0, abs=0.2), 15.0):
        win.undo()
        assert win.session.events[e.id].end == expected
    win.undo()
    assert win.session.events[e.id].type == EventType.hypopnea


def test_the_context_menu_scores_the_span_as_any_type(qtbot, opened):
    win = opened
    win.study.display.set_span(3.0, 9.0, None)
    menu = win.trace.event_menu()
    score_as = next(a.menu() for a in menu.actions() if a.text() == "Score as")
    rera = next(a for m in [score_as] + [a.menu() for a in score_as.actions() if a.menu()]
                for a in m.actions() if a.text() == "RERA")
    rera.trigger()
    (event,) = list(win.session.events)
    assert event.type == EventType.rera and event.channels == ()
    assert (event.onset, event.duration) == (3.0, 6.0)


def test_unsaved_events_are_recovered_when_the_recording_is_opened_again(qtbot, window,
                                                                       tmp_path):
    path = make_edf_plus(tmp_path / "night.edf")
    _open(qtbot, window, path)
    e = window.create_event(30.0, 40.0, "SpO2", "desaturation")
    window.session.flush_autosave()
    window.headless = True  # closes like a crash would leave it: the autosave stays
    assert window.close_recording()
    window.headless = False
    _open(qtbot, window, path)
    assert window.session.events[e.id] == e
    assert window.session.is_modified


# ------------------------------------------------------------------ automatic events
class _Detector:
    """A detector that scores two apneas, a desaturation and rejects a hypopnea."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def detect(self, recording, hypnogram=None, *, state=None, channel_map=None, **settings):
        from sleepfm_engine.detectors import Detection
        from sleepfm_engine.events import RejectedCandidate

        self.calls.append((recording.path, hypnogram, channel_map))
        src = EventSource.detector("fake", "1.0")
        events = EventSet([
            Event(40.0, 12.0, "apnea_obstructive", source=src, confidence=0.9,
                  attributes={"rule": "AASM apnea: flow drop >= 90 %"}, id="d-oa"),
            Event(100.0, 15.0, "apnea_central", source=src, confidence=0.55,
                  attributes={"rule": "no effort"}, id="d-ca"),
            Event(60.0, 30.0, "desaturation", source=src, confidence=0.8, id="d-de")],
            rejected=[RejectedCandidate(Event(200.0, 12.0, "hypopnea", source=src, id="d-rej"),
                                        "flow reduced only 20 %")])
        return Detection(events, not_scored={"limb_movements": "no leg EMG"})


class _InProcessServer:
    """The analysis process's handlers run on a thread of this process (tests only)."""

    running = False

    def submit(self, task, kwargs, on_event):
        import threading

        from sleepfm_engine.jobs import TaskState
        from sleepfm_gui.analysis_server import _HANDLERS

        def run():
            on_event("done", _HANDLERS[task](None, TaskState(), kwargs, lambda payload: None))

        threading.Thread(target=run).start()
        return 1

    def cancel(self, job_id):
        pass

    def close(self, timeout=10.0):
        pass


@pytest.fixture
def detector(monkeypatch):
    det = _Detector()
    monkeypatch.setattr("sleepfm_engine.detectors.get_detector", lambda name: det)
    return det


def _detect(qtbot, win):
    win.analysis = _InProcessServer()
    with qtbot.waitSignals([win.detectionFinished, win.eventsShown], timeout=20000):
        assert win.start_event_detection("fake") is not None


def test_automatic_events_arrive_in_their_own_layer_and_never_touch_scored_ones(
        qtbot, opened, detector):
    win = opened
    win.session.score_range(0, win.session.n_epochs, "N2")
    mine = win.create_event(40.0, 52.0, "Airflow", "hypopnea")
    _detect(qtbot, win)
    (path, hyp, cmap), = detector.calls
    assert path == win.rec.path and np.all(hyp.stages == 2) and cmap is not None
    assert set(win.study.layers) == {"scoring", "fake"}
    assert list(win.session.events) == [mine]
    rows = {win.events.model.row(i)[0].id: i for i in range(win.events.model.rowCount())}
    assert set(rows) == {mine.id, "d-oa", "d-ca", "d-de"}
    i = rows["d-oa"]
    model = win.events.model
    assert model.index(i, 5).data() == "90%"
    assert model.index(i, 6).data() == "AASM apnea: flow drop >= 90 %"
    # The rejected candidate is listed with its reason on demand.
    win.events.rejected_check.setChecked(True)
    texts = [model.index(r, 6).data() for r in range(model.rowCount())]
    assert "rejected: flow reduced only 20 %" in texts
    # A rerun replaces the detector's layer only.
    _detect(qtbot, win)
    assert list(win.session.events) == [mine]


def test_accepting_one_then_all_updates_the_indices(qtbot, opened, detector):
    win = opened
    win.session.score_range(0, win.session.n_epochs, "N2")  # 5 min of sleep
    _detect(qtbot, win)
    assert "AHI</b> 0.0" in win.events.indices_label.text()
    # Detected but not accepted: the panel says nothing is scored yet, not just "AHI 0.0".
    assert "no events yet" in win.events.indices_label.text()
    # U goes to the first unreviewed automatic event and selects it; Enter accepts it.
    win.trace.setFocus()
    qtbot.keyClick(win.trace, Qt.Key_U)
    assert win.study.display.selected_event == "d-oa" and win.trace.start == 30.0
    _shown(qtbot, win, lambda: qtbot.keyClick(win.trace, Qt.Key_Return))
    assert "d-oa" in win.session.events
    assert win.session.events["d-oa"].source.kind == "detector"
    assert "AHI</b> 12.0" in win.events.indices_label.text()  # 1 apnea in 5 min of sleep
    assert win.events.indices_label.text().startswith("Scored (1 event):")
    qtbot.keyClick(win.trace, Qt.Key_U)
    assert win.study.display.selected_event == "d-de"  # next in time, after the accepted one
    _shown(qtbot, win, win.events.acceptAllRequested.emit)
    assert {e.id for e in win.session.events} == {"d-oa", "d-ca", "d-de"}
    assert "AHI</b> 24.0" in win.events.indices_label.text()
    win.undo()
    assert {e.id for e in win.session.events} == {"d-oa"}


def test_next_event_of_this_type_skips_other_types(qtbot, opened):
    win = opened
    a = win.create_event(10.0, 20.0, "Airflow", "hypopnea")
    win.create_event(40.0, 50.0, "Airflow", "apnea_central")
    c = win.create_event(130.0, 140.0, "Airflow", "hypopnea")
    win.study.display.select_event(a.id)
    qtbot.keyClick(win.trace, Qt.Key_BracketRight)
    assert win.study.display.selected_event == c.id and win.trace.start == 120.0
    qtbot.keyClick(win.trace, Qt.Key_BracketLeft)
    assert win.study.display.selected_event == a.id


def test_hiding_a_row_moves_its_events_with_the_rows(qtbot, opened):
    win = opened
    e = win.create_event(5.0, 15.0, "SpO2", "desaturation")
    before = {m.event.id: m.rows for m in win.trace.event_marks()}[e.id]
    win.trace.set_channel_visible("Chin1-Chin2", False)
    after = {m.event.id: m.rows for m in win.trace.event_marks()}[e.id]
    assert after == (before[0] - 1,) == (_row(win, "SpO2"),)
    win.trace.set_channel_visible("SpO2", False)
    assert {m.event.id: m.rows for m in win.trace.event_marks()}[e.id] == ()


def test_the_stage_caption_follows_the_current_epoch_on_a_long_page(qtbot, opened):
    win = opened
    win.session.score(1, "N3")
    win.trace.set_window(120.0)
    win.trace.go_to_epoch(0)
    assert win.trace.events_item._caption == "Manual ?"
    qtbot.keyClick(win.trace, Qt.Key_Right)
    assert win.trace.current_epoch == 1 and win.trace.start == 0.0
    assert win.trace.events_item._caption == "Manual N3"
    assert win.trace.events_item._caption_x == 30.0


def test_ctrl_u_reviews_automatic_events_lowest_confidence_first(qtbot, opened, detector):
    win = opened
    _detect(qtbot, win)
    qtbot.keyClick(win.trace, Qt.Key_U, Qt.ControlModifier)
    assert win.study.display.selected_event == "d-ca"  # 55 %
    qtbot.keyClick(win.trace, Qt.Key_U, Qt.ControlModifier)
    assert win.study.display.selected_event == "d-de"  # 80 %
    qtbot.keyClick(win.trace, Qt.Key_Return)  # accepted: out of the review order
    qtbot.keyClick(win.trace, Qt.Key_U, Qt.ControlModifier)
    assert win.study.display.selected_event == "d-oa"  # 90 %
    qtbot.keyClick(win.trace, Qt.Key_U, Qt.ControlModifier)
    assert win.study.display.selected_event == "d-ca"  # wraps


def test_event_keys_are_edited_in_the_application_and_kept(qtbot, opened):
    from PySide6.QtCore import QTimer

    from sleepfm_engine.event_keys import EventKeyMap
    from sleepfm_gui.qt_events import EventKeysDialog

    win = opened
    dlg = EventKeysDialog(win.trace.event_keys, win)
    qtbot.addWidget(dlg)
    assert dlg.edits[EventType.apnea_obstructive].text() == "O"
    dlg.edits[EventType.rera].setText("R")
    dlg.edits[EventType.apnea_central].setText("O")  # taken by obstructive apnea
    dlg.accept()
    assert dlg.result_keys is None and "both" in dlg.message.text()
    dlg.edits[EventType.apnea_central].setText("shift+c")
    QTimer.singleShot(0, dlg.accept)
    assert win.edit_event_keys(dlg)
    assert win.trace.event_keys.type_for("R") == EventType.rera
    assert win.trace.event_keys.type_for("Shift+C") == EventType.apnea_central
    assert EventKeyMap.from_dict(win.settings.get_json("scoring/event_keys")) == \
        win.trace.event_keys
    # The new key scores on a span.
    win.study.display.set_span(3.0, 9.0, "Airflow")
    qtbot.keyClick(win.trace, Qt.Key_R)
    assert [e.type for e in win.session.events] == [EventType.rera]


def test_enter_on_a_span_accepts_the_automatic_events_in_it(qtbot, opened, detector):
    win = opened
    _detect(qtbot, win)
    win.trace.set_window(120.0)
    _drag(qtbot, win, 45.0, 70.0, 0.8)  # the band above the rows: no channel
    assert win.study.display.span[2] is None
    _shown(qtbot, win, lambda: qtbot.keyClick(win.trace, Qt.Key_Return))
    assert {e.id for e in win.session.events} == {"d-oa", "d-de"}
    assert win.study.display.span is None
    win.undo()
    assert len(win.session.events) == 0
