"""``sleepfm finetune|pretrain|evaluate``: train and judge SleepFM models on a local cohort.

- ``sleepfm finetune staging --data DIR --base MODEL -o OUT``: a staging head on the base's
  embeddings (``--unfreeze-base``: the base too, end to end).
- ``sleepfm finetune diagnosis --data DIR --base MODEL -o OUT``: a CoxPH disease head
  (``is_event.csv``, ``time_to_event.csv``, optional ``demographics.csv``).
- ``sleepfm pretrain --data DIR -o OUT``: contrastive pretraining of the base model.
- ``sleepfm finetune events --data DIR --base MODEL -o OUT``: an event head (apneas,
  hypopneas, arousals, limb movements, desaturations per 5-s token) from each night's scored
  events file and hypnogram.
- ``sleepfm evaluate --data DIR --model DIR [--task T]``: accuracy, kappa, F1, confusion
  (staging), Harrell's C (disease) or event F1 and index agreement (events) of a model on a
  cohort.

All of them run data-parallel when started by ``torchrun``, e.g.
``torchrun --nproc-per-node 2 -m sleepfm_engine.cli finetune staging ...``. Ctrl-C stops
cleanly after the current step (the best checkpoint and the resume state are kept; continue
with ``--resume``); a second Ctrl-C interrupts at once.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path


#: Defaults of the shared training options, per command (the tasks of a command share them).
_COMMAND_DEFAULTS = {
    "finetune": dict(epochs=20, batch_size=8, lr=1e-3, weight_decay=1e-2),
    "pretrain": dict(epochs=10, batch_size=128, lr=1e-3, weight_decay=0.0),
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..training_tasks import registered_tasks

    heads = registered_tasks("finetune")
    ft = sub.add_parser("finetune", help="fine-tune a head (" + ", ".join(t.name for t in heads)
                        + ") on a cohort folder",
                        description="Train a SleepFM head on your own recordings and labels; the output "
                                    "is a release folder (model_base/ + the head) the application uses.",
                        epilog="tasks: " + "; ".join(f"{t.name}: {t.description}" for t in heads))
    ft.add_argument("task", choices=[t.name for t in heads])
    _common(ft, need_base=True)
    g = ft.add_argument_group("head")
    g.add_argument("--max-tokens", type=int, help="longest training sequence in 5-s tokens")
    g.add_argument("--head-params", type=json.loads, metavar="JSON",
                   help='head settings, e.g. \'{"num_layers": 2, "dropout": 0.1}\'')
    g.add_argument("--head-init", help="start from this head model folder")
    _task_options(ft, heads)
    ft.set_defaults(func=run_finetune_cmd, **_COMMAND_DEFAULTS["finetune"])

    for spec in registered_tasks("pretrain"):
        pt = sub.add_parser(spec.name, help=spec.description,
                            description=f"{spec.description[:1].upper()}{spec.description[1:]}; "
                                        f"output OUT/{spec.release_folder}.")
        _common(pt, need_base=False)
        _task_options(pt, [spec])
        pt.set_defaults(func=run_pretrain_cmd, training_task=spec.name, **_COMMAND_DEFAULTS["pretrain"])

    ev = sub.add_parser("evaluate", help="evaluate a head (" + ", ".join(t.name for t in heads)
                        + ") on a labelled cohort",
                        description="Accuracy, Cohen's kappa, per-stage and macro F1 and the confusion "
                                    "matrix (staging), or Harrell's C per phecode (disease).")
    ev.add_argument("--data", required=True, help="cohort folder with labels")
    ev.add_argument("--model", required=True, help="release folder (model_base + head) or registry name")
    ev.add_argument("-o", "--output", help="folder for metrics.json and plots")
    ev.add_argument("--split", help="split JSON; with --part, evaluate that part only")
    ev.add_argument("--part", default="all", choices=("all", "train", "validation", "test"))
    ev.add_argument("--device", default="auto")
    ev.add_argument("--cache-dir")
    ev.add_argument("--channel-map", help="JSON {label: modality} overrides")
    ev.add_argument("--task", choices=[t.name for t in heads],
                    help="the head to evaluate when the release has several (default: the first)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.set_defaults(func=run_evaluate_cmd)


def _task_options(p: argparse.ArgumentParser, tasks) -> None:
    """One argument group per task with its own options (an option several tasks declare is
    added once, in the first one's group)."""
    seen: set[tuple[str, ...]] = set()
    for spec in tasks:
        fresh = [o for o in spec.options if o.flags not in seen]
        if not fresh:
            continue
        g = p.add_argument_group(f"{spec.name} options")
        for opt in fresh:
            g.add_argument(*opt.flags, dest=opt.dest, **opt.kwargs)
            seen.add(opt.flags)


def _options_of(args: argparse.Namespace, spec, others) -> dict:
    """Config settings from the chosen task's options. An option only other tasks have, given a
    value other than its default, is a usage error: it would be silently ignored."""
    own = {o.dest for o in spec.options}
    owners: dict[str, list[str]] = {}
    for other in others:
        for opt in other.options:
            if opt.dest not in own:
                owners.setdefault(opt.flags[0], []).append(other.name)
    for other in others:
        for opt in other.options:
            unset = opt.kwargs.get("default", False if opt.kwargs.get("action") == "store_true" else None)
            if opt.dest not in own and getattr(args, opt.dest, None) != unset:
                raise SystemExit(f"error: {opt.flags[0]} applies to {' and '.join(owners[opt.flags[0]])} only, "
                                 f"not {spec.name}")
    return {o.dest: getattr(args, o.dest) for o in spec.options}


def _common(p: argparse.ArgumentParser, need_base: bool) -> None:
    p.add_argument("--data", required=True, help="cohort folder (recordings + labels)")
    if need_base:
        p.add_argument("--base", required=True, help="base model folder, release folder or registry name")
    p.add_argument("-o", "--output", required=True, help="output folder (a release folder)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, help="per process")
    g.add_argument("--lr", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--accumulation-steps", type=int, default=1)
    g.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs (0 = off)")
    g.add_argument("--lr-patience", type=int, default=5, help="epochs without improvement before the "
                   "learning rate is cut (ReduceLROnPlateau)")
    g.add_argument("--lr-factor", type=float, default=0.1)
    g.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip (0 = off)")
    g.add_argument("--max-steps-per-epoch", type=int)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    g.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                   help="auto = bf16 autocast on CUDA")
    g.add_argument("--workers", type=int, default=0, help="data loader processes")
    g.add_argument("--log-every", type=int, default=10)
    g.add_argument("--resume", action="store_true", help="continue the run in OUT")
    g.add_argument("--overwrite", action="store_true", help="replace the run in OUT")
    d = p.add_argument_group("data")
    d.add_argument("--split", help="split JSON to use (default: a new seeded subject-level split)")
    d.add_argument("--fractions", type=float, nargs=3, default=[0.7, 0.15, 0.15],
                   metavar=("TRAIN", "VAL", "TEST"))
    d.add_argument("--split-seed", type=int, default=0)
    d.add_argument("--cache-dir", help="preprocessing/embedding cache (default: user cache folder)")
    d.add_argument("--channel-map", help="JSON {label: modality} overrides for every recording")
    d.add_argument("--subjects", help="Study ID,subject table (default DATA/subjects.csv)")
    d.add_argument("--prep-workers", type=int, default=1, help="processes preprocessing recordings")
    p.add_argument("--name", help="display name saved with the model")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def _train_kwargs(args) -> dict:
    return dict(output=args.output, data=args.data, epochs=args.epochs, batch_size=args.batch_size,
                lr=args.lr, weight_decay=args.weight_decay, accumulation_steps=args.accumulation_steps,
                patience=args.patience, lr_patience=args.lr_patience, lr_factor=args.lr_factor,
                seed=args.seed, device=args.device, precision=args.precision, num_workers=args.workers,
                grad_clip=args.grad_clip or None, max_steps_per_epoch=args.max_steps_per_epoch,
                log_every=args.log_every, resume=args.resume, overwrite=args.overwrite, split=args.split,
                fractions=list(args.fractions), split_seed=args.split_seed, cache_dir=args.cache_dir,
                channel_map=args.channel_map, subjects=args.subjects, prep_workers=args.prep_workers,
                name=args.name, plots=not args.no_plots)


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Printer:
    """Progress lines on stderr (rank 0 only: callbacks run there)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, ev) -> None:
        if self.quiet:
            return
        if ev.kind == "step":
            rate = f", {ev.samples_per_s:.1f} samples/s" if ev.samples_per_s else ""
            print(f"epoch {ev.epoch + 1}/{ev.epochs} step {ev.step}/{ev.total_steps} loss {ev.loss:.4f} "
                  f"lr {ev.lr:.2e}{rate}, ETA {_fmt_time(ev.eta_s)}", file=sys.stderr, flush=True)
        elif ev.kind == "epoch":
            m = ev.metrics
            extra = ""
            for key in ("accuracy", "kappa", "macro_f1", "mean_c_index", "loss", "retrieval_accuracy"):
                if m.get(key) is not None:
                    extra += f" {key} {m[key]:.4f}"
            print(f"== {ev.message}" + (f"; validation{extra}" if extra else ""), file=sys.stderr, flush=True)
        elif ev.kind in ("start", "best", "early_stop", "done", "cancelled"):
            print(f"[{ev.kind}] {ev.message}", file=sys.stderr, flush=True)


def _state_with_sigint():
    from ..jobs import ConsoleProgress, TaskState

    state = TaskState([ConsoleProgress("train")])
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if state.is_interruption_requested():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        print("\nstopping after the current step (Ctrl-C again to interrupt now)", file=sys.stderr)
        state.request_interruption()

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        previous = None
    return state, previous


def _guard_run_output(args: argparse.Namespace, *inputs: str | None) -> None:
    """Refuse an output folder that is one of the run's inputs (the cohort, the base or
    evaluated model, the split, the channel map) or holds one: ``--overwrite``
    empties the folders a run owns, which could delete the very model being fine-tuned.

    Raises
    ------
    OutputError
        Naming the output and the input.
    """
    from ..errors import OutputError
    from . import guard_output

    given = [Path(p) for p in inputs if p]
    guard_output(args.output, given, overwrite=True, folder_ok=True)
    out = Path(args.output).resolve()
    for src in given:
        if src.exists() and src.resolve().is_relative_to(out):
            raise OutputError(args.output, f"holds an input of this command ({src}): the run would "
                                           "write over it; choose another output folder")


def _run_job(fn, config, args) -> int:
    from ..errors import JobCancelled

    state, previous = _state_with_sigint()
    try:
        result = fn(config, state=state, callbacks=[_Printer(args.quiet)])
    except ValueError as exc:
        # Settings, cohort and output-folder checks say what is wrong in their message.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except JobCancelled:
        print(f"cancelled: the best checkpoint so far is in {args.output}; continue with --resume",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(f"{result.status}: best epoch {result.best_epoch}; models in {result.output}")
        for kind, folder in result.models.items():
            print(f"  {kind}: {folder}")
        for name, m in (("validation", result.validation), ("test", result.test)):
            shown = {k: m[k] for k in ("accuracy", "kappa", "macro_f1", "mean_c_index", "loss",
                                       "retrieval_accuracy") if m.get(k) is not None}
            if shown:
                print(f"  {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    return 0


def run_finetune_cmd(args: argparse.Namespace) -> int:
    from ..training.api import run_finetune
    from ..training.config import FinetuneConfig
    from ..training_tasks import get_task, registered_tasks

    spec = get_task(args.task)
    kw = {k: v for k, v in _train_kwargs(args).items() if v is not None}
    options = _options_of(args, spec, registered_tasks("finetune"))
    _guard_run_output(args, args.data, args.base, args.split, args.channel_map, args.head_init)
    config = FinetuneConfig(task=spec.name, base=args.base, max_tokens=args.max_tokens, head=args.head_params,
                            head_init=args.head_init, **options, **kw)
    return _run_job(run_finetune, config, args)


def run_pretrain_cmd(args: argparse.Namespace) -> int:
    from ..training.api import run_pretrain
    from ..training.config import PretrainConfig
    from ..training_tasks import get_task

    spec = get_task(args.training_task)
    kw = {k: v for k, v in _train_kwargs(args).items() if v is not None}
    _guard_run_output(args, args.data, args.split, args.channel_map)
    config = PretrainConfig(**_options_of(args, spec, []), **kw)
    return _run_job(run_pretrain, config, args)


def run_evaluate_cmd(args: argparse.Namespace) -> int:
    from ..jobs import ConsoleProgress, TaskState
    from ..training.api import run_evaluate
    from ..training_tasks import task_for_kind

    if args.output:
        _guard_run_output(args, args.data, args.model, args.split, args.channel_map)
    t0 = time.monotonic()
    try:
        metrics = run_evaluate(args.data, args.model, output=args.output, split=args.split, part=args.part,
                               device=args.device, cache_dir=args.cache_dir, channel_map=args.channel_map,
                               state=TaskState([ConsoleProgress("evaluate")]), task=args.task)
    except ValueError as exc:
        # As for training: the cohort and split checks say what is wrong in their message.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(metrics, indent=2, default=str))
        return 0
    print(f"{metrics['kind']} model {metrics['model']} on {metrics['n_recordings']} recordings "
          f"({time.monotonic() - t0:.1f} s)")
    for line in task_for_kind(metrics["kind"]).load_task_class().metrics_lines(metrics):
        print(line)
    if args.output:
        print(f"  metrics and plots in {Path(args.output)}")
    return 0
