"""The SleepFM event head beside psgscoring on generated nights with ground truth.

Generates nights from normal to severe (``sleepfm synth --ahi A --plmi P``; each writes its
``<name>.events.json`` ground truth and hypnogram), fine-tunes an event head on the training
and validation nights (``sleepfm finetune events``: frozen base, post-processing tuned on the
validation nights), then scores the held-out nights with the head (detector ``sleepfm-head``)
and with psgscoring, both given the true hypnogram, and prints per class:

- event-level precision, recall and F1 against the truth (>= 50 % overlap of the shorter
  event, one-to-one; :mod:`sleepfm_engine.training.event_metrics`);
- AHI, arousal index and PLMS index ICC(A,1) against the truth, AHI severity class agreement;
- seconds per night of each (the head's include embedding the night with the base model), and
  the head's training time per epoch, with the device named.

Issue 13's targets: the head matches or beats psgscoring on arousals and hypopneas, index ICC
>= 0.9, at >= 50x psgscoring's speed per night on one GPU.

Usage (the evidence run: 40 training + 8 validation + 8 held-out nights of 8 h)::

    .venv/bin/python benchmarks/bench_event_heads.py --base RELEASE_OR_BASE --work DIR
        [--train 40] [--validation 8] [--held-out 8] [--hours 8] [--epochs 30] [--device cuda]
        [--json out.json]

A proof that the script runs (CPU, minutes; a random tiny base, so the figures mean nothing)::

    .venv/bin/python benchmarks/bench_event_heads.py --tiny-base --work /tmp/bench-ev \\
        --train 4 --validation 2 --held-out 2 --hours 0.5 --epochs 2

psgscoring needs the ``events`` extra; without it only the head is measured.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

from sleepfm_engine.contract import TOKEN_SECONDS
from sleepfm_engine.events import EventSet
from sleepfm_engine.hypnogram import SLEEP_CODES, Hypnogram
from sleepfm_engine.indices import compute_indices
from sleepfm_engine.event_classes import class_of
from sleepfm_engine.training.event_metrics import (event_counts, icc_a1, prf, reference_intervals,
                                                   severity_agreement)

#: Indices compared with the truth.
INDICES = ("AHI", "ArI", "PLMSI")
#: Tiny base for --tiny-base (a proof of run on a CPU).
TINY_BASE = {"embed_dim": 16, "num_heads": 2, "num_layers": 1, "pooling_head": 2, "dropout": 0.0}
TINY_HEAD = {"num_heads": 2, "pooling_head": 2, "dropout": 0.0, "max_seq_length": 256}


def severities(n: int, seed: int) -> list[tuple[int, float, float]]:
    """(seed, AHI, PLMI) of ``n`` nights spread from normal to severe."""
    rng = np.random.default_rng(seed)
    ahis = np.linspace(1.0, 70.0, n) if n > 1 else np.array([25.0])
    return [(seed + i, float(round(a, 1)), float(round(rng.uniform(0, 50), 1)))
            for i, a in enumerate(rng.permutation(ahis))]


def _one_night(job: tuple[Path, int, float, float, float]) -> Path:
    from sleepfm_engine.synthetic import make_night, write_night
    from sleepfm_engine.synthetic.severity import Severity

    path, seed, ahi, plmi, hours = job
    if not path.is_file():
        write_night(make_night(hours, seed=seed, severity=Severity(ahi=ahi, plmi=plmi)), path)
    return path


def generate(folder: Path, nights: list[tuple[int, float, float]], hours: float,
             workers: int = 1) -> list[Path]:
    """Write the nights (a process pool when ``workers`` > 1); their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder / f"night{seed}.edf", seed, ahi, plmi, hours) for seed, ahi, plmi in nights]
    if workers <= 1:
        return [_one_night(j) for j in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_one_night, jobs))


