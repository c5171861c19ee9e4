"""Validation split across ranks: two gloo processes each predict their share of the nights,
and both get every night's result, in order."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from training_helpers import TINY_HEAD, make_base, make_cohort


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))


def _map_worker(rank: int, world: int, port: int, root: str) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.training.loop import setup_distributed

    _join(rank, world, port)
    dist = setup_distributed("cpu")
    computed: list[int] = []

    def fn(x: int) -> dict:
        computed.append(x)
        return {"item": x, "rank": dist.rank, "values": np.arange(x)}

    out = dist.map_shards(list(range(5)), fn)
    dist.close()
    Path(root, f"map_rank{rank}.json").write_text(json.dumps({
        "computed": computed,
        "out": [{"item": o["item"], "rank": o["rank"], "values": o["values"].tolist()} for o in out]}))


def test_map_shards_computes_each_item_once_and_gives_every_rank_all_results_in_order(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_map_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r = [json.loads((tmp_path / f"map_rank{k}.json").read_text()) for k in range(2)]
    assert r[0]["computed"] == [0, 2, 4] and r[1]["computed"] == [1, 3]
    expected = [{"item": i, "rank": i % 2, "values": list(range(i))} for i in range(5)]
    assert r[0]["out"] == expected and r[1]["out"] == expected


def _staging_worker(rank: int, world: int, port: int, cfg: dict, root: str) -> None:
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.training import staging
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    _join(rank, world, port)
    predicted: list[int] = []
    predict_tokens = staging.predict_tokens

    def counting(*args, **kwargs):
        predicted.append(1)
        return predict_tokens(*args, **kwargs)

    staging.predict_tokens = counting
    result = run_finetune(FinetuneConfig(**cfg))
    Path(root, f"staging_rank{rank}.json").write_text(json.dumps({
        "status": result.status, "history": result.history, "predicted": len(predicted)}))


def test_two_ranks_split_the_validation_nights_and_agree_on_the_metrics(tmp_path):
    import torch.multiprocessing as mp

    data = make_cohort(tmp_path / "data", n=6, minutes=5)
    base = make_base(tmp_path / "base")
    cfg = dict(output=str(tmp_path / "out"), data=str(data), base=str(base), epochs=2, batch_size=1,
               lr=3e-3, head=dict(TINY_HEAD), cache_dir=str(tmp_path / "cache"),
               fractions=[0.34, 0.33, 0.33], device="cpu", plots=False)
    mp.start_processes(_staging_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r = [json.loads((tmp_path / f"staging_rank{k}.json").read_text()) for k in range(2)]
    split = json.loads((tmp_path / "out" / "training" / "split.json").read_text())
    n_val = len(split["validation"])
    assert n_val == 2 and r[0]["status"] == r[1]["status"] == "completed"
    # rank 1 (which used to wait) predicts one of the two validation nights in each of the 2
    # epochs, and nothing else (testing and the trust statistics stay on rank 0)
    assert r[1]["predicted"] == 2
    # the metrics come from both nights and are the same on both ranks
    v0 = [h["validation"] for h in r[0]["history"]]
    assert v0 == [h["validation"] for h in r[1]["history"]]
    assert all(v["n_nights"] == n_val for v in v0)


def _diagnosis_worker(rank: int, world: int, port: int, cfg: dict, root: str) -> None:
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig
    from sleepfm_engine.training.diagnosis import DiagnosisTask

    _join(rank, world, port)
    evaluated: list[int] = []
    forward = DiagnosisTask._forward

    def counting(self, model, batch):
        if not torch.is_grad_enabled():  # evaluation, not a training step
            evaluated.append(len(batch["ids"]))
        return forward(self, model, batch)

    DiagnosisTask._forward = counting
    result = run_finetune(FinetuneConfig(**cfg))
    Path(root, f"diagnosis_rank{rank}.json").write_text(json.dumps({
        "status": result.status, "history": result.history, "evaluated": evaluated}))


def test_two_ranks_split_the_diagnosis_validation_batches_and_agree_on_the_c_index(tmp_path):
    import torch.multiprocessing as mp

    from training_helpers import write_survival

    data = make_cohort(tmp_path / "data", n=10, minutes=5)
    write_survival(data, [f"night{i:02d}" for i in range(10)])
    cfg = dict(task="diagnosis", output=str(tmp_path / "out"), data=str(data), base=str(make_base(tmp_path / "base")),
               epochs=2, batch_size=2, lr=3e-3, head={"num_layers": 1, "pooling_head": 2, "dropout": 0.0},
               cache_dir=str(tmp_path / "cache"), fractions=[0.4, 0.4, 0.2], device="cpu", plots=False)
    mp.start_processes(_diagnosis_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r = [json.loads((tmp_path / f"diagnosis_rank{k}.json").read_text()) for k in range(2)]
    split = json.loads((tmp_path / "out" / "training" / "split.json").read_text())
    assert len(split["validation"]) == 4 and r[0]["status"] == r[1]["status"] == "completed"
    # rank 1 evaluates one of the two two-night validation batches in each of the 2 epochs
    assert r[1]["evaluated"] == [2, 2]
    v0 = [h["validation"] for h in r[0]["history"]]
    assert v0 == [h["validation"] for h in r[1]["history"]]
    assert all(set(v["c_index"]) == {"327.3", "401.1"} for v in v0)


def _events_worker(rank: int, world: int, port: int, cfg: dict, root: str) -> None:
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.training import events
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    _join(rank, world, port)
    predicted: list[int] = []
    probabilities = events.event_probabilities

    def counting(*args, **kwargs):
        predicted.append(1)
        return probabilities(*args, **kwargs)

    events.event_probabilities = counting
    result = run_finetune(FinetuneConfig(**cfg))
    Path(root, f"events_rank{rank}.json").write_text(json.dumps({
        "status": result.status, "history": result.history, "predicted": len(predicted)}))


def test_two_ranks_split_the_event_validation_nights_and_tune_the_same_postprocessing(tmp_path):
    import torch.multiprocessing as mp

    from sleepfm_engine.synthetic import Severity, make_night, write_night

    data = tmp_path / "data"
    data.mkdir()
    for i, ahi in enumerate((40, 25, 60, 15, 30, 50)):
        write_night(make_night(0.35, seed=i, montage="minimal", severity=Severity(ahi=ahi, plmi=30)),
                    data / f"night{i}.edf")
    cfg = dict(task="events", output=str(tmp_path / "out"), data=str(data), base=str(make_base(tmp_path / "base")),
               epochs=2, batch_size=1, lr=3e-3, head=dict(TINY_HEAD), cache_dir=str(tmp_path / "cache"),
               fractions=[0.34, 0.33, 0.33], device="cpu", plots=False,
               event_classes=["apnea", "hypopnea", "desaturation"])
    mp.start_processes(_events_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r = [json.loads((tmp_path / f"events_rank{k}.json").read_text()) for k in range(2)]
    split = json.loads((tmp_path / "out" / "training" / "split.json").read_text())
    assert len(split["validation"]) == 2 and r[0]["status"] == r[1]["status"] == "completed"
    # rank 1 predicts one of the two validation nights in each of the 2 epochs, nothing else
    assert r[1]["predicted"] == 2
    v0 = [h["validation"] for h in r[0]["history"]]
    assert v0 == [h["validation"] for h in r[1]["history"]]
    assert all(set(v["postprocessing"]) == {"apnea", "hypopnea", "desaturation"} for v in v0)
