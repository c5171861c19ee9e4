"""Whole-night SleepFM inference, end to end, beside a reference-style baseline in the same run.

One 8-h, 16-channel, 256-Hz EDF → embeddings (HDF5) + 30-s hypnogram (CSV): decode, preprocess,
base model, staging head, write. The models are the official sizes (built from
``tests/data/golden_official/*.config.json``) with random weights, saved as a release folder and
loaded as a user would. Each measurement runs in a fresh process so its peak memory is its own.

Measured:

- ``ours``: this engine, one night at a time (model loading and a warm-up night excluded), with
  a breakdown of where the time goes, GPU memory, peak host memory and the memory one night adds;
- ``baseline``: the reference pipeline restated — MNE ``read_raw_edf(preload=True)``, per-channel
  ``filtfilt`` + ``np.interp`` + z-score written as float16 gzip HDF5 (the reference's
  preprocessing), then a DataLoader over that file (5-min chunks, ``batch 128``, workers, one
  forward per modality, trailing partial chunk dropped) writing 5-s and 5-min embedding files,
  then the staging head over the night;
- ``bf16``: deviation of bf16 autocast from fp32 (CUDA only) and its time;
- ``gpu_vs_cpu``: the accelerator's fp32 embeddings against the CPU's on a 30-min piece;
- ``cohort``: nights per hour through ``sleepfm stage``'s engine (``run_files``) with parallel
  decoding (the same file under many names, so it is read from the page cache).

Run: ``python benchmarks/bench_inference.py [--device auto] [--json out.json]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))      # benchmarks are scripts, not a package
sys.path.insert(0, str(ROOT))

CONFIGS = ROOT / "tests" / "data" / "golden_official"


# ----------------------------------------------------------------------------------- helpers
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_release(folder: Path, seed: int = 0) -> Path:
    """A release of the official model sizes with random weights, saved as the release is."""
    import torch

    from sleepfm_engine.checkpoints import build_model, save_model

    torch.manual_seed(seed)
    for name in ("model_base", "model_sleep_staging", "model_diagnosis"):
        config = json.loads((CONFIGS / f"{name}.config.json").read_text())
        save_model(build_model(config), config, folder / name, metadata={"model_id": f"random/{name}"})
    return folder


def _workspace(args) -> tuple[Path, Path]:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    edf = Path(args.edf) if args.edf else work / f"night_{args.hours:g}h.edf"
    if not edf.exists():
        from _edf_gen import write_benchmark_edf

        write_benchmark_edf(edf, hours=args.hours)
    release = work / "release"
    if not (release / "model_base").exists():
        build_release(release)
    return edf, release


# ------------------------------------------------------------------------------ child: ours
def child_ours(args) -> dict:
    import torch

    from sleepfm_engine.channels import ChannelMap
    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.devices import describe_device, select_device
    from sleepfm_engine.formats import write_hypnogram
    from sleepfm_engine.formats.discover import AUTOMATIC_HYPNOGRAM_SUFFIX
    from sleepfm_engine.inference.embeddings_io import write_embeddings_hdf5
    from sleepfm_engine.inference import embed_inputs, prepare_modalities, stage_recording
    from sleepfm_engine.inference.staging import token_probabilities
    from sleepfm_engine.recording import open_recording

    out: dict = {"rss_start_mb": _rss_mb()}
    dev = select_device(args.device)
    workers = args.threads or os.cpu_count()
    t = time.perf_counter()
    release = load_release(args.release, device=dev)
    _sync(dev)
    out["load_models_s"] = time.perf_counter() - t
    out["device"] = describe_device(dev)
    batch = args.batch_size or (512 if dev.type == "cuda" else 32)
    out["batch_size"] = batch
    outdir = Path(tempfile.mkdtemp(dir=args.work))

    def night(path, precision="fp32", profile=None):
        times = {}
        c0 = _cpu_s()
        t0 = time.perf_counter()
        rec = open_recording(path)
        inputs = prepare_modalities(rec, ChannelMap.from_recording(rec), workers=workers)
        times["decode_preprocess"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        emb = embed_inputs(inputs, release, device=dev, batch_size=batch, precision=precision,
                           start=rec.start, duration_s=rec.duration, source=str(rec.path), profile=profile)
        _sync(dev)
        times["embed"] = time.perf_counter() - t1
        del inputs
        t2 = time.perf_counter()
        hyp = stage_recording(emb, release, device=dev, precision=precision)
        _sync(dev)
        times["stage"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        write_embeddings_hdf5(emb, outdir / f"{Path(path).stem}.hdf5")
        write_hypnogram(hyp, outdir / f"{Path(path).stem}{AUTOMATIC_HYPNOGRAM_SUFFIX}", fmt="csv")
        times["write"] = time.perf_counter() - t3
        times["total"] = time.perf_counter() - t0
        times["cpu_s"] = _cpu_s() - c0
        rec.close()
        return times, emb, hyp

    # warm-up on a short night: CUDA context, kernels and allocator, threads
    warm = Path(args.work) / "warmup_20min.edf"
    if not warm.exists():
        from _edf_gen import write_benchmark_edf

        write_benchmark_edf(warm, hours=1 / 3)
    t = time.perf_counter()
    night(warm)
    out["warmup_s"] = time.perf_counter() - t
    out["rss_after_warmup_mb"] = _rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    runs = []
    for _ in range(args.repeats):
        times, emb, hyp = night(args.edf)
        runs.append(times)
    out["runs"] = runs
    out["total_s_min"] = min(r["total"] for r in runs)
    out["total_s_median"] = statistics.median(r["total"] for r in runs)
    out["cpu_s_min"] = min(r["cpu_s"] for r in runs)
    out["n_tokens"], out["n_epochs"] = emb.n_tokens, hyp.n_epochs
    out["channels"] = emb.channels
    out["peak_rss_mb"] = _peak_mb()
    out["night_increment_mb"] = out["peak_rss_mb"] - out["rss_after_warmup_mb"]
    if dev.type == "cuda":
        out["gpu_peak_allocated_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
        out["gpu_peak_reserved_mb"] = torch.cuda.max_memory_reserved(dev) / 2**20
    # where the model time goes (device synchronised between stages)
    profile: dict = {}
    rec = open_recording(args.edf)
    inputs = prepare_modalities(rec, workers=workers)
    t = time.perf_counter()
    embed_inputs(inputs, release, device=dev, batch_size=batch, profile=profile)
    profile["embed_total"] = time.perf_counter() - t
    out["embed_profile_s"] = profile
    # decode alone (int16 → volts, all channels, threads) to split decoding from filtering
    import concurrent.futures as cf

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(rec.read_channel, range(len(rec.channels))))
    out["decode_only_s"] = time.perf_counter() - t
    if args.torch_profile and dev.type == "cuda":
        from torch.profiler import ProfilerActivity, profile as tprofile

        with tprofile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            embed_inputs(inputs, release, device=dev, batch_size=batch)
            _sync(dev)
        out["torch_profile"] = prof.key_averages().table(sort_by="cuda_time_total", row_limit=15)
    # bf16 deviation
    if dev.type == "cuda":
        import numpy as np

        t = time.perf_counter()
        e32 = embed_inputs(inputs, release, device=dev, batch_size=batch)
        _sync(dev)
        t32 = time.perf_counter() - t
        embed_inputs(inputs, release, device=dev, batch_size=batch, precision="bf16")   # warm-up
        t = time.perf_counter()
        e16 = embed_inputs(inputs, release, device=dev, batch_size=batch, precision="bf16")
        _sync(dev)
        t16 = time.perf_counter() - t
        dev_stats = {}
        for m in e32.modalities:
            a, b = e32.tokens[m], e16.tokens[m]
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            dev_stats[m] = {"max_abs": float(np.abs(a - b).max()),
                            "rel_l2": float(np.linalg.norm(a - b) / np.linalg.norm(a)),
                            "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
                            "chunk_rel_l2": float(np.linalg.norm(e32.chunks[m] - e16.chunks[m])
                                                  / np.linalg.norm(e32.chunks[m]))}
        p32 = token_probabilities(e32, release, device=dev)
        p16 = token_probabilities(e16, release, device=dev, precision="bf16")
        h32 = stage_recording(e32, release, device=dev)
        h16 = stage_recording(e16, release, device=dev, precision="bf16")
        out["bf16"] = {"embed_fp32_s": t32, "embed_bf16_s": t16, "tokens": dev_stats,
                       "staging_prob_max_abs": float(np.abs(p32 - p16).max()),
                       "epoch_stage_agreement": float((h32.stages == h16.stages).mean())}
        # the accelerator against the CPU, fp32, on a 30-min piece
        piece = {m: type(v)(v.name, v.channels, np.ascontiguousarray(v.data[:, :30 * 60 * 128]), v.source_rates)
                 for m, v in inputs.items()}
        g = embed_inputs(piece, release, device=dev, batch_size=batch)
        c = embed_inputs(piece, release, device="cpu", batch_size=32)
        release.base.to(dev)
        out["gpu_vs_cpu_fp32_max_abs"] = max(float(np.abs(g.tokens[m] - c.tokens[m]).max()) for m in g.modalities)
    return out


# -------------------------------------------------------------------------- child: baseline
def child_baseline(args) -> dict:
    """The reference pipeline, restated (see the module docstring)."""
    import h5py
    import numpy as np
    import torch
    from scipy.signal import butter, filtfilt
    from torch.utils.data import DataLoader, Dataset

    from sleepfm_engine.channels import ChannelMap
    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.devices import select_device
    from sleepfm_engine.recording import open_recording

    out: dict = {}
    dev = select_device(args.device)
    release = load_release(args.release, device=dev)
    work = Path(tempfile.mkdtemp(dir=args.work))
    cmap = ChannelMap.from_recording(open_recording(args.edf))
    mods = {m: cmap.channels_for(m, cap=True) for m in ("BAS", "RESP", "EKG", "EMG")}
    mods = {m: v for m, v in mods.items() if v}
    c_all = _cpu_s()
    t_all = time.perf_counter()
    # 1. preprocessing: MNE preload, filtfilt + interp + z-score, float16 gzip datasets
    t = time.perf_counter()
    try:
        import mne

        raw = mne.io.read_raw_edf(args.edf, preload=True, verbose="error")
        fs, data, names = raw.info["sfreq"], raw.get_data(), raw.ch_names
        out["reader"] = f"mne {mne.__version__} read_raw_edf(preload=True)"
    except ImportError:
        rec = open_recording(args.edf)
        fs, data, names = rec.channels[0].rate, np.stack(rec.read()), rec.labels
        out["reader"] = "MNE missing: this engine's reader (all channels into memory)"
    out["read_s"] = time.perf_counter() - t
    pre = work / "pre.hdf5"
    with h5py.File(pre, "w") as f:
        for name, x in zip(names, data):
            if fs > 128:
                b, a = butter(4, min(64, fs / 2) / (fs / 2), "low")
                x = filtfilt(b, a, x)
            dur = len(x) / fs
            x = np.interp(np.linspace(0, dur, int(dur * 128), endpoint=False),
                          np.linspace(0, dur, len(x), endpoint=False), x)
            s = x.std()
            x = (x - x.mean()) / s if s else x - x.mean()
            f.create_dataset(name, data=x.astype(np.float16), chunks=(38400,), compression="gzip")
    del data
    out["preprocess_s"] = time.perf_counter() - t
    # 2. embeddings: a DataLoader over 5-min chunks of the file, one forward per modality
    t = time.perf_counter()

    class Chunks(Dataset):
        def __init__(self):
            with h5py.File(pre, "r") as f:
                n = f[names[0]].shape[0]
            self.starts = list(range(0, (n // 38400) * 38400, 38400))

        def __len__(self):
            return len(self.starts)

        def __getitem__(self, i):
            s = self.starts[i]
            with h5py.File(pre, "r") as f:
                return [torch.from_numpy(np.stack([f[c][s:s + 38400] for c in chans]).astype(np.float32))
                        for chans in mods.values()]

    def collate(batch):
        return [torch.stack([b[k] for b in batch]) for k in range(len(mods))]

    loader = DataLoader(Chunks(), batch_size=128, num_workers=args.loader_workers, collate_fn=collate,
                        shuffle=False)
    pooled = {m: [] for m in mods}
    tokens = {m: [] for m in mods}
    with torch.no_grad():
        for batch in loader:
            for m, x in zip(mods, batch):
                mask = torch.zeros(x.shape[0], x.shape[1], device=dev)
                p, e = release.base(x.to(dev), mask)
                pooled[m].append(p.cpu().numpy())
                tokens[m].append(e.cpu().numpy())
    emb5s, emb5m = work / "emb.hdf5", work / "emb_5min.hdf5"
    with h5py.File(emb5s, "w") as f5, h5py.File(emb5m, "w") as f300:
        for m in mods:
            f5[m] = np.concatenate(tokens[m]).reshape(-1, 128)
            f300[m] = np.concatenate(pooled[m])
    _sync(dev)
    out["embed_s"] = time.perf_counter() - t
    # 3. staging head over the night from the embedding file
    t = time.perf_counter()
    with h5py.File(emb5s, "r") as f:
        keys = sorted(k for k in f.keys())
        x = np.stack([f[k][()] for k in keys])
    xs = torch.zeros(1, 4, x.shape[1], 128)
    mask = torch.ones(1, 4, x.shape[1])
    xs[0, :len(keys)] = torch.from_numpy(x)
    mask[0, :len(keys)] = 0
    with torch.no_grad():
        logits, _ = release.staging(xs.to(dev), mask.to(dev))
        pred = logits.argmax(-1).cpu().numpy()[0]
    np.savetxt(work / "stages.csv", pred, fmt="%d")
    _sync(dev)
    out["stage_s"] = time.perf_counter() - t
    out["total_s"] = time.perf_counter() - t_all
    out["cpu_s"] = _cpu_s() - c_all
    out["n_tokens"] = int(x.shape[1])
    out["peak_rss_mb"] = _peak_mb()
    out["loader_workers"] = args.loader_workers
    return out


# ---------------------------------------------------------------------------- child: cohort
def child_cohort(args) -> dict:
    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.devices import describe_device, select_device
    from sleepfm_engine.batch import plan_outputs, run_files

    dev = select_device(args.device)
    release = load_release(args.release, device=dev)
    folder = Path(tempfile.mkdtemp(dir=args.work))
    paths = []
    for i in range(args.cohort):
        p = folder / "in" / f"night_{i:04d}.edf"
        p.parent.mkdir(parents=True, exist_ok=True)
        # hard links: distinct names and paths (a symlinked copy resolves to the same file,
        # which the CLI rightly runs once), same bytes, no extra disk
        os.link(os.path.abspath(args.edf), p)
        paths.append(p)
    batch = args.batch_size or (512 if dev.type == "cuda" else 32)
    # warm-up (one night, not counted)
    run_files(plan_outputs(paths[:1], folder / "warm", ["embed", "stage"]), release, device=dev,
              batch_size=batch, workers=0, log=lambda s: None)
    tasks = plan_outputs(paths, folder / "out", ["embed", "stage"])
    t = time.perf_counter()
    summary = run_files(tasks, release, device=dev, batch_size=batch, workers=args.workers,
                        log=lambda s: None)
    seconds = time.perf_counter() - t
    from sleepfm_engine.batch import _channel_threads

    return {"device": describe_device(dev), "nights": args.cohort, "workers": args.workers,
            "channel_threads_per_night": _channel_threads(args.workers),
            "done": len(summary.done),
            "seconds": seconds, "nights_per_hour": 3600 * args.cohort / seconds,
            "failed": [str(f) for f in summary.failed], "peak_rss_mb": _peak_mb(), "batch_size": batch}


# ------------------------------------------------------------------------------------ parent
def _child(mode: str, args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--work", args.work, "--edf", str(args.edf),
           "--release", str(args.release), "--device", args.device, "--repeats", str(args.repeats),
           "--loader-workers", str(args.loader_workers)]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.torch_profile:
        cmd.append("--torch-profile")
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    # A waiting OpenMP thread sleeps instead of spinning: on cores shared with other work, a
    # spinning thread takes the core its descheduled sibling needs (2-5x slower runs on a
    # loaded 2-core machine); on a quiet machine it costs nothing measurable.
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr[-3000:], "wall_s": time.perf_counter() - t}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="decoding threads per night (default: all cores)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loader-workers", type=int, default=min(16, os.cpu_count() or 1),
                    help="DataLoader workers of the baseline (the reference used 16)")
    ap.add_argument("--cohort", type=int, default=0, help="nights for the cohort throughput (0: skip)")
    ap.add_argument("--cohort-workers", default="4", help="comma-separated --workers values to try")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--torch-profile", action="store_true")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "sleepfm_bench"))
    ap.add_argument("--edf", default=None)
    ap.add_argument("--release", default=None)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = {"ours": child_ours, "baseline": child_baseline, "cohort": child_cohort}[args.child]
        print(json.dumps(fn(args)))
        return
    t = time.perf_counter()
    edf, release = _workspace(args)
    args.edf, args.release = str(edf), str(release)
    results: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                 "python": platform.python_version(),
                                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                                 "load_average_at_start": os.getloadavg()},
                     "hours": args.hours, "setup_s": time.perf_counter() - t}

    def save():
        text = json.dumps(results, indent=2, default=str)
        if args.json:
            Path(args.json).write_text(text)
        return text

    results["ours"] = _child("ours", args)
    print("ours:", json.dumps(results["ours"], indent=1, default=str)[:4000], flush=True)
    save()
    if not args.skip_baseline:
        results["baseline"] = _child("baseline", args)
        print("baseline:", json.dumps(results["baseline"], indent=1), flush=True)
        save()
    if args.cohort:
        for w in [int(x) for x in args.cohort_workers.split(",") if x]:
            results[f"cohort_w{w}"] = _child("cohort", args, cohort=args.cohort, workers=w)
            print(f"cohort w{w}:", json.dumps(results[f"cohort_w{w}"]), flush=True)
            save()
    ours, base = results["ours"], results.get("baseline", {})
    if "total_s_min" in ours and "total_s" in base:
        results["speedup_end_to_end"] = base["total_s"] / ours["total_s_min"]
        print(f"end to end: ours {ours['total_s_min']:.2f} s vs baseline {base['total_s']:.2f} s "
              f"-> {results['speedup_end_to_end']:.1f}x on {ours.get('device')}")
    save()


if __name__ == "__main__":
    main()
