"""``sleepfm events detect|stats|convert``: score clinical events, print their indices, convert
event files.

- ``detect RECORDING [--hypnogram H] [--detector D] [--profile P] [--model RELEASE] -o OUT``:
  run an event detector (:mod:`sleepfm_engine.detectors`) on a recording and write the scored
  events, and beside them ``<name>.provenance.json``: the detector, its model and its own record
  of the run (a model's out-of-distribution check included), which ``sleepfm report --events``
  reads (:mod:`sleepfm_engine.detection_provenance`); ``--model`` picks the SleepFM event head
  of a release.
- ``stats EVENTS|RECORDING [--hypnogram H] [--json]``: the indices
  (:data:`sleepfm_engine.indices.INDEX_DEFINITIONS`) of an events file, or of a recording's own
  EDF+ event annotations with its SpO2, heart-rate and position channels.
- ``convert IN -o OUT [-f FMT]``: read events in one format and write them in another.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from types import SimpleNamespace


#: The detector ``detect --model RELEASE`` uses when no ``--detector`` is named.
MODEL_DETECTOR = "sleepfm-head"


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _write_format(text: str) -> str:
    """``-f``: a registered format that writes events (aliases accepted)."""
    from ..formats import event_write_formats, find_format

    fmt = find_format(text)
    if fmt is None or fmt.write_events is None:
        raise argparse.ArgumentTypeError(f"unknown events format {text!r}; choose one of "
                                         f"{', '.join(event_write_formats())}")
    return fmt.name


def position_table_type(text: str) -> str:
    """``--position-table``: a registered position code table (also used by ``report``)."""
    from ..position import position_tables

    if text not in position_tables():
        raise argparse.ArgumentTypeError(f"unknown position table {text!r}; choose one of "
                                         f"{', '.join(sorted(position_tables()))}")
    return text


def register(subparsers) -> None:
    """Add the ``events`` sub-command and its ``detect``, ``stats`` and ``convert``."""
    from ..detectors import DETECTORS
    from ..report.events import DEFAULT_POSITION_TABLE

    p = subparsers.add_parser(
        "events", help="score clinical events, print their indices, convert event files",
        description="Clinical events (apneas, hypopneas, desaturations, arousals, limb "
                    "movements...): score them with a detector, print the indices of any event "
                    "source, convert event files between formats.")
    sub = p.add_subparsers(dest="events_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    detectors = sorted(DETECTORS)
    d = sub.add_parser(
        "detect", help="score events of a recording with a detector and write them",
        description="Run an event detector on a recording (with its manual hypnogram: the file "
                    "given, else one paired by name, else the recording's stage annotations) "
                    "and write the scored events. Detectors: "
                    + "; ".join(f"{e.name}: {e.description}" for e in DETECTORS.values()) + ".")
    d.add_argument("recording", type=Path, help="EDF/BDF recording")
    d.add_argument("-o", "--output", type=Path, required=True, help="events file to write")
    d.add_argument("-f", "--format", dest="fmt", type=_write_format, default=None,
                   help="events format (default: from the output's name)")
    d.add_argument("--hypnogram", type=Path, metavar="FILE",
                   help="manual hypnogram (default: paired by name, else inside the recording)")
    d.add_argument("--no-hypnogram", action="store_true",
                   help="score without sleep stages (what the detector can do without them)")
    d.add_argument("--detector", choices=detectors, default=None,
                   help=f"event detector (default {MODEL_DETECTOR} with --model, else "
                        f"{detectors[0] if detectors else 'none'})")
    d.add_argument("--model", metavar="RELEASE",
                   help=f"SleepFM release with an event head (model_events/) for {MODEL_DETECTOR}")
    d.add_argument("--profile", default=None,
                   help="the detector's scoring profile (default: the detector's own; an "
                        "unknown name prints the detector's profiles)")
    d.add_argument("--position-table", type=position_table_type, default=DEFAULT_POSITION_TABLE,
                   help=f"code table of the position channel (default {DEFAULT_POSITION_TABLE})")
    d.add_argument("--overwrite", action="store_true", help="replace an existing output")
    d.set_defaults(func=run_detect)

    s = sub.add_parser(
        "stats", help="print the clinical indices of an events file or a recording",
        description="Print AHI, ODI, SpO2, arousal, PLMS and heart-rate indices of an events "
                    "file, or of a recording's own EDF+ event annotations together with its "
                    "SpO2, heart-rate and position channels. Per-hour indices need a hypnogram: "
                    "the file given, else the events file's own stages, else one paired with the "
                    "recording by name or its stage annotations.")
    s.add_argument("input", type=Path, metavar="EVENTS|RECORDING", help="events file or recording")
    s.add_argument("--hypnogram", type=Path, metavar="FILE", help="hypnogram file")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    s.add_argument("--position-table", type=position_table_type, default=DEFAULT_POSITION_TABLE,
                   help=f"code table of a recording's position channel (default "
                        f"{DEFAULT_POSITION_TABLE})")
    s.set_defaults(func=run_stats)

    c = sub.add_parser(
        "convert", help="convert an events file to another format",
        description="Read scored events (format detected from the content; a recording's EDF+ "
                    "annotations too) and write them in another format.")
    c.add_argument("input", type=Path, metavar="IN", help="events file or recording")
    c.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="events file to write")
    c.add_argument("-f", "--format", dest="fmt", type=_write_format, default=None,
                   help="events format (default: from the output's name)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing output")
    c.set_defaults(func=run_convert)


# ------------------------------------------------------------------------------------ helpers
def _is_recording(path: Path) -> bool:
    """Whether ``path`` is an EDF/BDF file holding signals (not an annotation-only EDF+)."""
    from ..recording import RECORDING_SUFFIXES, open_recording

    if path.suffix.lower() not in RECORDING_SUFFIXES:
        return False
    with open_recording(path) as rec:
        return bool(rec.channels)


def _check_output(out: Path, fmt: str | None, inputs: list[Path], overwrite: bool) -> str | None:
    """Why events must not be written to ``out`` (in ``fmt``, else the format its name picks),
    or None. Checked before any work, so a long detection never ends in a refusal."""
    from ..formats import event_format_for_path, event_write_formats, registered_formats
    from . import guard_output

    guard_output(out, inputs, overwrite=overwrite)
    if fmt is None and event_format_for_path(out) is None:
        endings = ", ".join(f.event_save_suffix for f in registered_formats()
                            if f.write_events is not None and f.event_save_suffix)
        return (f"{out}: no events format is picked by this name; end it with one of "
                f"{endings} or give -f ({', '.join(event_write_formats())})")
    return None


def _hypnogram_for(path: Path, given: Path | None, *, recording: bool):
    """(hypnogram, where it came from) for ``path``: the file given; for a recording one paired
    by name or its stage annotations; for an events file the file's own stages."""
    from ..errors import NoStagesError
    from ..formats import read_hypnogram
    from ..formats.discover import find_manual_hypnogram

    if given is not None:
        return read_hypnogram(given), str(given)
    if recording:
        hyp, found = find_manual_hypnogram(path)
        return hyp, (None if found is None else
                     "the recording's stage annotations" if found == path else str(found))
    try:
        return read_hypnogram(path), f"{path} (its own stages)"
    except NoStagesError:  # an events file without stages: no hypnogram, not a broken file
        return None, None


