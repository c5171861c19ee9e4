"""Training benchmarks and evidence runs: throughput, scaling, learning on generated nights.

Sub-commands (each prints one JSON line per measurement and appends it to ``--results``):

``generate``        write N generated nights (EDF+ and hypnogram CSV) with a process pool
``prep``            preprocess a cohort into the training cache (process pool)
``pretrain-speed``  contrastive pretraining of the released-size base (16-17 channels, batch 128)
                    from the cache files on disk: samples/s of a steady epoch; with one process
                    also the rate with one batch held in GPU memory (the reference's 372/s figure)
``finetune-speed``  staging fine-tuning epoch time (frozen base embeddings, or ``--unfreeze``)
``device-a``        on one GPU: generate nights, train the demo base and staging head with the
                    ``sleepfm`` CLI, check held-out accuracy, measure one-GPU throughput
``device-b``        on two GPUs: one-GPU and ``torchrun`` two-GPU throughput and epoch time
``ship-demo``       store a trained release as the shipped demo model (fp16 weights)

The speed sub-commands run the same under ``python -m torch.distributed.run --nproc-per-node N``.
Baselines (reference pipeline, NOTES.md, one H200): 188 samples/s through its HDF5 loader,
372 samples/s with the batch already on the GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFERENCE = {"loader_samples_per_s": 188, "in_memory_samples_per_s": 372, "device": "H200"}
#: The demo's small base: a few MB in fp16.
DEMO_BASE = {"embed_dim": 64, "num_heads": 4, "num_layers": 2, "pooling_head": 4, "dropout": 0.1}
DEMO_HEAD = {"num_heads": 4, "pooling_head": 4, "dropout": 0.1}


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _emit(results: str | None, record: dict) -> None:
    if _rank() != 0:
        return
    import torch

    record = dict(record, torch=torch.__version__,
                  gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                  world_size=int(os.environ.get("WORLD_SIZE", "1")))
    print(json.dumps(record), flush=True)
    if results:
        with open(results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


# ------------------------------------------------------------------------------- generation
def _one_night(job: tuple[str, int, float]) -> str:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from sleepfm_engine.synthetic import make_night, write_night

    out, seed, hours = job
    path = Path(out) / f"syn{seed:05d}.edf"
    if not path.exists():
        write_night(make_night(hours=hours, seed=seed, montage="full"), path)
    return str(path)


def cmd_generate(a) -> None:
    import concurrent.futures as cf

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    jobs = [(str(out), a.first_seed + i, a.hours) for i in range(a.nights)]
    with cf.ProcessPoolExecutor(a.workers) as pool:
        list(pool.map(_one_night, jobs))
    _emit(a.results, {"what": "generate", "nights": a.nights, "hours": a.hours,
                      "seconds": round(time.monotonic() - t0, 1)})


def cmd_prep(a) -> None:
    from sleepfm_engine.training.cache import TrainingCache, prepare_records
    from sleepfm_engine.training.cohort import discover_cohort

    t0 = time.monotonic()
    cohort = discover_cohort(a.data, a.task)
    prepare_records(TrainingCache(a.cache), cohort.records, workers=a.workers)
    _emit(a.results, {"what": "prep", "recordings": len(cohort.records),
                      "hours": round(sum(r.duration_s for r in cohort.records) / 3600, 1),
                      "seconds": round(time.monotonic() - t0, 1)})


# ------------------------------------------------------------------------------------ speed
#: Pretraining compute variants timed with one batch in GPU memory: (name, autocast
#: precision, tokenizer in fp32, compiled tokenizer).
VARIANTS = (("fp32", "fp32", True, False), ("bf16 autocast", "bf16", False, False),
            ("bf16, fp32 tokenizer", "bf16", True, False), ("bf16, fp32 compiled tokenizer", "bf16", True, True))


def _in_memory_rate(batch, steps: int, precision: str, tokenizer_fp32: bool = True,
                    compile_tokenizer: bool = False, warmup: int = 3) -> float:
    """Samples/s of pretraining steps on one batch already in GPU memory (no loader)."""
    import torch

    from sleepfm_engine.checkpoints import build_model
    from sleepfm_engine.training.loop import autocast_for
    from sleepfm_engine.training.pretrain import ContrastiveModel, base_config

    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = ContrastiveModel(build_model(base_config()).train(), tokenizer_fp32=tokenizer_fp32,
                             compile_tokenizer=compile_tokenizer).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    batch = batch.to(dev)
    for i in range(steps + warmup):
        if i == warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        with autocast_for(dev, precision):
            loss = model(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return steps * batch.size / (time.perf_counter() - t0)


def _first_batch(data: str, cache: str, size: int):
    from sleepfm_engine.training.cache import TrainingCache, open_prepared
    from sleepfm_engine.training.cohort import discover_cohort
    from sleepfm_engine.training.data import ChunkDataset

    cohort = discover_cohort(data, "pretrain")
    ds = ChunkDataset(list(open_prepared(TrainingCache(cache), cohort.records).values()))
    return ds[list(range(size))]


def cmd_compute_variants(a) -> None:
    """In-memory pretraining rate of each compute variant (one GPU)."""
    import torch

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    batch = _first_batch(a.data, a.cache, a.batch)
    for name, precision, tok32, comp in VARIANTS:
        if comp and a.no_compile:
            continue
        t0 = time.monotonic()
        try:
            rate = round(_in_memory_rate(batch, a.steps, precision, tok32, comp), 1)
            err = None
        except Exception as exc:  # a variant that fails (e.g. no compiler) is reported, not fatal
            rate, err = None, f"{type(exc).__name__}: {str(exc)[:300]}"
        _emit(a.results, {"what": "in_memory_variant", "variant": name, "precision": precision,
                          "tokenizer_fp32": tok32, "compile": comp, "samples_per_s": rate, "error": err,
                          "batch": a.batch, "seconds": round(time.monotonic() - t0, 1)})


def cmd_pretrain_speed(a) -> None:
    import tempfile

    from sleepfm_engine.training.api import run_pretrain
    from sleepfm_engine.training.config import PretrainConfig

    out = Path(a.output or tempfile.mkdtemp(prefix="bench_pretrain_"))
    marks: list[tuple[float, int]] = []

    def on_event(ev):
        if ev.kind == "step":
            marks.append((time.monotonic(), ev.step))

    cfg = PretrainConfig(output=str(out), data=a.data, cache_dir=a.cache, epochs=a.epochs,
                         batch_size=a.batch, max_steps_per_epoch=a.steps, max_val_batches=1,
                         num_workers=a.workers, precision=a.precision, compile=a.compile,
                         tokenizer_precision=a.tokenizer_precision, log_every=1,
                         overwrite=True, plots=False, fractions=[0.9, 0.05, 0.05], patience=0)
    res = run_pretrain(cfg, callbacks=[on_event])
    if _rank() != 0:
        return
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # steady state: from the warm-up-th step to the last step of the first epoch
    first_epoch = [m for m in marks if m[1] <= res.history[0]["samples"] // (a.batch * world)] or marks
    k0 = max(0, min(a.warmup, len(first_epoch) - 2))
    if len(first_epoch) >= 2 and first_epoch[-1][0] > first_epoch[k0][0]:
        (t0, s0), (t1, s1) = first_epoch[k0], first_epoch[-1]
        rate = (s1 - s0) * a.batch * world / (t1 - t0)
    else:
        s0 = s1 = 0
        rate = res.history[-1]["samples_per_s"]
    rec = {"what": "pretrain_speed", "samples_per_s": round(rate, 1), "steps_timed": s1 - s0,
           "batch_per_gpu": a.batch, "precision": a.precision, "tokenizer_precision": a.tokenizer_precision,
           "compile": a.compile, "loader_workers_per_gpu": a.workers,
           "epoch_samples_per_s": [round(h["samples_per_s"], 1) for h in res.history],
           "epoch_times_s": [round(h["epoch_time_s"], 2) for h in res.history],
           "channels": _channels(a.data), "model": "released base (4.83M parameters)",
           "source": "cache files on disk through the DataLoader", "baseline": REFERENCE}
    _emit(a.results, rec)


def _channels(data: str) -> dict:
    from sleepfm_engine.training.cohort import discover_cohort

    r = discover_cohort(data, "pretrain").records[0]
    return {m: len(v) for m, v in r.modalities.items()}


def cmd_finetune_speed(a) -> None:
    import tempfile

    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    out = Path(a.output or tempfile.mkdtemp(prefix="bench_finetune_"))
    t0 = time.monotonic()
    cfg = FinetuneConfig(output=str(out), data=a.data, base=a.base, cache_dir=a.cache, epochs=a.epochs,
                         batch_size=a.batch, unfreeze_base=a.unfreeze, window_chunks=a.window,
                         num_workers=a.workers, overwrite=True, plots=False, patience=0,
                         fractions=[0.8, 0.1, 0.1], max_steps_per_epoch=a.steps)
    res = run_finetune(cfg)
    steady = res.history[1:] or res.history
    _emit(a.results, {"what": "finetune_speed", "mode": "end to end" if a.unfreeze else "frozen base",
                      "epoch_time_s": round(sum(h["epoch_time_s"] for h in steady) / len(steady), 3),
                      "samples_per_epoch": steady[0]["samples"], "batch_per_gpu": a.batch,
                      "epoch_times_s": [round(h["epoch_time_s"], 3) for h in res.history],
                      "total_s": round(time.monotonic() - t0, 1)})


# -------------------------------------------------------------------------------- device runs
def _sh(cmd: list[str], log, env=None) -> int:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    t0 = time.monotonic()
    rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.write(f"# exit {rc} after {time.monotonic() - t0:.1f} s\n")
    log.flush()
    return rc


def _cli(*args: str) -> list[str]:
    # `sleepfm ARGS` without an installed entry point
    return [sys.executable, "-c", "import sys; from sleepfm_engine.cli import main; sys.exit(main())", *args]


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def _torchrun(n: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
            str(Path(__file__).resolve()), *args]


def cmd_device_a(a) -> None:
    """One GPU: the demo models and the learning evidence (>= 40 nights), one-GPU throughput."""
    out, work = Path(a.out), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    res = str(out / "results.jsonl")
    cache = str(work / "cache")
    env = dict(os.environ, SLEEPFM_CACHE_DIR=cache)
    data = str(work / "nights")
    with open(out / "log.txt", "a", encoding="utf-8") as log:
        _sh(_self("generate", "--out", data, "--nights", str(a.nights), "--hours", str(a.hours),
                  "--workers", str(a.cpu), "--results", res), log, env)
        _sh(_self("prep", "--data", data, "--cache", cache, "--workers", str(a.cpu), "--results", res), log, env)
        demo = work / "demo"
        t0 = time.monotonic()
        _sh(_cli("pretrain", "--data", data, "-o", str(demo), "--base-params", json.dumps(DEMO_BASE),
                 "--optimizer", "adamw", "--lr", "1e-3", "--epochs", str(a.pre_epochs), "--batch-size", str(a.pre_batch),
                 "--workers", "8", "--patience", "0", "--name", "SleepFM Studio demo base (synthetic)",
                 "--prep-workers", str(a.cpu)), log, env)
        t1 = time.monotonic()
        _sh(_cli("finetune", "staging", "--data", data, "--base", str(demo), "-o", str(work / "staging"),
                 "--head-params", json.dumps(DEMO_HEAD), "--epochs", str(a.ft_epochs), "--batch-size", "4",
                 "--lr", "1e-3", "--patience", "20", "--lr-patience", "8",
                 "--name", "SleepFM Studio demo staging (synthetic)"), log, env)
        t2 = time.monotonic()
        metrics = json.loads((work / "staging" / "training" / "metrics.json").read_text())
        rec = {"what": "demo_staging", "pretrain_s": round(t1 - t0, 1), "finetune_s": round(t2 - t1, 1),
               "test": {k: metrics["test"].get(k) for k in ("accuracy", "kappa", "macro_f1", "n_nights")},
               "test_f1": metrics["test"].get("epoch", {}).get("f1"),
               "validation": {k: metrics["validation"].get(k) for k in ("accuracy", "kappa")},
               "best_epoch": metrics["best_epoch"]}
        _emit(res, rec)
        final = work / "staging"
        if (metrics["test"].get("accuracy") or 0) < 0.85:
            rc = _sh(_cli("finetune", "staging", "--data", data, "--base", str(demo), "-o", str(work / "e2e"),
                     "--unfreeze-base", "--head-init", str(final / "model_sleep_staging"),
                     "--epochs", str(a.e2e_epochs), "--batch-size", "4", "--window-chunks", "12", "--lr", "3e-4",
                     "--workers", "4", "--name", "SleepFM Studio demo staging (synthetic)"), log, env)
            m2_path = work / "e2e" / "training" / "metrics.json"
            if rc == 0 and m2_path.is_file():
                m2 = json.loads(m2_path.read_text())
                _emit(res, {"what": "demo_staging_end_to_end",
                            "test": {k: m2["test"].get(k) for k in ("accuracy", "kappa", "macro_f1", "n_nights")}})
                if (m2["test"].get("accuracy") or 0) > (metrics["test"].get("accuracy") or 0):
                    final = work / "e2e"
            else:
                _emit(res, {"what": "demo_staging_end_to_end", "error": f"exit {rc}, see log.txt"})
        with tarfile.open(out / "demo.tar", "w") as tar:
            for sub in ("model_base", "model_sleep_staging"):
                tar.add(final / sub, arcname=sub)
            for name in ("metrics.json", "split.json", "cohort.json", "history.json", "curves.png",
                         "confusion_test.png"):
                if (final / "training" / name).exists():
                    tar.add(final / "training" / name, arcname=f"training/{name}")
            if (demo / "training" / "metrics.json").exists():
                tar.add(demo / "training" / "metrics.json", arcname="training/pretrain_metrics.json")
        if a.speed:
            _sh(_self("compute-variants", "--data", data, "--cache", cache, "--results", res), log, env)
            _sh(_self("pretrain-speed", "--data", data, "--cache", cache, "--workers", "12",
                      *_best_flags(res), "--results", res), log, env)


def _best_flags(results: str) -> list[str]:
    """pretrain-speed flags of the fastest in-memory variant measured so far."""
    best = None
    for line in Path(results).read_text().splitlines():
        r = json.loads(line)
        if r.get("what") == "in_memory_variant" and r.get("samples_per_s"):
            if best is None or r["samples_per_s"] > best["samples_per_s"]:
                best = r
    if best is None:
        return ["--precision", "fp32"]
    flags = ["--precision", best["precision"], "--tokenizer-precision", "fp32" if best["tokenizer_fp32"] else "bf16"]
    return flags + (["--compile"] if best["compile"] else [])


def _ensure_base(folder: Path) -> str:
    """A released-size base model (random weights) for timing fine-tuning."""
    from sleepfm_engine.checkpoints import build_model, save_model
    from sleepfm_engine.training.pretrain import base_config

    if not (folder / "model_base" / "config.json").is_file():
        cfg = base_config()
        save_model(build_model(cfg), cfg, folder / "model_base")
    return str(folder)


def cmd_device_b(a) -> None:
    """Two GPUs: one-GPU and two-GPU (torchrun) throughput and fine-tuning epoch time."""
    out, work = Path(a.out), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    res = str(out / "results.jsonl")
    cache = str(work / "cache")
    env = dict(os.environ, SLEEPFM_CACHE_DIR=cache)
    data = str(work / "nights")
    phases = a.phases.split(",")
    with open(out / "log.txt", "a", encoding="utf-8") as log:
        _sh(_self("generate", "--out", data, "--nights", str(a.nights), "--hours", str(a.hours),
                  "--workers", str(a.cpu), "--results", res), log, env)
        _sh(_self("prep", "--data", data, "--cache", cache, "--workers", str(a.cpu), "--results", res), log, env)
        if "variants" in phases:
            _sh(_self("compute-variants", "--data", data, "--cache", cache, "--results", res), log, env)
        if "pretrain" in phases:
            common = ["--data", data, "--cache", cache, "--workers", "12", *_best_flags(res), "--results", res]
            _sh(_self("pretrain-speed", *common, "--output", str(work / "pre1")), log, env)
            _sh(_torchrun(2, "pretrain-speed", *common, "--output", str(work / "pre2")), log, env)
        if "finetune" in phases:
            base = _ensure_base(work / "base")
            ft = ["--data", data, "--cache", cache, "--base", base, "--results", res]
            for extra in ([], ["--unfreeze", "--batch", "2", "--workers", "4", "--epochs", "2"]):
                _sh(_self("finetune-speed", *ft, *extra, "--output", str(work / "ft1")), log, env)
                _sh(_torchrun(2, "finetune-speed", *ft, *extra, "--output", str(work / "ft2")), log, env)


DREAMS = ROOT.parent / "shared" / "data" / "dreams"
#: Peers on the same excerpts (EEG only, 5-s resolution, excerpts 1-8), from the data README.
DREAMS_PEERS = {"YASA": {"accuracy": 0.68, "kappa": 0.50}, "GSSC": {"accuracy": 0.75, "kappa": 0.57}}


def _dreams_cohort(src: Path, dst: Path) -> list[str]:
    """Each excerpt as a one-channel EDF (its central EEG) + its 5-s DREAMS hypnogram."""
    import numpy as np
    from edfio import Edf, EdfSignal

    from sleepfm_engine import open_recording

    dst.mkdir(parents=True, exist_ok=True)
    ids = []
    for n in (1, 2, 3, 4):
        hyp = src / f"Hypnogram_excerpt{n}.txt"
        n_values = sum(1 for line in hyp.read_text().splitlines()[1:] if line.strip())
        seconds = n_values * 5
        if (src / f"excerpt{n}.txt").is_file():
            lines = (src / f"excerpt{n}.txt").read_text().split()
            label = lines[0].strip("[]")
            x = np.array(lines[1:], dtype=np.float64)
            rate = len(x) / seconds  # the text export has no rate: samples / scored duration
        else:
            with open_recording(src / f"excerpt{n}.edf") as rec:
                label = "C3-A1"
                ch = rec.channel(label)
                x, rate = rec.read_channel(label) * 1e6, ch.rate  # volts -> uV
        rate = float(round(rate))
        x = x[: int(rate * seconds)]
        lo, hi = float(x.min()) - 1, float(x.max()) + 1
        Edf([EdfSignal(x, sampling_frequency=rate, label=label, physical_dimension="uV",
                       physical_range=(lo, hi))]).write(dst / f"excerpt{n}.edf")
        shutil.copy2(hyp, dst / f"excerpt{n}.hypnogram.txt")
        ids.append(f"excerpt{n}")
    return ids


def _pooled(confusions: list) -> dict:
    import numpy as np

    cm = np.sum([np.asarray(c, dtype=np.float64) for c in confusions], axis=0)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float((cm.sum(0) * cm.sum(1)).sum()) / (n * n)
    return {"accuracy": round(float(po), 4), "kappa": round(float((po - pe) / (1 - pe)), 4), "n": int(n)}


def cmd_dreams(a) -> None:
    """Leave-one-excerpt-out fine-tuning on the DREAMS excerpts (EEG only), from the demo model."""
    import tempfile

    from sleepfm_engine.training.api import run_evaluate, run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    src = Path(a.dreams)
    if not src.is_dir():
        raise SystemExit(f"{src}: DREAMS excerpts not found")
    work = Path(a.work or tempfile.mkdtemp(prefix="dreams_"))
    data = work / "cohort"
    ids = _dreams_cohort(src, data)
    demo = Path(a.model)
    cache = str(work / "cache")
    modes = {"zero-shot (demo head, no fine-tuning)": None,
             "fine-tuned head (frozen demo base)": dict(epochs=a.epochs, lr=1e-3),
             "fine-tuned end to end (base + head)": dict(epochs=a.e2e_epochs, lr=3e-4, unfreeze_base=True,
                                                         window_chunks=2, batch_size=2)}
    for k_mode, (mode, extra) in enumerate(modes.items()):
        tok, ep, folds = [], [], {}
        t0 = time.monotonic()
        for held in ids:
            if extra is None:
                split = work / f"split_{held}.json"
                split.write_text(json.dumps({"train": [], "validation": [], "test": [held]}))
                m = run_evaluate(data, demo, split=split, part="test", device=a.device, cache_dir=cache)
            else:
                split = work / f"split_{held}.json"
                split.write_text(json.dumps({"train": [i for i in ids if i != held], "validation": [],
                                             "test": [held]}))
                cfg = dict(output=str(work / f"mode{k_mode}_{held}"), data=str(data),
                           base=str(demo), head_init=str(demo / "model_sleep_staging"), split=str(split),
                           cache_dir=cache, device=a.device, overwrite=True, plots=False, batch_size=1,
                           patience=0, seed=a.seed)
                cfg.update(extra)
                m = run_finetune(FinetuneConfig(**cfg)).test
            tok.append(m["token"]["confusion_matrix"])
            ep.append(m["epoch"]["confusion_matrix"])
            folds[held] = {"accuracy_5s": m["token"]["accuracy"], "kappa_5s": m["token"]["kappa"]}
        _emit(a.results, {"what": "dreams_leave_one_excerpt_out", "mode": mode, "pooled_5s": _pooled(tok),
                          "pooled_30s": _pooled(ep), "folds": folds, "peers_5s": DREAMS_PEERS,
                          "excerpts": ids, "seconds": round(time.monotonic() - t0, 1),
                          "model": str(demo), "note": "EEG only; excerpts 1-4 (the peers used 1-8)"})


def cmd_ship_demo(a) -> None:
    """Copy a trained release into resources/models/demo with fp16 weights."""
    from sleepfm_engine.checkpoints import load_config, load_metadata, load_model, save_model

    src, dst = Path(a.release), Path(a.to)
    tmp = dst.parent / f".{dst.name}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("model_base", "model_sleep_staging"):
        model = load_model(src / sub).half()
        meta = load_metadata(src / sub) or {}
        meta["weights_dtype"] = "float16"
        meta["notice"] = ("Trained on synthetic (generated) nights only, for demonstration. "
                          "Not a medical device; do not use its output for diagnosis.")
        meta.pop("provenance", None) if a.strip_paths else None
        save_model(model, load_config(src / sub), tmp / sub, meta)
    work = src / "training"
    if (work / "metrics.json").exists():
        (tmp / "training").mkdir(exist_ok=True)
        m = json.loads((work / "metrics.json").read_text())
        keep = ("accuracy", "kappa", "macro_f1", "n_nights")
        summary = {"status": m["status"], "best_epoch": m["best_epoch"],
                   "validation": {k: m["validation"].get(k) for k in keep},
                   "test": {k: m["test"].get(k) for k in keep},
                   "test_f1": m["test"].get("epoch", {}).get("f1"),
                   "test_confusion_matrix": m["test"].get("epoch", {}).get("confusion_matrix"),
                   "epochs_run": len(m["history"])}
        (tmp / "training" / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        for name in ("split.json", "curves.png", "confusion_test.png"):
            if (work / name).exists():
                shutil.copy2(work / name, tmp / "training" / name)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    print(f"demo model in {dst}: " + ", ".join(f"{p.relative_to(dst)} {p.stat().st_size / 1e6:.2f} MB"
                                                for p in sorted(dst.rglob("best.pt*"))))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--out", required=True)
    g.add_argument("--nights", type=int, default=48)
    g.add_argument("--hours", type=float, default=8.0)
    g.add_argument("--first-seed", type=int, default=1000)
    g.add_argument("--workers", type=int, default=os.cpu_count())
    g.add_argument("--results")
    g.set_defaults(func=cmd_generate)
    g = sub.add_parser("prep")
    g.add_argument("--data", required=True)
    g.add_argument("--cache", required=True)
    g.add_argument("--task", default="pretrain")
    g.add_argument("--workers", type=int, default=os.cpu_count())
    g.add_argument("--results")
    g.set_defaults(func=cmd_prep)
    g = sub.add_parser("compute-variants")
    g.add_argument("--data", required=True)
    g.add_argument("--cache", required=True)
    g.add_argument("--batch", type=int, default=128)
    g.add_argument("--steps", type=int, default=10)
    g.add_argument("--no-compile", action="store_true")
    g.add_argument("--results")
    g.set_defaults(func=cmd_compute_variants)
    g = sub.add_parser("pretrain-speed")
    g.add_argument("--data", required=True)
    g.add_argument("--cache", required=True)
    g.add_argument("--output")
    g.add_argument("--steps", type=int)
    g.add_argument("--epochs", type=int, default=1)
    g.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    g.add_argument("--batch", type=int, default=128)
    g.add_argument("--workers", type=int, default=12)
    g.add_argument("--precision", default="auto")
    g.add_argument("--tokenizer-precision", default="fp32")
    g.add_argument("--compile", action="store_true")
    g.add_argument("--results")
    g.set_defaults(func=cmd_pretrain_speed)
    g = sub.add_parser("finetune-speed")
    g.add_argument("--data", required=True)
    g.add_argument("--cache", required=True)
    g.add_argument("--base", required=True)
    g.add_argument("--output")
    g.add_argument("--epochs", type=int, default=3)
    g.add_argument("--batch", type=int, default=4)
    g.add_argument("--steps", type=int)
    g.add_argument("--unfreeze", action="store_true")
    g.add_argument("--window", type=int, default=12)
    g.add_argument("--workers", type=int, default=0)
    g.add_argument("--results")
    g.set_defaults(func=cmd_finetune_speed)
    for name, fn in (("device-a", cmd_device_a), ("device-b", cmd_device_b)):
        g = sub.add_parser(name)
        g.add_argument("--out", required=True)
        g.add_argument("--work", required=True)
        g.add_argument("--nights", type=int, default=45)
        g.add_argument("--hours", type=float, default=8.0)
        g.add_argument("--cpu", type=int, default=max(1, (os.cpu_count() or 2) - 1))
        g.add_argument("--steps", type=int, default=30)
        g.add_argument("--speed", action="store_true")
        g.add_argument("--phases", default="variants,pretrain,finetune")
        g.add_argument("--pre-epochs", type=int, default=20)
        g.add_argument("--pre-batch", type=int, default=128)
        g.add_argument("--ft-epochs", type=int, default=80)
        g.add_argument("--e2e-epochs", type=int, default=8)
        g.set_defaults(func=fn)
    g = sub.add_parser("dreams")
    g.add_argument("--dreams", default=str(DREAMS))
    g.add_argument("--model", default=str(ROOT / "resources" / "models" / "demo"))
    g.add_argument("--work")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--e2e-epochs", type=int, default=10)
    g.add_argument("--device", default="auto")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--results")
    g.set_defaults(func=cmd_dreams)
    g = sub.add_parser("ship-demo")
    g.add_argument("--release", required=True)
    g.add_argument("--to", default=str(ROOT / "resources" / "models" / "demo"))
    g.add_argument("--strip-paths", action="store_true")
    g.set_defaults(func=cmd_ship_demo)
    a = p.parse_args(argv)
    a.func(a)


if __name__ == "__main__":
    main()
