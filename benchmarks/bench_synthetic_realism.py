"""Realism bar of the synthetic nights: does an independent stager recognise the stages?

Generates several 8-h nights with different seeds, writes each as EDF+, reads C4-M1, E1-M2 and
the chin EMG back with MNE and runs YASA's bundled LightGBM stager (trained on thousands of
real NSRR polysomnograms; it runs offline). Prints accuracy and Cohen's kappa per night and
overall, per-stage F1, the confusion matrix and the stage distributions.

Target (issue 3): accuracy >= 70 %, kappa >= 0.6, per-stage F1 > 0.4 for every stage.

Usage::

    .venv/bin/python benchmarks/bench_synthetic_realism.py [--seeds 0 1 2 3 4] [--hours 8]
        [--apnea] [--figures docs/synthetic]

Needs the ``bench`` extra (``pip install -e '.[bench]'``: yasa, mne).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sleepfm_engine.synthetic import STAGE_NAMES, make_night, write_night  # noqa: E402

TARGET_ACC, TARGET_KAPPA, TARGET_F1 = 0.70, 0.60, 0.40


def stage_with_yasa(edf: Path) -> np.ndarray:
    """YASA's predicted stage codes (0 W .. 4 R) for an EDF file."""
    import mne
    import yasa

    raw = mne.io.read_raw_edf(edf, include=["C4-M1", "E1-M2", "Chin1-Chin2"], preload=True,
                              verbose="error")
    sls = yasa.SleepStaging(raw, eeg_name="C4-M1", eog_name="E1-M2", emg_name="Chin1-Chin2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = sls.predict()
    pred = np.asarray(getattr(pred, "hypno", pred)).astype(str)
    code = {"W": 0, "WAKE": 0, "N1": 1, "N2": 2, "N3": 3, "R": 4, "REM": 4}
    return np.array([code[p.upper()] for p in pred], dtype=np.int8)


def f1_per_stage(y: np.ndarray, p: np.ndarray) -> list[float]:
    out = []
    for k in range(5):
        tp = np.sum((y == k) & (p == k))
        fp = np.sum((y != k) & (p == k))
        fn = np.sum((y == k) & (p != k))
        out.append(float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else float("nan"))
    return out


def kappa(y: np.ndarray, p: np.ndarray) -> float:
    cm = np.zeros((5, 5))
    np.add.at(cm, (y, p), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float((cm.sum(0) * cm.sum(1)).sum()) / n ** 2
    return float((po - pe) / (1 - pe)) if pe < 1 else 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--apnea", action="store_true")
    ap.add_argument("--figures", type=Path, default=None, metavar="DIR",
                    help="also save the first seed's page-per-stage figure and graphoelement "
                         "close-ups in DIR (night_seedN.png, graphoelements_seedN.png)")
    args = ap.parse_args(argv)

    ys, ps = [], []
    print(f"{'seed':>4} {'age':>4} {'gen s':>6} {'acc':>6} {'kappa':>6}   "
          + " ".join(f"F1 {s:>3}" for s in STAGE_NAMES))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            t0 = time.perf_counter()
            night = make_night(args.hours, seed=seed, apnea=args.apnea)
            gen = time.perf_counter() - t0
            if args.figures is not None and seed == args.seeds[0]:
                from sleepfm_engine.synthetic.figure import plot_graphoelements, plot_night
                plot_night(night, args.figures / f"night_seed{seed}.png")
                plot_graphoelements(night, args.figures / f"graphoelements_seed{seed}.png")
            path = write_night(night, Path(tmp) / f"night{seed}.edf")
            pred = stage_with_yasa(path)
            y = night.stages[: pred.size]
            pred = pred[: y.size]
            ys.append(y)
            ps.append(pred)
            f1 = f1_per_stage(y, pred)
            print(f"{seed:>4} {night.subject['age']:>4} {gen:6.1f} {np.mean(y == pred):6.3f} "
                  f"{kappa(y, pred):6.3f}   " + " ".join(f"{v:6.2f}" for v in f1))
    y = np.concatenate(ys)
    p = np.concatenate(ps)
    acc, kap, f1 = float(np.mean(y == p)), kappa(y, p), f1_per_stage(y, p)
    print(f"{'all':>4} {'':>4} {'':>6} {acc:6.3f} {kap:6.3f}   "
          + " ".join(f"{v:6.2f}" for v in f1))
    cm = np.zeros((5, 5), dtype=int)
    np.add.at(cm, (y, p), 1)
    print("\nconfusion (rows: ground truth, columns: YASA)")
    print("      " + " ".join(f"{s:>6}" for s in STAGE_NAMES))
    for k, row in enumerate(cm):
        print(f"{STAGE_NAMES[k]:>5} " + " ".join(f"{v:6d}" for v in row))
    print("\nstage distribution (% of epochs)")
    print("truth " + " ".join(f"{s}:{100 * np.mean(y == k):5.1f}" for k, s in
                              enumerate(STAGE_NAMES)))
    print("YASA  " + " ".join(f"{s}:{100 * np.mean(p == k):5.1f}" for k, s in
                              enumerate(STAGE_NAMES)))
    ok = acc >= TARGET_ACC and kap >= TARGET_KAPPA and min(f1) > TARGET_F1
    print(f"\ntarget acc >= {TARGET_ACC}, kappa >= {TARGET_KAPPA}, every F1 > {TARGET_F1}: "
          f"{'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
