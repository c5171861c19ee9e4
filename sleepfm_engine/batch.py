"""Many recordings through the models: the engine side of ``sleepfm embed|stage|risk``.

Recordings are decoded and preprocessed on background threads (``workers`` nights ahead)
while the models run on the current one, so a GPU is not left waiting for the CPU. Each file
succeeds or fails on its own; the summary lists what failed and why. Outputs are written
atomically, so a finished output is always complete and a later run may skip it.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .errors import JobCancelled
from .formats.discover import AUTOMATIC_HYPNOGRAM_SUFFIX
from .jobs import TaskState
from .recording import RECORDING_SUFFIXES

__all__ = ["OUTPUT_SUFFIXES", "FileTask", "RunSummary", "plan_outputs", "run_files", "EMBEDDING_SUFFIXES",
           "pseudonymise"]

#: What each product is written as, beside the recording's name (an automatic hypnogram's name
#: never pairs it as the recording's manual scoring).
OUTPUT_SUFFIXES: dict[str, str] = {"embed": ".hdf5", "stage": AUTOMATIC_HYPNOGRAM_SUFFIX,
                                   "risk": ".risk.csv"}
#: Inputs taken as embedding files rather than recordings.
EMBEDDING_SUFFIXES: tuple[str, ...] = (".hdf5", ".h5")


@dataclass
class FileTask:
    """One input and the outputs it should produce.

    ``pseudonym`` is the study ID of a de-identified task (:func:`pseudonymise`): its outputs
    are named by it and what they hold is de-identified; None writes them as they are.
    """

    source: Path
    name: str
    outputs: dict[str, Path]
    pseudonym: str | None = None

    @property
    def is_embeddings(self) -> bool:
        return self.source.suffix.lower() in EMBEDDING_SUFFIXES

    def output_for(self, product: str) -> Path:
        """Where ``product`` of this input goes (beside its other outputs)."""
        first = next(iter(self.outputs.values()))
        return self.outputs.get(product) or first.with_name(Path(self.name).name
                                                            + OUTPUT_SUFFIXES[product])

    @property
    def provenance_file(self) -> Path:
        """The file recording where each output of this input came from."""
        from .provenance import PROVENANCE_SUFFIX

        return self.output_for("embed").with_name(Path(self.name).name + PROVENANCE_SUFFIX)


@dataclass
class RunSummary:
    """What a run did."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def text(self) -> str:
        lines = [f"{len(self.done)} done, {len(self.skipped)} skipped (already finished), "
                 f"{len(self.failed)} failed in {self.seconds:.1f} s"]
        lines += [f"  FAILED {p}: {msg}" for p, msg in self.failed]
        return "\n".join(lines)


def _expand(paths: Iterable[str | os.PathLike], allow_embeddings: bool) -> list[tuple[Path, Path]]:
    """(file, root it was found under) for files given directly or found in folders."""
    out: list[tuple[Path, Path]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in RECORDING_SUFFIXES)
            out += [(q, p) for q in found]
        else:
            out.append((p, p.parent))
    seen: dict[Path, tuple[Path, Path]] = {}
    for f, root in out:
        seen.setdefault(f.resolve() if f.exists() else f, (f, root))
    return list(seen.values())


def plan_outputs(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, products: Iterable[str],
                 allow_embeddings: bool = False) -> list[FileTask]:
    """Pair each input with its output files under ``out_dir``.

    Files found inside a folder keep their sub-folder below it (``in/a/x.edf`` → ``out/a/x.*``)
    so two nights with the same name in different folders do not collide; files named
    directly go to ``out_dir`` itself.

    Raises
    ------
    ValueError
        When two inputs would write the same output.
    """
    out_dir = Path(out_dir)
    products = list(products)
    unknown = [p for p in products if p not in OUTPUT_SUFFIXES]
    if unknown:
        raise ValueError(f"unknown products {unknown}; expected {', '.join(OUTPUT_SUFFIXES)}")
    tasks: list[FileTask] = []
    used: dict[Path, Path] = {}
    for f, root in _expand(paths, allow_embeddings):
        rel = f.relative_to(root) if f.is_relative_to(root) else Path(f.name)
        name = str(rel.with_suffix(""))
        outputs = {k: out_dir / (name + OUTPUT_SUFFIXES[k]) for k in products}
        for target in outputs.values():
            if target in used:
                raise ValueError(f"{f} and {used[target]} would both write {target}; give them "
                                 f"different names or run them separately")
            if target.resolve() == f.resolve():
                raise ValueError(f"{f}: the output {target} would overwrite the input")
            used[target] = f
        tasks.append(FileTask(f, name, outputs))
    return tasks


