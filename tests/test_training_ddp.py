"""Data-parallel training: two CPU processes (gloo) share a run as ``torchrun`` would start it."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from training_helpers import TINY_HEAD, make_base, make_cohort


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, ports: list[int], cfgs: list[dict], report: str) -> None:
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    for k, (port, cfg) in enumerate(zip(ports, cfgs)):
        # What torchrun sets for each process (one process group per run).
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        events = []
        result = run_finetune(FinetuneConfig(**cfg), callbacks=[lambda e: events.append(e.kind)])
        Path(report, f"run{k}_rank{rank}.json").write_text(json.dumps({
            "history": result.history, "events": events, "status": result.status}))


def test_two_process_gloo_runs_shard_batches_and_write_one_model(tmp_path):
    """A frozen-base run, then an end-to-end run (base and head under DDP), on 2 processes."""
    import torch.multiprocessing as mp

    from sleepfm_engine.checkpoints import load_release

    data = make_cohort(tmp_path / "data", n=4, minutes=5)
    base = make_base(tmp_path / "base")
    out = tmp_path / "out"
    cfg = dict(output=str(out), data=str(data), base=str(base), epochs=2, batch_size=1, lr=3e-3,
               head=dict(TINY_HEAD), cache_dir=str(tmp_path / "cache"), fractions=[0.5, 0.25, 0.25],
               device="cpu", log_every=1, plots=False)
    e2e = dict(cfg, output=str(tmp_path / "e2e"), unfreeze_base=True, window_chunks=1, epochs=2)
    mp.start_processes(_worker, args=(2, [_free_port(), _free_port()], [cfg, e2e], str(tmp_path)),
                       nprocs=2, join=True, start_method="spawn")
    r0 = json.loads((tmp_path / "run0_rank0.json").read_text())
    r1 = json.loads((tmp_path / "run0_rank1.json").read_text())
    # 2 training nights, one on each of the 2 ranks: 1 step per epoch, 2 samples
    assert [h["samples"] for h in r0["history"]] == [2, 2]
    # every rank sees the same (all-reduced) loss and the same shared validation
    assert [h["train_loss"] for h in r0["history"]] == pytest.approx([h["train_loss"] for h in r1["history"]])
    assert [h["validation"] for h in r0["history"]] == [h["validation"] for h in r1["history"]]
    # rank 0 reports and writes; the others stay quiet
    assert r0["events"][0] == "start" and r0["events"][-1] == "done" and r1["events"] == []
    assert load_release(out).kinds == ["base", "staging"]
    split = json.loads((out / "training" / "split.json").read_text())
    assert len(split["train"]) == 2
    # end to end: every trainable base parameter takes part (DDP would stop otherwise)
    e0 = json.loads((tmp_path / "run1_rank0.json").read_text())
    assert e0["status"] == "completed" and [h["samples"] for h in e0["history"]] == [2, 2]
    assert load_release(tmp_path / "e2e").kinds == ["base", "staging"]
