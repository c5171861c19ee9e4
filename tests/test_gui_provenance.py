"""The application's exports carry the provenance `sleepfm report` prints for the same night."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")
pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) extracts the PDF text")

from sleepfm_engine.formats import write_hypnogram  # noqa: E402
from sleepfm_engine.provenance import ResultSource, read_provenance_file  # noqa: E402
from sleepfm_engine.report import build_report  # noqa: E402
from sleepfm_engine.report.automatic import run_automatic  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402

from test_gui_trace import make_psg  # noqa: E402

GOLDEN_TINY = Path(__file__).parent / "data" / "golden_tiny"


@pytest.fixture
def window(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, text: shown.append((title, text)))
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    win.ask_recover = lambda info: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    assert shown == []


def _open(qtbot, win: MainWindow, path) -> None:
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(path)
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)


def _pdf_lines(path) -> list[str]:
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(path)).pages)
    return [line.strip() for line in text.splitlines()]


def _report(qtbot, win: MainWindow, path) -> list[str]:
    worker = win.export_report(path)
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    assert worker.state == "succeeded", worker.error
    return _pdf_lines(path)


def test_a_staged_night_reports_the_provenance_of_sleepfm_report(qtbot, window, tmp_path):
    pytest.importorskip("torch", reason="staging needs torch")
    night = make_psg(tmp_path / "night.edf", minutes=6)
    _open(qtbot, window, night)
    window.set_model_dir(GOLDEN_TINY)
    window.device = "cpu"
    with qtbot.waitSignal(window.stagingFinished, timeout=90000):
        window.start_staging()
    lines = _report(qtbot, window, tmp_path / "app.pdf")
    cli = run_automatic(night, GOLDEN_TINY, device="cpu", with_risk=False)
    expected = build_report(night, auto=cli.hypnogram, provenance=cli.provenance).provenance
    for label, value in expected:
        i = lines.index(label)
        assert value in " ".join(lines[i + 1:i + 4]), (label, value)
    assert ("Device", "cpu") in expected and ("Precision", "fp32") in expected


def test_an_imported_automatic_hypnogram_is_credited_to_its_file(qtbot, window, tmp_path):
    night = make_psg(tmp_path / "night.edf", minutes=6)
    _open(qtbot, window, night)
    window.set_model_dir(GOLDEN_TINY)  # a current model that did not score this night
    staged = window.session.manual.copy()
    staged.stages[:] = 2
    source = write_hypnogram(staged, tmp_path / "elsewhere.csv")
    assert window.import_hypnogram(source, as_auto=True)
    text = " ".join(_report(qtbot, window, tmp_path / "app.pdf"))
    assert f"imported from file {source.resolve()}"[:40] in text
    assert str(GOLDEN_TINY) not in text and "Model folder" not in text
    out = window.export_hypnogram(tmp_path / "auto.csv", which="auto")
    record = read_provenance_file(tmp_path / "auto.provenance.json")[out.name]
    assert record.source("hypnogram") == ResultSource.file(source)
