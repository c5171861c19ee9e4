"""The SleepFM event head beside psgscoring on generated nights with ground truth.

Generates nights from normal to severe (``sleepfm synth --ahi A --plmi P``; each writes its
``<name>.events.json`` ground truth and hypnogram), fine-tunes an event head on the training
and validation nights (``sleepfm finetune events``: frozen base, post-processing tuned on the
validation nights), then scores the held-out nights with the head (detector ``sleepfm-head``)
and with psgscoring, both given the true hypnogram, and prints per class:

- event-level precision, recall and F1 against the truth (>= 50 % overlap of the shorter
  event, one-to-one; :mod:`sleepfm_engine.training.event_metrics`, the code the head's own
  evaluation uses), pooled over the nights;
- AHI, arousal index and PLMS index against the truth: ICC(A,1), mean absolute error and bias,
  each derived from the method's events on the true hypnogram (:mod:`sleepfm_engine.indices`),
  and AHI severity class agreement;
- seconds per night of each method: wall clock and the CPU time of its process (the head's
  include loading the release and embedding the night with the base model), the head's
  training time per epoch, the device and the CPU load.

psgscoring runs through the engine's adapter (detector ``psgscoring``, its default profile) in
a process pool, ``--psgscoring-workers`` nights at once, each worker single-threaded; arm
``psgscoring`` hides its optional ML parts (as the ``events`` extra installs it), arm
``psgscoring-ml`` uses those the machine has. The head runs afterwards, alone.

Issue 13's targets: the head matches or beats psgscoring on arousals and hypopneas, index ICC
>= 0.9, at >= 50x psgscoring's speed per night on one GPU (psgscoring's CPU time per night
over the head's wall time per night).

Usage (the evidence run of docs/benchmarks.md: 40 training + 8 validation + 8 held-out nights
of 2 h, and 4 nights of 8 h for the speed on full nights)::

    .venv/bin/python benchmarks/bench_event_heads.py --base RELEASE_OR_BASE --work DIR
        --hours 2 --workers 16 --psgscoring psgscoring psgscoring-ml --psgscoring-workers 8
        --speed-nights 4 --speed-hours 8 --device cuda --json out.json

A proof that the script runs (CPU, minutes; a random tiny base, so the head's figures mean
nothing)::

    .venv/bin/python benchmarks/bench_event_heads.py --tiny-base --work /tmp/bench-ev \\
        --train 4 --validation 2 --held-out 2 --hours 0.5 --epochs 2 --psgscoring-workers 2

psgscoring needs the ``events`` extra; without it only the head is measured.

``--head-only`` scores only the head, on the nights and the release an earlier run left in
``--work``: run it with another version of the engine first on ``PYTHONPATH`` and the two
JSON files are the before and after of a change, same nights, same head, same machine. The
head's rows also carry its PLMS index by the series rule before 2026-12-04 (every predicted
limb movement in a series, none left out next to a respiratory event or for its length),
:func:`previous_rule_plmsi`, beside the rule of :func:`~sleepfm_engine.inference.event_head.mark_periodic`.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from sleepfm_engine.contract import TOKEN_SECONDS
from sleepfm_engine.events import EventSet, EventType
from sleepfm_engine.hypnogram import SLEEP_CODES, Hypnogram
from sleepfm_engine.indices import compute_indices
from sleepfm_engine.event_classes import class_of
from sleepfm_engine.training.event_metrics import (event_counts, icc_a1, prf, reference_intervals,
                                                   severity_agreement)

#: Indices compared with the truth.
INDICES = ("AHI", "ArI", "PLMSI")
#: Each method -> its detector.
DETECTORS = {"head": "sleepfm-head", "psgscoring": "psgscoring", "psgscoring-ml": "psgscoring"}
#: psgscoring arms -> the modules hidden from it: ``psgscoring`` runs as the ``events`` extra
#: installs it (rules only: no LightGBM filter, no U-Net arousal detector); ``psgscoring-ml``
#: with whatever of its optional ML parts (``events-ml``) the machine has.
PSG_ARMS = {"psgscoring": ("lightgbm", "onnxruntime"), "psgscoring-ml": ()}
#: Thread-count variables set to 1 in the psgscoring workers (one night, one core).
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
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


def generate(groups: list[tuple[Path, list[tuple[int, float, float]], float]], workers: int = 1) -> list[list[Path]]:
    """Write each group's nights (folder, (seed, AHI, PLMI) per night, hours) in one process
    pool when ``workers`` > 1, the longest first; each group's paths in order."""
    jobs = []
    for folder, nights, hours in groups:
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append([(folder / f"night{seed}.edf", seed, ahi, plmi, hours) for seed, ahi, plmi in nights])
    flat = sorted((j for g in jobs for j in g), key=lambda j: -j[4])
    if workers <= 1:
        for j in flat:
            _one_night(j)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_one_night, flat))
    return [[j[0] for j in g] for g in jobs]


