"""The ``--deidentify``, ``--shift-days`` and ``--id-map`` options of the commands that write
per-recording outputs (``sleepfm embed|stage|risk``, ``sleepfm preprocess``)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_deidentify_options(p: argparse.ArgumentParser) -> None:
    """``--deidentify``, ``--shift-days`` and ``--id-map`` of the commands writing per-recording
    outputs."""
    p.add_argument("--deidentify", action="store_true",
                   help="name outputs by study IDs (study-0001...) and keep no source path, file "
                        "name or header field of the recording in them")
    p.add_argument("--shift-days", type=int, default=0, metavar="N",
                   help="with --deidentify: shift every date by N days")
    p.add_argument("--id-map", type=Path, metavar="FILE",
                   help="with --deidentify: the CSV linking study IDs to source files (read and "
                        "extended, so a recording keeps its ID); never written unless named, and "
                        "not accepted inside the output folder")


def check_deidentify_options(args: argparse.Namespace, output_dir: Path | None, inputs) -> None:
    """Refuse ``--shift-days``/``--id-map`` without ``--deidentify``, and an ID map that is an
    input or lies in the output folder (it would be shared with the outputs it de-identifies;
    ``output_dir`` None: the output is a stream, not a folder).

    Raises
    ------
    OutputError
    """
    from ..errors import OutputError
    from . import guard_output

    if not args.deidentify:
        if args.shift_days or args.id_map is not None:
            raise OutputError(None, "--shift-days and --id-map apply with --deidentify only")
        return
    if args.id_map is None:
        return
    guard_output(args.id_map, inputs, overwrite=True)
    if output_dir is not None and args.id_map.resolve().parent.is_relative_to(output_dir.resolve()):
        raise OutputError(args.id_map, "is inside the output folder: the map back to the source "
                                       "files must be kept apart from the de-identified outputs")
