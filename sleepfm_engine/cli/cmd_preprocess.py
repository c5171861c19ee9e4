"""``sleepfm preprocess RECORDING -o OUT.hdf5``: the SleepFM input file, reference layout."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import guard_output
from ._output import output_path, shown_name, status_stream, to_stdout


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="write a recording at 128 Hz, z-scored (reference HDF5 layout)",
                       description="Low-pass, resample to 128 Hz and z-score every channel (or the "
                                   "chosen ones) and write one float16 dataset per channel.")
    p.add_argument("recording", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="HDF5 file to write ('-' writes it to standard output)")
    p.add_argument("--channels", nargs="+", metavar="LABEL", help="only these channels")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..channels import ChannelMap
    from ..jobs import ConsoleProgress, Job
    from ..preprocessing import preprocess_to_hdf5
    from ..recording import open_recording

    if not to_stdout(args.output):
        guard_output(args.output, [args.recording], overwrite=args.overwrite)
    rec = open_recording(args.recording)
    cmap = ChannelMap.from_recording(rec)
    modalities = {lbl: cmap.modality_of(lbl) for lbl in rec.labels}
    with output_path(args.output, "preprocessed.hdf5") as path:
        job = Job("preprocess", lambda state: preprocess_to_hdf5(rec, path, args.channels,
                                                                modalities=modalities, state=state))
        job.add_progress_callback(ConsoleProgress("preprocess"))
        job.run()
    print(f"wrote {shown_name(args.output)} ({len(args.channels or rec.labels)} channels at 128 Hz)",
          file=status_stream(args.output))
    return 0
