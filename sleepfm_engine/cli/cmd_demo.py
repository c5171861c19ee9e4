"""``sleepfm demo``: the engine's main job on the built-in demo night, printed step by step."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate the demo night and run the main job on it",
                       description="Generate (once) a synthetic 8-h night, open it, map its channels "
                                   "to SleepFM modalities, preprocess it and, when the demo model is "
                                   "shipped, stage it.")
    p.add_argument("--hours", type=float, default=None, help="length of the generated night")
    p.add_argument("-o", "--output", type=Path, default=None, help="folder for the outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..channels import ChannelMap
    from ..demo import DEMO_HOURS, demo_model_path, demo_recording_path
    from ..registry import user_data_dir
    from ..formats import read_hypnogram
    from ..preprocessing import preprocess_to_hdf5
    from ..recording import open_recording

    t0 = time.perf_counter()
    path = demo_recording_path(hours=args.hours or DEMO_HOURS)
    print(f"demo night: {path} ({time.perf_counter() - t0:.1f} s)")
    rec = open_recording(path)
    print(f"  {rec.format}, {len(rec.channels)} channels, {rec.duration / 3600:.2f} h, "
          f"start {rec.start:%Y-%m-%d %H:%M}")
    cmap = ChannelMap.from_recording(rec)
    for ch in rec.channels:
        a = cmap[ch.label]
        print(f"  {ch.label:14s} {ch.rate:6g} Hz  {a.modality:5s}  {a.reason}")
    out = args.output or (user_data_dir() / "demo")
    t = time.perf_counter()
    h5 = preprocess_to_hdf5(rec, Path(out) / (path.stem + ".preprocessed.hdf5"),
                            modalities=cmap.as_dict())
    print(f"preprocessed to 128 Hz: {h5} ({time.perf_counter() - t:.1f} s)")
    truth = read_hypnogram(path.with_suffix(".hypnogram.csv"))
    stats = truth.statistics()
    print(f"ground-truth hypnogram: {truth.n_epochs} epochs of {truth.epoch_length:g} s; "
          f"TST {stats['TST']:.0f} min, SE {stats['SE']:.1f} %")
    model = demo_model_path()
    if model is None:
        print("demo model not shipped: staging skipped")
        return 0
    from ..analysis import Analyser, NightRequest
    from ..jobs import ConsoleProgress, Job

    t = time.perf_counter()
    job = Job("demo staging", lambda state: Analyser().run(state, NightRequest(str(path), str(model))))
    job.add_progress_callback(ConsoleProgress("staging"))
    auto = job.run().hypnogram
    agree = truth.agreement(auto)
    print(f"staged with the demo model (synthetic training data, demonstration only): "
          f"accuracy {agree['accuracy']:.2f}, kappa {agree['kappa']:.2f} "
          f"({time.perf_counter() - t:.1f} s)")
    return 0