def pseudonymise(tasks: list[FileTask], out_dir: str | os.PathLike,
                 known: Mapping[str, str] | None = None) -> tuple[list[FileTask], dict[str, str]]:
    """The tasks under pseudonymous study IDs (:mod:`sleepfm_engine.study_ids`).

    Each task's outputs go straight into ``out_dir`` as ``<study ID><suffix>``: no file name,
    and no sub-folder name (a folder per patient is common), of the source is kept. A source
    in ``known`` keeps its ID, so a later run finds its finished outputs.

    Returns
    -------
    tasks : list of FileTask
    mapping : dict
        Source (absolute path) -> study ID, ``known`` included: for the user's ID map only.
    """
    from .study_ids import assign_study_ids, source_key

    out_dir = Path(out_dir)
    mapping = assign_study_ids([t.source for t in tasks], known)
    renamed = []
    for t in tasks:
        sid = mapping[source_key(t.source)]
        renamed.append(FileTask(t.source, sid, {k: out_dir / (sid + OUTPUT_SUFFIXES[k]) for k in t.outputs},
                                pseudonym=sid))
    return renamed, mapping


def _deidentifier(task: FileTask, prepared: Any, embeddings: Any, shift_days: int) -> Any:
    """What de-identifies a task's outputs: its recording's header strings and file names, or
    for an embedding file its own name and that of the recording it came from."""
    from types import SimpleNamespace

    from .deidentify import Deidentifier

    if prepared is not None:
        return Deidentifier.from_recording(prepared[0], shift_days=shift_days, pseudonym=task.pseudonym)
    deid = Deidentifier.from_recording(SimpleNamespace(path=task.source, start=embeddings.start),
                                       shift_days=shift_days, pseudonym=task.pseudonym)
    if embeddings.source:
        deid = deid.extended(Deidentifier.from_recording(SimpleNamespace(path=embeddings.source)))
    return deid


def _finished(task: FileTask, config_hash: str | None) -> bool:
    """All outputs exist (writes are atomic, so they are complete); an embedding file must
    also come from the same base model."""
    for kind, path in task.outputs.items():
        if not path.is_file():
            return False
        if kind == "embed" and config_hash:
            from .inference.embeddings_io import embeddings_attrs

            try:
                if embeddings_attrs(path).get("config_hash") != config_hash:
                    return False
            except OSError:
                return False
    return True


#: Channels one night decodes and filters at once. Each channel in flight holds a few float64
#: copies of itself (about 0.25 GB for 8 h at 256 Hz), so this bounds a night's memory.
MAX_CHANNEL_THREADS = 6


