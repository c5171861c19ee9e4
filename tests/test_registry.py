"""The user's model registry and the ``sleepfm models`` command."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sleepfm_engine.checkpoints import config_hash, load_release
from sleepfm_engine.cli import main
from sleepfm_engine.errors import ModelError
from sleepfm_engine.registry import (add_model, get_model_path, list_models, models_dir,
                                     remove_model, resolve_model, user_data_dir)

TINY = Path(__file__).parent / "data" / "golden_tiny"


def test_the_registry_lives_under_the_data_dir_override(isolated_user_dirs):
    assert user_data_dir() == isolated_user_dirs
    assert models_dir() == isolated_user_dirs / "models"
    assert list_models() == []


def test_the_default_data_dir_comes_from_platformdirs(monkeypatch):
    import platformdirs

    monkeypatch.delenv("SLEEPFM_DATA_DIR")
    assert user_data_dir() == Path(platformdirs.user_data_dir("sleepfm-studio", appauthor=False))


def test_add_list_get_and_remove_a_release(isolated_user_dirs):
    entry = add_model(TINY, name="tiny")
    assert entry.is_release and entry.problem is None
    assert entry.models == {"base": "SetTransformer", "staging": "SleepEventLSTMClassifier",
                            "diagnosis": "DiagnosisFinetuneFullLSTMCOXPHWithDemo"}
    path = get_model_path("tiny")
    assert path == isolated_user_dirs / "models" / "tiny"
    for sub in ("model_base", "model_sleep_staging", "model_diagnosis"):
        assert config_hash(path / sub) == config_hash(TINY / sub)
    assert load_release(path).kinds == ["base", "staging", "diagnosis"]
    assert [e.name for e in list_models()] == ["tiny"]
    assert resolve_model("tiny") == path
    remove_model("tiny")
    assert list_models() == [] and not path.exists()
    with pytest.raises(ModelError, match="no model named 'tiny'"):
        get_model_path("tiny")


def test_a_single_model_folder_is_added_under_its_folder_name():
    entry = add_model(TINY / "model_sleep_staging")
    assert entry.name == "model_sleep_staging" and not entry.is_release
    assert entry.models == {"staging": "SleepEventLSTMClassifier"}


def test_a_broken_folder_is_not_added_and_leaves_nothing_behind(tmp_path):
    bad = Path(shutil.copytree(TINY / "model_sleep_staging", tmp_path / "bad"))
    (bad / "best.pth").write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        add_model(bad)
    assert list_models() == []
    assert not models_dir().exists() or list(models_dir().iterdir()) == []


def test_a_taken_name_is_refused_unless_overwriting():
    add_model(TINY / "model_base", name="m")
    with pytest.raises(ModelError, match="already registered"):
        add_model(TINY / "model_sleep_staging", name="m")
    assert list_models()[0].models == {"base": "SetTransformer"}
    add_model(TINY / "model_sleep_staging", name="m", overwrite=True)
    assert list_models()[0].models == {"staging": "SleepEventLSTMClassifier"}
    assert [p.name for p in models_dir().iterdir()] == ["m"]


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 65])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid model name"):
        add_model(TINY / "model_base", name=name)


def test_a_broken_entry_is_listed_with_its_problem():
    add_model(TINY / "model_base", name="m")
    (get_model_path("m") / "config.json").write_text("{")
    (entry,) = list_models()
    assert entry.problem is not None and "not valid JSON" in entry.problem


def test_resolve_model_prefers_an_existing_folder_and_explains_unknown_names(tmp_path):
    assert resolve_model(TINY) == TINY
    with pytest.raises(ModelError, match="neither a folder nor the name of a registered model"):
        resolve_model("nothing-here")


# ----------------------------------------------------------------------------------------- CLI
def test_cli_models_add_list_info_remove(capsys):
    assert main(["models", "list"]) == 0
    assert "no models registered" in capsys.readouterr().out

    assert main(["models", "add", str(TINY), "--name", "tiny"]) == 0
    assert "added 'tiny'" in capsys.readouterr().out

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "release" in out and "SleepEventLSTMClassifier" in out

    assert main(["models", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "tiny" and listed["is_release"] is True

    assert main(["models", "info", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "624,904" in out and "SetTransformer" in out and "config hash" in out

    assert main(["models", "info", str(TINY / "model_diagnosis"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["models"]["diagnosis"]["num_classes"] == 7

    assert main(["models", "remove", "tiny"]) == 0
    assert "removed 'tiny'" in capsys.readouterr().out
    assert list_models() == []


def test_cli_models_reports_errors_with_exit_code_1(capsys, tmp_path):
    assert main(["models", "remove", "ghost"]) == 1
    assert "no model named 'ghost'" in capsys.readouterr().err
    assert main(["models", "add", str(tmp_path)]) == 1
    assert "neither a model folder" in capsys.readouterr().err
    assert main(["models", "info", str(tmp_path / "missing")]) == 1
    assert "neither a folder" in capsys.readouterr().err


def test_cli_models_without_an_action_prints_help(capsys):
    assert main(["models"]) == 2
    assert "list" in capsys.readouterr().out
