"""``sleepfm synth``: write a seeded synthetic PSG night (EDF+ and hypnogram) for demos, tests."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def _positive_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value > 48:
        raise argparse.ArgumentTypeError(f"hours must be in (0, 48], got {text}")
    return value


def register(subparsers) -> None:
    """Add the ``synth`` sub-command."""
    from ..synthetic.montage import MONTAGES

    p = subparsers.add_parser(
        "synth", help="write a synthetic PSG night with its hypnogram",
        description="Generate a seeded, physiologically plausible polysomnogram and write it as "
                    "EDF+ (stages and events as annotations) with <stem>.hypnogram.csv beside it.")
    p.add_argument("-o", "--output", type=Path, required=True, help="EDF file to write")
    p.add_argument("--hours", type=_positive_hours, default=8.0,
                   help="recording length in hours (default 8)")
    p.add_argument("--seed", type=int, default=0, help="night seed (default 0)")
    p.add_argument("--montage", choices=sorted(MONTAGES), default="full",
                   help="channel set (default full)")
    p.add_argument("--apnea", action="store_true",
                   help="give the sleeper obstructive sleep apnea (events and desaturations)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and write the night; print what was written."""
    from ..jobs import ConsoleProgress, Job
    from ..synthetic import make_night, write_night
    from ..synthetic.edf import hypnogram_sidecar

    t0 = time.perf_counter()
    job = Job("synth", lambda state: make_night(args.hours, seed=args.seed,
                                                 montage=args.montage, apnea=args.apnea,
                                                 state=state))
    job.add_progress_callback(ConsoleProgress("synth"))
    night = job.run()
    path = write_night(night, args.output)
    counts = {name: night.stage_names.count(name) for name in ("W", "N1", "N2", "N3", "R")}
    print(f"wrote {path} ({len(night.signals)} channels, {night.duration / 3600:.2f} h, "
          f"{len(night.events)} events) and {hypnogram_sidecar(path).name} in "
          f"{time.perf_counter() - t0:.1f} s")
    print("epochs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0