def _channel_threads(workers: int) -> int:
    return max(1, min(MAX_CHANNEL_THREADS, (os.cpu_count() or 1) // max(1, workers)))


def run_files(tasks: list[FileTask], release: Any, *, device=None, batch_size: int = 64,
              precision: str = "fp32", workers: int = 1, overwrite: bool = False,
              demographics: Callable[[FileTask], tuple[float, str]] | None = None,
              channel_overrides: Mapping[str, str] | str | os.PathLike | None = None,
              save_embeddings: bool = False,
              progress: Callable[[int, int, FileTask], TaskState] | None = None,
              log: Callable[[str], None] = print, verbose: bool = False,
              shift_days: int = 0) -> RunSummary:
    """Run the products each task asks for; never stop at a failed file.

    Parameters
    ----------
    tasks : list of FileTask
        From :func:`plan_outputs`.
    release : Release
        Loaded models (base needed for recordings; staging and diagnosis as the products need).
    device, batch_size, precision
        As for :func:`embed_recording`.
    workers : int
        Recordings decoded and preprocessed ahead on background threads (0: none, one at a time).
    overwrite : bool
        Redo tasks whose outputs exist.
    demographics : callable, optional
        ``task -> (age, sex)``, needed for ``risk``.
    channel_overrides : mapping or path, optional
        Channel → modality overrides applied to every recording (default: those the user
        saved for each recording in the application, if any).
    save_embeddings : bool
        Also write ``<name>.hdf5`` when staging or scoring risk.
    progress : callable, optional
        ``(index, total, task) -> TaskState`` for each file (progress bar, cancellation).
    log : callable
        Where one line per file goes.
    shift_days : int
        Whole days every date of a de-identified task (one with a ``pseudonym``) is shifted by.

    Returns
    -------
    RunSummary
    """
    from .analysis import analyse_night
    from .channels import ChannelMap
    from .inference.embeddings_io import read_embeddings_hdf5
    from .recording import open_recording
    from .inference.inputs import prepare_modalities, saved_channel_map

    t_start = time.perf_counter()
    summary = RunSummary()
    base_info = getattr(release, "info", {}).get("base")
    base_hash = base_info.config_hash if base_info is not None else None
    todo: list[FileTask] = []
    for task in tasks:
        if not overwrite and _finished(task, base_hash):
            summary.skipped.append(task.source)
            log(f"skip {task.source} (finished: {', '.join(str(p) for p in task.outputs.values())})")
        else:
            todo.append(task)

    def prepare(task: FileTask):
        if task.is_embeddings:
            return None
        rec = open_recording(task.source)
        if channel_overrides is None:
            cmap = saved_channel_map(rec, log=log)
        else:
            cmap = ChannelMap.from_recording(rec, overrides=channel_overrides)
        return rec, prepare_modalities(rec, cmap, workers=_channel_threads(workers))

    pool = cf.ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
    pending: dict[int, cf.Future] = {}

    def submit(i: int) -> None:
        if pool is not None and i < len(todo) and i not in pending:
            pending[i] = pool.submit(prepare, todo[i])

    try:
        for i in range(min(workers, len(todo))):
            submit(i)
        for i, task in enumerate(todo):
            state = progress(i, len(todo), task) if progress is not None else None
            t0 = time.perf_counter()
            try:
                if state is not None:
                    state.check_cancelled()
                    state.set_status("decoding and preprocessing")
                prepared = pending.pop(i).result() if pool is not None else prepare(task)
                submit(i + workers)
                outputs = dict(task.outputs)
                if save_embeddings and prepared is not None:
                    outputs.setdefault("embed", task.output_for("embed"))
                if "risk" in outputs and demographics is None:
                    raise ValueError("risk needs age and sex (--age/--sex or --demographics)")
                age, sex = demographics(task) if "risk" in outputs else (None, None)
                embeddings = read_embeddings_hdf5(task.source) if prepared is None else None
                result = analyse_night(
                    state, release, device=device, products=tuple(outputs),
                    prepared=prepared, embeddings=embeddings,
                    embeddings_file=task.source if prepared is None else None,
                    precision=precision, batch_size=batch_size, age=age, sex=sex,
                    outputs=outputs, provenance_file=task.provenance_file,
                    deidentifier=(None if task.pseudonym is None
                                  else _deidentifier(task, prepared, embeddings, shift_days)))
                del prepared
                written = result.written
                if state is not None:
                    state.set_progress(1.0)
                summary.done.append(task.source)
                log(f"done {task.source} -> {', '.join(str(p) for p in written)} "
                    f"({time.perf_counter() - t0:.1f} s)")
            except (JobCancelled, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop a cohort
                message = str(exc) or type(exc).__name__
                if not message.startswith(str(task.source)) and str(task.source.name) not in message:
                    message = f"{type(exc).__name__}: {message}"
                summary.failed.append((task.source, message))
                log(f"FAILED {task.source}: {message}")
                if verbose:
                    log(traceback.format_exc())
                submit(i + workers)
    finally:
        if pool is not None:
            for fut in pending.values():
                fut.cancel()
            pool.shutdown(wait=True)
    summary.seconds = time.perf_counter() - t_start
    return summary
