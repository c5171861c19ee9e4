"""``sleepfm hypnogram FILE [--json] [--epoch-length S]``: read a hypnogram and print its
epoch length, epoch count, stage counts and AASM statistics."""
from __future__ import annotations

import argparse
import json

from ..formats import find_format, read_formats, registered_formats


def _read_format(text: str) -> str:
    """``--format``: the name of a registered format that reads hypnograms (aliases accepted)."""
    fmt = find_format(text)
    if fmt is None or fmt.read_hypnogram is None:
        raise argparse.ArgumentTypeError(f"unknown hypnogram format {text!r}; choose one of "
                                         f"{', '.join(read_formats())}")
    return fmt.name


def register(subparsers) -> None:
    """Add the ``hypnogram`` sub-command."""
    described = "; ".join(f.description for f in registered_formats() if f.read_hypnogram)
    p = subparsers.add_parser(
        "hypnogram", help="read a hypnogram file and print its AASM sleep statistics",
        description=f"Read a hypnogram ({described}; detected from the content) and print its "
                    "epochs, stage counts and AASM statistics.")
    p.add_argument("file", help="hypnogram file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--epoch-length", type=float, default=None, metavar="S",
                   help="epoch length in seconds: the file's own for one-stage-per-line files "
                        "(default 30), otherwise resample the file's epochs to S")
    p.add_argument("--format", dest="fmt", default=None, type=_read_format,
                   help=f"force a format instead of detecting it ({', '.join(read_formats())})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the hypnogram summary; returns 0."""
    from ..formats import read_hypnogram
    from ..hypnogram import STAGE_LONG_NAMES, STAGES
    from ..sleep_stats import STATISTICS_LABELS, format_statistic

    if args.epoch_length is not None and not args.epoch_length > 0:
        raise SystemExit("error: --epoch-length must be positive")
    hyp = read_hypnogram(args.file, epoch_length=args.epoch_length, fmt=args.fmt)
    stats = hyp.statistics()
    counts = hyp.stage_counts()
    if args.json:
        print(json.dumps({
            "file": str(args.file), "format": hyp.file_format, "epoch_length": hyp.epoch_length,
            "n_epochs": hyp.n_epochs, "offset": hyp.offset,
            "start": None if hyp.start is None else hyp.start.isoformat(), "scorer": hyp.scorer,
            "automatic": hyp.automatic, "stage_counts": counts, "statistics": stats,
        }, indent=2))
        return 0
    print(f"file          {args.file}")
    print(f"format        {hyp.file_format}")
    print(f"epoch length  {hyp.epoch_length:g} s")
    print(f"epochs        {hyp.n_epochs} ({hyp.duration / 60:.1f} min, first at {hyp.offset:g} s)")
    if hyp.start is not None:
        print(f"start         {hyp.start.isoformat(sep=' ')}")
    if hyp.scorer:
        print(f"scorer        {hyp.scorer}")
    print(f"scoring       {'automatic' if hyp.automatic else 'manual'}")
    print("stage counts  (epochs, minutes)")
    for name, count in counts.items():
        if count or name in STAGES:
            print(f"  {name:<4} {STAGE_LONG_NAMES[name]:<9} {count:>6} {count * hyp.epoch_length / 60:8.1f}")
    print("statistics")
    for key, value in stats.items():
        if key in ("epoch_length", "n_epochs"):
            continue
        text = format_statistic(key, value, with_unit=True, missing="n/a")
        print(f"  {key:<27} {text:>10}   {STATISTICS_LABELS[key]}")
    return 0
