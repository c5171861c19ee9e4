"""File ▸ Import events reads the record written beside an events file
(``<name>.provenance.json``): imported SleepFM-head events keep their verdict on the night in
the status bar and in the application's PDF, as ``sleepfm report --events`` prints it; without
a record nothing is said; a record that cannot be read is a warning naming it, and the events
still come in."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt", reason="the application needs pytest-qt")
pytest.importorskip("torch", reason="the event head is a model")

from sleepfm_engine.cli import main  # noqa: E402
from sleepfm_engine.detection_provenance import (OOD_RECORD, read_events_provenance,  # noqa: E402
                                                 write_events_provenance)
from sleepfm_engine.events import EventSource  # noqa: E402
from sleepfm_engine.formats import read_events, write_events  # noqa: E402
from sleepfm_engine.provenance import Provenance, provenance_path  # noqa: E402
from sleepfm_engine.report.events import EVENT_HEAD_UNLIKE  # noqa: E402
from sleepfm_gui import errors  # noqa: E402

# The night, the flagged head and the window are those of the report's own test of the verdict.
from test_report_event_ood import (HEAD, _VERDICT, _detect, _pdf_text, flagged_release,  # noqa: E402,F401
                                   night, window)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def head_events(tmp_path_factory, night, flagged_release) -> Path:
    """The flagged head's events of the night, with their record beside them (the CLI's)."""
    return _detect(night, flagged_release, tmp_path_factory.mktemp("head") / "night.events.json")


@pytest.fixture
def warnings_shown(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(errors, "show_warning", lambda parent, title, message: shown.append(message))
    return shown


def _copy(events: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    return Path(shutil.copy(events, folder / events.name))


def _app_pdf_text(win, qtbot, layer: str, pdf: Path) -> str:
    """The application's PDF once the imported layer's events are accepted into the scoring."""
    assert win.accept_all_events(layer) > 0
    win.export_report(pdf)
    qtbot.waitUntil(lambda: pdf.is_file() and not win.jobs.running(), timeout=120000)
    return _pdf_text(pdf)


def test_importing_head_events_with_their_flagged_record_says_the_verdict_in_the_status_bar_and_pdf(
        window, qtbot, night, head_events, warnings_shown, tmp_path):
    win = window
    events = _copy(head_events, tmp_path / "imported")
    shutil.copy(provenance_path(head_events), provenance_path(events))
    assert win.import_events(events)
    record = read_events_provenance(events)
    assert win.study.layer_provenance[events.name] == record
    # Its accepted events keep the head as their source: the record stands under its name too.
    assert win.study.layer_provenance[HEAD] == record
    message = record.detections[HEAD][OOD_RECORD]["message"]
    assert f"Warning: {message}" in win.statusBar().currentMessage()
    assert warnings_shown == []

    app = _app_pdf_text(win, qtbot, events.name, tmp_path / "app.pdf")
    cli_pdf = tmp_path / "cli.pdf"
    assert main(["report", str(night), "--events", str(events), "-o", str(cli_pdf)]) == 0
    verdicts = _VERDICT.findall(app)
    assert len(verdicts) == 2 and verdicts[0].startswith(EVENT_HEAD_UNLIKE)
    assert verdicts == _VERDICT.findall(_pdf_text(cli_pdf))
    # File > Export events passes the imported record on.
    exported = win.export_events(tmp_path / "again" / "night.events.json")
    assert read_events_provenance(exported).detections[HEAD] == record.detections[HEAD]


def test_importing_head_events_without_a_record_says_no_verdict(window, qtbot, head_events, warnings_shown,
                                                                tmp_path):
    win = window
    events = _copy(head_events, tmp_path / "bare")
    assert win.import_events(events)
    assert win.study.layer_provenance == {} and warnings_shown == []
    assert "Warning" not in win.statusBar().currentMessage()
    text = _app_pdf_text(win, qtbot, events.name, tmp_path / "app.pdf")
    assert f"Source: {HEAD}" in text
    assert _VERDICT.findall(text) == [] and "training nights" not in text


def test_a_corrupt_record_beside_imported_events_is_a_warning_naming_it_and_the_events_still_come_in(
        window, head_events, warnings_shown, tmp_path):
    win = window
    events = _copy(head_events, tmp_path / "corrupt")
    provenance_path(events).write_text("{not json")
    assert win.import_events(events)
    assert len(warnings_shown) == 1 and str(provenance_path(events)) in warnings_shown[0]
    assert "Traceback" not in warnings_shown[0]
    imported = win.study.layers[events.name]
    assert [(e.onset, e.type) for e in imported] == [(e.onset, e.type) for e in read_events(events)]
    assert win.study.layer_provenance == {}
    assert "Warning" not in win.statusBar().currentMessage()


def test_a_record_of_another_runs_events_lends_its_verdict_to_no_imported_event(
        window, head_events, warnings_shown, tmp_path):
    win = window
    # The same events, rewritten as another version of the head scored them, beside the first
    # run's record (a stale record): that run did not score them, so it speaks not for them.
    other = EventSource.detector(HEAD, "another version")
    original = read_events(head_events)
    rewritten = original.copy()
    for e in list(rewritten):
        rewritten.update(e.id, source=other)
    folder = tmp_path / "stale"
    folder.mkdir()
    events = write_events(rewritten, folder / head_events.name)
    write_events_provenance(events, read_events_provenance(head_events))
    assert win.import_events(events)
    assert len(win.study.layers[events.name]) == len(original)
    assert win.study.layer_provenance == {} and warnings_shown == []
    assert "Warning" not in win.statusBar().currentMessage()


def test_a_record_beside_a_file_that_keeps_no_detector_per_event_speaks_for_all_its_events(head_events):
    from sleepfm_engine.events import Event, EventSet
    from sleepfm_engine.study import Study

    record = read_events_provenance(head_events)
    # A format without a source column credits its events to the file: the file's record is theirs.
    events = EventSet([Event(60.0, 12.0, "apnea_obstructive", source=EventSource.file("/x/night.csv"))])
    study = Study()
    assert study.set_imported_events(events, "night.csv", record) == record
    assert study.layer_provenance == {"night.csv": record, HEAD: record}
    # A detector's own layer keeps its own record under its name.
    own = Provenance(record.engine_version, detections={HEAD: {"detector": HEAD}})
    study.set_events(EventSet([Event(90.0, 12.0, "apnea_obstructive", source=EventSource.detector(HEAD))]),
                     HEAD, own)
    assert study.layer_provenance == {"night.csv": record, HEAD: own}
    # Removing the imported layer removes its record, under both names.
    study.set_events(EventSet(), "night.csv")
    assert study.layer_provenance == {HEAD: own}
