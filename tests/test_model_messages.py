"""Model folders that cannot be used are named for what they are: a file that is not a torch
file is not called unsafe; a model folder without its config.json says so."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sleepfm_engine.checkpoints import load_model, load_release
from sleepfm_engine.errors import ModelError

from inference_helpers import TINY


@pytest.fixture
def base_copy(tmp_path) -> Path:
    return Path(shutil.copytree(TINY / "model_base", tmp_path / "model_base"))


@pytest.mark.parametrize("content", [b"\x01" + os.urandom(4095), b"hello, I am text\n" * 40])
def test_random_bytes_as_weights_are_not_a_torch_file_not_unsafe(base_copy, content):
    (base_copy / "best.pt").write_bytes(content)
    with pytest.raises(ModelError, match="best.pt is not a PyTorch weights file") as err:
        load_model(base_copy)
    assert "run code" not in str(err.value)


def test_a_damaged_pickle_is_a_model_error_not_a_traceback(base_copy):
    (base_copy / "best.pt").write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00ah\x99\x99\x99")
    with pytest.raises(ModelError, match="best.pt"):
        load_model(base_copy)


def test_a_pickle_that_would_run_code_is_still_called_unsafe(base_copy):
    import pickle

    (base_copy / "best.pt").write_bytes(pickle.dumps(os.system, protocol=2))
    with pytest.raises(ModelError, match="could run code"):
        load_model(base_copy)


def test_a_release_whose_model_base_lacks_config_json_says_so(tmp_path):
    root = Path(shutil.copytree(TINY, tmp_path / "release"))
    (root / "model_base" / "config.json").unlink()
    release = load_release(root, kinds=("staging",))
    with pytest.raises(ModelError, match=r"model_base: holds no config\.json"):
        release.require("base")
