"""Regenerate docs/report/example_report.pdf and page1.png (needs pdftoppm from poppler-utils).

    .venv/bin/python docs/report/make_page1.py

The night is the synthetic demo-style night (seed 7, 8 h, full montage); its ground-truth
hypnogram plays the manual scoring. With a SleepFM release given as the first argument the
automatic staging is real; without one it is SIMULATED for the picture (the truth blurred in
time, so the hypnodensity looks like a model's) and the scorer name says so.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def simulated_staging(truth, seed: int = 7):
    """A model-like staging of ``truth``: probabilities smeared over neighbouring epochs."""
    from scipy.ndimage import gaussian_filter1d

    from sleepfm_engine.hypnogram import STAGES, Hypnogram

    rng = np.random.default_rng(seed)
    codes = np.where(truth.stages >= 0, truth.stages, 0)
    onehot = np.eye(len(STAGES))[codes]
    onehot[:, 1] += 0.35 * onehot[:, 2]  # N1/N2 confusion, the usual weak spot
    probs = gaussian_filter1d(onehot, sigma=1.3, axis=0) + rng.dirichlet(np.ones(5) * 2, len(codes)) * 0.25
    probs /= probs.sum(axis=1, keepdims=True)
    return Hypnogram(probs.argmax(axis=1), truth.epoch_length, start=truth.start,
                     scorer="SleepFM (simulated for this picture)", probabilities=probs,
                     source="simulated")


def main(argv: list[str]) -> int:
    from sleepfm_engine.formats import read_hypnogram
    from sleepfm_engine.report import build_report, write_report_pdf
    from sleepfm_engine.synthetic import make_night, write_night

    with tempfile.TemporaryDirectory() as tmp:
        edf = write_night(make_night(hours=8.0, seed=7, montage="full", apnea=True),
                          Path(tmp) / "demo_night.edf")
        manual = read_hypnogram(edf.with_name("demo_night.hypnogram.csv"), epoch_length=30)
        manual.scorer = "R. Example, RPSGT"
        risk = provenance = None
        if len(argv) > 1:
            from sleepfm_engine.report.automatic import run_automatic

            result = run_automatic(edf, argv[1], age=62, sex="M")
            auto, risk, provenance = result.hypnogram, result.risk, result.provenance
        else:
            auto = simulated_staging(manual)
            provenance = {"Model folder": "(none: simulated staging for documentation)"}
        model = build_report(edf, manual=manual, auto=auto, risk=risk, provenance=provenance)
        pdf = write_report_pdf(model, HERE / "example_report.pdf")
    if shutil.which("pdftoppm") is None:
        print("pdftoppm not found (apt-get install poppler-utils); PDF written only")
        return 1
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(HERE / "page1")], check=True)
    print(f"wrote {pdf} and {HERE / 'page1.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