def train(args, data: Path, base: str, n_train: int, n_val: int) -> dict:
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    total = n_train + n_val
    cfg = FinetuneConfig(task="events", data=str(data), base=base, output=str(args.work / "release"),
                         epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, device=args.device,
                         fractions=[n_train / total, n_val / total, 0.0], cache_dir=str(args.work / "cache"),
                         head=dict(TINY_HEAD) if args.tiny_base else None, overwrite=True, patience=args.epochs,
                         plots=False, log_every=50)
    t0 = time.perf_counter()
    result = run_finetune(cfg)
    return {"seconds": time.perf_counter() - t0, "best_epoch": result.best_epoch,
            "epoch_seconds": [h["epoch_time_s"] for h in result.history],
            "validation_macro_f1": result.validation.get("macro_f1")}


def _by_class(events, classes, sleep) -> dict[str, list[tuple[float, float]]]:
    """Detected events per head class, onset in a sleep token (as the indices count them)."""
    out: dict[str, list] = {c: [] for c in classes}
    for e in events:
        c = class_of(e.type)
        t = int(e.onset // TOKEN_SECONDS)
        if c in out and 0 <= t < len(sleep) and sleep[t]:
            out[c].append((e.onset, e.end))
    return out


def score(paths: list[Path], release: Path, device: str, classes: list[str], with_psg: bool) -> dict:
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.formats import read_events, read_hypnogram
    from sleepfm_engine.recording import open_recording

    methods = {"head": get_detector("sleepfm-head")}
    if with_psg:
        methods["psgscoring"] = get_detector("psgscoring")
    counts = {m: {c: [0, 0, 0] for c in classes} for m in methods}
    rows = []
    for path in paths:
        truth = read_events(path.with_name(path.stem + ".events.json"))
        hyp = read_hypnogram(path.with_name(path.stem + ".hypnogram.csv"))
        row = {"night": path.stem, "seconds": {}, "indices": {}}
        with open_recording(path) as rec:
            aligned = hyp.align_to(rec)
            n_tokens = int(rec.duration // TOKEN_SECONDS)
            stages = aligned.regrid(float(TOKEN_SECONDS), 0.0, n_tokens).stages
            sleep = np.isin(stages, SLEEP_CODES)
            tok_hyp = Hypnogram(stages, float(TOKEN_SECONDS))
            row["indices"]["truth"] = _indices(truth, tok_hyp)
            for name, det in methods.items():
                settings = {"model": release, "device": device} if name == "head" else {}
                t0 = time.perf_counter()
                res = det.detect(rec, hyp, **settings)
                row["seconds"][name] = time.perf_counter() - t0
                row["indices"][name] = _indices(res.events, tok_hyp)
                found = _by_class(res.events, classes, sleep)
                for c in classes:
                    tp, n_p, n_r = event_counts(found[c], reference_intervals(truth, c, sleep))
                    counts[name][c] = [a + b for a, b in zip(counts[name][c], (tp, n_p, n_r))]
        rows.append(row)
        print(f"{path.stem}: " + " | ".join(
            f"{k} AHI {_fmt(v.get('AHI'))} ArI {_fmt(v.get('ArI'))} PLMSI {_fmt(v.get('PLMSI'))}"
            for k, v in row["indices"].items())
            + " | " + ", ".join(f"{k} {s:.1f} s" for k, s in row["seconds"].items()), flush=True)
    return {"nights": rows, "events": {m: {c: prf(*v) for c, v in per.items()} for m, per in counts.items()}}


def _indices(events: EventSet, hyp: Hypnogram) -> dict:
    table = compute_indices(events, hyp)
    return {k: table[k] for k in INDICES}


def _fmt(v, spec: str = "5.1f") -> str:
    return "    -" if v is None else format(v, spec)


def report(out: dict) -> None:
    rows = out["held_out"]["nights"]
    methods = list(out["held_out"]["events"])
    print(f"\ndevice {out['device']}; {out['n_train']} training + {out['n_validation']} validation nights, "
          f"{len(rows)} held out, {out['hours']:g} h each; base {out['base']}")
    ep = out["training"]["epoch_seconds"]
    print(f"training: {out['training']['seconds']:.0f} s in all (preprocessing and embedding included); "
          f"{np.median(ep):.2f} s per epoch (median of {len(ep)}), best epoch {out['training']['best_epoch']}")
    print("\nevent-level agreement with the truth (>= 50 % overlap of the shorter event)")
    print(f"{'class':<14} " + " ".join(f"{m + ' P/R/F1':>24}" for m in methods))
    for c in out["classes"]:
        cells = []
        for m in methods:
            v = out["held_out"]["events"][m][c]
            cells.append(f"{_fmt(v['precision'], '.2f')}/{_fmt(v['recall'], '.2f')}/{_fmt(v['f1'], '.2f')}")
        print(f"{c:<14} " + " ".join(f"{x:>24}" for x in cells))
    print("\nindex agreement with the truth: ICC(A,1), mean absolute error (/h)")
    for key in INDICES:
        parts = []
        for m in methods:
            pairs = [(r["indices"][m][key], r["indices"]["truth"][key]) for r in rows
                     if r["indices"][m][key] is not None and r["indices"]["truth"][key] is not None]
            if not pairs:
                parts.append(f"{m} -")
                continue
            p, t = np.array(pairs, dtype=float).T
            icc = icc_a1(p, t)
            parts.append(f"{m} ICC {_fmt(icc, '.3f')} MAE {np.mean(np.abs(p - t)):.1f}")
        print(f"  {key:<6} " + "; ".join(parts))
    for m in methods:
        sev = severity_agreement([r["indices"][m]["AHI"] for r in rows], [r["indices"]["truth"]["AHI"] for r in rows])
        print(f"  AHI severity class agreement, {m}: {_fmt(sev['agreement'], '.2f')} ({sev['n_nights']} nights)")
    print("\nseconds per night (median)")
    med = {m: float(np.median([r["seconds"][m] for r in rows])) for m in methods}
    for m, s in med.items():
        print(f"  {m:<12} {s:8.2f} s")
    if "psgscoring" in med and med["head"] > 0:
        print(f"  the head is {med['psgscoring'] / med['head']:.1f}x psgscoring's speed (psgscoring on this CPU)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the nights, cache and release")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", help="base model folder, release folder or registry name")
    src.add_argument("--tiny-base", action="store_true", help="a random tiny base (a proof of run, not a result)")
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--validation", type=int, default=8)
    ap.add_argument("--held-out", type=int, default=8)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=1, help="processes generating the nights")
    ap.add_argument("--no-psgscoring", action="store_true", help="measure the head only")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    from sleepfm_engine.devices import describe_device, select_device

    args.work.mkdir(parents=True, exist_ok=True)
    base = args.base
    if args.tiny_base:
        from sleepfm_engine.checkpoints import build_model, save_model
        from sleepfm_engine.training.pretrain import base_config

        cfg = base_config(TINY_BASE)
        base = str(save_model(build_model(cfg), cfg, args.work / "tiny_base"))
    t0 = time.perf_counter()
    train_nights = severities(args.train + args.validation, seed=1000)
    held = severities(args.held_out, seed=5000)
    generate(args.work / "data", train_nights, args.hours, args.workers)
    held_paths = generate(args.work / "held_out", held, args.hours, args.workers)
    print(f"generated {len(train_nights) + len(held)} nights in {time.perf_counter() - t0:.0f} s", flush=True)
    training = train(args, args.work / "data", base, args.train, args.validation)
    from sleepfm_engine.checkpoints import load_config

    release = args.work / "release"
    classes = load_config(release / "model_events")["event_classes"]
    with_psg = not args.no_psgscoring and importlib.util.find_spec("psgscoring") is not None
    held_out = score(held_paths, release, args.device, classes, with_psg)
    out = {"device": describe_device(select_device(args.device)), "base": "random tiny base" if args.tiny_base else base,
           "hours": args.hours, "n_train": args.train, "n_validation": args.validation, "classes": classes,
           "training": training, "held_out": held_out}
    report(out)
    if args.json:
        from sleepfm_engine.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
