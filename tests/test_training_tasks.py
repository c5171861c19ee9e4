"""The training-task registry: what derives from it (CLI, dialog, release layout, model kinds,
config validation, cohort discovery) and that a task registered here shows up everywhere."""
from __future__ import annotations

import argparse
import json

import pytest

from sleepfm_engine import checkpoints
from sleepfm_engine.cli import build_parser, main
from sleepfm_engine.training.config import FinetuneConfig
from sleepfm_engine.training_tasks import (BASE_KIND, TrainingOption, TrainingTask, get_task, model_kinds, register,
                                           registered_tasks, release_folder_names, task_for_kind, unregister)


def _toy(**changes) -> TrainingTask:
    spec = dict(name="toy", description="a toy head for the registry tests", command="finetune",
                dialog_label="Toy head", model_kind="toy", release_folder="model_toy",
                model_classes=("ToyHead",), task_class="tests.toy:ToyTask", labels="none",
                aliases=("toy-task",),
                options=(TrainingOption(("--labels-dir",), "labels_dir", {"help": "toy labels"}),))
    spec.update(changes)
    return TrainingTask(**spec)


@pytest.fixture
def toy():
    task = register(_toy())
    yield task
    unregister("toy")


def _finetune_choices() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(next(a for a in sub.choices["finetune"]._actions if a.dest == "task").choices)


# ----------------------------------------------------------------------------- built-in tasks
def test_builtin_tasks_give_the_released_layout_and_kinds():
    assert dict(release_folder_names()) == {"base": "model_base", "staging": "model_sleep_staging",
                                            "diagnosis": "model_diagnosis", "events": "model_events"}
    assert list(release_folder_names())[0] == BASE_KIND
    assert dict(model_kinds()) == {"SetTransformer": "base", "SleepEventLSTMClassifier": "staging",
                                   "DiagnosisFinetuneFullLSTMCOXPH": "diagnosis",
                                   "DiagnosisFinetuneFullLSTMCOXPHWithDemo": "diagnosis",
                                   "SleepEventMultiLabelHead": "events"}
    assert checkpoints.model_kind("SleepEventLSTMClassifier") == "staging"


def test_builtin_task_classes_import_and_carry_the_registered_name():
    for spec in registered_tasks():
        assert spec.load_task_class().name == spec.name


def test_cli_offers_the_finetune_tasks_and_a_sub_command_per_pretrain_task():
    assert _finetune_choices() == [t.name for t in registered_tasks("finetune")] == ["staging", "diagnosis", "events"]
    args = build_parser().parse_args(["pretrain", "--data", "d", "-o", "o", "--mode", "pairwise"])
    assert args.training_task == "pretrain" and args.mode == "pairwise" and args.epochs == 10


def test_dialog_choices_come_from_the_registry():
    from sleepfm_gui.dialogs.finetune import ENGINE_TASK, TASKS

    assert TASKS == tuple((t.dialog_key, t.dialog_label) for t in registered_tasks())
    assert ENGINE_TASK["pretraining"] == "pretrain" and get_task("pretraining").name == "pretrain"


def test_an_option_of_another_task_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit, match="^error: --unfreeze-base applies to staging and events only, not diagnosis$"):
        main(["finetune", "diagnosis", "--unfreeze-base", "--data", "d", "--base", "b", "-o", "o"])


def test_bad_training_settings_print_one_error_line(tmp_path, capsys):
    rc = main(["finetune", "staging", "--data", str(tmp_path / "missing"), "--base", "b", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and err.strip().splitlines() == [f"error: {tmp_path / 'missing'}: no such cohort folder"]


# ------------------------------------------------------------------------ a task registered here
def test_a_registered_task_shows_up_in_the_cli_and_every_lookup(toy):
    assert "toy" in _finetune_choices()
    assert get_task("TOY-task") is toy and task_for_kind("toy") is toy
    assert release_folder_names()["toy"] == "model_toy"
    assert model_kinds()["ToyHead"] == "toy" and checkpoints.model_kind({"model": "ToyHead"}) == "toy"
    FinetuneConfig(task="toy", base="b", output="o", data="d").validate()
    with pytest.raises(ValueError, match="unfreeze_base is available for staging, events only"):
        FinetuneConfig(task="toy", base="b", output="o", data="d", unfreeze_base=True).validate()


def test_a_registered_tasks_options_reach_its_config_and_only_its_config(toy, monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr("sleepfm_engine.training.api.run_finetune",
                        lambda config, state, callbacks: seen.append(config) or _Result(tmp_path))
    base = ["--data", "d", "--base", "b", "-o", str(tmp_path), "-q"]
    assert main(["finetune", "toy", "--labels-dir", "L", *base]) == 0
    assert (seen[0].task, seen[0].labels_dir) == ("toy", "L")
    with pytest.raises(SystemExit, match="^error: --labels-dir applies to staging and events and toy only, not diagnosis$"):
        main(["finetune", "diagnosis", "--labels-dir", "L", *base])
    with pytest.raises(SystemExit, match="^error: --window-chunks applies to staging and events only, not toy$"):
        main(["finetune", "toy", "--window-chunks", "5", *base])


class _Result:
    def __init__(self, out):
        self.status, self.best_epoch, self.output, self.models = "completed", 1, out, {}
        self.validation = self.test = {}


def test_a_release_folder_of_a_registered_kind_is_found_and_its_model_is_an_attribute(toy, tmp_path):
    for sub, model in (("model_base", "SetTransformer"), ("model_toy", "ToyHead")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "config.json").write_text(json.dumps({"model": model}), encoding="utf-8")
    assert checkpoints.release_folders(tmp_path) == {"base": tmp_path / "model_base", "toy": tmp_path / "model_toy"}
    release = checkpoints.Release(tmp_path, models={"toy": "the toy model"})
    assert release.toy == "the toy model" and release.staging is None and release.kinds == ["toy"]
    with pytest.raises(AttributeError):
        release.no_such_kind


def test_cohort_discovery_takes_a_registered_task(toy, tmp_path):
    from sleepfm_engine.training.cohort import discover_cohort

    cohort = discover_cohort(tmp_path, "toy")
    assert cohort.task == "toy" and cohort.records == []
    with pytest.raises(ValueError, match="unknown training task 'nope'"):
        discover_cohort(tmp_path, "nope")


# --------------------------------------------------------------------------- registration rules
@pytest.mark.parametrize("changes, message", [
    (dict(name="staging"), "already registered"),
    (dict(aliases=("pretraining",)), "already registered"),
    (dict(release_folder="model_sleep_staging"), "disagree with task 'staging'"),
    (dict(model_kind="staging"), "disagree with task 'staging'"),
    (dict(model_classes=("SetTransformer",)), "already 'base' models"),
])
def test_register_refuses_a_task_that_clashes_with_a_registered_one(changes, message):
    with pytest.raises(ValueError, match=message):
        register(_toy(**changes))
    assert "toy" not in [t.name for t in registered_tasks()]


@pytest.mark.parametrize("changes, message", [
    (dict(name="Toy"), "lower case"), (dict(command="train"), "command must be one of"),
    (dict(labels="sleep-diary"), "labels must be one of"), (dict(task_class="tests.toy.ToyTask"), "module:Class"),
    (dict(model_classes=()), "model_classes is empty"), (dict(min_modalities=0), "min_modalities"),
])
def test_a_malformed_task_entry_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _toy(**changes)
