"""Test configuration shared by the whole suite."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

# Qt must never need a display in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep user data written by the code under test out of the real home folder.
os.environ.setdefault("MPLBACKEND", "Agg")

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def data_dir() -> Path:
    """Folder of the committed test fixtures (golden files copied from ../shared)."""
    return DATA


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point platformdirs-based user folders (model registry, settings) at a temp folder."""
    home = tmp_path_factory.mktemp("userdata")
    monkeypatch.setenv("SLEEPFM_DATA_DIR", str(home))
    monkeypatch.setenv("SLEEPFM_CACHE_DIR", str(home / "cache"))
    yield home


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a Python thread running after it returns."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate()
              if t.ident not in before and t.is_alive() and not t.daemon]
    for t in leaked:
        t.join(timeout=5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads leaked by the test: {still}"


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine, two threads spin-wait
    and make those tests many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
