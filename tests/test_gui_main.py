"""Main window: open, errors, channel reassignment, import/export, keys, jobs, settings."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from conftest import SHARED  # noqa: E402
from sleepfm_engine.formats import read_hypnogram, write_hypnogram  # noqa: E402
from sleepfm_engine.hypnogram import Hypnogram  # noqa: E402
from sleepfm_engine.jobs import Job  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402
from sleepfm_gui.settings import Settings  # noqa: E402
from test_gui_trace import make_psg  # noqa: E402

GOLDEN_TINY = Path(__file__).parent / "data" / "golden_tiny"
DREAMS = SHARED / "data" / "dreams" / "excerpt3.edf"


@pytest.fixture
def dialogs(monkeypatch):
    """Error and warning dialogs captured instead of shown."""
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
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def _open(qtbot, win, path) -> None:
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(path)
    _wait_jobs(qtbot, win)


def _wait_jobs(qtbot, win, timeout=20000) -> None:
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=timeout)


def test_open_shows_the_recording_and_remembers_it(qtbot, window, tmp_path):
    path = make_psg(tmp_path / "night.edf")
    _open(qtbot, window, path)
    assert window.windowTitle().startswith("night.edf")
    assert window.rec is not None and len(window.trace.visible_channels) == 7
    assert window.session is not None and window.session.n_epochs == 20
    assert Settings().recent_files()[0] == str(path.resolve())
    assert window.recent_menu.actions()[0].text() == "night.edf"
    # The overview envelope was computed on a worker thread.
    assert window.trace.overview.envelope.getData()[0] is not None
    # The window renders its study: the traces draw the study's display model.
    assert window.trace.model is window.study.display and window.study.recording is window.rec
    window.close_recording()
    assert window.study.recording is None and window.trace.visible_channels == []


@pytest.mark.parametrize("content, problem", [
    (b"this is not an EDF file at all" * 20, "not an EDF or BDF file"),
    (b"0       " + b" " * 100, "truncated"),
])
def test_a_corrupt_file_gives_a_readable_error_and_keeps_the_window_usable(
        qtbot, window, dialogs, tmp_path, content, problem):
    bad = tmp_path / "broken.edf"
    bad.write_bytes(content)
    assert not window.open_recording_file(bad)
    title, text = dialogs[-1]
    assert title == "Cannot open the recording"
    assert str(bad) in text and problem in text
    assert "Traceback" not in text and 'File "' not in text
    assert window.rec is None
    _open(qtbot, window, make_psg(tmp_path / "good.edf"))
    assert window.rec is not None


def test_reassigning_a_channel_is_saved_regroups_the_traces_and_reaches_inference(
        qtbot, window, tmp_path):
    path = make_psg(tmp_path / "night.edf")
    _open(qtbot, window, path)
    assert window.cmap.modality_of("Airflow") == "RESP"
    combo = window.channels.modality_combo("Airflow")
    with qtbot.waitSignal(window.channels.modalitiesChanged, timeout=2000):
        combo.setCurrentIndex(combo.findData("EMG"))
    saved = tmp_path / "night.edf.channels.json"
    assert json.loads(saved.read_text()) == {"Airflow": "EMG"}
    row = next(r for r in window.trace.display_channels if r.key == "Airflow")
    assert row.modality == "EMG" and row.kind == "EMG"
    window.model_dir = str(GOLDEN_TINY)
    assert window._analysis_kwargs()["overrides"] == {"Airflow": "EMG"}
    # Reopening reads the overrides back; choosing the automatic modality again drops them.
    _open(qtbot, window, path)
    assert window.cmap.modality_of("Airflow") == "EMG"
    combo = window.channels.modality_combo("Airflow")
    assert combo.currentData() == "EMG" and combo.font().bold()
    combo.setCurrentIndex(combo.findData("RESP"))
    assert not saved.exists() and window.cmap.overrides == {}


def test_channel_show_boxes_hide_traces(qtbot, window, tmp_path):
    _open(qtbot, window, make_psg(tmp_path / "night.edf"))
    table = window.channels.table
    row = next(i for i in range(table.rowCount()) if table.item(i, 0).data(Qt.UserRole) == "ECG")
    table.item(row, 0).setCheckState(Qt.Unchecked)
    assert "ECG" in window.trace.hidden_channels


def test_import_and_export_hypnograms(qtbot, window, tmp_path):
    path = make_psg(tmp_path / "night.edf")
    _open(qtbot, window, path)
    stages = np.array([0, 0, 1, 2, 2, 2, 3, 3, 2, 4, 4, 2, 2, 1, 0, 2, 2, 3, 4, 0], dtype=np.int8)
    manual_file = write_hypnogram(Hypnogram(stages, start=window.rec.start), tmp_path / "m.csv")
    assert window.import_hypnogram(manual_file)
    assert np.array_equal(window.session.stages, stages)
    out = window.export_hypnogram(tmp_path / "out.csv", "manual")
    assert np.array_equal(read_hypnogram(out).stages, stages)
    auto_stages = np.roll(stages, 1)
    auto_file = write_hypnogram(Hypnogram(auto_stages, start=window.rec.start), tmp_path / "a.csv")
    assert not window.export_auto_action.isEnabled()
    assert window.import_hypnogram(auto_file, as_auto=True)
    assert np.array_equal(window.session.auto.stages, auto_stages)
    assert window.export_auto_action.isEnabled()
    assert np.array_equal(read_hypnogram(window.export_hypnogram(tmp_path / "auto.csv", "auto"))
                          .stages, auto_stages)


def test_events_given_to_the_study_are_shown_and_cleared_on_close(qtbot, window, tmp_path):
    from sleepfm_engine.events import Event

    _open(qtbot, window, make_psg(tmp_path / "night.edf"))
    with qtbot.waitSignal(window.eventsShown, timeout=5000):
        window.study.set_events([Event(20.0, 5.0, "arousal", id="b"),
                                 Event(5.0, 2.0, "note", label="Spindle", id="a")], "script")
    assert window.events.model.rowCount() == 2
    assert [m.event.id for m in window.trace.event_marks()] == ["a", "b"]
    window.close_recording()
    assert window.events.model.rowCount() == 0 and window.trace.event_marks() == []


def test_a_bad_hypnogram_file_is_reported_not_raised(qtbot, window, dialogs, tmp_path):
    _open(qtbot, window, make_psg(tmp_path / "night.edf"))
    bad = tmp_path / "bad.csv"
    bad.write_text("onset,duration,stage\n0,30,W\n30,30,Banana\n")
    assert not window.import_hypnogram(bad)
    assert dialogs[-1][0] == "Cannot import the hypnogram" and "bad.csv" in dialogs[-1][1]


def test_import_and_export_events(qtbot, window, tmp_path):
    from sleepfm_engine.formats import read_events

    _open(qtbot, window, make_psg(tmp_path / "night.edf"))
    events = tmp_path / "events.csv"
    events.write_text("onset,duration,description\n12.5,10,Arousal\n"
                      "60,15,Obstructive apnea\n")
    with qtbot.waitSignal(window.eventsShown, timeout=5000):
        assert window.import_events(events)
    assert window.events.model.rowCount() == 2
    assert [e.onset for e, _ in window.study.events] == [12.5, 60.0]
    assert [m.event.onset for m in window.trace.event_marks()] == [12.5]
    with qtbot.waitSignal(window.trace.pagePainted, timeout=5000):
        window.events.timeActivated.emit(60.0)
    assert window.trace.start == 60.0
    out = window.export_events(tmp_path / "out.events.json")
    back = read_events(out)
    assert [(e.onset, e.duration, e.type.value) for e in back] == [
        (12.5, 10.0, "arousal"), (60.0, 15.0, "apnea_obstructive")]


def test_scoring_keys_reach_the_session_from_the_trace_view(qtbot, window, tmp_path):
    _open(qtbot, window, make_psg(tmp_path / "night.edf"))
    window.trace.setFocus()
    qtbot.keyClick(window.trace, Qt.Key_2)
    assert window.session.stage(0) == 2
    assert window.trace.current_epoch == 1 and window.review.current_epoch == 1
    qtbot.keyClick(window.trace, Qt.Key_Z, Qt.ControlModifier)
    assert window.session.stage(0) == -1
    # Typing in the go-to box is text, not scoring.
    window.trace.goto_edit.setFocus()
    qtbot.keyClick(window.trace.goto_edit, Qt.Key_3)
    assert window.trace.goto_edit.text() == "3" and window.session.stage(0) == -1


def test_staging_with_the_tiny_golden_model_updates_the_hypnogram(qtbot, window, tmp_path):
    pytest.importorskip("torch", reason="staging needs torch")
    _open(qtbot, window, make_psg(tmp_path / "night.edf", minutes=6))
    window.set_model_dir(GOLDEN_TINY)
    window.device = "cpu"
    progress = []
    with qtbot.waitSignal(window.stagingFinished, timeout=90000) as sig:
        worker = window.start_staging()
        worker.progressChanged.connect(lambda f, m: progress.append(f))
    hyp = sig.args[0]
    assert hyp.n_epochs == 12 and hyp.probabilities.shape == (12, 5)
    assert window.session.auto is not None
    assert np.array_equal(window.session.auto.stages, hyp.stages)
    assert progress and max(progress) <= 1.0
    assert window.trace.overview.stages.isVisible()
    assert window.export_auto_action.isEnabled()
    # The golden tiny model carries no training statistics: the hypnogram says it was not checked.
    assert not window.review.ood_banner.isHidden()
    assert "not checked" in window.review.ood_banner.text()


def test_a_flagged_night_shows_a_banner_and_its_marked_epochs_come_first_in_review(qtbot, window,
                                                                                  tmp_path):
    from sleepfm_engine.ood import OODResult

    _open(qtbot, window, make_psg(tmp_path / "night.edf", minutes=6))
    n = len(window.session.stages)
    probs = np.tile([0.02, 0.02, 0.92, 0.02, 0.02], (n, 1))
    window.set_auto_hypnogram(Hypnogram(np.full(n, 2), probabilities=probs))
    marked = np.zeros(n, dtype=bool)
    marked[[4, 7, 9]] = True
    scores = np.where(marked, 3.0, 0.2)
    flagged = OODResult(scores, marked, np.zeros(n, bool), tuple("BAS" if m else "" for m in marked),
                        night_fraction=0.1, checked=("BAS",))
    window.review.set_ood(flagged)
    assert not window.review.ood_banner.isHidden()
    assert "unlike the model's training data" in window.review.ood_banner.text()
    # Every automatic stage is confident (p = 0.92), yet the marked epochs are offered for review.
    assert window.session.next_review_epoch(0, mode="lowest") == 4
    assert window.session.review_mask("review")[[4, 7, 9]].all()
    window.set_auto_hypnogram(Hypnogram(np.full(n, 2), probabilities=probs))
    assert window.review.ood_banner.isHidden()


def test_analysis_without_a_model_folder_explains_what_to_do(qtbot, window, dialogs, tmp_path):
    _open(qtbot, window, make_psg(tmp_path / "night.edf"))
    window.model_dir = ""
    assert window.start_staging() is None
    assert "model folder" in dialogs[-1][1]
    window.set_model_dir(tmp_path / "nowhere")
    worker = window.start_staging()
    with qtbot.waitSignal(worker.finished, timeout=20000):
        pass
    assert dialogs[-1][0] == "Sleep staging failed" and "nowhere" in dialogs[-1][1]


def test_closing_the_window_cancels_running_jobs_and_waits(qtbot, dialogs, tmp_path):
    win = MainWindow()
    win.ask_save = lambda s: "discard"
    qtbot.addWidget(win)
    win.show()
    started = threading.Event()

    def slow(state):
        started.set()
        while True:
            state.check_cancelled()
            threading.Event().wait(0.01)

    worker = win.jobs.submit(Job("Slow", slow), key="slow")
    assert started.wait(5)
    win.close()
    assert worker.wait(0) and worker.job.cancelled
    assert not any(t.name == "sleepfm-job: Slow" for t in threading.enumerate())


def test_display_settings_persist_between_sessions(qtbot, dialogs, tmp_path):
    path = make_psg(tmp_path / "night.edf")
    first = MainWindow()
    first.ask_save = lambda s: "discard"
    qtbot.addWidget(first)
    first.show()
    _open(qtbot, first, path)
    first.trace.set_window(60.0)
    first.trace.set_notch(60.0)
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.trace.window_seconds == 60.0 and second.trace.notch == 60.0
    assert second.settings.recent_files() == [str(path.resolve())]
    second.close()


def test_dropping_a_file_opens_it(qtbot, window, tmp_path):
    path = make_psg(tmp_path / "dropped.edf")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    ev = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.recordingOpened, timeout=5000) as sig:
        window.dropEvent(ev)
    assert sig.args == [str(path)]
    _wait_jobs(qtbot, window)


def test_recording_information_lists_fields_and_channels(tmp_path):
    from sleepfm_engine.recording import open_recording
    from sleepfm_gui.dialogs.recording_info import recording_info_html

    with open_recording(make_psg(tmp_path / "night.edf")) as rec:
        text = recording_info_html(rec, {"C4": "BAS"})
    assert "Haagse Harry" in text and "MCH-0234567" in text and "22:15:00" in text
    assert "SpO2" in text and "1 Hz" in text and "128 Hz" in text and "BAS" in text


def test_screenshot_mode_renders_and_exits(qtbot, tmp_path):
    from sleepfm_gui.app import main

    out = tmp_path / "shot.png"
    assert main([str(make_psg(tmp_path / "night.edf")), "--screenshot", str(out),
                 "--size", "1400x900"]) == 0
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert img.width() == 1400 and img.height() == 900
    assert main(["--screenshot", str(tmp_path / "none.png")]) == 1
    assert main([str(tmp_path / "missing.edf"), "--screenshot", str(tmp_path / "m.png")]) == 1


@pytest.mark.skipif(not DREAMS.exists(), reason="../shared/data/dreams/excerpt3.edf is not here")
def test_the_dreams_excerpt_opens_and_pages(qtbot, window):
    from sleepfm_engine.recording import RecordingWarning

    with pytest.warns(RecordingWarning) as caught:
        _open(qtbot, window, DREAMS)
    assert any("'UV' read as 'uV'" in str(w.message) for w in caught)
    kinds = {r.key: r.kind for r in window.trace.display_channels}
    assert kinds["C3-A1"] == "EEG" and kinds["EOG1-A1"] == "EOG" and kinds["SAO2"] == "LEVEL"
    assert kinds["hypnogram"] == "OTHER"
    with qtbot.waitSignal(window.trace.pagePainted, timeout=5000):
        window.trace.next_page()
    assert window.trace.start == 30.0
    assert window.trace.amplitude_per_row("C3-A1")[1] == "µV"
    assert window.rec.warnings  # the 'UV' unit is reported, not hidden


def test_a_staging_job_can_be_cancelled_in_the_analysis_process(qtbot, window, tmp_path):
    pytest.importorskip("torch", reason="staging needs torch")
    _open(qtbot, window, make_psg(tmp_path / "night.edf", minutes=10))
    window.set_model_dir(GOLDEN_TINY)
    window.device = "cpu"
    got = []
    worker = window.start_staging()
    worker.succeeded.connect(lambda r: got.append("result"))
    with qtbot.waitSignal(worker.progressChanged, timeout=60000):
        pass
    with qtbot.waitSignal(worker.cancelled, timeout=60000):
        window.jobs.cancel("staging")
    assert worker.state == "cancelled" and got == [] and window.session.auto is None


def test_report_and_embeddings_exports_write_their_files(qtbot, window, tmp_path):
    pytest.importorskip("torch", reason="embeddings need torch")
    _open(qtbot, window, make_psg(tmp_path / "night.edf", minutes=6))
    stages = np.array([0, 1, 2, 2, 3, 3, 2, 4, 4, 2, 1, 0], dtype=np.int8)
    assert window.import_hypnogram(write_hypnogram(Hypnogram(stages, start=window.rec.start),
                                                   tmp_path / "m.csv"))
    report = window.export_report(tmp_path / "night.pdf")
    window.set_model_dir(GOLDEN_TINY)
    window.device = "cpu"
    emb = window.export_embeddings(tmp_path / "night.hdf5")
    with qtbot.waitSignals([report.finished, emb.finished], timeout=120000):
        pass
    assert report.state == "succeeded" and emb.state == "succeeded", (report.error, emb.error)
    assert (tmp_path / "night.pdf").read_bytes()[:4] == b"%PDF"
    import h5py

    with h5py.File(tmp_path / "night.hdf5") as f:
        assert len(f.keys()) > 0


def test_scoring_keys_are_remembered(qtbot, dialogs, tmp_path):
    from sleepfm_engine.scoring_keys import KeyMap

    Settings().set_json("scoring/keys", {**KeyMap().to_dict(), "W": "stage:W"})
    win = MainWindow()
    win.ask_save = lambda s: "discard"
    qtbot.addWidget(win)
    win.show()
    _open(qtbot, win, make_psg(tmp_path / "night.edf"))
    assert win.session.key_map.action("W") == "stage:W"
    win.close()
    assert Settings().get_json("scoring/keys")["W"] == "stage:W"


def test_filter_dialog_refuses_an_inverted_band_and_resets_to_aasm(qtbot):
    from sleepfm_engine.display import AASM_FILTERS, FilterSpec
    from sleepfm_gui.dialogs.display_filters import FilterDialog

    dlg = FilterDialog(dict(AASM_FILTERS))
    qtbot.addWidget(dlg)
    lo, hi = dlg.spins["EEG"]
    lo.setValue(40.0)
    hi.setValue(10.0)
    dlg._accept()
    assert "below the low-pass" in dlg.error.text() and dlg.result() == 0
    dlg.reset()
    assert dlg.values()["EEG"] == AASM_FILTERS["EEG"]
    hi.setValue(0.0)
    assert dlg.values()["EEG"] == FilterSpec(0.3, None)


def test_derivation_dialog_refuses_channels_of_different_rates(qtbot, tmp_path):
    from sleepfm_engine.recording import open_recording
    from sleepfm_gui.dialogs.derivations import DerivationDialog

    with open_recording(make_psg(tmp_path / "night.edf")) as rec:
        dlg = DerivationDialog(rec, [])
        qtbot.addWidget(dlg)
        dlg.plus.setCurrentIndex(dlg.plus.findData("C4"))
        dlg.minus.setCurrentIndex(dlg.minus.findData("SpO2"))
        with pytest.raises(ValueError, match="same rate"):
            dlg.derivations()
        dlg.minus.setCurrentIndex(dlg.minus.findData("M1"))
        assert [d.label for d in dlg.derivations()] == ["C4-M1"]


def test_a_recording_shorter_than_one_epoch_is_refused_and_the_open_one_stays(
        qtbot, window, dialogs, tmp_path):
    first = make_psg(tmp_path / "night.edf")
    _open(qtbot, window, first)
    session, rows = window.session, [r.key for r in window.trace.visible_channels]
    short = make_psg(tmp_path / "short.edf", minutes=29 / 60)
    assert not window.open_recording_file(short)
    title, text = dialogs[-1]
    assert title == "Cannot open the recording"
    assert "short.edf" in text and "shorter than one 30-s scoring epoch" in text
    # The previous recording is still open, whole: traces, scoring and panels.
    assert window.rec.path == first and window.study.display.rec is window.rec
    assert window.session is session and [r.key for r in window.trace.visible_channels] == rows
    assert window.windowTitle().startswith("night.edf")
    assert window.channels.isEnabled() and window.close_action.isEnabled()


def test_screenshot_of_a_too_short_recording_is_one_error_line(qtbot, tmp_path, capsys):
    from sleepfm_gui.app import main

    short = make_psg(tmp_path / "short.edf", minutes=10 / 60)
    assert main([str(short), "--screenshot", str(tmp_path / "s.png")]) == 1
    err = capsys.readouterr().err
    assert "shorter than one 30-s scoring epoch" in err and "Traceback" not in err
    assert not (tmp_path / "s.png").exists()


def test_version_is_printed(capsys):
    from sleepfm_engine import __version__
    from sleepfm_gui.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sleepfm-studio {__version__}"
