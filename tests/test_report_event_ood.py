"""A night unlike the event head's training nights reaches the report: ``sleepfm events detect``
writes where its events came from (``<name>.provenance.json``: detector, model, the head's OOD
check) beside them, ``sleepfm report --events`` prints the head's verdict from it (and nothing
without it), and the application's PDF says the same as ``sleepfm report``."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pytestqt", reason="the application's export needs pytest-qt")
pytest.importorskip("torch", reason="the event head is a model")

from sleepfm_engine.cli import main  # noqa: E402
from sleepfm_engine.detection_provenance import (OOD_RECORD, detection_provenance,  # noqa: E402
                                                 read_events_provenance, write_events_provenance)
from sleepfm_engine.event_head_ood import NOT_AVAILABLE  # noqa: E402
from sleepfm_engine.provenance import DETECTOR, provenance_path  # noqa: E402
from sleepfm_engine.report.events import EVENT_HEAD_UNLIKE  # noqa: E402
from sleepfm_engine.report.trust import TITLE  # noqa: E402
from sleepfm_gui import errors  # noqa: E402

from test_gui_event_head import _InProcessServer  # noqa: E402
from test_ood_event_head import _far_statistics, _release, write_night  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HEAD = "sleepfm-head"
#: A verdict sentence as the PDF prints it (folded text; the reasons hold no full stop).
_VERDICT = re.compile(r"(?:The SleepFM event head judged|OOD check not available)[^.]*\.")


def _pdf_text(path) -> str:
    from pypdf import PdfReader

    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(str(path)).pages))


def _model_fit(text: str) -> str:
    """The model-fit section's sentences (up to its channel table or the next section)."""
    start = text.index(TITLE)
    stop = min([i for i in (text.find("Channel Modality Severity", start), text.find("Overview", start))
                if i > 0] or [start + 4000])
    return text[start:stop]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_night(tmp_path_factory.mktemp("event-ood-report") / "data", "night", minutes=10, seed=3)


@pytest.fixture(scope="module")
def flagged_release(tmp_path_factory):
    """A tiny event head whose training statistics lie far from any real night."""
    return _release(tmp_path_factory.mktemp("flagged") / "rel", _far_statistics(np.random.default_rng(6)))


