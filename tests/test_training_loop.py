"""Training runs end to end on tiny cohorts: outputs, early stopping, cancel and resume, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from training_helpers import TINY_BASE, TINY_HEAD, make_base, make_cohort, write_survival

from sleepfm_engine.errors import JobCancelled


# Tiny models: one torch thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    data = make_cohort(root / "data", n=6, minutes=10)
    write_survival(data, [f"night{i:02d}" for i in range(6)])
    base = make_base(root / "base")
    return {"root": root, "data": data, "base": base, "cache": root / "cache"}


def _cfg(world, out, **kw):
    from sleepfm_engine.training.config import FinetuneConfig

    args = dict(output=str(out), data=str(world["data"]), base=str(world["base"]), epochs=3, batch_size=2,
                lr=3e-3, head=dict(TINY_HEAD), cache_dir=str(world["cache"]), fractions=[0.5, 0.25, 0.25],
                log_every=1, device="cpu")
    args.update(kw)
    return FinetuneConfig(**args)


def test_staging_run_writes_a_release_the_engine_loads(world, tmp_path):
    from sleepfm_engine.checkpoints import config_hash, load_metadata, load_model, load_release
    from sleepfm_engine.training.api import run_finetune

    events = []
    result = run_finetune(_cfg(world, tmp_path / "out"), callbacks=[events.append])
    out = tmp_path / "out"
    release = load_release(out)
    assert release.kinds == ["base", "staging"]
    # the frozen base is copied byte for byte: same identity as the one given
    assert config_hash(out / "model_base") == config_hash(world["base"])
    load_model(out / "model_sleep_staging")
    meta = load_metadata(out / "model_sleep_staging")
    for key in ("engine_version", "contract", "channel_mapping", "data_summary", "provenance", "metrics"):
        assert meta.get(key), key
    assert meta["metrics"]["validation"]["kappa"] is not None and "test" in meta["metrics"]
    assert meta["data_summary"]["split"] == {"train": 2, "validation": 2, "test": 2}
    assert meta["channel_mapping"]["channels"]["BAS"] == {"C3-M2": 6}
    work = out / "training"
    for name in ("split.json", "cohort.json", "run.json", "history.json", "metrics.json", "last.pt",
                 "curves.png", "confusion_test.png", "f1_test.png"):
        assert (work / name).is_file(), name
    metrics = json.loads((work / "metrics.json").read_text())
    assert set(metrics["test"]["epoch"]) >= {"accuracy", "kappa", "macro_f1", "f1", "confusion_matrix"}
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 3
    steps = [e for e in events if e.kind == "step"]
    assert steps and all(e.eta_s is not None and np.isfinite(e.loss) for e in steps)
    assert len(result.history) == 3 and result.history[0]["train_loss"] > result.history[-1]["train_loss"]


def test_output_folder_in_use_is_refused_unless_resume_or_overwrite(world, tmp_path):
    from sleepfm_engine.training.api import run_finetune

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        run_finetune(_cfg(world, out, epochs=1))
    with pytest.raises(ValueError, match="did not write"):
        run_finetune(_cfg(world, out, epochs=1, overwrite=True))


def test_early_stopping_stops_when_validation_stops_improving(world, tmp_path):
    from sleepfm_engine.training.api import run_finetune

    result = run_finetune(_cfg(world, tmp_path / "out", epochs=10, lr=1e-12, patience=2))
    assert result.status == "early_stopped"
    assert len(result.history) == 3 and result.best_epoch == 1


def test_cancel_keeps_the_best_checkpoint_and_resume_continues_identically(world, tmp_path):
    from sleepfm_engine.checkpoints import load_model
    from sleepfm_engine.jobs import TaskState
    from sleepfm_engine.training.api import run_finetune

    straight = run_finetune(_cfg(world, tmp_path / "straight", epochs=3, batch_size=1))
    state = TaskState()

    def cancel_in_second_epoch(ev):
        if ev.kind == "step" and ev.epoch == 1:
            state.request_interruption()

    out = tmp_path / "cut"
    with pytest.raises(JobCancelled):
        run_finetune(_cfg(world, out, epochs=3, batch_size=1), state=state,
                     callbacks=[cancel_in_second_epoch])
    load_model(out / "model_sleep_staging")  # the epoch-1 checkpoint is usable
    assert len(json.loads((out / "training" / "history.json").read_text())) == 1
    resumed = run_finetune(_cfg(world, out, epochs=3, batch_size=1, resume=True))
    assert len(resumed.history) == 3
    np.testing.assert_allclose([h["train_loss"] for h in resumed.history],
                               [h["train_loss"] for h in straight.history], rtol=1e-5)


def test_end_to_end_staging_updates_the_base(world, tmp_path):
    import torch

    from sleepfm_engine.checkpoints import load_model
    from sleepfm_engine.training.api import run_finetune

    run_finetune(_cfg(world, tmp_path / "out", epochs=1, unfreeze_base=True, window_chunks=2))
    before, after = load_model(world["base"]), load_model(tmp_path / "out" / "model_base")
    changed = [k for k, v in before.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, after.state_dict()[k])]
    assert changed


def test_diagnosis_run_trains_a_coxph_head_per_phecode(world, tmp_path):
    from sleepfm_engine.checkpoints import load_metadata, load_model
    from sleepfm_engine.training.api import run_finetune

    result = run_finetune(_cfg(world, tmp_path / "out", task="diagnosis", epochs=2, batch_size=3,
                               fractions=[0.5, 0.33, 0.17],
                               head={"num_layers": 1, "pooling_head": 2, "dropout": 0.0}))
    head = load_model(tmp_path / "out" / "model_diagnosis")
    assert type(head).__name__ == "DiagnosisFinetuneFullLSTMCOXPHWithDemo" and head.num_classes == 2
    meta = load_metadata(tmp_path / "out" / "model_diagnosis")
    assert meta["phecodes"] == ["327.3", "401.1"] and meta["demographics"]["sex_codes"] == {"M": 1.0, "F": 0.0}
    mapping = (tmp_path / "out" / "model_diagnosis" / "label_mapping.csv").read_text().splitlines()
    assert mapping[0] == "label_idx,phecode,phenotype" and mapping[1].startswith("0,327.3,")
    assert set(result.validation["c_index"]) == {"327.3", "401.1"}


def test_pretraining_writes_a_base_model_for_both_objectives(world, tmp_path):
    from sleepfm_engine.checkpoints import load_metadata, load_model
    from sleepfm_engine.training.api import run_pretrain
    from sleepfm_engine.training.config import PretrainConfig

    for mode in ("leave_one_out", "pairwise"):
        out = tmp_path / mode
        res = run_pretrain(PretrainConfig(output=str(out), data=str(world["data"]), epochs=1, batch_size=2,
                                          base_config=dict(TINY_BASE), cache_dir=str(world["cache"]),
                                          mode=mode, optimizer="adamw", fractions=[0.5, 0.25, 0.25],
                                          max_steps_per_epoch=1, max_val_batches=1, device="cpu"))
        base = load_model(out / "model_base")
        assert base.embed_dim == 16
        meta = load_metadata(out / "model_base")
        assert meta["pretraining"]["mode"] == mode
        assert np.isfinite(res.history[0]["train_loss"]) and res.validation["n_chunks"] == 2


def test_cli_finetune_then_evaluate(world, tmp_path, capsys):
    from sleepfm_engine.cli import main

    out = tmp_path / "out"
    rc = main(["finetune", "staging", "--data", str(world["data"]), "--base", str(world["base"]), "-o", str(out),
               "--epochs", "1", "--batch-size", "2", "--head-params", json.dumps(TINY_HEAD),
               "--cache-dir", str(world["cache"]), "--device", "cpu", "-q"])
    assert rc == 0
    assert "best epoch 1" in capsys.readouterr().out
    rc = main(["evaluate", "--data", str(world["data"]), "--model", str(out), "--cache-dir", str(world["cache"]),
               "--device", "cpu", "-o", str(tmp_path / "eval"), "--split", str(out / "training" / "split.json"),
               "--part", "test"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "kappa" in text
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert m["n_recordings"] == 1 and (tmp_path / "eval" / "confusion.png").is_file()
