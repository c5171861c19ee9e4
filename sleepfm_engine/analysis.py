"""The one analysis of a night: embed once, stage, score risk, write the outputs, with provenance.

The cohort pipeline (``sleepfm embed|stage|risk``), the report (``sleepfm report``, ``sleepfm
export stats``) and the application's analysis process all run a night through
:func:`analyse_night`, so the same inputs give the same results and the same
:class:`~sleepfm_engine.provenance.Provenance`. :class:`Analyser` adds what a long-lived caller
keeps between nights: loaded releases (:class:`ReleaseCache`) and the last night's embeddings,
so staging then risk of one night embed it once.

Every step is a job step: it takes a :class:`~sleepfm_engine.jobs.TaskState` (progress and
cooperative cancellation).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ModelError
from .jobs import TaskState
from .provenance import Provenance, ResultSource, write_provenance_file

__all__ = ["PRODUCTS", "NightRequest", "NightResult", "ReleaseCache", "Analyser", "analyse_night",
           "device_name", "night_provenance", "deidentified_result"]

#: What a night's analysis can produce: product -> (result it fills, model kind it needs).
PRODUCTS: dict[str, tuple[str, str]] = {"embed": ("embeddings", "base"),
                                        "stage": ("hypnogram", "staging"),
                                        "risk": ("risk", "diagnosis")}


def _write_embeddings(result: "NightResult", path: Path) -> Path:
    return result.embeddings.to_hdf5(path)


def _write_hypnogram(result: "NightResult", path: Path) -> Path:
    from .formats import write_hypnogram

    return write_hypnogram(result.hypnogram, path, fmt="csv")


def _write_risk(result: "NightResult", path: Path) -> Path:
    return result.risk.to_csv(path)


#: How each product is written to a file (all atomic).
_WRITERS: dict[str, Callable[["NightResult", Path], Path]] = {
    "embed": _write_embeddings, "stage": _write_hypnogram, "risk": _write_risk}


def device_name(device: Any) -> str:
    """The device as provenance records it: ``"cpu"``, ``"cuda:0 (NVIDIA H200)"``, ``"mps"``.

    The CPU thread count is left out: it is a property of the process, not of the results.
    """
    from .devices import describe_device

    return "cpu" if device.type == "cpu" else describe_device(device)


@dataclass(frozen=True)
class NightResult:
    """What one analysis of a night produced.

    Attributes
    ----------
    provenance : Provenance
        Engine version, models, device, precision and the source of each result.
    embeddings : Embeddings or None
    hypnogram : Hypnogram or None
        SleepFM staging (30-s epochs with probabilities), when asked for.
    risk : RiskTable or None
        Disease log-hazards, when asked for.
    ood : OODResult or None
        With staging: the night against the staging model's training data
        (:mod:`sleepfm_engine.ood`), or which checks the model does not allow.
    written : tuple of Path
        Output files written, then the provenance file and, with staging, the night's
        out-of-distribution record.
    """

    provenance: Provenance
    embeddings: Any = None
    hypnogram: Any = None
    risk: Any = None
    ood: Any = None
    written: tuple[Path, ...] = ()

    def without_embeddings(self) -> "NightResult":
        """This result without the (large) embeddings, for sending to another process."""
        return replace(self, embeddings=None)


def night_provenance(release: Any, device: Any, precision: str, embeddings: Any,
                     embeddings_file: str | os.PathLike | None = None,
                     heads: Mapping[str, Any] | None = None) -> Provenance:
    """The provenance of a night's results.

    Parameters
    ----------
    release : Release
        The release the heads came from.
    device : torch.device
        Where the models ran.
    precision : str
    embeddings : Embeddings
        The night's embeddings; they name the base model that made them.
    embeddings_file : path, optional
        The file the embeddings were read from (then credited to it, not to a model run).
    heads : mapping, optional
        Result (``"hypnogram"``, ``"risk"``) -> the :class:`ModelHandle` that computed it.
    """
    from . import __version__

    hashes = {"base": embeddings.config_hash} if embeddings.config_hash else {}
    sources = {"embeddings": (ResultSource.file(embeddings_file) if embeddings_file is not None
                              else ResultSource.model(embeddings.model_id, embeddings.config_hash))}
    kind_of = {result: kind for result, kind in PRODUCTS.values()}
    for result, handle in dict(heads or {}).items():
        hashes[kind_of[result]] = handle.config_hash
        sources[result] = ResultSource.model(handle.model_id, handle.config_hash)
    # Merging puts hashes and sources in their canonical order.
    return Provenance(__version__, model_id=embeddings.model_id,
                      model_folder=str(Path(release.path).resolve()), device=device_name(device),
                      precision=precision).merged(
        Provenance(__version__, config_hashes=tuple(hashes.items()),
                   sources=tuple(sources.items())))


def deidentified_result(result: NightResult, deid: Any) -> NightResult:
    """A night's results safe to write under a study ID (:class:`~sleepfm_engine.deidentify.Deidentifier`).

    The source path becomes the pseudonym everywhere it is kept (embeddings, hypnogram, risk
    table, provenance), the start date is shifted when ``deid`` shifts dates, a file the
    embeddings were read from is named by the pseudonym, and any identifying string left in
    free text (a channel label, a scorer) is scrubbed.
    """
    if not deid.active:
        return result
    emb = result.embeddings
    if emb is not None:
        emb = replace(emb, source=deid.pseudonym if deid.enabled else emb.source,
                      start=deid.date(emb.start),
                      channels={m: [deid.text(c) for c in labels] for m, labels in emb.channels.items()})
    hyp = None if result.hypnogram is None else deid.hypnogram(result.hypnogram, automatic=True)
    risk = result.risk
    if risk is not None and deid.enabled:
        risk = replace(risk, source=deid.pseudonym)
    sources = tuple((name, replace(src, name=deid.text(src.name)))
                    for name, src in result.provenance.sources)
    return replace(result, embeddings=emb, hypnogram=hyp, risk=risk,
                   provenance=replace(result.provenance, sources=sources))


def analyse_night(state: TaskState | None, release: Any, *, device: Any,
                  products: tuple[str, ...] | list[str] = ("stage",),
                  recording: Any = None, prepared: tuple[Any, Any] | None = None,
                  embeddings: Any = None, embeddings_file: str | os.PathLike | None = None,
                  precision: str = "fp32", batch_size: int = 64, workers: int | None = None,
                  channel_overrides: Mapping[str, str] | str | os.PathLike | None = None,
                  age: float | None = None, sex: str | None = None,
                  outputs: Mapping[str, str | os.PathLike] | None = None,
                  provenance_file: str | os.PathLike | None = None,
                  log: Callable[[str], None] | None = None,
                  deidentifier: Any = None) -> NightResult:
    """Analyse one night: embed it (unless given its embeddings), then stage and score risk.

    Give exactly one of ``recording``, ``prepared`` and ``embeddings``.

    Parameters
    ----------
    state : TaskState, optional
        Progress and cancellation.
    release : Release
        Loaded models: the base model to embed, the heads the products need.
    device : torch.device
        Where the models run (see :func:`sleepfm_engine.devices.select_device`).
    products : sequence of str
        Of :data:`PRODUCTS`; embeddings are always computed (``"embed"`` adds nothing else).
    recording : Recording or path, optional
        The night; its channels are mapped with ``channel_overrides`` (default: those the user
        saved for it).
    prepared : (Recording, dict of ModalityInput), optional
        A night already preprocessed (the cohort pipeline prepares the next one meanwhile).
    embeddings : Embeddings, optional
        Embeddings computed earlier (or read from ``embeddings_file``).
    embeddings_file : path, optional
        Where ``embeddings`` were read from: provenance credits the file.
    precision, batch_size, workers
        As for :func:`sleepfm_engine.inference.embed_recording`.
    age, sex : optional
        For ``"risk"``: the person's age in years and sex.
    outputs : mapping, optional
        Product -> file to write it to (atomically).
    provenance_file : path, optional
        Where to record the provenance of every output written (see
        :func:`sleepfm_engine.provenance.write_provenance_file`). With staging, the night's
        out-of-distribution record goes beside it (:func:`sleepfm_engine.ood.ood_path`).
    log : callable, optional
        Told one line when saved channel overrides are used.
    deidentifier : Deidentifier, optional
        What is written passes through it first (:func:`deidentified_result`): pseudonym for
        source paths, dates shifted if it shifts them. The returned result is the written one.

    Returns
    -------
    NightResult

    Raises
    ------
    ValueError
        For an unknown product, risk without age and sex, or not exactly one night given.
    ModelError
        When the release lacks a model a product needs.

    Warns
    -----
    OODWarning
        With staging, when the night is unlike the staging model's training data or no check
        is possible.
    """
    from .inference.handles import resolve_model

    state = state if state is not None else TaskState()
    outputs = {k: Path(v) for k, v in dict(outputs or {}).items()}
    wanted = list(dict.fromkeys(list(products) + list(outputs)))
    unknown = [p for p in wanted if p not in PRODUCTS]
    if unknown:
        raise ValueError(f"unknown products {unknown}; expected {', '.join(PRODUCTS)}")
    if sum(x is not None for x in (recording, prepared, embeddings)) != 1:
        raise ValueError("give exactly one of recording, prepared and embeddings")
    if "risk" in wanted and (age is None or sex is None):
        raise ValueError("risk needs age and sex (--age/--sex or --demographics)")
    heads = {PRODUCTS[p][0]: resolve_model(release, PRODUCTS[p][1])
             for p in wanted if p != "embed"}
    head_share = 0.15 * len(heads) / 2
    embed_stop = 1.0 - head_share - (0.05 if outputs else 0.0)
    if embeddings is None:
        state.check_cancelled()
        state.set_status("computing embeddings")
        embeddings = _embed(state.sub(0.0, embed_stop), release, device, recording, prepared,
                            precision, batch_size, workers, channel_overrides, log)
    state.set_progress(embed_stop)
    result = NightResult(night_provenance(release, device, precision, embeddings, embeddings_file,
                                          heads), embeddings=embeddings)
    at = embed_stop
    if "hypnogram" in heads:
        from .inference.staging import stage_night
        from .ood import warn_if_flagged

        state.check_cancelled()
        state.set_status("staging")
        hyp, ood = stage_night(embeddings, heads["hypnogram"], device=device, precision=precision,
                               state=state.sub(at, at + 0.15))
        warn_if_flagged(ood, embeddings.source, heads["hypnogram"].model_id)
        result, at = replace(result, hypnogram=hyp, ood=ood), at + 0.15
    if "risk" in heads:
        from .inference.risk import risk_recording
        from .ood import warn_if_flagged

        state.check_cancelled()
        state.set_status("disease risk")
        table = risk_recording(embeddings, heads["risk"], age=float(age), sex=sex, device=device,
                               precision=precision, label_mapping=release.label_mapping)
        warn_if_flagged(table.ood, embeddings.source, heads["risk"].model_id)
        result, at = replace(result, risk=table), at + 0.15
    state.set_progress(at)
    if deidentifier is not None:
        result = deidentified_result(result, deidentifier)
    written = []
    for product, path in outputs.items():
        state.check_cancelled()
        state.set_status(f"writing {path.name}")
        written.append(Path(_WRITERS[product](result, path)))
    if provenance_file is not None and written:
        written.append(write_provenance_file(provenance_file,
                                             {p: result.provenance for p in written}))
        if result.ood is not None and "stage" in outputs:
            from .ood import ood_path, write_ood_file

            # Beside the provenance: what the hypnogram's model made of the night.
            written.append(write_ood_file(ood_path(provenance_file), result.ood,
                                          heads["hypnogram"].model_id))
    state.set_progress(1.0)
    return replace(result, written=tuple(written))


def _embed(state: TaskState, release: Any, device: Any, recording: Any, prepared: Any,
           precision: str, batch_size: int, workers: int | None, overrides: Any, log: Any) -> Any:
    from .inference.base import embed_inputs
    from .inference.handles import resolve_model
    from .inference.inputs import prepare_modalities, saved_channel_map

    base = resolve_model(release, "base")
    if prepared is not None:
        rec, inputs = prepared
        return embed_inputs(inputs, base, device=device, batch_size=batch_size,
                            precision=precision, state=state, start=rec.start,
                            duration_s=rec.duration, source=str(rec.path))
    from .channels import ChannelMap
    from .recording import open_recording

    rec = open_recording(recording) if isinstance(recording, (str, os.PathLike)) else recording
    try:
        cmap = (saved_channel_map(rec, log=log) if overrides is None
                else ChannelMap.from_recording(rec, overrides=overrides))
        inputs = prepare_modalities(rec, cmap, workers=workers, state=state.sub(0.0, 0.5))
        state.check_cancelled()
        return embed_inputs(inputs, base, device=device, batch_size=batch_size,
                            precision=precision, state=state.sub(0.5, 1.0), start=rec.start,
                            duration_s=rec.duration, source=str(rec.path))
    finally:
        if rec is not recording:
            rec.close()


class ReleaseCache:
    """Loaded model releases by (folder, device), shared by jobs on several threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._releases: dict[tuple[str, str], Any] = {}

    def get(self, model: str | os.PathLike, device: Any, kinds: tuple[str, ...] | list[str],
            state: TaskState | None = None) -> Any:
        """The release ``model`` (a folder or a registered name) with ``kinds`` loaded on ``device``.

        Raises
        ------
        ModelError
            If the folder is not a release or lacks one of ``kinds``.
        """
        from .checkpoints import load_release, release_folders
        from .registry import resolve_model

        folder = resolve_model(model)
        present = release_folders(folder)
        absent = [k for k in kinds if k not in present]
        if absent:
            raise ModelError(folder, f"this folder has no {' or '.join(absent)} model "
                                     f"(it holds: {', '.join(present) or 'none'})")
        key = (str(Path(folder).resolve()), str(device))
        with self._lock:
            release = self._releases.get(key)
            if release is None or any(getattr(release, k, None) is None for k in kinds):
                if state is not None:
                    state.set_status(f"loading models from {Path(folder).name}")
                loaded = set(release.kinds) if release is not None else set()
                release = load_release(folder, device=device, kinds=sorted(loaded | set(kinds)))
                self._releases[key] = release
            return release

    def clear(self) -> None:
        with self._lock:
            self._releases.clear()


