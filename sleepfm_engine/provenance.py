"""Where a result came from: one record type written beside every output of a night's analysis.

A :class:`Provenance` names the engine version, the model release (folder, id, config hash of
each model used), the device the models ran on, the numeric precision, and for each result
(embeddings, automatic hypnogram, disease risk) its :class:`ResultSource`: the model that
computed it, or the file it was imported from. The report prints it (:meth:`Provenance.report_fields`);
the cohort pipeline and the application's exports write it as ``<name>.provenance.json``
(:func:`write_provenance_file`), which :func:`read_provenance_file` reads back identically.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .atomic import write_text_atomic
from .errors import SleepFMError

__all__ = ["RESULTS", "MODEL", "FILE", "DETECTOR", "MANUAL", "SEVERAL", "PROVENANCE_SUFFIX", "ResultSource", "Provenance", "ProvenanceError", "combine",
           "provenance_path", "write_provenance_file", "read_provenance_file"]

#: Results a provenance record speaks for, with the label the report prints for each.
RESULTS: dict[str, str] = {"embeddings": "Embeddings", "hypnogram": "Automatic staging",
                           "risk": "Disease risk", "events": "Scored events"}
#: Kinds of :class:`ResultSource`: a model, an imported file, an event detector (a scoring
#: library), a person scoring by hand, or several of these (scored events merged from sources).
MODEL, FILE, DETECTOR, MANUAL, SEVERAL = "model", "file", "detector", "manual", "several"
_KINDS = (MODEL, FILE, DETECTOR, MANUAL, SEVERAL)
#: Model kinds in the order their config hashes are listed.
_KIND_ORDER = ("base", "staging", "diagnosis")
#: Suffix of the provenance file written beside a night's outputs.
PROVENANCE_SUFFIX = ".provenance.json"
_FORMAT = "sleepfm-studio provenance"
_FORMAT_VERSION = 1


class ProvenanceError(SleepFMError, ValueError):
    """A provenance file cannot be read. The message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class ResultSource:
    """What produced one result.

    Attributes
    ----------
    kind : str
        :data:`MODEL` (computed by a model) or :data:`FILE` (imported from a file).
    name : str
        The model's id, or the file's path.
    config_hash : str
        The model's config hash (empty for a file).
    """

    kind: str
    name: str
    config_hash: str = ""

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"a result source is one of {', '.join(_KINDS)}, not {self.kind!r}")

    @classmethod
    def model(cls, model_id: str, config_hash: str = "") -> "ResultSource":
        return cls(MODEL, str(model_id), str(config_hash))

    @classmethod
    def file(cls, path: str | os.PathLike) -> "ResultSource":
        return cls(FILE, str(Path(path).resolve()))

    def describe(self) -> str:
        """``"model M (hash)"``, ``"imported from file X"``, ``"detector D"``, ``"manual
        scoring (S)"`` or, for several sources, their descriptions."""
        if self.kind == FILE:
            return f"imported from file {self.name}"
        if self.kind == DETECTOR:
            return f"detector {self.name}"
        if self.kind == MANUAL:
            return "manual scoring" + (f" ({self.name})" if self.name else "")
        if self.kind == SEVERAL:
            return self.name
        return f"model {self.name}" + (f" ({self.config_hash})" if self.config_hash else "")


