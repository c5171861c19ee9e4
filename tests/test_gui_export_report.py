"""File ▸ Export report: the dialog's choices reach the engine's report call and the PDF."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import QTime  # noqa: E402

import sleepfm_engine.report as report_pkg  # noqa: E402
from edf_factory import Sig, tal_record, write_edf  # noqa: E402
from sleepfm_engine.events import Event, EventType  # noqa: E402
from sleepfm_engine.formats import write_hypnogram  # noqa: E402
from sleepfm_engine.hypnogram import Hypnogram  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.dialogs import export_report as dlg_mod  # noqa: E402
from sleepfm_gui.dialogs.export_report import ExportReportDialog, ReportChoices  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402

N = 360  # seconds: 12 epochs, from 22:15:00


def _night(tmp_path):
    """An EDF+ with lights off at +60 s (22:16:00) and lights on at +330 s (22:20:30)."""
    rng = np.random.default_rng(1)
    anns = [tal_record(float(i), [(60.0, 0.0, "Lights off")] if i == 0 else
                       [(330.0, 0.0, "Lights on")] if i == 1 else []) for i in range(N)]
    return write_edf(tmp_path / "night.edf", [
        Sig("C4-M1", 64, rng.integers(-2000, 2000, 64 * N)),
        Sig("SpO2", 1, np.full(N, 960), unit="%", pmin=0, pmax=100, dmin=0, dmax=1000)],
        annotation_records=anns, reserved="EDF+C")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "show_error", lambda *a: None)
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(_night(tmp_path))
    stages = np.array([0, 1, 2, 2, 3, 3, 2, 4, 4, 2, 1, 0], dtype=np.int8)
    assert win.import_hypnogram(write_hypnogram(Hypnogram(stages, start=win.rec.start),
                                                tmp_path / "m.csv"))
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    yield win
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    win.close()


def _pdf_text(path) -> str:
    from pypdf import PdfReader

    return " ".join(p.extract_text() for p in PdfReader(str(path)).pages)


def test_default_choices_are_the_command_lines(window):
    c = ReportChoices.defaults(window.study)
    start = window.rec.start
    assert c.lights_off == start + _dt.timedelta(seconds=60)
    assert c.lights_on == start + _dt.timedelta(seconds=330)
    assert c.manual and not c.auto and not c.risk and not c.deidentify
    assert c.events == "recording"  # nothing scored in the study: the file's annotations
    assert c.paper == "A4"


def test_dialog_choices_reach_build_report_and_the_pdf(qtbot, window, tmp_path, monkeypatch):
    calls = []
    real_build = report_pkg.build_report

    def spy(rec, **kwargs):
        calls.append(kwargs)
        return real_build(rec, **kwargs)

    monkeypatch.setattr(report_pkg, "build_report", spy)
    window.session.add_event(Event(100, 15, EventType.apnea_obstructive))
    out = tmp_path / "chosen.pdf"

    def run_dialog(dlg: ExportReportDialog) -> int:
        dlg.path_edit.setText(str(out))
        dlg.lights_off.edit.setTime(QTime(22, 17, 0))
        dlg.lights_on.check.setChecked(False)
        dlg.deid_check.setChecked(True)
        dlg.pseudonym_edit.setText("Subject-07")
        dlg.shift_spin.setValue(3)
        dlg.events_combo.setCurrentIndex(dlg.events_combo.findData("scored"))
        dlg.paper_combo.setCurrentText("Letter")
        return 1

    monkeypatch.setattr(ExportReportDialog, "exec", run_dialog)
    submitted = []
    monkeypatch.setattr(window, "export_report",
                        lambda p, c: submitted.append(MainWindow.export_report(window, p, c)))
    window.choose_export_report()
    worker = submitted[0]
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    assert worker.state == "succeeded", worker.error
    kw = calls[0]
    start = window.rec.start
    assert kw["lights_off"] == start.replace(hour=22, minute=17, second=0)
    assert kw["lights_on"] is None
    assert kw["deidentify"] is True and kw["shift_days"] == 3 and kw["pseudonym"] == "Subject-07"
    assert kw["manual"] is not None and kw["auto"] is None and kw["risk"] is None
    assert [e.type for e in kw["events"]] == [EventType.apnea_obstructive]
    text = _pdf_text(out)
    assert "Subject-07" in text and "22:17:00" in text
    assert "Haagse" not in text  # the patient's name is gone
    from pypdf import PdfReader

    box = PdfReader(str(out)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)  # Letter


def test_no_event_sections_passes_an_empty_event_set(window):
    c = ReportChoices(events="none")
    assert len(c.build_kwargs(window.study)["events"]) == 0
    assert ReportChoices(events="recording").build_kwargs(window.study)["events"] is None


def test_dialog_refuses_lights_on_before_lights_off(qtbot, window, monkeypatch):
    warned = []
    monkeypatch.setattr(dlg_mod.QMessageBox, "warning", lambda *a: warned.append(a[2]))
    dlg = ExportReportDialog(window.study, "x.pdf", window)
    qtbot.addWidget(dlg)
    dlg.lights_on.edit.setTime(QTime(22, 15, 30))
    dlg.accept()
    assert dlg.result() == 0 and "Lights on" in warned[0]


def test_dialog_asks_before_replacing_a_file(qtbot, window, tmp_path):
    out = tmp_path / "exists.pdf"
    out.write_bytes(b"%PDF old")
    dlg = ExportReportDialog(window.study, str(out), window)
    qtbot.addWidget(dlg)
    asked = []
    dlg.ask_overwrite = lambda p: asked.append(p) or False
    dlg.accept()
    assert asked == [out] and dlg.result() == 0
    dlg.ask_overwrite = lambda p: True
    dlg.accept()
    assert dlg.result() == 1


def test_unavailable_hypnograms_and_risk_cannot_be_chosen(qtbot, window):
    dlg = ExportReportDialog(window.study, "x.pdf", window)
    qtbot.addWidget(dlg)
    assert dlg.manual_check.isEnabled() and not dlg.auto_check.isEnabled()
    assert not dlg.risk_check.isEnabled()
    dlg.auto_check.setChecked(True)  # even if ticked, it is not reported
    assert dlg.choices().auto is False
