"""One OOD verdict: the application's PDF (File ▸ Export report after staging) and `sleepfm
report` on the same night print the same "Signal quality and model fit" verdict."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the application's export needs pytest-qt")
pytest.importorskip("torch", reason="the night analysis runs the models")

from sleepfm_engine.ood import OODResult  # noqa: E402
from sleepfm_engine.report import build_report  # noqa: E402
from sleepfm_engine.report.trust import FLAGGED_SENTENCE, TITLE  # noqa: E402
from sleepfm_gui import errors  # noqa: E402

from test_report_nights import write_night  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "resources" / "models" / "demo"


def _pdf_text(path) -> str:
    from pypdf import PdfReader

    return " ".join(p.extract_text() for p in PdfReader(str(path)).pages)


def _model_fit(text: str) -> str:
    """The section's model-fit sentences, whitespace folded (line breaks are layout)."""
    folded = re.sub(r"\s+", " ", text)
    start = folded.index(TITLE)
    stop = folded.find("Channel Modality Severity", start)
    return folded[start: stop if stop > 0 else start + 4000]


@pytest.fixture
def window(qtbot, monkeypatch):
    from sleepfm_gui.main_window import MainWindow

    monkeypatch.setattr(errors, "show_error", lambda *a: None)
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)
    win.close()


def test_the_applications_pdf_and_sleepfm_report_carry_the_same_ood_verdict(window, qtbot, tmp_path):
    from sleepfm_engine.analysis import Analyser
    from sleepfm_engine.cli import main
    from sleepfm_gui.analysis_server import night_request

    night = write_night(tmp_path / "night.edf", hours=10 / 60, seed=4)
    with qtbot.waitSignal(window.trace.pagePainted, timeout=10000):
        assert window.open_recording_file(night.path)
    qtbot.waitUntil(lambda: not window.jobs.running(), timeout=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the demo model warns on a real recording: measured below
        # What the application's analysis process runs, then what its staging handler does.
        staged = Analyser().run(None, night_request("staging", {
            "recording": str(night.path), "model": str(DEMO), "device": "cpu", "overrides": {}}))
        window.set_auto_hypnogram(staged.hypnogram, staged.provenance, staged.ood)
        assert window.study.auto_ood is staged.ood and staged.ood.flagged
        app_pdf = tmp_path / "app.pdf"
        window.export_report(app_pdf)
        qtbot.waitUntil(lambda: app_pdf.is_file() and not window.jobs.running(), timeout=120000)
        cli_pdf = tmp_path / "cli.pdf"
        assert main(["report", str(night.path), "--model", str(DEMO), "-o", str(cli_pdf),
                     "--device", "cpu"]) == 0
    app, cli = _model_fit(_pdf_text(app_pdf)), _model_fit(_pdf_text(cli_pdf))
    assert "Automatic staging: the night is unlike the training data." in app
    assert FLAGGED_SENTENCE.split(":")[0] in app
    assert "trained on generated (synthetic) nights only" in app
    assert app == cli


def test_the_report_takes_the_staging_verdict_given_and_the_disease_verdict_from_its_risk_table(tmp_path):
    from sleepfm_engine.inference import RiskTable
    from sleepfm_engine.report import write_report_pdf

    night = write_night(tmp_path / "night.edf", hours=10 / 60, seed=5)
    n = night.auto.n_epochs
    staged = OODResult(np.full(n, 2.0), np.ones(n, bool), np.zeros(n, bool), ("RESP",) * n, 0.25, ("RESP",))
    risk_ood = OODResult(np.full(n, 0.3), np.zeros(n, bool), np.zeros(n, bool), ("BAS",) * n, 0.25, ("BAS",),
                         outputs_outside=("327.3", "401.1"), n_outputs=3)
    risk = RiskTable(np.arange(3), ["327.3", "401.1", "250.2"], ["a", "b", "c"], np.array([1.0, 0.5, 0.1]),
                     age=50.0, sex="F", model_id="m", ood=risk_ood)
    model = build_report(night.path, auto=night.auto, risk=risk, ood=staged)
    assert model.trust.flagged and model.trust.verdict == "unlike the training data"
    assert model.trust.risk_flagged and any("2 of 3 disease log-hazards" in r for r in model.trust.risk_reasons)
    text = re.sub(r"\s+", " ", _pdf_text(write_report_pdf(model, tmp_path / "r.pdf")))
    assert "Disease risk: the night is unlike the training data" in text
    assert "327.3, 401.1" in text
    # Without a verdict given and no record beside the hypnogram, the report claims none.
    bare = build_report(night.path, auto=night.auto).trust
    assert bare is None or bare.verdict == ""
