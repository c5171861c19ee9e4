"""``sleepfm embed|stage|risk PATH... --model DIR -o OUTDIR``: SleepFM over files and folders.

``embed`` writes ``<name>.hdf5`` (5-s and 5-min embeddings), ``stage`` writes
``<name>.auto-hypnogram.csv`` (the engine's CSV hypnogram: one row per 30-s epoch with stage
probabilities, marked ``# scoring: automatic``, read back by ``sleepfm hypnogram`` and never
taken for the manual scoring), ``risk`` writes ``<name>.risk.csv`` (1065 conditions by
log-hazard). ``stage`` also writes ``<name>.ood.json`` (the night against the model's training
data, :mod:`sleepfm_engine.ood`) and prints a ``warning:`` line for a night unlike it, or saying
which checks the model does not allow. Folders are searched recursively for EDF/BDF files; ``stage`` and
``risk`` also take embedding files written by ``embed``. Finished outputs are skipped unless
``--overwrite``; a file that fails is reported and the others go on; the exit code is 1 when any
failed. Under ``torchrun --nproc-per-node N`` each process takes every N-th file and its own GPU.

``--deidentify`` names every output by a study ID (``study-0001.hdf5``...) and keeps no source
path, file name or header field in it (dates shifted with ``--shift-days``); the map from IDs
to source files is written only to ``--id-map FILE``, never inside the output folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._deidentify import add_deidentify_options, check_deidentify_options

_PRODUCTS = {"embed": "embeddings (HDF5, reference layout)",
             "stage": "30-s automatic hypnogram with stage probabilities (CSV)",
             "risk": "disease log-hazards for 1065 phecodes (CSV)"}


_DETAILS = ("Folders are searched recursively for EDF/BDF files. Finished outputs are skipped unless "
            "--overwrite; a file that fails is reported and the others go on; the exit code is 1 "
            "when any failed. Under torchrun each process takes every N-th file and its own GPU.")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="recordings (EDF/BDF) or folders searched recursively")
    p.add_argument("--model", required=True, metavar="DIR",
                   help="release folder with model_base/ and the heads (model_sleep_staging/, "
                        "model_diagnosis/), or the name of a registered model")
    p.add_argument("-o", "--output-dir", type=Path, required=True, metavar="OUTDIR")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--batch-size", type=int, default=None,
                   help="5-min chunks per forward (default: 256 on CUDA, 32 otherwise)")
    p.add_argument("--workers", type=int, default=1,
                   help="recordings decoded and preprocessed ahead in parallel (default 1; 0 = none)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16 autocast on CUDA (faster, see docs/inference.md for its deviation)")
    p.add_argument("--channel-map", type=Path, metavar="JSON",
                   help="channel → modality overrides {label: modality} applied to every recording")
    p.add_argument("--overwrite", action="store_true", help="redo files whose outputs exist")
    add_deidentify_options(p)


def register(sub: argparse._SubParsersAction) -> None:
    for name, what in _PRODUCTS.items():
        p = sub.add_parser(name, help=f"SleepFM {what} for recordings",
                           description=f"Write {what} for each recording. {_DETAILS}")
        _common(p)
        if name != "embed":
            p.add_argument("--save-embeddings", action="store_true",
                           help="also write <name>.hdf5 embeddings")
        if name == "risk":
            p.add_argument("--age", type=float, help="age in years (same for every recording)")
            p.add_argument("--sex", help="M or F (same for every recording)")
            p.add_argument("--demographics", type=Path, metavar="CSV",
                           help="per-recording age and sex: columns id (or 'Study ID'), age, sex (or gender)")
        p.set_defaults(func=run, product=name)


def _demographics(args):
    from ..inference.risk import encode_demographics, parse_sex, read_demographics_csv

    if args.product != "risk":
        return None
    if args.demographics is not None:
        if args.age is not None or args.sex is not None:
            raise SystemExit("error: give either --demographics or --age/--sex, not both")
        table = read_demographics_csv(args.demographics)

        def lookup(task):
            for key in (task.name, Path(task.name).name, task.source.name, task.source.stem):
                if key in table:
                    return table[key]
            raise ValueError(f"no row for {task.source.stem!r} in {args.demographics}")
        return lookup
    if args.age is None or args.sex is None:
        raise SystemExit("error: risk needs --age and --sex, or --demographics CSV")
    try:
        encode_demographics(args.age, args.sex)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    age, sex = args.age, parse_sex(args.sex)
    return lambda task: (age, sex)


def _guard_outputs(args: argparse.Namespace, tasks) -> None:
    """Refuse, before any work, an output (product, saved embeddings, provenance record) that
    is one of the inputs: ``stage data/ out/sub/x.hdf5 --save-embeddings -o out`` would write
    the embeddings of data/sub/x.edf over the embedding file being staged, ``-o x.edf`` names
    a recording as the output folder. Finished outputs are kept or redone as
    ``--overwrite`` says (:func:`sleepfm_engine.batch.run_files`), so existing ones pass here.

    Raises
    ------
    OutputError
        Naming the output and the input.
    """
    from . import guard_output

    guard_output(args.output_dir, [p for p in args.paths if not p.is_dir()], overwrite=True,
                 folder_ok=True)
    # Only an input of the same (resolved) name can be the same file: comparing each output
    # with those alone keeps a cohort of thousands of files linear.
    by_name: dict[str, list[Path]] = {}
    for task in tasks:
        by_name.setdefault(task.source.resolve().name, []).append(task.source)
    save = getattr(args, "save_embeddings", False)
    for task in tasks:
        outputs = [*task.outputs.values(), task.provenance_file]
        if save and not task.is_embeddings:
            outputs.append(task.output_for("embed"))
        for out in outputs:
            guard_output(out, by_name.get(out.resolve().name, []), overwrite=True)


def run(args: argparse.Namespace) -> int:
    import os

    # Before torch loads its OpenMP runtime: waiting threads sleep instead of spinning. On cores
    # shared with other work (decoding threads, other programs) a spinning thread holds the core
    # its descheduled sibling needs (2-5x slower model runs measured on a loaded 2-core machine).
    # A value the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ..checkpoints import load_release
    from ..devices import describe_device, device_for_shard, shard_from_env
    from ..batch import plan_outputs, run_files
    from ..jobs import ConsoleProgress, TaskState
    from ..registry import resolve_model

    if args.batch_size is not None and args.batch_size < 1:
        print("error: --batch-size must be >= 1", file=sys.stderr)
        return 2
    if args.workers < 0:
        print("error: --workers must be >= 0", file=sys.stderr)
        return 2
    demographics = _demographics(args)
    products = [args.product]
    shard = shard_from_env()
    try:
        tasks = plan_outputs(args.paths, args.output_dir, products, allow_embeddings=args.product != "embed")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not tasks:
        print("error: no recordings found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return 2
    check_deidentify_options(args, args.output_dir, [p for p in args.paths if not p.is_dir()])
    if args.deidentify:
        from ..batch import pseudonymise
        from ..study_ids import read_id_map, write_id_map

        tasks, mapping = pseudonymise(tasks, args.output_dir,
                                      read_id_map(args.id_map) if args.id_map is not None else None)
        if args.id_map is not None and shard.rank == 0:
            write_id_map(args.id_map, mapping)
    _guard_outputs(args, tasks)
    tasks = shard.take(tasks)
    device = device_for_shard(args.device, shard)
    batch_size = args.batch_size or (256 if device.type == "cuda" else 32)
    kinds = {"embed": ["base"], "stage": ["base", "staging"], "risk": ["base", "diagnosis"]}[args.product]
    if all(t.is_embeddings for t in tasks):
        kinds = [k for k in kinds if k != "base"]
    release = load_release(resolve_model(args.model), device=device, kinds=kinds)
    for kind in kinds:
        release.require(kind)
    where = f"rank {shard.rank}/{shard.world_size}: " if shard.active else ""
    print(f"{where}{len(tasks)} file(s), model {release.path}, device {describe_device(device)}, "
          f"batch {batch_size}, {args.precision}", file=sys.stderr)

    def progress(i: int, n: int, task) -> TaskState:
        return TaskState([ConsoleProgress(f"[{i + 1}/{n}] {Path(task.name).name[:24]}")])

    summary = run_files(tasks, release, device=device, batch_size=batch_size, precision=args.precision,
                        workers=args.workers, overwrite=args.overwrite, demographics=demographics,
                        channel_overrides=args.channel_map,
                        save_embeddings=getattr(args, "save_embeddings", False), progress=progress,
                        log=lambda line: print(line, file=sys.stderr), verbose=args.verbose,
                        shift_days=args.shift_days)
    print(where + summary.text(), file=sys.stderr)
    return 0 if summary.ok else 1