def train(args, data: Path, base: str, n_train: int, n_val: int) -> dict:
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    total = n_train + n_val
    cfg = FinetuneConfig(task="events", data=str(data), base=base, output=str(args.work / "release"),
                         epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, device=args.device,
                         fractions=[n_train / total, n_val / total, 0.0], cache_dir=str(args.work / "cache"),
                         head=dict(TINY_HEAD) if args.tiny_base else None, overwrite=True, patience=args.epochs,
                         plots=False, log_every=50, prep_workers=max(1, args.workers))
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


def previous_rule_plmsi(events: EventSet, hyp: Hypnogram) -> float | None:
    """The PLMS index of ``events`` with their limb movements made periodic by the series rule
    the head used before 2026-12-04: every limb movement in a run of >= 4 with onsets 5-90 s
    apart, whatever its length and however near a respiratory event (the comparison for the
    AASM rule the head uses now)."""
    lm_types = (EventType.limb_movement, EventType.periodic_limb_movement)
    lms = sorted((e for e in events if e.type in lm_types), key=lambda e: e.onset)
    periodic: set[str] = set()
    series: list = []
    for e in lms + [None]:
        if e is not None and series and 5.0 <= e.onset - series[-1].onset <= 90.0:
            series.append(e)
            continue
        if len(series) >= 4:
            periodic.update(x.id for x in series)
        series = [] if e is None else [e]
    retyped = [e.replace(type=EventType.periodic_limb_movement) if e.id in periodic
               else e.replace(type=EventType.limb_movement) if e.type in lm_types else e for e in events]
    return compute_indices(EventSet(retyped, start=events.start), hyp)["PLMSI"]


def score_night(path: Path, method: str, classes: list[str], settings: dict) -> dict:
    """One night scored by one method (``head`` or a psgscoring arm) against its truth.

    Returns
    -------
    dict
        ``night``, ``seconds`` (wall clock of the detector call), ``cpu_seconds`` (this
        process's CPU time in it, all its threads), ``indices`` (``truth`` and ``method``),
        ``counts`` per class (matched, predicted, scored) and the detector's ``fallbacks``;
        the head's also ``plmsi_previous_rule`` (:func:`previous_rule_plmsi`).
    """
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.formats import read_events, read_hypnogram
    from sleepfm_engine.recording import open_recording

    det = get_detector(DETECTORS[method])
    truth = read_events(path.with_name(path.stem + ".events.json"))
    hyp = read_hypnogram(path.with_name(path.stem + ".hypnogram.csv"))
    with open_recording(path) as rec:
        aligned = hyp.align_to(rec)
        n_tokens = int(rec.duration // TOKEN_SECONDS)
        stages = aligned.regrid(float(TOKEN_SECONDS), 0.0, n_tokens).stages
        sleep = np.isin(stages, SLEEP_CODES)
        tok_hyp = Hypnogram(stages, float(TOKEN_SECONDS))
        t0, c0 = time.perf_counter(), time.process_time()
        res = det.detect(rec, hyp, **settings)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    found = _by_class(res.events, classes, sleep)
    counts = {c: list(event_counts(found[c], reference_intervals(truth, c, sleep))) for c in classes}
    row = {"night": path.stem, "seconds": seconds, "cpu_seconds": cpu,
           "indices": {"truth": _indices(truth, tok_hyp), method: _indices(res.events, tok_hyp)},
           "counts": counts, "fallbacks": list(res.fallbacks)}
    if method == "head":
        row["plmsi_previous_rule"] = previous_rule_plmsi(res.events, tok_hyp)
    return row


def _psgscoring_job(job: tuple[Path, str, list[str]]) -> dict:
    path, arm, classes = job
    return score_night(path, arm, classes, {})


def _hide_modules(names: tuple[str, ...]) -> None:
    """Pool initializer: make ``names`` unimportable in this worker (None in ``sys.modules``
    is Python's documented import block), as on an install without them."""
    for name in names:
        sys.modules[name] = None


def score_psgscoring(paths: list[Path], arms: list[str], classes: list[str], workers: int) -> dict[str, list[dict]]:
    """psgscoring's ``arms`` (of :data:`PSG_ARMS`) on each night, ``workers`` nights at once per
    arm; the arms side by side when all their processes fit the CPU's cores, else in turn.

    Each worker is a fresh (spawned) process with one BLAS/OpenMP thread, so a night's CPU
    time is its own.
    """
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    n = max(1, min(workers, len(paths)))
    together = n * len(arms) <= (os.cpu_count() or 1)
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    rows: dict[str, list[dict]] = {}
    try:
        for group in ([arms] if together else [[a] for a in arms]):
            # spawn: the parent has a CUDA context (training), which a forked child must not inherit
            pools = {a: ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_hide_modules, initargs=(PSG_ARMS[a],)) for a in group}
            try:
                futures = {a: [pool.submit(_psgscoring_job, (p, a, classes)) for p in paths]
                           for a, pool in pools.items()}
                for a, fs in futures.items():
                    rows[a] = [f.result() for f in fs]
                    for row in rows[a]:
                        _print_row(row, a)
            finally:
                for pool in pools.values():
                    pool.shutdown()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rows