def _detect(night, release, out: Path, *extra: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    assert main(["events", "detect", str(night), "--model", str(release), "-o", str(out), *extra]) == 0
    return out


def test_cli_detect_writes_the_heads_provenance_beside_its_events_and_it_reads_back_equal(
        night, flagged_release, tmp_path):
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.formats.discover import find_manual_hypnogram
    from sleepfm_engine.recording import open_recording

    events = _detect(night, flagged_release, tmp_path / "out" / "night.events.json")
    sidecar = provenance_path(events)
    assert sidecar.name == "night.events.provenance.json" and sidecar.is_file()
    record = read_events_provenance(events)
    run = record.detections[HEAD]
    assert run["detector"] == HEAD and run[OOD_RECORD]["flagged"] and run["model"] == record.model_id
    assert record.source("events").kind == DETECTOR and record.source("events").name.startswith(HEAD)
    assert dict(record.config_hashes)["events"] == run["config_hash"]
    assert set(run["not_scored"]) == {"hypopneas", "arousals", "limb_movements"}
    # The record is that of the detector's own run on the night, as the CLI ran it.
    with open_recording(night) as rec:
        hyp, _ = find_manual_hypnogram(night, fit_to=rec)
        direct = get_detector(HEAD).detect(rec, hyp, model=flagged_release)
    assert record == detection_provenance(direct, HEAD)
    # Written again elsewhere, it reads back equal and its file is byte for byte the same.
    copy = tmp_path / "copy" / "night.events.json"
    copy.parent.mkdir()
    write_events_provenance(copy, record)
    assert read_events_provenance(copy) == record
    assert provenance_path(copy).read_text() == sidecar.read_text()


def test_psgscoring_detect_writes_its_version_rules_and_unscored_parts_without_an_ood_verdict(
        night, tmp_path):
    pytest.importorskip("psgscoring")
    events = tmp_path / "night.events.json"
    assert main(["events", "detect", str(night), "--detector", "psgscoring", "-o", str(events)]) == 0
    record = read_events_provenance(events)
    run = record.detections["psgscoring"]
    assert run["library"] == "psgscoring" and run["version"] and run["profile"]
    assert run["not_scored"]["desaturations"].startswith("no SpO2 channel")
    assert OOD_RECORD not in run and record.model_id == ""
    assert read_events_provenance(events) == record
    # A scorer of rules has no training nights: its report says nothing of them.
    assert main(["report", str(night), "--events", str(events), "-o", str(tmp_path / "r.pdf")]) == 0
    assert "training nights" not in _pdf_text(tmp_path / "r.pdf")


def test_sleepfm_report_prints_the_flagged_heads_verdict_from_its_sidecar_and_none_without_it(
        night, flagged_release, tmp_path):
    events = _detect(night, flagged_release, tmp_path / "out" / "night.events.json")
    pdf = tmp_path / "with.pdf"
    assert main(["report", str(night), "--events", str(events), "-o", str(pdf)]) == 0
    text = _pdf_text(pdf)
    verdicts = _VERDICT.findall(text)
    # Beside the respiratory events' source, and in the model-fit section.
    assert f"Source: {HEAD}" in text and len(verdicts) == 2 and len(set(verdicts)) == 1
    assert verdicts[0].startswith(EVENT_HEAD_UNLIKE + ": 20 of 20 30-s epochs (100 %)")
    assert "apnea in 20" in verdicts[0]
    assert text.index("Respiratory events Source: " + HEAD) < text.rindex(verdicts[0])
    assert f"Scored events ({HEAD}): {verdicts[0]}" in _model_fit(text)

    # The same events without the record: the report cannot know, so it says nothing.
    bare = tmp_path / "bare" / "night.events.json"
    bare.parent.mkdir()
    shutil.copy(events, bare)
    pdf = tmp_path / "without.pdf"
    assert main(["report", str(night), "--events", str(bare), "-o", str(pdf)]) == 0
    text = _pdf_text(pdf)
    assert f"Source: {HEAD}" in text
    assert _VERDICT.findall(text) == [] and "training nights" not in text


def test_a_head_without_training_statistics_is_reported_as_not_checked(night, tmp_path):
    release = _release(tmp_path / "plain")
    events = _detect(night, release, tmp_path / "out" / "night.events.json")
    pdf = tmp_path / "r.pdf"
    assert main(["report", str(night), "--events", str(events), "-o", str(pdf)]) == 0
    text = _pdf_text(pdf)
    assert _VERDICT.findall(text) == [NOT_AVAILABLE.split(" (")[0] + " (no training statistics)."] * 2
    assert EVENT_HEAD_UNLIKE not in text


def test_an_unreadable_sidecar_is_one_error_line_naming_it(night, tmp_path, capsys):
    from sleepfm_engine.events import Event, EventSet, EventSource
    from sleepfm_engine.formats import write_events

    events = write_events(EventSet([Event(60.0, 12.0, "apnea_obstructive", source=EventSource.detector(HEAD))]),
                          tmp_path / "night.events.json")
    provenance_path(events).write_text("{not json")
    code = main(["report", str(night), "--events", str(events), "-o", str(tmp_path / "r.pdf")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and str(provenance_path(events)) in err
    assert "Traceback" not in err and not (tmp_path / "r.pdf").exists()


@pytest.fixture
def window(qtbot, monkeypatch, night, flagged_release):
    from sleepfm_gui.main_window import MainWindow

    monkeypatch.setattr(errors, "show_error", lambda *a: None)
    win = MainWindow(model_dir=str(flagged_release))
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
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=30000)
    win.close()


def test_the_applications_pdf_and_sleepfm_report_carry_the_same_event_head_verdict(
        window, qtbot, night, flagged_release, tmp_path):
    win = window
    with qtbot.waitSignal(win.detectionFinished, timeout=300000):
        win.start_head_detection()
    assert win.study.layer_provenance[HEAD].detections[HEAD][OOD_RECORD]["flagged"]
    assert win.accept_all_events(HEAD) > 0
    app_pdf = tmp_path / "app.pdf"
    win.export_report(app_pdf)
    qtbot.waitUntil(lambda: app_pdf.is_file() and not win.jobs.running(), timeout=120000)
    # File > Export events writes the record beside the events, as the command line does.
    exported = win.export_events(tmp_path / "app.events.json")
    assert read_events_provenance(exported).detections[HEAD] == win.study.layer_provenance[HEAD].detections[HEAD]

    cli_events = _detect(night, flagged_release, tmp_path / "cli" / "night.events.json")
    texts = {}
    for name, events in (("cli", cli_events), ("exported", exported)):
        pdf = tmp_path / f"{name}.pdf"
        assert main(["report", str(night), "--events", str(events), "-o", str(pdf)]) == 0
        texts[name] = _pdf_text(pdf)
    texts["app"] = _pdf_text(app_pdf)
    verdicts = {name: _VERDICT.findall(text) for name, text in texts.items()}
    assert verdicts["app"][0].startswith(EVENT_HEAD_UNLIKE)
    assert verdicts["app"] == verdicts["cli"] == verdicts["exported"]
    assert _model_fit(texts["app"]) == _model_fit(texts["cli"])


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), st.dictionaries(st.text(max_size=6), _json, max_size=4),
                       max_size=3))