# ------------------------------------------------------------------------------------ detect
def run_detect(args: argparse.Namespace) -> int:
    """Score the recording's events and write them; returns 0, or 1 on bad input."""
    from ..alignment import fit_to_recording
    from ..detection_provenance import detection_provenance, write_events_provenance
    from ..detectors import DETECTORS, detection_job, get_detector
    from ..formats import read_hypnogram, write_events
    from ..formats.discover import find_manual_hypnogram
    from ..jobs import ConsoleProgress
    from ..recording import open_recording

    if args.detector is None:
        args.detector = MODEL_DETECTOR if args.model is not None else min(DETECTORS, default=None)
    if args.detector is None:
        return _error("no event detector is registered")
    if not args.recording.is_file():
        return _error(f"{args.recording}: no such file")
    if args.hypnogram is not None and args.no_hypnogram:
        return _error("give --hypnogram or --no-hypnogram, not both")
    problem = _check_output(args.output, args.fmt, [args.recording], args.overwrite)
    if problem:
        return _error(problem)
    detector = get_detector(args.detector)
    # Each detector gets the settings its detect() takes (a position table means nothing to a
    # model; a model nothing to a rule-based scorer).
    accepted = inspect.signature(detector.detect).parameters
    settings = {k: v for k, v in {"position_table_name": args.position_table}.items() if k in accepted}
    if args.model is not None:
        if "model" not in accepted:
            return _error(f"detector {detector.name} takes no --model")
        settings["model"] = args.model
    if args.profile is not None:
        profiles = getattr(detector, "profiles", None)
        if profiles is None:
            return _error(f"detector {detector.name} has no scoring profiles")
        if args.profile not in profiles():
            return _error(f"unknown profile {args.profile!r} for {detector.name}; profiles: "
                          f"{', '.join(profiles())}")
        settings["profile"] = args.profile
    with open_recording(args.recording) as rec:
        hyp = found = None
        if args.hypnogram is not None:
            hyp, found = fit_to_recording(read_hypnogram(args.hypnogram), rec), args.hypnogram
        elif not args.no_hypnogram:
            hyp, found = find_manual_hypnogram(args.recording, fit_to=rec)
        if hyp is None:
            print(f"{args.recording.name}: no hypnogram; scoring without sleep stages")
        else:
            where = "inside the recording" if found == args.recording else str(found)
            print(f"{args.recording.name}: hypnogram from {where}")
        job = detection_job(detector, rec, hyp, **settings)
        job.add_progress_callback(ConsoleProgress(detector.name))
        result = job.run()
    out = write_events(result.events, args.output, args.fmt)
    record = write_events_provenance(out, detection_provenance(result, detector.name))
    counts = result.events.counts()
    print(f"wrote {out}: {len(result.events)} events by {result.events.source or detector.name}"
          + (f" ({', '.join(f'{n} {t.value}' for t, n in counts.items())})" if counts else "")
          + (f", {len(result.events.rejected)} rejected candidates" if result.events.rejected
             else ""))
    print(f"wrote {record}: where the events came from")
    for part, reason in result.not_scored.items():
        print(f"not scored: {part}: {reason}")
    for line in result.fallbacks:
        print(f"fallback: {line}")
    # A night unlike a model's training nights is a warning, as the staging check's is.
    ood = result.provenance.get("ood") or {}
    for line in result.notes:
        if ood.get("flagged") and line == ood.get("message"):
            print(f"warning: {line}", file=sys.stderr)
        else:
            print(f"note: {line}")
    return 0


