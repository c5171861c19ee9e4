"""Recording and preprocessing speed on an 8-h, 16-channel, 256-Hz EDF.

Prints, for this engine and for a baseline that restates the reference pipeline in the same run
(MNE ``read_raw_edf(preload=True)``, per-channel ``filtfilt`` + ``np.interp`` + z-score, h5py
gzip datasets): header open, a 30-s window of all channels, full preprocessing to HDF5, and the
peak memory of each (measured in a fresh process). Run: ``.venv/bin/python benchmarks/bench_recording.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # benchmarks are scripts, not a package

OURS_PP = """
import sys, time, resource
from sleepfm_engine.preprocessing import preprocess_to_hdf5
t = time.perf_counter(); preprocess_to_hdf5(sys.argv[1], sys.argv[2])
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

BASELINE_PP = """
import sys, time, resource
import h5py, mne, numpy as np
from scipy.signal import butter, filtfilt
t = time.perf_counter()
raw = mne.io.read_raw_edf(sys.argv[1], preload=True, verbose='error')
fs = raw.info['sfreq']; data = raw.get_data()
with h5py.File(sys.argv[2], 'w') as f:
    for name, x in zip(raw.ch_names, data):
        if fs > 128:
            b, a = butter(4, min(64, fs / 2) / (fs / 2), 'low'); x = filtfilt(b, a, x)
        dur = len(x) / fs
        x = np.interp(np.linspace(0, dur, int(dur * 128), endpoint=False),
                      np.linspace(0, dur, len(x), endpoint=False), x)
        s = x.std(); x = (x - x.mean()) / s if s else x - x.mean()
        f.create_dataset(name, data=x.astype(np.float16), chunks=(38400,), compression='gzip')
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _subprocess(code: str, *args: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    secs, mem = out.stdout.split()
    return float(secs), float(mem)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import numpy as np
    import mne
    from _edf_gen import write_benchmark_edf
    from sleepfm_engine import open_recording

    tmp = Path(tempfile.mkdtemp(prefix="sleepfm-bench-"))
    edf = write_benchmark_edf(tmp / "night.edf", hours=args.hours)
    size_mb = edf.stat().st_size / 1e6
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
                 "file_mb": size_mb, "hours": args.hours}

    opens = []
    for _ in range(20):
        t = time.perf_counter(); rec = open_recording(edf); opens.append(time.perf_counter() - t); rec.close()
    t = time.perf_counter(); mne.io.read_raw_edf(edf, preload=False, verbose="error"); base_open = time.perf_counter() - t
    res["open_ms"] = 1e3 * statistics.median(opens)
    res["baseline_open_ms_mne_lazy"] = 1e3 * base_open

    rec = open_recording(edf)
    rng = np.random.default_rng(0)
    wins = []
    for s in rng.uniform(0, rec.duration - 30, 200):
        t = time.perf_counter(); rec.read(None, s, s + 30); wins.append(time.perf_counter() - t)
    raw = mne.io.read_raw_edf(edf, preload=False, verbose="error")
    mwins = []
    for s in rng.uniform(0, rec.duration - 30, 50):
        i0 = int(s * 256)
        t = time.perf_counter(); raw.get_data(start=i0, stop=i0 + 30 * 256); mwins.append(time.perf_counter() - t)
    res["window_30s_ms_median"] = 1e3 * statistics.median(wins)
    res["window_30s_ms_p95"] = 1e3 * float(np.percentile(wins, 95))
    res["baseline_window_30s_ms_mne_lazy"] = 1e3 * statistics.median(mwins)

    ours = [_subprocess(OURS_PP, str(edf), str(tmp / "ours.hdf5")) for _ in range(args.repeats)]
    base = _subprocess(BASELINE_PP, str(edf), str(tmp / "ref.hdf5"))
    res["preprocess_s"] = min(o[0] for o in ours)
    res["preprocess_peak_mb"] = max(o[1] for o in ours)
    res["baseline_preprocess_s"] = base[0]
    res["baseline_peak_mb"] = base[1]
    res["preprocess_speedup"] = base[0] / res["preprocess_s"]
    import h5py
    with h5py.File(tmp / "ours.hdf5") as a, h5py.File(tmp / "ref.hdf5") as b:
        res["max_abs_diff_vs_baseline"] = max(float(np.max(np.abs(a[k][:].astype(np.float32) - b[k][:].astype(np.float32)))) for k in list(b)[:4])

    for k, v in res.items():
        print(f"{k:34s} {v:.3f}" if isinstance(v, float) else f"{k:34s} {v}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