def test_any_detector_records_written_beside_events_read_back_equal(detections):
    import tempfile

    from sleepfm_engine.provenance import Provenance, ResultSource

    record = Provenance("0", sources=(("events", ResultSource(DETECTOR, "d")),), detections=detections)
    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "n.events.json"
        write_events_provenance(events, record)
        assert read_events_provenance(events) == record


@settings(max_examples=80, deadline=None)
@given(_json)
def test_any_json_as_the_detector_records_reads_as_provenance_or_a_typed_error_naming_the_file(value):
    import tempfile

    from sleepfm_engine.provenance import ProvenanceError

    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "n.events.json"
        provenance_path(events).write_text(json.dumps({
            "format": "sleepfm-studio provenance", "format_version": 1, "outputs": {events.name: {
                "engine_version": "0", "model_id": "", "model_folder": "", "config_hashes": {},
                "device": "", "precision": "", "sources": {}, "detections": value}}}))
        try:
            record = read_events_provenance(events)
        except ProvenanceError as exc:
            assert str(provenance_path(events)) in str(exc)
        else:
            assert all(isinstance(v, dict) for v in record.detections.values())


def _head_detection(model: str, flagged: bool):
    """A detection as the event head returns it: one apnea by ``model``, its OOD record."""
    from sleepfm_engine.detectors import Detection
    from sleepfm_engine.events import Event, EventSet, EventSource

    src = EventSource.detector(HEAD, f"0 / {model}", {"model": model})
    ood = {"flagged": flagged, "available": True, "unavailable": [], "reasons": [f"reason of {model}"]}
    return Detection(EventSet([Event(60.0, 12.0, "apnea_obstructive", source=src)]),
                     provenance={"model": model, "version": "0", OOD_RECORD: ood})


def test_events_of_an_earlier_run_never_take_a_later_runs_verdict():
    from sleepfm_engine.report.events import detector_fit

    first, later = _head_detection("m1", True), _head_detection("m2", False)
    records = {HEAD: detection_provenance(later, HEAD)}
    assert detector_fit(first.events.sources, records) == []
    fit, = detector_fit(later.events.sources, records)
    assert not fit.flagged and fit.sentence.endswith("reason of m2") and fit.checked
    assert detector_fit(later.events.sources, {}) == []


def test_the_study_keeps_a_detector_layers_record_until_the_layer_is_replaced_or_gone():
    from sleepfm_engine.events import EventSet
    from sleepfm_engine.study import Study

    study = Study()
    run = _head_detection("m1", True)
    record = detection_provenance(run, HEAD)
    study.set_events(run.events, HEAD, record)
    assert study.layer_provenance == {HEAD: record}
    study.set_events(run.events, HEAD)               # a layer of unknown origin keeps no record
    assert study.layer_provenance == {}
    study.set_events(run.events, HEAD, record)
    study.set_events(EventSet(), HEAD, record)       # an empty layer is no layer
    assert study.layer_provenance == {}
