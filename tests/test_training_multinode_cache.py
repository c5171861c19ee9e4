"""Two simulated hosts (two gloo processes, each with its own cache folder): a cache that is not
shared between the ranks is completed on each node, or the run stops with a typed error."""
from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path

from training_helpers import TINY_HEAD, make_base, make_cohort


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> None:
    # What torchrun sets for each process.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))


def _scenarios(rank: int, world: int, port: int, root: str) -> None:
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.errors import TrainingCacheError
    from sleepfm_engine.training.cache import RANK_MARKERS, TrainingCache, complete_node_cache
    from sleepfm_engine.training.loop import setup_distributed

    _join(rank, world, port)
    dist = setup_distributed("cpu")
    report: dict = {}

    def run(name: str, folder: Path, build_writes: bool = True, fail_on: int | None = None) -> None:
        cache = TrainingCache(folder)
        needed = [cache.root / "prep" / f"entry{i}.h5" for i in range(5)]
        needed[0].parent.mkdir(parents=True, exist_ok=True)
        for i in range(rank, len(needed), world):  # this rank's share, as prepare_records builds it
            needed[i].write_text(f"entry {i}")
        dist.barrier()
        built: list[int] = []

        def build(i: int) -> None:
            if fail_on == rank:
                raise ValueError(f"cannot read recording {i}")
            built.append(i)
            if build_writes:
                needed[i].write_text(f"entry {i}")

        outcome = "ok"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                complete_node_cache(cache, needed, build, dist, "test entries")
            except TrainingCacheError as exc:
                outcome = f"TrainingCacheError: {exc}"
            except ValueError as exc:
                outcome = f"ValueError: {exc}"
        markers = cache.root / RANK_MARKERS
        report[name] = {"built": built, "outcome": outcome,
                        "present": sorted(int(p.stem[5:]) for p in needed[0].parent.glob("entry*.h5")),
                        "warnings": [str(w.message) for w in caught],
                        "markers_left": sorted(p.name for p in markers.iterdir()) if markers.is_dir() else []}
        dist.barrier()

    run("shared", Path(root, "shared"))
    run("node_local", Path(root, f"node{rank}"))
    run("unbuildable", Path(root, f"unbuildable{rank}"), build_writes=False)
    run("failing", Path(root, f"failing{rank}"), fail_on=1)
    dist.close()
    Path(root, f"scenarios_rank{rank}.json").write_text(json.dumps(report))


def test_a_shared_cache_folder_needs_no_building_and_node_local_folders_are_completed(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_scenarios, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r = [json.loads((tmp_path / f"scenarios_rank{k}.json").read_text()) for k in range(2)]
    # One folder for both ranks: everything is there after the shares; nothing more is built.
    for k in range(2):
        assert r[k]["shared"] == {"built": [], "outcome": "ok", "present": [0, 1, 2, 3, 4],
                                  "warnings": [], "markers_left": []}
    # A folder per host: each builds exactly the other host's share, and says why once.
    assert r[0]["node_local"]["built"] == [1, 3] and r[1]["node_local"]["built"] == [0, 2, 4]
    for k in range(2):
        assert r[k]["node_local"]["outcome"] == "ok" and r[k]["node_local"]["present"] == [0, 1, 2, 3, 4]
        assert r[k]["node_local"]["markers_left"] == []
    assert len(r[0]["node_local"]["warnings"]) == 1 and "--cache-dir" in r[0]["node_local"]["warnings"][0]
    assert r[1]["node_local"]["warnings"] == []
    # Entries still missing after building: every rank stops with the typed error, naming the
    # folder and asking for a shared --cache-dir (none waits for the other).
    for k in range(2):
        outcome = r[k]["unbuildable"]["outcome"]
        assert outcome.startswith(f"TrainingCacheError: {tmp_path / f'unbuildable{k}'}: ")
        assert "not shared between the nodes; pass --cache-dir on a shared file system" in outcome
    # A build failing on one rank: that rank raises its own error, the other a typed one.
    assert r[1]["failing"]["outcome"] == "ValueError: cannot read recording 0"
    assert r[0]["failing"]["outcome"].startswith("TrainingCacheError: ")
    assert "another rank failed while building test entries" in r[0]["failing"]["outcome"]


def _finetune(rank: int, world: int, port: int, cfg: dict, root: str) -> None:
    import torch

    torch.set_num_threads(1)
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    _join(rank, world, port)
    # Each simulated host has its own node-local default cache.
    result = run_finetune(FinetuneConfig(**dict(cfg, cache_dir=str(Path(root, f"host{rank}-cache")))))
    Path(root, f"finetune_rank{rank}.json").write_text(json.dumps({"status": result.status,
                                                                   "history": result.history}))


def test_two_hosts_with_node_local_default_caches_train_to_completion(tmp_path):
    import torch.multiprocessing as mp

    from sleepfm_engine.checkpoints import load_release

    data = make_cohort(tmp_path / "data", n=4, minutes=5)
    base = make_base(tmp_path / "base")
    out = tmp_path / "out"
    cfg = dict(output=str(out), data=str(data), base=str(base), epochs=1, batch_size=1, lr=3e-3,
               head=dict(TINY_HEAD), fractions=[0.5, 0.25, 0.25], device="cpu", plots=False)
    mp.start_processes(_finetune, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    for k in range(2):
        assert json.loads((tmp_path / f"finetune_rank{k}.json").read_text())["status"] == "completed"
        # every host's folder holds every night's entry and embedding
        assert len(list((tmp_path / f"host{k}-cache" / "prep").glob("*.h5"))) == 4
        assert len(list((tmp_path / f"host{k}-cache" / "emb").glob("*.h5"))) == 4
    assert load_release(out).kinds == ["base", "staging"]
