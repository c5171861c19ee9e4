"""``sleepfm embed|stage|risk`` and ``finetune|pretrain|evaluate`` refuse, before any work, an
output that is one of their inputs: one ``error:`` line, the input untouched."""
from __future__ import annotations

import os
import shutil

import pytest

from sleepfm_engine.cli import main

from inference_helpers import make_release, one_thread, write_night

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(autouse=True)
def _restore_omp_env(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return make_release(tmp_path_factory.mktemp("rel") / "release")


def test_stage_saving_embeddings_over_an_embedding_file_it_stages_is_refused(release, tmp_path, capsys):
    night = write_night(tmp_path / "data" / "sub" / "x.edf", 5.5)
    out = tmp_path / "out"
    assert main(["embed", str(night), "--model", str(release), "-o", str(out / "sub")]) == 0
    emb = out / "sub" / "x.hdf5"        # staged below, and where data/sub/x.edf saves its own
    before = emb.read_bytes()
    capsys.readouterr()
    code = main(["stage", str(tmp_path / "data"), str(emb), "--save-embeddings", "--model", str(release),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "is an input" in err
    assert "Traceback" not in err and emb.read_bytes() == before
    assert not list(out.rglob("*.auto-hypnogram.csv"))          # refused before any work


def test_embed_with_the_recording_as_output_folder_is_refused(release, tmp_path, capsys):
    night = write_night(tmp_path / "x.edf", 5.5)
    before = night.read_bytes()
    code = main(["embed", str(night), "--model", str(release), "-o", str(night)])
    err = capsys.readouterr().err
    assert code == 1 and "is an input" in err and night.read_bytes() == before


@pytest.mark.parametrize("command", [
    ["finetune", "staging", "--data", "{data}", "--base", "{out}", "-o", "{out}", "--overwrite"],
    ["pretrain", "--data", "{out}", "-o", "{out}"],
    ["evaluate", "--data", "{data}", "--model", "{out}", "-o", "{out}"],
])
def test_training_commands_refuse_an_output_folder_that_is_an_input(release, tmp_path, capsys, command):
    out = tmp_path / "release"
    shutil.copytree(release, out)
    data = tmp_path / "data"
    data.mkdir()
    files = sorted(p.relative_to(out) for p in out.rglob("*"))
    code = main([a.format(data=data, out=out) for a in command])
    err = capsys.readouterr().err
    assert code == 1 and "is an input" in err and "Traceback" not in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == files


def test_finetune_refuses_an_output_folder_holding_its_base_model(release, tmp_path, capsys):
    out = tmp_path / "release"
    shutil.copytree(release, out)
    code = main(["finetune", "staging", "--data", str(tmp_path), "--base", str(out / "model_base"),
                 "-o", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 1 and "holds an input" in err
    assert (out / "model_base").is_dir()
