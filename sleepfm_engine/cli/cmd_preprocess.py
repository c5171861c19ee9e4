"""``sleepfm preprocess RECORDING -o OUT.hdf5``: the SleepFM input file, reference layout."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import guard_output
from ._deidentify import add_deidentify_options, check_deidentify_options
from ._output import output_path, shown_name, status_stream, to_stdout


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="write a recording at 128 Hz, z-scored (reference HDF5 layout)",
                       description="Low-pass, resample to 128 Hz and z-score every channel (or the "
                                   "chosen ones) and write one float16 dataset per channel.")
    p.add_argument("recording", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="HDF5 file to write ('-' writes it to standard output); with --deidentify "
                        "a folder, where <study ID>.hdf5 is written")
    p.add_argument("--channels", nargs="+", metavar="LABEL", help="only these channels")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_deidentify_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..channels import ChannelMap
    from ..jobs import ConsoleProgress, Job
    from ..preprocessing import preprocess_to_hdf5
    from ..recording import open_recording

    deid = None
    if args.deidentify:
        from ..atomic import atomic_path
        from ..deidentify import Deidentifier, deidentify_hdf5
        from ..study_ids import assign_study_ids, read_id_map, source_key, write_id_map

        folder = (None if to_stdout(args.output) else
                  args.output if args.output.is_dir() else args.output.parent)
        check_deidentify_options(args, folder, [args.recording])
        mapping = assign_study_ids([args.recording],
                                   read_id_map(args.id_map) if args.id_map is not None else None)
        sid = mapping[source_key(args.recording)]
        if args.output.is_dir():
            args.output = args.output / f"{sid}.hdf5"
    else:
        check_deidentify_options(args, None, [args.recording])
    if not to_stdout(args.output):
        guard_output(args.output, [args.recording], overwrite=args.overwrite)
    rec = open_recording(args.recording)
    if args.deidentify:
        deid = Deidentifier.from_recording(rec, shift_days=args.shift_days, pseudonym=sid)
        if args.id_map is not None:
            write_id_map(args.id_map, mapping)
    cmap = ChannelMap.from_recording(rec)
    modalities = {lbl: cmap.modality_of(lbl) for lbl in rec.labels}

    def write(path, state):
        if deid is None:
            return preprocess_to_hdf5(rec, path, args.channels, modalities=modalities, state=state)
        # De-identified before the file takes its name: no moment with the header strings in it.
        with atomic_path(path) as tmp:
            preprocess_to_hdf5(rec, tmp, args.channels, modalities=modalities, state=state)
            deidentify_hdf5(tmp, deid)
        return path

    with output_path(args.output, "preprocessed.hdf5") as path:
        job = Job("preprocess", lambda state: write(path, state))
        job.add_progress_callback(ConsoleProgress("preprocess"))
        job.run()
    print(f"wrote {shown_name(args.output)} ({len(args.channels or rec.labels)} channels at 128 Hz)",
          file=status_stream(args.output))
    return 0