@dataclass(frozen=True)
class Provenance:
    """Where the results of a night's analysis came from.

    Attributes
    ----------
    engine_version : str
        The SleepFM Studio version that produced or imported the results.
    model_id : str
        Id of the base model (empty when no model ran).
    model_folder : str
        The release folder, resolved (empty when no model ran).
    config_hashes : tuple of (kind, hash)
        Config hash of each model used, in base, staging, diagnosis order.
    device : str
        The device the models ran on, resolved (``"cpu"``, ``"cuda:0 (NVIDIA H200)"``).
    precision : str
        ``"fp32"`` or ``"bf16"``.
    sources : tuple of (result, ResultSource)
        For each result of :data:`RESULTS` present, what produced it.
    detections : mapping
        Detector name -> that detector's own record of its run on the night (JSON data: its
        settings, the parts it did not score, a model detector's out-of-distribution check
        under ``"ood"``); empty for results no detector made.
    """

    engine_version: str
    model_id: str = ""
    model_folder: str = ""
    config_hashes: tuple[tuple[str, str], ...] = ()
    device: str = ""
    precision: str = ""
    sources: tuple[tuple[str, ResultSource], ...] = ()
    detections: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        unknown = [r for r, _ in self.sources if r not in RESULTS]
        if unknown:
            raise ValueError(f"unknown results {unknown}; expected {', '.join(RESULTS)}")

    # ------------------------------------------------------------------------- construction
    @classmethod
    def imported(cls, result: str, path: str | os.PathLike) -> "Provenance":
        """The provenance of a result read from a file (no model ran)."""
        from . import __version__

        return cls(__version__, sources=((result, ResultSource.file(path)),))

    def source(self, result: str) -> ResultSource | None:
        """What produced ``result``, or None when this record does not cover it."""
        return dict(self.sources).get(result)

    def with_source(self, result: str, source: ResultSource) -> "Provenance":
        """This record with ``result`` credited to ``source`` (replacing an earlier credit)."""
        kept = tuple((r, s) for r, s in self.sources if r != result)
        return replace(self, sources=_ordered(kept + ((result, source),)))

    def merged(self, other: "Provenance | None") -> "Provenance":
        """This record and ``other``'s results together (as staging then risk of one night).

        Config hashes and sources are united (``other`` wins for a result both cover). Where
        both ran models with a different folder, model, device or precision, both values are
        kept (``"a; b"``): one record then speaks for two runs, and each result's source says
        which model made it.
        """
        if other is None:
            return self

        def both(a: str, b: str) -> str:
            return a if not b or a == b else b if not a else f"{a}; {b}"

        hashes = dict(self.config_hashes)
        hashes.update(other.config_hashes)
        sources = dict(self.sources)
        sources.update(other.sources)
        return Provenance(both(self.engine_version, other.engine_version),
                          both(self.model_id, other.model_id),
                          both(self.model_folder, other.model_folder), _ordered_hashes(hashes),
                          both(self.device, other.device), both(self.precision, other.precision),
                          _ordered(tuple(sources.items())),
                          {**self.detections, **other.detections})

    # ------------------------------------------------------------------------- output
    def report_fields(self) -> list[tuple[str, str]]:
        """(label, value) rows the report prints."""
        out: list[tuple[str, str]] = []
        if self.model_folder:
            out.append(("Model folder", self.model_folder))
        if self.config_hashes:
            out.append(("Config hash", ", ".join(f"{k} {h}" for k, h in self.config_hashes)))
        out.append(("Engine version", f"SleepFM Studio {self.engine_version}"))
        if self.device:
            out.append(("Device", self.device))
        if self.precision:
            out.append(("Precision", self.precision))
        out += [(RESULTS[r], s.describe()) for r, s in self.sources]
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {"engine_version": self.engine_version, "model_id": self.model_id,
                "model_folder": self.model_folder,
                "config_hashes": {k: h for k, h in self.config_hashes},
                "device": self.device, "precision": self.precision,
                "sources": {r: {"kind": s.kind, "name": s.name, "config_hash": s.config_hash}
                            for r, s in self.sources},
                # only when a detector ran: records of other results read as before
                **({"detections": dict(self.detections)} if self.detections else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Provenance":
        """Read :meth:`to_dict`'s output.

        Raises
        ------
        KeyError, TypeError, ValueError
            When a field is missing or malformed.
        """
        sources = tuple((str(r), ResultSource(str(s["kind"]), str(s["name"]),
                                              str(s.get("config_hash", ""))))
                        for r, s in dict(data["sources"]).items())
        detections = {str(k): dict(v) for k, v in dict(data.get("detections", {})).items()}
        return cls(str(data["engine_version"]), str(data["model_id"]), str(data["model_folder"]),
                   _ordered_hashes({str(k): str(h) for k, h in dict(data["config_hashes"]).items()}),
                   str(data["device"]), str(data["precision"]), _ordered(sources), detections)


def combine(*records: Provenance | None) -> Provenance | None:
    """The records given (None ones skipped) merged in order (see :meth:`Provenance.merged`);
    None when there is none."""
    present = [r for r in records if r is not None]
    if not present:
        return None
    out = present[0]
    for record in present[1:]:
        out = out.merged(record)
    return out


def _ordered_hashes(hashes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    rank = {k: i for i, k in enumerate(_KIND_ORDER)}
    return tuple(sorted(hashes.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _ordered(sources: tuple[tuple[str, ResultSource], ...]) -> tuple[tuple[str, ResultSource], ...]:
    order = list(RESULTS)
    return tuple(sorted(sources, key=lambda rs: order.index(rs[0])))


def provenance_path(output: str | os.PathLike) -> Path:
    """The provenance file of a single output: ``x.embeddings.hdf5`` -> ``x.embeddings.provenance.json``."""
    return Path(output).with_suffix(PROVENANCE_SUFFIX)


def write_provenance_file(path: str | os.PathLike, outputs: Mapping[str | os.PathLike, Provenance]
                          ) -> Path:
    """Record the provenance of each output file in ``path`` (atomically).

    Outputs already recorded in an existing file are kept unless listed again, so staging and
    risk written by two runs keep both records.

    Parameters
    ----------
    path : path
        The provenance file (``<name>.provenance.json``).
    outputs : mapping
        Output file -> its :class:`Provenance`; files are recorded by name (they lie beside it).

    Raises
    ------
    ProvenanceError
        When an existing file at ``path`` is not a provenance file.
    """
    path = Path(path)
    records = read_provenance_file(path) if path.exists() else {}
    records.update({Path(p).name: prov for p, prov in outputs.items()})
    data = {"format": _FORMAT, "format_version": _FORMAT_VERSION,
            "outputs": {name: prov.to_dict() for name, prov in sorted(records.items())}}
    return write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def read_provenance_file(path: str | os.PathLike) -> dict[str, Provenance]:
    """Output file name -> :class:`Provenance`, as :func:`write_provenance_file` wrote them.

    Raises
    ------
    ProvenanceError
        When the file cannot be read or is not a provenance file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProvenanceError(path, f"not a readable provenance file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ProvenanceError(path, f"not a provenance file (no format {_FORMAT!r})")
    try:
        return {str(name): Provenance.from_dict(rec) for name, rec in dict(data["outputs"]).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProvenanceError(path, f"malformed provenance record ({exc!r})") from exc
