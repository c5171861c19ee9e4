"""The event head's training time per epoch on this machine's CPU, in the GPU run's configuration.

Issue 13 asks for the training time per epoch on one GPU and on the CPU. The GPU figure comes
from ``bench_event_heads.py`` (``docs/results/event_heads_gpu_*.json``: the demo base frozen, 40
training nights of 2 h, the released head trunk on its 64-dim embeddings, batch 8, lr 1e-3,
fp32). Generating, preprocessing and embedding 48 nights with the base would take a 2-core CPU
far longer than the training itself, and an epoch's cost does not depend on what the embeddings
hold, only on their shape. So this script writes constructed embedding cache entries of that
shape (every modality, ``--hours`` of 5-s tokens, ``--dim`` values each; targets at the demo
head's training rates of positive tokens) and runs the real training loop on them
(:class:`sleepfm_engine.training.loop.Trainer` with :class:`sleepfm_engine.training.events.EventsTask`:
the same data path from the HDF5 cache, loss, AdamW, gradient clipping). The epoch time is the
loop's own ``epoch_time_s`` (the optimisation pass, no validation), as in the GPU figure.

Run (the figure in docs/benchmarks.md)::

    .venv/bin/python benchmarks/bench_event_head_cpu_epoch.py --work /tmp/bench-ev-cpu --nights 40 \\
        --epochs 2 --json docs/results/event_head_cpu_epoch_<date>.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

#: Share of training tokens positive per class in the demo head's training nights
#: (resources/models/demo/model_events/metadata.json: train_tokens_per_class / 57,600 tokens).
POSITIVE_RATE = {"apnea": 0.087, "hypopnea": 0.054, "arousal": 0.061, "limb_movement": 0.026,
                 "desaturation": 0.287}


def write_nights(folder: Path, n: int, hours: float, dim: int, seed: int) -> list:
    """``n`` constructed nights: their cache entries and per-token targets."""
    import h5py

    from sleepfm_engine.contract import MODALITIES, TOKEN_SECONDS
    from sleepfm_engine.training.data import NightItem

    rng = np.random.default_rng(seed)
    tokens = int(round(hours * 3600 / TOKEN_SECONDS))
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        path = folder / f"night{i:03d}.h5"
        with h5py.File(path, "w") as f:
            for m in MODALITIES:
                f.create_dataset(m, data=rng.normal(size=(tokens, dim)).astype(np.float16))
        targets = np.stack([(rng.random(tokens) < p).astype(np.int8) for p in POSITIVE_RATE.values()], axis=1)
        items.append(NightItem(f"night{i:03d}", path, labels=targets))
    return items


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the cache entries and the head")
    ap.add_argument("--nights", type=int, default=40, help="training nights (the GPU run: 40)")
    ap.add_argument("--hours", type=float, default=2.0, help="hours per night (the GPU run: 2)")
    ap.add_argument("--dim", type=int, default=64, help="embedding size (the demo base: 64)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    import torch

    from sleepfm_engine.checkpoints import build_model
    from sleepfm_engine.events import EventSet
    from sleepfm_engine.training.config import FinetuneConfig
    from sleepfm_engine.training.events import EventsTask, events_head_config
    from sleepfm_engine.training.loop import DistContext, Trainer

    classes = list(POSITIVE_RATE)
    items = write_nights(args.work / "emb", args.nights, args.hours, args.dim, args.seed)
    cfg = FinetuneConfig(task="events", output=str(args.work / "release"), data=str(args.work),
                         epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, device="cpu",
                         patience=args.epochs, plots=False, log_every=50, overwrite=True, seed=args.seed)
    torch.manual_seed(args.seed)
    head_cfg = events_head_config(args.dim, classes)
    head = build_model(head_cfg).train()
    nights = [{"item": it, "stages": np.full(len(it.labels), 2), "events": EventSet([]), "prepared": None}
              for it in items]
    dist = DistContext(device=torch.device("cpu"))
    task = EventsTask(cfg, head, head_cfg, classes, {"train": nights, "validation": [], "test": []},
                      dist, args.work / "release", {}, pos_weight=np.full(len(classes), 5.0))
    load = {"before": os.getloadavg()}
    t0 = time.perf_counter()
    result = Trainer(task, cfg, args.work / "training", dist).run()
    seconds = time.perf_counter() - t0
    load["after"] = os.getloadavg()
    epochs = [h["epoch_time_s"] for h in result["history"]]
    out = {"device": "cpu", "cpu": cpu_name(), "cores": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
           "nights": args.nights, "hours": args.hours, "tokens_per_night": int(len(items[0].labels)),
           "dim": args.dim, "batch_size": args.batch_size, "classes": classes,
           "head": head_cfg["model_params"], "epoch_seconds": epochs,
           "median_epoch_seconds": float(np.median(epochs)),
           "seconds_per_night": float(np.median(epochs)) / args.nights,
           "run_seconds": seconds, "load_average_1_5_15": load,
           "embeddings": "constructed (random float16 of the GPU run's shape; an epoch's cost "
                         "depends on the shape only)"}
    print(f"CPU ({out['cores']} cores, {out['torch_threads']} torch threads): {args.nights} nights of "
          f"{args.hours:g} h, dim {args.dim}, batch {args.batch_size}: epochs "
          + ", ".join(f"{s:.1f}" for s in epochs) + f" s; median {out['median_epoch_seconds']:.1f} s per "
          f"epoch ({out['seconds_per_night']:.2f} s per night); load average before "
          f"{load['before'][0]:.2f}, after {load['after'][0]:.2f}")
    if args.json:
        from sleepfm_engine.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