def score_head(paths: list[Path], release: Path, device: str, classes: list[str]) -> list[dict]:
    """The head on each night in turn (one process, the GPU when ``device`` picks one)."""
    rows = []
    for path in paths:
        row = score_night(path, "head", classes, {"model": release, "device": device})
        _print_row(row, "head")
        rows.append(row)
    return rows


def _print_row(row: dict, method: str) -> None:
    v = row["indices"][method]
    t = row["indices"]["truth"]
    print(f"{row['night']} {method}: AHI {_fmt(v['AHI'])} (truth {_fmt(t['AHI'])}) ArI {_fmt(v['ArI'])} "
          f"({_fmt(t['ArI'])}) PLMSI {_fmt(v['PLMSI'])} ({_fmt(t['PLMSI'])}); {row['seconds']:.1f} s, "
          f"CPU {row['cpu_seconds']:.1f} s", flush=True)


def _indices(events: EventSet, hyp: Hypnogram) -> dict:
    table = compute_indices(events, hyp)
    return {k: table[k] for k in INDICES}


def _fmt(v, spec: str = "5.1f") -> str:
    return "    -" if v is None else format(v, spec)


def summarize(rows: list[dict], method: str, classes: list[str]) -> dict:
    """A method's agreement with the truth over its nights: event P/R/F1 per class (pooled
    counts), per index ICC(A,1), mean absolute error and bias (mean of method - truth, /h),
    AHI severity agreement, and median seconds / CPU seconds per night."""
    totals = {c: [0, 0, 0] for c in classes}
    for r in rows:
        for c in classes:
            totals[c] = [a + b for a, b in zip(totals[c], r["counts"][c])]
    indices = {}
    for key in INDICES:
        pairs = [(r["indices"][method][key], r["indices"]["truth"][key]) for r in rows
                 if r["indices"][method][key] is not None and r["indices"]["truth"][key] is not None]
        if not pairs:
            indices[key] = {"icc": None, "mae": None, "bias": None, "n_nights": 0}
            continue
        p, t = np.array(pairs, dtype=float).T
        indices[key] = {"icc": icc_a1(p, t), "mae": float(np.mean(np.abs(p - t))),
                        "bias": float(np.mean(p - t)), "n_nights": len(pairs)}
    sev = severity_agreement([r["indices"][method]["AHI"] for r in rows],
                             [r["indices"]["truth"]["AHI"] for r in rows])
    fallbacks = sorted({f for r in rows for f in r["fallbacks"]})
    out = {"events": {c: prf(*totals[c]) for c in classes}, "indices": indices, "severity": sev,
           "seconds_per_night": float(np.median([r["seconds"] for r in rows])),
           "cpu_seconds_per_night": float(np.median([r["cpu_seconds"] for r in rows])),
           "fallbacks": fallbacks}
    previous = [(r["plmsi_previous_rule"], r["indices"]["truth"]["PLMSI"]) for r in rows
                if r.get("plmsi_previous_rule") is not None and r["indices"]["truth"]["PLMSI"] is not None]
    if previous:
        p, t = np.array(previous, dtype=float).T
        out["plmsi_previous_rule"] = {"icc": icc_a1(p, t), "mae": float(np.mean(np.abs(p - t))),
                                      "bias": float(np.mean(p - t)), "n_nights": len(previous)}
    return out