@dataclass(frozen=True)
class NightRequest:
    """One analysis asked of an :class:`Analyser` (plain values: it crosses processes).

    Attributes
    ----------
    recording : str
        The recording file.
    model : str
        A release folder or a registered model name.
    products : tuple of str
        Of :data:`PRODUCTS`.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
    precision : str
    batch_size : int
    workers : int or None
        Threads decoding channels.
    overrides : dict or None
        The user's channel reassignments ``{label: modality}``; None: those saved for the
        recording.
    age, sex : optional
        For risk.
    outputs : dict
        Product -> file to write.
    provenance_file : str or None
    """

    recording: str
    model: str
    products: tuple[str, ...] = ("stage",)
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int = 64
    workers: int | None = None
    overrides: Mapping[str, str] | None = None
    age: float | None = None
    sex: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    provenance_file: str | None = None

    def embeddings_key(self, folder: str, device: str) -> tuple:
        """What the night's embeddings depend on."""
        overrides = None if self.overrides is None else tuple(sorted(dict(self.overrides).items()))
        return (str(Path(self.recording).resolve()), folder, device, self.precision, overrides)


class Analyser:
    """Runs :class:`NightRequest` s, keeping loaded releases and the last night's embeddings."""

    def __init__(self):
        self.releases = ReleaseCache()
        self._lock = threading.Lock()
        self._last: tuple[tuple, Any] | None = None

    def run(self, state: TaskState | None, request: NightRequest) -> NightResult:
        """Analyse the night of ``request`` (see :func:`analyse_night`)."""
        from .devices import select_device

        state = state if state is not None else TaskState()
        device = select_device(None if request.device in ("", "auto") else request.device)
        wanted = list(dict.fromkeys(list(request.products) + list(request.outputs)))
        kinds = ["base"] + [PRODUCTS[p][1] for p in wanted if p in PRODUCTS and p != "embed"]
        release = self.releases.get(request.model, device, kinds, state)
        state.check_cancelled()
        key = request.embeddings_key(str(release.path), str(device))
        with self._lock:
            cached = self._last[1] if self._last is not None and self._last[0] == key else None
        result = analyse_night(
            state, release, device=device, products=request.products,
            recording=None if cached is not None else request.recording, embeddings=cached,
            precision=request.precision, batch_size=request.batch_size, workers=request.workers,
            channel_overrides=None if request.overrides is None else dict(request.overrides),
            age=request.age, sex=request.sex, outputs=request.outputs,
            provenance_file=request.provenance_file)
        with self._lock:
            self._last = (key, result.embeddings)
        return result

    def warm_up(self, state: TaskState | None, model: str | os.PathLike | None,
                device: str = "auto") -> None:
        """Import torch and the inference code and, given a release, load its models.

        Run ahead of the first analysis so it starts at once. A folder that cannot be loaded
        is only reported in the status (the analysis that needs it raises).
        """
        import scipy.signal  # noqa: F401 - the import is the point
        import torch  # noqa: F401

        import sleepfm_engine.inference.risk  # noqa: F401
        import sleepfm_engine.inference.staging  # noqa: F401

        from .checkpoints import release_folders
        from .devices import select_device
        from .registry import resolve_model

        state = state if state is not None else TaskState()
        state.set_progress(0.5)
        if model:
            dev = select_device(None if device in ("", "auto") else device)
            try:
                self.releases.get(model, dev, tuple(release_folders(resolve_model(model))), state)
            except (ModelError, OSError) as exc:
                # Warming up is ahead of need: the analysis that needs the models reports the
                # problem with the folder when it runs; here it is only shown.
                state.set_status(f"models not loaded: {exc}")
        state.set_progress(1.0)
