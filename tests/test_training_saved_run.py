"""The run saved in a training output folder reads back as the settings that continue it."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from sleepfm_engine.training.config import FinetuneConfig, PretrainConfig
from sleepfm_engine.training.saved_run import (has_saved_run, read_saved_run, resume_config,
                                               saved_run_path)


def _save(out, kind, config) -> None:
    # As sleepfm_engine.training.api writes it when a run starts.
    path = saved_run_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": kind, "config": config.to_dict()}, indent=2))


@settings(max_examples=25, deadline=None)
@given(epochs=st.integers(1, 1000), lr=st.floats(1e-6, 1.0), task=st.sampled_from(["staging", "diagnosis"]),
       more=st.integers(1, 1000))
def test_a_saved_finetune_run_resumes_with_its_settings_and_the_new_epochs(tmp_path_factory, epochs, lr,
                                                                          task, more):
    out = tmp_path_factory.mktemp("run")
    config = FinetuneConfig(task=task, base="/models/base", data="/cohort", output=str(out),
                            epochs=epochs, lr=lr)
    _save(out, task, config)
    assert has_saved_run(out) and read_saved_run(out).epochs == epochs
    kind, resumed = resume_config(out, epochs=more, device="cpu")
    assert kind == task and isinstance(resumed, FinetuneConfig)
    assert (resumed.epochs, resumed.device, resumed.resume, resumed.overwrite) == (more, "cpu", True, False)
    assert (resumed.lr, resumed.base, resumed.data, resumed.task) == (lr, "/models/base", "/cohort", task)


def test_a_saved_pretraining_run_resumes_as_pretraining(tmp_path):
    _save(tmp_path, "pretrain", PretrainConfig(data="/cohort", output=str(tmp_path), epochs=3))
    kind, resumed = resume_config(tmp_path, epochs=4)
    assert kind == "pretrain" and isinstance(resumed, PretrainConfig) and resumed.epochs == 4


def test_no_run_or_an_unreadable_run_is_a_readable_error_naming_the_folder(tmp_path):
    assert not has_saved_run(tmp_path) and not has_saved_run("")
    with pytest.raises(ValueError, match="nothing to resume"):
        read_saved_run(tmp_path)
    saved_run_path(tmp_path).parent.mkdir()
    saved_run_path(tmp_path).write_text("{not json")
    with pytest.raises(ValueError, match="run.json: the saved run settings cannot be read"):
        resume_config(tmp_path)
    saved_run_path(tmp_path).write_text(json.dumps({"kind": "staging", "config": {"nonsense": 1}}))
    with pytest.raises(ValueError, match="unknown FinetuneConfig settings: nonsense"):
        resume_config(tmp_path)
