"""``sleepfm models list|add|remove|info|download``: the user's SleepFM model registry."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    """Add the ``models`` sub-command and its actions."""
    p = subparsers.add_parser(
        "models", help="list, add, remove and describe SleepFM models",
        description="Manage the SleepFM models kept in the user data folder (or $SLEEPFM_DATA_DIR). "
                    "A model is a folder with config.json and best.pt/best.pth, as in the official "
                    "release; a release folder holds model_base/, model_sleep_staging/ and "
                    "model_diagnosis/.")
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")

    ls = actions.add_parser("list", help="list registered models")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)

    add = actions.add_parser("add", help="validate a model or release folder and register a copy")
    add.add_argument("path", metavar="PATH", help="model folder or release folder")
    add.add_argument("--name", help="registry name (default: the folder's name)")
    add.add_argument("--force", action="store_true", help="replace an entry of the same name")
    add.set_defaults(func=_add)

    rm = actions.add_parser("remove", help="delete a registered model")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=_remove)

    info = actions.add_parser("info", help="load a model or release and describe it")
    info.add_argument("path", metavar="PATH", help="model folder, release folder or registered name")
    info.add_argument("--json", action="store_true", help="print JSON (configs and metadata included)")
    info.set_defaults(func=_info)

    dl = actions.add_parser(
        "download", help="download the official SleepFM weights, verify, load and register them",
        description="Fetch the released SleepFM model folders (only now, because you asked), resuming an "
                    "interrupted download; check every file against its pinned git blob SHA-1, load each "
                    "model, register the release and show its licence. Sources: sleepfm-clinical "
                    "(zou-group/sleepfm-clinical: model_base, model_sleep_staging, model_diagnosis).")
    dl.add_argument("source", metavar="SOURCE", help="which weights, e.g. sleepfm-clinical")
    dl.add_argument("--name", help="registry name (default: SOURCE)")
    dl.add_argument("--force", action="store_true", help="replace an entry of the same name")
    dl.set_defaults(func=_download)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _list(args) -> int:
    from ..registry import entry_json, list_models, models_dir

    entries = list_models()
    if args.json:
        print(entry_json(entries))
        return 0
    if not entries:
        print(f"no models registered in {models_dir()} (add one with: sleepfm models add PATH)")
        return 0
    rows = [("NAME", "TYPE", "MODELS", "PATH")]
    for e in entries:
        kind = "release" if e.is_release else "model"
        what = (", ".join(f"{k}: {c}" for k, c in e.models.items()) if e.problem is None
                else f"BROKEN: {e.problem}")
        rows.append((e.name, kind, what, str(e.path)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    return 0


def _add(args) -> int:
    from ..registry import add_model

    entry = add_model(args.path, name=args.name, overwrite=args.force)
    print(f"added {entry.name!r} ({', '.join(f'{k}: {c}' for k, c in entry.models.items())}) "
          f"at {entry.path}")
    return 0


def _remove(args) -> int:
    from ..registry import remove_model

    path = remove_model(args.name)
    print(f"removed {args.name!r} ({path})")
    return 0


def _info(args) -> int:
    from ..checkpoints import load_release
    from ..registry import resolve_model

    release = load_release(resolve_model(args.path))
    if args.json:
        print(json.dumps({"path": str(release.path),
                          "label_mapping": None if release.label_mapping is None else str(release.label_mapping),
                          "models": {k: i.to_dict() for k, i in release.info.items()}}, indent=2))
        return 0
    print(f"{release.path}")
    for kind, info in release.info.items():
        print(f"  {kind}: {info.model_class}")
        print(f"    folder        {info.path}")
        print(f"    weights       {info.weights_file}  (config hash {info.config_hash})")
        print(f"    parameters    {info.n_parameters:,}")
        print(f"    embed dim     {info.embed_dim}")
        if info.num_classes is not None:
            print(f"    outputs       {info.num_classes}")
        print(f"    max tokens    {info.max_seq_length}")
        if info.metadata:
            meta = info.metadata
            for key in ("engine_version", "created_utc", "metrics", "provenance"):
                if meta.get(key) is not None:
                    print(f"    {key.replace('_', ' '):<13} {json.dumps(meta[key]) if isinstance(meta[key], (dict, list)) else meta[key]}")
    if release.label_mapping is not None:
        print(f"  label mapping: {release.label_mapping}")
    return 0


def _download(args) -> int:
    from ..downloads import download_job, official_source
    from ..jobs import ConsoleProgress

    source = official_source(args.source)
    print(f"{source.title}\nfrom {source.repository} at commit {source.commit}\n"
          f"licence: {source.licence}\n")
    job = download_job(source, name=args.name, overwrite=args.force)
    job.add_progress_callback(ConsoleProgress(f"downloading {source.name}"))
    result = job.run()
    reused = f" ({len(result.reused)} kept from an earlier run)" if result.reused else ""
    print(f"fetched {result.fetched_bytes / 1e6:.1f} MB{reused}; all {len(source.files)} files match "
          f"their pinned git blob SHA-1s and every model loads")
    print(f"registered {result.entry.name!r} ({', '.join(f'{k}: {c}' for k, c in result.entry.models.items())}) "
          f"at {result.entry.path}")
    print(f"\n{source.licence_text().rstrip()}")
    return 0
