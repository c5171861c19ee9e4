"""``sleepfm export hypnogram|stats|embeddings INPUT -o OUT``: hypnograms, sleep statistics and
SleepFM embeddings as files.

INPUT is a hypnogram file (any readable format) or a recording. For a recording, the hypnogram
is the automatic staging with ``--model``, else the manual one (``--hypnogram FILE``, a file
paired with the recording by name, or the stage annotations inside it).

Formats: hypnogram, every writable format of the format registry (``csv`` onset,duration,stage
with probabilities, ``json``, ``edf`` EDF+ annotations, ``sleepfm`` sleepfm-clinical per-5-s
CSV, ``yasa`` one stage per line), each read back by ``sleepfm hypnogram``; statistics ``csv``
(the columns of the cohort ``summary.csv``) or ``json``; embeddings HDF5 (a recording INPUT and
``--model``). Writes are atomic and never replace a file without ``--overwrite``;
``--deidentify`` and ``--shift-days`` apply to everything written.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ..formats import format_for_suffix, write_formats
from ..recording import RECORDING_SUFFIXES
from . import guard_output
from ._output import output_path as _output, shown_name, status_stream, to_stdout as _to_stdout

#: Statistics file formats, picked by ``--format`` or the output's suffix.
STATS_FORMATS = {".csv": "csv", ".json": "json"}
#: Embedding files, picked by the output's suffix.
EMBEDDING_FORMATS = {".h5": "hdf5", ".hdf5": "hdf5"}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="INPUT", help="hypnogram file or recording")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="file to write; '-' writes to standard output (give --format)")
    p.add_argument("--recording", type=Path, metavar="REC",
                   help="the recording a hypnogram INPUT belongs to (start time, identifiers to "
                        "remove)")
    p.add_argument("--hypnogram", type=Path, metavar="FILE",
                   help="manual hypnogram of a recording INPUT (default: found beside it)")
    p.add_argument("--model", metavar="DIR",
                   help="stage a recording INPUT with this SleepFM release folder")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--epoch-length", type=float, default=None, metavar="S",
                   help="epoch length (s) to read the hypnogram at (default: the file's own; "
                        "30 for one-stage-per-line files)")
    p.add_argument("--deidentify", action="store_true",
                   help="remove name, identifiers, birth date, file names, scorer names and "
                        "free text")
    p.add_argument("--shift-days", type=int, default=0, metavar="N", help="shift dates by N days")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def register(subparsers) -> None:
    """Add the ``export`` sub-command with its ``hypnogram`` and ``stats`` actions."""
    p = subparsers.add_parser("export", help="export a hypnogram or sleep statistics",
                              description=__doc__.split("\n\n", 1)[1])
    sub = p.add_subparsers(dest="what", metavar="WHAT")
    formats = write_formats()
    h = sub.add_parser("hypnogram", help=f"write a hypnogram ({', '.join(formats)})")
    _common(h)
    h.add_argument("--format", dest="fmt", choices=formats,
                   help="output format (default from OUT's suffix)")
    h.set_defaults(func=run_hypnogram)
    s = sub.add_parser("stats", help="write AASM sleep statistics as CSV or JSON")
    _common(s)
    s.add_argument("--format", dest="fmt", choices=tuple(STATS_FORMATS.values()),
                   help="output format (default from OUT's suffix)")
    s.add_argument("--lights-off", metavar="HH:MM[:SS]",
                   help="lights-off clock time (default: a 'Lights off' annotation of the recording)")
    s.add_argument("--lights-on", metavar="HH:MM[:SS]",
                   help="lights-on clock time (default: a 'Lights on' annotation of the recording)")
    s.set_defaults(func=run_stats)
    e = sub.add_parser("embeddings", help="write SleepFM embeddings (HDF5) of a recording")
    e.add_argument("input", type=Path, metavar="RECORDING", help="EDF/BDF recording")
    e.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.h5",
                   help="HDF5 file to write; '-' writes it to standard output")
    e.add_argument("--model", metavar="DIR", required=True,
                   help="SleepFM release or base model folder (or registered name)")
    e.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    e.add_argument("--deidentify", action="store_true",
                   help="remove the file name and identifying strings from the attributes")
    e.add_argument("--shift-days", type=int, default=0, metavar="N", help="shift dates by N days")
    e.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    e.set_defaults(func=run_embeddings, fmt="hdf5")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _is_recording(path: Path) -> bool:
    """An EDF/BDF file with signals (an annotation-only EDF+ is a hypnogram)."""
    if path.suffix.lower() not in RECORDING_SUFFIXES:
        return False
    from ..recording import open_recording

    with open_recording(path) as rec:
        return bool(rec.channels)


class _Sources:
    """The hypnograms to export and the header they belong to."""

    def __init__(self):
        self.header_path: Path | None = None
        self.manual = None
        self.auto = None
        self.provenance = None


def _sources(args, want_both: bool) -> _Sources:
    from ..errors import HypnogramError
    from ..formats import read_hypnogram
    from ..formats.discover import find_manual_hypnogram

    src = _Sources()
    if not args.input.exists():
        raise HypnogramError(args.input, "no such file")
    if _is_recording(args.input):
        src.header_path = args.input
        if args.model:
            from ..jobs import ConsoleProgress, Job
            from ..report.automatic import run_automatic

            job = Job("staging", lambda state: run_automatic(args.input, args.model,
                                                             device=args.device, with_risk=False,
                                                             state=state))
            job.add_progress_callback(ConsoleProgress("SleepFM"))
            result = job.run()
            src.auto, src.provenance = result.hypnogram, result.provenance
        if not args.model or want_both:
            epoch = args.epoch_length if args.epoch_length is not None else 30.0
            if args.hypnogram is not None:
                src.manual = read_hypnogram(args.hypnogram, epoch_length=epoch)
            else:
                src.manual, _ = find_manual_hypnogram(args.input, epoch_length=epoch)
        if src.manual is None and src.auto is None:
            raise HypnogramError(args.input, "no hypnogram: none beside the recording or inside "
                                             "it; give --hypnogram FILE or --model DIR")
        return src
    if args.model:
        raise HypnogramError(args.input, "--model needs a recording as INPUT, not a hypnogram")
    src.manual = read_hypnogram(args.input, epoch_length=args.epoch_length)
    if args.recording is not None:
        src.header_path = args.recording
    elif args.input.suffix.lower() in RECORDING_SUFFIXES:
        # A hypnogram EDF+ carries its patient's header: use it to know what to remove.
        src.header_path = args.input
    return src


def _hypnogram_format_of(path: Path) -> str | None:
    """The hypnogram format an output name asks for (its suffix), if any."""
    fmt = format_for_suffix(path)
    return None if fmt is None else fmt.name


def _target(args, formats: tuple[str, ...], format_of) -> tuple[Path, str] | int:
    """(output path, format) from ``--format`` or ``format_of(path)``, or 1 after an error line."""
    out: Path = args.output
    # Standard output has no suffix to go by: the format must be given.
    fmt = getattr(args, "fmt", None) or (None if _to_stdout(out) else format_of(out))
    if fmt not in formats:
        return _error(f"cannot tell the format from {out.name!r}; give --format "
                      f"({', '.join(formats)})")
    if _to_stdout(out):
        return out, fmt
    guard_output(out, [p for p in (args.input, getattr(args, "hypnogram", None),
                                   getattr(args, "recording", None)) if p is not None],
                 overwrite=args.overwrite)
    return out, fmt


def _with_start(hyp, header_path: Path | None):
    """The hypnogram with its time origin's clock time taken from the recording when the
    hypnogram file had none (its onsets count from the recording start)."""
    if hyp is None or hyp.start is not None or header_path is None:
        return hyp
    from ..recording import open_recording

    with open_recording(header_path) as rec:
        if not rec.channels:
            return hyp
        out = hyp.copy()
        out.start = rec.start
        return out


def run_hypnogram(args: argparse.Namespace) -> int:
    """Write one hypnogram (automatic with ``--model``, else manual); returns 0 or 1."""
    from ..deidentify import Deidentifier
    from ..formats import write_hypnogram
    from ..recording import open_recording

    target = _target(args, write_formats(), _hypnogram_format_of)
    if isinstance(target, int):
        return target
    out, fmt = target
    src = _sources(args, want_both=False)
    hyp = _with_start(src.auto if src.auto is not None else src.manual, src.header_path)
    deid = Deidentifier(enabled=args.deidentify, shift_days=args.shift_days)
    for header in {p for p in (src.header_path, args.input) if p is not None
                   and p.suffix.lower() in RECORDING_SUFFIXES}:
        with open_recording(header) as rec:
            deid = deid.extended(Deidentifier.from_recording(rec, enabled=args.deidentify,
                                                             shift_days=args.shift_days))
    shown = deid.hypnogram(hyp, automatic=hyp.automatic)
    with _output(out) as path:
        write_hypnogram(shown, path, fmt=fmt)
    print(f"wrote {shown_name(out)} ({shown.n_epochs} epochs of {shown.epoch_length:g} s, {fmt})",
          file=status_stream(out))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    """Write the AASM statistics of the hypnogram(s); returns 0 or 1."""
    from ..atomic import write_text_atomic
    from ..errors import HypnogramError
    from ..recording import open_recording
    from ..report import build_report
    from ..report.summary import statistics_json, summary_csv_text
    from .cmd_report import _lights, clock_time

    for flag in (args.lights_off, args.lights_on):
        if flag:
            try:
                clock_time(flag, dt.datetime(2000, 1, 1))
            except ValueError as exc:
                return _error(str(exc))

    target = _target(args, tuple(STATS_FORMATS.values()), lambda p: STATS_FORMATS.get(p.suffix.lower()))
    if isinstance(target, int):
        return target
    out, fmt = target
    src = _sources(args, want_both=True)
    src.manual = _with_start(src.manual, src.header_path)
    src.auto = _with_start(src.auto, src.header_path)
    rec = open_recording(src.header_path) if src.header_path is not None else None
    try:
        lights = (None, None)
        if rec is not None and rec.channels:
            lights = _lights(rec, args)
        elif args.lights_off or args.lights_on:
            raise HypnogramError(args.input, "--lights-off/--lights-on need the recording "
                                             "(--recording REC) to place the clock times")
        model = build_report(rec, manual=src.manual, auto=src.auto, provenance=src.provenance,
                             deidentify=args.deidentify, shift_days=args.shift_days,
                             lights_off=lights[0], lights_on=lights[1])
    finally:
        if rec is not None:
            rec.close()
    text = statistics_json(model) if fmt == "json" else summary_csv_text(model.summary_record())
    with _output(out) as path:
        write_text_atomic(path, text)
    print(f"wrote {shown_name(out)} ({', '.join(model.roles)} statistics, {fmt})", file=status_stream(out))
    return 0


def run_embeddings(args: argparse.Namespace) -> int:
    """Embed a recording and write the HDF5 (attributes de-identified when asked)."""
    from ..atomic import atomic_path
    from ..checkpoints import load_release, release_folders
    from ..deidentify import Deidentifier, deidentify_hdf5
    from ..devices import select_device
    from ..errors import ModelError
    from ..analysis import analyse_night
    from ..jobs import ConsoleProgress, Job
    from ..recording import open_recording
    from ..registry import resolve_model

    target = _target(args, ("hdf5",), lambda p: EMBEDDING_FORMATS.get(p.suffix.lower()))
    if isinstance(target, int):
        return target
    out, _ = target
    folder = resolve_model(args.model)
    if "base" not in release_folders(folder):
        raise ModelError(folder, "holds no base model (model_base/) to embed with")
    device = select_device(args.device)
    release = load_release(folder, device=device, kinds=["base"])
    with open_recording(args.input) as rec:
        deid = Deidentifier.from_recording(rec, enabled=args.deidentify, shift_days=args.shift_days)
        # The one night analysis: the same channel overrides and embedding path as `sleepfm embed`.
        job = Job("embed", lambda state: analyse_night(state, release, device=device, products=("embed",),
                                                       recording=rec,
                                                       log=lambda line: print(line, file=status_stream(out))).embeddings)
        job.add_progress_callback(ConsoleProgress("embed"))
        emb = job.run()
    with _output(out) as path:
        with atomic_path(path) as tmp:
            emb.to_hdf5(tmp)
            changed = deidentify_hdf5(tmp, deid)
    print(f"wrote {shown_name(out)} ({emb.n_tokens} tokens, {', '.join(emb.modalities)}"
          + (f"; {changed} attribute(s) de-identified)" if deid.active else ")"), file=status_stream(out))
    return 0
