"""``sleepfm channels RECORDING``: each channel's label, rate, unit, SleepFM modality and why."""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    """Add the ``channels`` sub-command."""
    p = subparsers.add_parser(
        "channels", help="show the SleepFM modality of every channel of a recording",
        description="Print each channel's label, sampling rate, unit, SleepFM modality (BAS, RESP, "
                    "EKG, EMG or other) and the rule that chose it.")
    p.add_argument("recording", metavar="RECORDING", help="EDF, EDF+ or BDF file")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {label, rate, unit, modality, reason}")
    p.add_argument("--overrides", metavar="FILE",
                   help="JSON file of user overrides {label: modality} to apply")
    p.set_defaults(func=run)


def _rows(recording: str, overrides: str | None) -> list[dict]:
    from ..channels import ChannelMap
    from ..recording import open_recording

    with open_recording(recording) as rec:
        cmap = ChannelMap.from_recording(rec, overrides=overrides)
    keys = ("label", "rate", "unit", "modality", "reason")
    return [{k: record[k] for k in keys} for record in cmap.to_records()]


def _table(rows: list[dict]) -> str:
    header = ("LABEL", "RATE (Hz)", "UNIT", "MODALITY", "REASON")
    cells = [(r["label"], f"{r['rate']:g}", r["unit"] or "-", r["modality"], r["reason"])
             for r in rows]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(4)]
    lines = []
    for row in [header, *cells]:
        lines.append("  ".join(c.ljust(w) if i != 1 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))) + "  " + row[4])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the channel table (or JSON); return 0."""
    rows = _rows(args.recording, args.overrides)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_table(rows))
    return 0
