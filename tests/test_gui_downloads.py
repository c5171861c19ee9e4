"""Analysis -> Get SleepFM weights… runs the engine's download job on a worker and uses the result."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

import sleepfm_engine.downloads as downloads  # noqa: E402
from sleepfm_engine.registry import get_model_path, list_models  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402
from test_downloads import BIG, TINY, _Server, _source, _url  # noqa: E402


@pytest.fixture
def server():
    srv = _Server(TINY)
    thread = threading.Thread(target=srv.serve_forever, name="test-http-server")
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


@pytest.fixture
def window(qtbot, monkeypatch, server):
    src = _source(_url(server))
    monkeypatch.setattr(downloads, "official_source", lambda name: src)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, text: shown.append((title, text)))
    win = MainWindow()
    win.shown_errors = shown
    qtbot.addWidget(win)
    yield win
    win.close()


def test_get_weights_asks_then_downloads_registers_and_uses_them(qtbot, window, server):
    asked = []
    window.ask_download = lambda source: asked.append(source.name) or True
    window.get_weights_action.trigger()
    qtbot.waitUntil(lambda: not window.jobs.running(), timeout=60000)
    assert asked == ["tiny-official"]
    assert window.model_dir == str(get_model_path("tiny-official"))
    assert window.shown_errors == []


def test_get_weights_fetches_nothing_when_the_user_declines(qtbot, window, server):
    window.ask_download = lambda source: False
    window.get_weights_action.trigger()
    assert server.requests == [] and list_models() == []


def test_a_failed_download_is_shown_as_an_error(qtbot, window, server):
    server.mode[BIG] = "corrupt"
    window.ask_download = lambda source: True
    window.get_weights_action.trigger()
    qtbot.waitUntil(lambda: not window.jobs.running(), timeout=60000)
    qtbot.waitUntil(lambda: bool(window.shown_errors), timeout=5000)
    title, text = window.shown_errors[0]
    assert "does not match its pinned git blob SHA-1" in text
    assert list_models() == []


def test_first_start_with_the_demo_model_says_where_real_weights_come_from(qtbot, window):
    assert "demo" in window.model_dir
    message = window.statusBar().currentMessage()
    assert "Using the demo model" in message and "Analysis ▸ Get SleepFM weights…" in message


def test_a_chosen_model_gets_no_weights_hint(qtbot, tmp_path):
    win = MainWindow(model_dir=str(TINY))
    qtbot.addWidget(win)
    assert "Get SleepFM weights" not in win.statusBar().currentMessage()
    win.close()
