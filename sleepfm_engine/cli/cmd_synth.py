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


def _rate(upper: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 <= value <= upper:
            raise argparse.ArgumentTypeError(f"must be in [0, {upper:g}], got {text}")
        return value
    return parse


def register(subparsers) -> None:
    """Add the ``synth`` sub-command."""
    from ..synthetic.montage import MONTAGES

    p = subparsers.add_parser(
        "synth", help="write a synthetic PSG night with its hypnogram",
        description="Generate a seeded, physiologically plausible polysomnogram and write it as "
                    "EDF+ (stages and events as annotations) with <stem>.hypnogram.csv beside it.")
    p.add_argument("-o", "--output", type=Path, required=True, help="EDF file to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output (and its hypnogram and events files)")
    p.add_argument("--hours", type=_positive_hours, default=8.0,
                   help="recording length in hours (default 8)")
    p.add_argument("--seed", type=int, default=0, help="night seed (default 0)")
    p.add_argument("--montage", choices=sorted(MONTAGES), default="full",
                   help="channel set (default full)")
    sev = p.add_argument_group(
        "scored events", "draw apneas, hypopneas, desaturations, arousals, periodic limb "
        "movements and position changes at these rates (per hour of sleep); the ground truth "
        "is written as EDF+ annotations")
    sev.add_argument("--apnea", action="store_true",
                     help="sleep apnea at the sleeper's own AHI and PLM index")
    sev.add_argument("--ahi", type=_rate(100.0), help="apneas + hypopneas per hour of sleep")
    sev.add_argument("--plmi", type=_rate(150.0),
                     help="periodic limb movements in sleep per hour of sleep")
    sev.add_argument("--arousal-index", type=_rate(60.0),
                     help="spontaneous arousals per hour of sleep (default: the sleeper's own)")
    sev.add_argument("--central-share", type=_rate(1.0),
                     help="fraction of apneas that are central (default 0.12)")
    sev.add_argument("--mixed-share", type=_rate(1.0),
                     help="fraction of apneas that are mixed (default 0.08)")
    sev.add_argument("--hypopnea-share", type=_rate(1.0),
                     help="fraction of respiratory events that are hypopneas (default 0.4)")
    # combinations argparse cannot check alone are refused as usage errors, like the rest
    p.set_defaults(func=run, synth_parser=p)


def _severity(args: argparse.Namespace):
    """The :class:`Severity` the arguments ask for, or None for a plain night."""
    from ..synthetic.severity import Severity

    given = {name: getattr(args, attr) for name, attr in (
        ("ahi", "ahi"), ("plmi", "plmi"), ("arousal_index", "arousal_index"),
        ("central_share", "central_share"), ("mixed_share", "mixed_share"),
        ("hypopnea_share", "hypopnea_share")) if getattr(args, attr) is not None}
    if not given:
        return None
    if args.apnea:
        raise ValueError("--apnea takes the sleeper's own rates; use it without --ahi/--plmi/...")
    return Severity(**given)


def run(args: argparse.Namespace) -> int:
    """Generate and write the night; print what was written."""
    from ..jobs import ConsoleProgress, Job
    from ..synthetic import make_night, write_night
    from ..synthetic.edf import events_sidecar, hypnogram_sidecar
    from . import guard_output

    t0 = time.perf_counter()
    try:
        severity = _severity(args)
    except ValueError as exc:
        args.synth_parser.error(str(exc))
    # Checked before the night is generated: all three files it writes.
    for out in (args.output, hypnogram_sidecar(args.output), events_sidecar(args.output)):
        guard_output(out, overwrite=args.overwrite)
    job = Job("synth", lambda state: make_night(args.hours, seed=args.seed,
                                                 montage=args.montage, apnea=args.apnea,
                                                 severity=severity, state=state))
    job.add_progress_callback(ConsoleProgress("synth"))
    night = job.run()
    path = write_night(night, args.output)
    counts = {name: night.stage_names.count(name) for name in ("W", "N1", "N2", "N3", "R")}
    print(f"wrote {path} ({len(night.signals)} channels, {night.duration / 3600:.2f} h, "
          f"{len(night.events)} events) and {hypnogram_sidecar(path).name} in "
          f"{time.perf_counter() - t0:.1f} s")
    print("epochs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if night.severity is not None:
        tally = ", ".join(f"{t.value} {n}" for t, n in sorted(night.events.counts().items(),
                                                               key=lambda kv: kv[0].value))
        print(f"ground truth (EDF+ annotations and {events_sidecar(path).name}): {tally}")
    return 0
