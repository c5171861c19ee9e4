"""``sleepfm channels RECORDING``: each channel's label, rate, unit, SleepFM modality and why,
with its signal quality (flat, clipped, implausible amplitude, mains noise ...)."""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    """Add the ``channels`` sub-command."""
    p = subparsers.add_parser(
        "channels", help="show the SleepFM modality and signal quality of every channel of a recording",
        description="Print each channel's label, sampling rate, unit, SleepFM modality (BAS, RESP, "
                    "EKG, EMG or other), its signal quality and the rule that chose the modality; "
                    "then what the quality checks found, channel by channel.")
    p.add_argument("recording", metavar="RECORDING", help="EDF, EDF+ or BDF file")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {label, rate, unit, modality, reason, quality}")
    p.add_argument("--overrides", metavar="FILE",
                   help="JSON file of user overrides {label: modality} to apply")
    p.add_argument("--no-quality", action="store_true",
                   help="skip the signal quality checks (they read every sample of every channel)")
    p.set_defaults(func=run)


def _rows(recording: str, overrides: str | None, quality: bool) -> list[dict]:
    from ..channels import ChannelMap
    from ..quality import assess_recording
    from ..recording import open_recording

    with open_recording(recording) as rec:
        cmap = ChannelMap.from_recording(rec, overrides=overrides)
        report = assess_recording(rec, cmap) if quality else None
    keep_anyway = set(cmap.quality_overrides)
    keys = ("label", "rate", "unit", "modality", "reason")
    rows = []
    for record in cmap.to_records():
        row = {k: record[k] for k in keys}
        if report is not None:
            found = report.channel(row["label"]).to_dict()
            row["quality"] = {k: found[k] for k in ("status", "usable", "checked", "findings",
                                                    "epoch_flags")}
            row["quality"]["use_despite_quality"] = row["label"] in keep_anyway
        rows.append(row)
    return rows


def _quality_cell(row: dict) -> str:
    quality = row.get("quality")
    if quality is None:
        return "-"
    checks = sorted({f["check"] for f in quality["findings"]})
    cell = quality["status"] + (f": {', '.join(checks)}" if checks else "")
    return cell + (" (used anyway)" if quality["use_despite_quality"] and not quality["usable"] else "")


def _table(rows: list[dict]) -> str:
    header = ("LABEL", "RATE (Hz)", "UNIT", "MODALITY", "QUALITY", "REASON")
    cells = [(r["label"], f"{r['rate']:g}", r["unit"] or "-", r["modality"], _quality_cell(r),
              r["reason"]) for r in rows]
    last = len(header) - 1
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(last)]
    lines = []
    for row in [header, *cells]:
        lines.append("  ".join(c.ljust(w) if i != 1 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))) + "  " + row[last])
    findings = [f"  {r['label']}: {f['severity']}: {f['reason']}"
                for r in rows for f in (r.get("quality") or {}).get("findings", [])]
    if findings:
        lines += ["", "signal quality findings:", *findings]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the channel table (or JSON); return 0."""
    rows = _rows(args.recording, args.overrides, not args.no_quality)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_table(rows))
    return 0