# ------------------------------------------------------------------------------------ stats
def run_stats(args: argparse.Namespace) -> int:
    """Print the indices; returns 0, or 1 on bad input."""
    from ..formats import read_events
    from ..indices import INDEX_DEFINITIONS, compute_indices, format_index
    from ..events import EVENT_TYPES
    from ..recording import open_recording
    from ..report.events import NightSignals, describe_source, read_night_signals

    path = args.input
    if not path.exists():
        return _error(f"{path}: no such file")
    if path.is_dir():
        return _error(f"{path}: is a folder; give an events file or a recording")
    recording = _is_recording(path)
    hyp, hyp_from = _hypnogram_for(path, args.hypnogram, recording=recording)
    events = read_events(path)
    signals = NightSignals()
    if recording:
        with open_recording(path) as rec:
            signals = read_night_signals(rec, position_table_name=args.position_table)
            if hyp is not None:
                hyp = hyp.align_to(rec)
    elif hyp is not None and hyp.start is not None and events.start is not None:
        # The events' clock is the frame: the hypnogram is shifted onto it.
        end = max([hyp.offset + hyp.duration + (hyp.start - events.start).total_seconds()]
                  + [e.end for e in events])
        hyp = hyp.align_to(SimpleNamespace(start=events.start, duration=end))
    table = compute_indices(events, hyp, spo2=signals.spo2, position=signals.position,
                            heart_rate=signals.heart_rate)
    counts = {t.value: n for t, n in events.counts().items()}
    sources = [describe_source(s) for s in events.sources]
    notes = list(table.notes) + list(signals.notes)
    if not len(events):
        notes.insert(0, f"{path.name} holds no scored events: event counts and indices are 0 "
                        "because nothing was scored, which is not a finding that none occurred")
    if args.json:
        print(json.dumps({
            "file": str(path), "format": events.file_format, "sources": sources,
            "hypnogram": hyp_from, "signals": signals.channels, "counts": counts,
            "indices": dict(table), "units": {k: d.unit for k, d in INDEX_DEFINITIONS.items()},
            "notes": notes}, indent=2))
        return 0
    print(f"file          {path}")
    print(f"format        {events.file_format or 'n/a'}")
    print(f"events        {len(events)}" + (f" ({len(events.rejected)} rejected candidates "
                                            "kept apart)" if events.rejected else ""))
    print(f"source        {'; '.join(sources) or 'n/a'}")
    print(f"hypnogram     {hyp_from or 'none: per-hour indices need one (--hypnogram)'}")
    for name, label in signals.channels.items():
        print(f"{name.replace('_', ' '):<13} channel {label}")
    print("event counts")
    for t, n in events.counts().items():
        print(f"  {t.value:<27} {n:>6}   {EVENT_TYPES[t].label}")
    print("indices")
    for key, definition in INDEX_DEFINITIONS.items():
        text = format_index(key, table[key], with_unit=True, missing="n/a")
        print(f"  {key:<27} {text:>10}   {definition.name}")
    for note in notes:
        print(f"note: {note}")
    return 0


# ------------------------------------------------------------------------------------ convert
def run_convert(args: argparse.Namespace) -> int:
    """Convert the events file; returns 0, or 1 on bad input."""
    from ..formats import read_events, write_events

    if not args.input.exists():
        return _error(f"{args.input}: no such file")
    if args.input.is_dir():
        return _error(f"{args.input}: is a folder; give an events file or a recording")
    problem = _check_output(args.output, args.fmt, [args.input], args.overwrite)
    if problem:
        return _error(problem)
    events = read_events(args.input)
    out = write_events(events, args.output, args.fmt)
    print(f"wrote {out}: {len(events)} events"
          + (f" and {len(events.rejected)} rejected candidates" if events.rejected else ""))
    return 0