def report(out: dict, part: str, hours: float) -> None:
    held = out[part]
    methods = list(held["summary"])
    print(f"\n== {part}: device {out['device']}; {out['n_train']} training + {out['n_validation']} validation "
          f"nights of {out['hours']:g} h, {held['n_nights']} nights of {hours:g} h scored; base {out['base']}; "
          f"{out['cpu']['cores']} CPU cores; engine {out['engine']}")
    if part == "held_out" and out["training"] is not None:
        ep = out["training"]["epoch_seconds"]
        print(f"training: {out['training']['seconds']:.0f} s in all (preprocessing and embedding included); "
              f"{np.median(ep):.2f} s per epoch (median of {len(ep)}), best epoch {out['training']['best_epoch']}")
    print("\nevent-level agreement with the truth (>= 50 % overlap of the shorter event): P/R/F1")
    print(f"{'class':<14} " + " ".join(f"{m:>22}" for m in methods))
    for c in out["classes"]:
        cells = []
        for m in methods:
            v = held["summary"][m]["events"][c]
            cells.append(f"{_fmt(v['precision'], '.2f')}/{_fmt(v['recall'], '.2f')}/{_fmt(v['f1'], '.2f')}")
        print(f"{c:<14} " + " ".join(f"{x:>22}" for x in cells))
    print("\nindex agreement with the truth: ICC(A,1), mean absolute error, bias (/h)")
    for key in INDICES:
        parts = []
        for m in methods:
            v = held["summary"][m]["indices"][key]
            parts.append(f"{m} ICC {_fmt(v['icc'], '.3f')} MAE {_fmt(v['mae'], '.1f')} bias {_fmt(v['bias'], '+.1f')}")
        print(f"  {key:<6} " + "; ".join(parts))
    old = held["summary"]["head"].get("plmsi_previous_rule")
    if old:
        print(f"  PLMSI  head with the series rule before 2026-12-04: ICC {_fmt(old['icc'], '.3f')} "
              f"MAE {_fmt(old['mae'], '.1f')} bias {_fmt(old['bias'], '+.1f')}")
    for m in methods:
        sev = held["summary"][m]["severity"]
        print(f"  AHI severity class agreement, {m}: {_fmt(sev['agreement'], '.2f')} ({sev['n_nights']} nights)")
    print("\nseconds per night (median): wall clock, CPU time of the process")
    for m in methods:
        s = held["summary"][m]
        print(f"  {m:<14} {s['seconds_per_night']:8.2f} s  CPU {s['cpu_seconds_per_night']:8.2f} s")
    for m, ratio in held["speedup"].items():
        print(f"  {m}'s CPU time per night / the head's wall time per night: {ratio:.0f}x")
    for m in methods:
        for f in held["summary"][m]["fallbacks"]:
            print(f"  {m} fallback: {f}")


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def score_set(name: str, paths: list[Path], arms: list[str], release: Path, args, classes: list[str],
              load: dict[str, list[float]]) -> dict:
    """Every method on the nights ``paths``: psgscoring's arms first (process pools), then the
    head alone on the machine (its timings undisturbed); the load averages before each."""
    load[f"{name}: before psgscoring"] = _load()
    t0 = time.perf_counter()
    rows = score_psgscoring(paths, arms, classes, args.psgscoring_workers) if arms else {}
    if arms:
        n = max(1, min(args.psgscoring_workers, len(paths)))
        print(f"{name}, {' and '.join(arms)}: {len(paths)} nights in {time.perf_counter() - t0:.0f} s, "
              f"{n} at once per arm", flush=True)
    load[f"{name}: before head"] = _load()
    rows["head"] = score_head(paths, release, args.device, classes)
    load[f"{name}: after head"] = _load()
    methods = ["head", *arms]
    summary = {m: summarize(rows[m], m, classes) for m in methods}
    head_s = summary["head"]["seconds_per_night"]
    return {"n_nights": len(paths), "nights": [p.stem for p in paths], "summary": summary,
            "speedup": {m: summary[m]["cpu_seconds_per_night"] / head_s for m in arms if head_s > 0},
            "per_night": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the nights, cache and release")
    ap.add_argument("--head-only", action="store_true",
                    help="score only the head, on the nights and release an earlier run left in --work")
    src = ap.add_mutually_exclusive_group()
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
    ap.add_argument("--psgscoring", nargs="+", choices=tuple(PSG_ARMS), default=["psgscoring"],
                    help="psgscoring arms: psgscoring (rules, the events extra), psgscoring-ml (its "
                         "ML parts where installed)")
    ap.add_argument("--psgscoring-workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                    help="held-out nights psgscoring scores at once (processes)")
    ap.add_argument("--speed-nights", type=int, default=0,
                    help="also score this many nights of --speed-hours (speed on full nights)")
    ap.add_argument("--speed-hours", type=float, default=8.0)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    if not args.head_only and args.base is None and not args.tiny_base:
        ap.error("one of --base or --tiny-base is required (or --head-only)")
    import sleepfm_engine
    from sleepfm_engine.devices import describe_device, select_device

    args.work.mkdir(parents=True, exist_ok=True)
    base = args.base
    if args.tiny_base and not args.head_only:
        from sleepfm_engine.checkpoints import build_model, save_model
        from sleepfm_engine.training.pretrain import base_config

        cfg = base_config(TINY_BASE)
        base = str(save_model(build_model(cfg), cfg, args.work / "tiny_base"))
    t0 = time.perf_counter()
    train_nights = severities(args.train + args.validation, seed=1000)
    held = severities(args.held_out, seed=5000)
    speed = severities(args.speed_nights, seed=6000) if args.speed_nights else []
    groups = [(args.work / "data", train_nights, args.hours), (args.work / "held_out", held, args.hours),
              (args.work / "full_nights", speed, args.speed_hours)]
    if args.head_only:
        _, held_paths, speed_paths = [[folder / f"night{seed}.edf" for seed, _, _ in nights]
                                      for folder, nights, _ in groups]
        missing = [str(p) for p in held_paths + speed_paths if not p.is_file()]
        if missing or not (args.work / "release" / "model_events").is_dir():
            ap.error(f"--head-only needs the nights and release of an earlier run in {args.work} "
                     f"(missing: {', '.join(missing) or 'release/model_events'})")
        training = None
    else:
        _, held_paths, speed_paths = generate(groups, args.workers)
        print(f"generated {len(train_nights) + len(held) + len(speed_paths)} nights in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        training = train(args, args.work / "data", base, args.train, args.validation)
    from sleepfm_engine.checkpoints import load_config

    release = args.work / "release"
    classes = load_config(release / "model_events")["event_classes"]
    arms = ([] if args.head_only or args.no_psgscoring or importlib.util.find_spec("psgscoring") is None
            else args.psgscoring)
    load: dict[str, list[float]] = {}
    held_out = score_set("held_out", held_paths, arms, release, args, classes, load)
    full = None
    if speed_paths:
        full = score_set("full_nights", speed_paths, arms, release, args, classes, load)
    psg_version = importlib.metadata.version("psgscoring") if arms else None
    out = {"device": describe_device(select_device(args.device)), "engine": str(Path(sleepfm_engine.__file__).parent),
           "base": "random tiny base" if args.tiny_base else base,
           "hours": args.hours, "n_train": args.train, "n_validation": args.validation, "classes": classes,
           "psgscoring": {"version": psg_version, "arms": {a: {"hidden_modules": list(PSG_ARMS[a])} for a in arms},
                          "workers": args.psgscoring_workers, "profile": "the adapter's default"},
           "cpu": {"cores": os.cpu_count(), "load_average_1_5_15": load},
           "training": training, "held_out": held_out}
    if full is not None:
        out["full_nights"] = dict(full, hours=args.speed_hours)
    report(out, "held_out", out["hours"])
    if full is not None:
        report(out, "full_nights", args.speed_hours)
    if args.json:
        from sleepfm_engine.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
