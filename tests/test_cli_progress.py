"""``sleepfm demo`` shows a progress bar while it stages (on a terminal; quiet when piped)."""
from __future__ import annotations

import io
import sys

from sleepfm_engine.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_demo_shows_staging_progress_on_a_terminal(monkeypatch, capsys):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["demo", "--hours", "0.25"]) == 0
    bars = terminal.getvalue()
    assert "staging [" in bars and "100.0%" in bars
    assert "staged with the demo model" in capsys.readouterr().out
