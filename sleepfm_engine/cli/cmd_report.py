"""``sleepfm report RECORDING|DIR [--hypnogram FILE|DIR] [--events FILE] [--model DIR]
[--deidentify] [--shift-days N] -o REPORT.pdf|OUTDIR [--overwrite]``: sleep study reports as PDF.

One recording gives one PDF. A folder gives one PDF per recording in OUTDIR and a
``summary.csv`` with every statistic of every recording. The manual hypnogram is the file given,
else a file paired with the recording by name (beside it or in the ``--hypnogram`` folder), else
the stage annotations inside the recording. Scored events (respiratory, oxygen, arousal and
limb-movement sections) are the ``--events`` file's, else the recording's own EDF+ event
annotations.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import redirect_stdout
from pathlib import Path

from . import guard_output
from ._output import output_path, shown_name, status_stream, to_stdout

SUMMARY_NAME = "summary.csv"


def register(subparsers) -> None:
    """Add the ``report`` sub-command."""
    from ..report.events import DEFAULT_POSITION_TABLE
    from .cmd_events import position_table_type

    p = subparsers.add_parser(
        "report", help="write a sleep study report (PDF) for a recording or a folder of them",
        description="Write a two-to-three-page PDF report: patient and recording, montage, "
                    "hypnogram (the night's overview with SpO2, heart rate, position and event "
                    "ticks when there are events), AASM statistics, respiratory, oxygen, "
                    "arousal, limb-movement and heart-rate sections (when their events or "
                    "signals exist), stage transitions, manual-versus-automatic "
                    "agreement, disease risk (research only) and provenance. A folder gives one "
                    "PDF per recording plus summary.csv.")
    p.add_argument("input", type=Path, metavar="RECORDING|DIR", help="EDF/BDF file or a folder")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="REPORT.pdf|OUTDIR",
                   help="PDF to write (one recording; '-' writes it to standard output) or "
                        "folder (a folder of recordings)")
    p.add_argument("--hypnogram", type=Path, metavar="FILE|DIR",
                   help="manual hypnogram file, or a folder searched for files paired by name")
    p.add_argument("--no-hypnogram", action="store_true",
                   help="do not look for a manual hypnogram")
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="scored events file (one recording; default: the recording's own EDF+ "
                        "event annotations)")
    p.add_argument("--position-table", type=position_table_type, default=DEFAULT_POSITION_TABLE,
                   help=f"code table of the position channel (default {DEFAULT_POSITION_TABLE})")
    p.add_argument("--model", metavar="DIR",
                   help="SleepFM release folder (or registered name): stage automatically, and "
                        "compute disease risk when it has a diagnosis model and --age/--sex are given")
    p.add_argument("--age", type=float, help="age in years (for disease risk)")
    p.add_argument("--sex", choices=["F", "M", "f", "m"], help="sex (for disease risk)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--deidentify", action="store_true",
                   help="remove name, identifiers, birth date, file names and free text")
    p.add_argument("--shift-days", type=int, default=0, metavar="N",
                   help="shift every date by N days")
    p.add_argument("--lights-off", metavar="HH:MM[:SS]",
                   help="lights-off clock time (default: a 'Lights off' annotation, else the "
                        "start of each hypnogram)")
    p.add_argument("--lights-on", metavar="HH:MM[:SS]",
                   help="lights-on clock time (default: a 'Lights on' annotation, else the end of "
                        "each hypnogram)")
    p.add_argument("--paper", choices=["A4", "Letter"], default="A4", help="page size")
    p.add_argument("--epoch-length", type=float, default=30.0, metavar="S",
                   help="epoch length (s) the manual hypnogram is read at (default 30)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _manual(rec_path: Path, args) -> tuple:
    from ..formats import read_hypnogram
    from ..formats.discover import find_manual_hypnogram

    if args.no_hypnogram:
        return None, None
    if args.hypnogram is not None and args.hypnogram.is_file():
        return read_hypnogram(args.hypnogram, epoch_length=args.epoch_length), args.hypnogram
    folders = [args.hypnogram] if args.hypnogram is not None else []
    return find_manual_hypnogram(rec_path, folders, epoch_length=args.epoch_length)


def clock_time(text: str, start):
    """``HH:MM[:SS]`` as the first such clock time from one hour before ``start`` on.

    Raises
    ------
    ValueError
        If ``text`` is not a clock time.
    """
    import datetime as dt

    try:
        parts = [int(p) for p in str(text).strip().split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        t = dt.time(*parts)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a clock time HH:MM or HH:MM:SS") from None
    when = dt.datetime.combine(start.date(), t)
    if when < start - dt.timedelta(hours=1):
        when += dt.timedelta(days=1)
    return when


def _lights(rec, args) -> tuple:
    from ..report.discover import find_lights

    off, on = find_lights(rec)
    if args.lights_off:
        off = clock_time(args.lights_off, rec.start)
    if args.lights_on:
        on = clock_time(args.lights_on, rec.start)
    return off, on


def _one(rec_path: Path, out: Path, args, pseudonym: str | None):
    """Build and write one report; returns its model."""
    from ..jobs import ConsoleProgress, Job
    from ..recording import open_recording
    from ..report import build_report, write_report_pdf

    with open_recording(rec_path) as rec:
        manual, found = _manual(rec_path, args)
        if found is not None:
            where = "inside the recording" if found == rec_path else str(found)
            print(f"{rec_path.name}: manual hypnogram from {where}")
        auto = risk = provenance = ood = None
        if args.model:
            from ..report.automatic import run_automatic

            job = Job("staging", lambda state: run_automatic(
                rec, args.model, age=args.age, sex=args.sex.upper() if args.sex else None,
                device=args.device, state=state))
            job.add_progress_callback(ConsoleProgress("SleepFM"))
            result = job.run()
            auto, risk, provenance, ood = (result.hypnogram, result.risk, result.provenance,
                                           result.ood)
        lights_off, lights_on = _lights(rec, args)
        events = None  # the recording's own event annotations
        if args.events is not None:
            from ..formats import read_events

            # a file of clock times without its own start counts from the recording's
            events = read_events(args.events, start=rec.start)
            print(f"{rec_path.name}: events from {args.events}")
        model = build_report(rec, manual=manual, auto=auto, risk=risk, provenance=provenance,
                             deidentify=args.deidentify, shift_days=args.shift_days,
                             lights_off=lights_off, lights_on=lights_on, pseudonym=pseudonym,
                             events=events, position_table=args.position_table, ood=ood)
    write_report_pdf(model, out, paper=args.paper)
    return model


def run(args: argparse.Namespace) -> int:
    """Write the report(s); returns 0, or 1 when an output exists or nothing can be reported."""
    import datetime as dt

    from ..recording import iter_recordings
    from ..report.summary import write_summary_csv

    for flag in (args.lights_off, args.lights_on):
        if flag:
            try:
                clock_time(flag, dt.datetime(2000, 1, 1))
            except ValueError as exc:
                return _error(str(exc))
    if args.events is not None and not args.events.is_file():
        return _error(f"{args.events}: no such events file")
    if args.input.is_dir():
        if args.events is not None:
            return _error("--events names the events of one recording, not of a folder")
        if to_stdout(args.output):
            return _error("-o - writes one report; a folder of recordings needs an output folder")
        return _cohort(args, iter_recordings, write_summary_csv)
    if not args.input.exists():
        return _error(f"{args.input}: no such file or folder")
    out = args.output
    if not to_stdout(out):
        if out.is_dir():
            out = out / (("deidentified" if args.deidentify else args.input.stem) + ".pdf")
        if out.suffix.lower() != ".pdf":
            return _error(f"{out}: the report must be a .pdf file (or an existing folder)")
        guard_output(out, [p for p in (args.input, args.hypnogram, args.events) if p is not None],
                     overwrite=args.overwrite)
    # With -o -, what the report says on the way goes to stderr: stdout carries only the PDF.
    with output_path(out, "report.pdf") as path, redirect_stdout(status_stream(out)):
        _one(args.input, path, args, None)
    print(f"wrote {shown_name(out)}", file=status_stream(out))
    return 0


def _cohort(args, iter_recordings, write_summary_csv) -> int:
    recordings = [p for p in iter_recordings([args.input], recursive=False)
                  if not _is_annotation_only(p)]
    if not recordings:
        return _error(f"{args.input}: no EDF/BDF recordings in this folder")
    if args.hypnogram is not None and args.hypnogram.is_file():
        return _error("--hypnogram must be a folder when reporting on a folder of recordings")
    out_dir = args.output
    if out_dir.exists() and not out_dir.is_dir():
        return _error(f"{out_dir}: must be a folder when reporting on a folder of recordings")
    width = max(3, len(str(len(recordings))))
    names = [f"subject-{i:0{width}d}" if args.deidentify else p.stem
             for i, p in enumerate(recordings, 1)]
    targets = [out_dir / f"{n}.pdf" for n in names] + [out_dir / SUMMARY_NAME]
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        shown = ", ".join(str(t) for t in existing[:3]) + (" ..." if len(existing) > 3 else "")
        return _error(f"{len(existing)} output(s) exist ({shown}); use --overwrite to replace them")
    out_dir.mkdir(parents=True, exist_ok=True)
    from ..errors import SleepFMError

    models, failed = [], []
    for path, name, target in zip(recordings, names, targets):
        try:
            models.append(_one(path, target, args, name if args.deidentify else None))
        except SleepFMError as exc:
            # One unreadable night must not cost the cohort its other reports.
            print(f"error: {exc}", file=sys.stderr)
            failed.append(path)
            continue
        # The pairing stays on the terminal, never in the (shareable) output folder.
        print(f"wrote {target}" + (f"  <- {path.name}" if args.deidentify else ""))
    summary = write_summary_csv(models, out_dir / SUMMARY_NAME)
    print(f"wrote {summary} ({len(models)} recordings"
          + (f"; {len(failed)} failed: {', '.join(p.name for p in failed)})" if failed else ")"))
    return 1 if failed else 0


def _is_annotation_only(path: Path) -> bool:
    """True for an EDF+ holding only annotations (a Sleep-EDF hypnogram), not a recording."""
    from ..errors import RecordingError
    from ..recording import open_recording

    try:
        with open_recording(path) as rec:
            return not rec.channels
    except RecordingError:
        return False
