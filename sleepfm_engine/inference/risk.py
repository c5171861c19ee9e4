"""Disease risk: the CoxPH diagnosis head over a night, labelled with phecodes.

The head reads the night's 5-s embeddings (the first ``max_seq_length`` tokens, 6480 = 9 h for
the released head, as the reference truncates) plus two demographic features, and returns one
log-hazard per phecode. Log-hazards are relative scores: they rank conditions and people, they
are not probabilities.

Demographic features. The reference feeds the two columns after ``Study ID`` of its
demographics CSV (age, gender) as they are; the released model's scaling of age and its coding
of sex are not published. The defaults here are age in years divided by 100 and sex 1 = male,
0 = female. A diagnosis model folder may state its own in ``metadata.json`` under
``"demographics"``: ``{"age_mean": ..., "age_std": ...}`` (z-scored age, as heads fine-tuned
with this engine save it) or ``{"age_scale": ..., "age_offset": ..., "sex_codes": {"M": 1,
"F": 0}}``; it takes precedence.

Labels. Output ``i`` is row ``i`` of ``label_mapping.csv`` (beside the model, else the shipped
one) when the row counts agree; a head fine-tuned here lists its phecodes in ``metadata.json``
(``"phecodes"``), which are then named from the mapping.
"""
from __future__ import annotations

import csv
import io
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..demographics import parse_sex
from ..devices import check_precision, inference_context
from .base import resolve_device
from .embeddings import Embeddings
from .handles import ModelHandle, resolve_model
from .heads import stack_tokens

__all__ = ["RiskTable", "risk_recording", "encode_demographics", "parse_sex", "load_label_mapping",
           "read_demographics_csv", "DEFAULT_DEMOGRAPHICS", "write_risk_csv", "RISK_CSV_COLUMNS"]

#: Encoding of the demographic features when the model folder does not state its own.
DEFAULT_DEMOGRAPHICS: dict[str, Any] = {"age_scale": 0.01, "age_offset": 0.0,
                                        "sex_codes": {"M": 1.0, "F": 0.0}}
#: Columns of a risk CSV (:func:`write_risk_csv`), one row per condition.
RISK_CSV_COLUMNS = ("rank", "label_idx", "phecode", "phenotype", "log_hazard")


def encode_demographics(age: float, sex: str | int, encoding: Mapping[str, Any] | None = None) -> np.ndarray:
    """The head's demographic input ``[age feature, sex feature]`` (float32, shape (2,)).

    Raises
    ------
    ValueError
        For an age that is not a finite number in 0..130 or an unknown sex.
    """
    try:
        age_f = float(age)
    except (TypeError, ValueError):
        raise ValueError(f"age must be a number of years, not {age!r}") from None
    if not math.isfinite(age_f) or not 0 <= age_f <= 130:
        raise ValueError(f"age must be between 0 and 130 years, not {age!r}")
    enc = dict(DEFAULT_DEMOGRAPHICS)
    enc.update(encoding or {})
    if enc.get("age_mean") is not None:
        # Heads fine-tuned here z-score age with their training cohort's mean and SD.
        std = float(enc.get("age_std") or 1.0)
        enc["age_offset"], enc["age_scale"] = float(enc["age_mean"]), 1.0 / (std if std > 0 else 1.0)
    codes = {parse_sex(k): float(v) for k, v in dict(enc["sex_codes"]).items()}
    return np.array([(age_f - float(enc["age_offset"])) * float(enc["age_scale"]),
                     codes[parse_sex(sex)]], dtype=np.float32)


def load_label_mapping(path: str | os.PathLike | None = None) -> list[tuple[int, str, str]]:
    """Rows ``(label_idx, phecode, phenotype)`` of a ``label_mapping.csv`` (default: the one
    shipped in ``resources/``), ordered by ``label_idx``.

    Raises
    ------
    ValueError
        When the file lacks the columns or its indices are not 0..n-1.
    """
    if path is None:
        from ..resources import resource_path

        path = resource_path("label_mapping.csv")
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"label_idx", "phecode", "phenotype"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: label mapping lacks columns {', '.join(sorted(missing))}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append((int(row["label_idx"]), row["phecode"].strip(), row["phenotype"].strip()))
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {line}: label_idx {row['label_idx']!r} is not an integer") from None
    rows.sort()
    if [r[0] for r in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: label_idx must run 0..{len(rows) - 1} without gaps")
    return rows


@dataclass
class RiskTable:
    """Log-hazards of one night, one row per condition, sorted from highest to lowest.

    Attributes
    ----------
    label_idx : numpy.ndarray
        Output index of the head for each row.
    phecode, phenotype : list of str
    log_hazard : numpy.ndarray
        float32, descending.
    age : float
    sex : str
        ``"M"`` or ``"F"``.
    model_id, config_hash : str
        The diagnosis head.
    source : str
        The recording.
    n_tokens_used : int
        5-s tokens the head read.
    truncated : bool
        Whether the night was longer than the head reads.
    modalities : list of str
    ood : OODResult or None
        The night (the tokens the head read) and its log-hazards against the head's training
        statistics (:func:`sleepfm_engine.ood.assess_risk_night`); None when not checked.
    """

    label_idx: np.ndarray
    phecode: list[str]
    phenotype: list[str]
    log_hazard: np.ndarray
    age: float = float("nan")
    sex: str = ""
    model_id: str = ""
    config_hash: str = ""
    source: str = ""
    n_tokens_used: int = 0
    truncated: bool = False
    modalities: list[str] = field(default_factory=list)
    ood: Any = None

    def __post_init__(self):
        self.label_idx = np.asarray(self.label_idx, dtype=np.int64)
        self.log_hazard = np.asarray(self.log_hazard, dtype=np.float32)
        n = self.label_idx.shape[0]
        if not (len(self.phecode) == len(self.phenotype) == self.log_hazard.shape[0] == n):
            raise ValueError("label_idx, phecode, phenotype and log_hazard must have the same length")
        order = np.argsort(-self.log_hazard, kind="stable")
        if not np.array_equal(order, np.arange(n)):
            self.label_idx = self.label_idx[order]
            self.log_hazard = self.log_hazard[order]
            self.phecode = [self.phecode[i] for i in order]
            self.phenotype = [self.phenotype[i] for i in order]

    def __len__(self) -> int:
        return int(self.label_idx.shape[0])

    def rows(self) -> list[dict]:
        """One dict per condition: rank (1 = highest), label_idx, phecode, phenotype, log_hazard."""
        return [{"rank": i + 1, "label_idx": int(self.label_idx[i]), "phecode": self.phecode[i],
                 "phenotype": self.phenotype[i], "log_hazard": float(self.log_hazard[i])}
                for i in range(len(self))]

    def top(self, n: int = 10) -> "RiskTable":
        """The ``n`` highest rows as a new table."""
        return RiskTable(self.label_idx[:n], self.phecode[:n], self.phenotype[:n], self.log_hazard[:n],
                         self.age, self.sex, self.model_id, self.config_hash, self.source,
                         self.n_tokens_used, self.truncated, list(self.modalities), self.ood)

    def by_phecode(self, phecode: str) -> dict:
        """The row of one phecode (as written in the mapping, e.g. ``"427.2"``)."""
        for row in self.rows():
            if row["phecode"] == str(phecode):
                return row
        raise KeyError(f"no phecode {phecode!r} in this table")

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the table as CSV, atomically (see :func:`write_risk_csv`)."""
        return write_risk_csv(self, path)


def write_risk_csv(table: RiskTable, path: str | os.PathLike) -> Path:
    """One row per condition, highest log-hazard first:
    ``rank, label_idx, phecode, phenotype, log_hazard`` (atomic)."""
    from ..atomic import write_text_atomic

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RISK_CSV_COLUMNS)
    for row in table.rows():
        writer.writerow([row["rank"], row["label_idx"], row["phecode"], row["phenotype"],
                         f"{row['log_hazard']:.6f}"])
    return write_text_atomic(path, buf.getvalue())


def _demographic_encoding(handle: ModelHandle) -> Mapping[str, Any] | None:
    meta = handle.metadata or {}
    enc = meta.get("demographics")
    return enc if isinstance(enc, Mapping) else None


def _phecode_key(code: str) -> str:
    try:
        return f"{float(code):g}"
    except ValueError:
        return code.strip()


def _labels(handle: ModelHandle, n: int, label_mapping) -> tuple[list[str], list[str]]:
    listed = (handle.metadata or {}).get("phecodes")
    if label_mapping is None and isinstance(listed, list) and len(listed) == n:
        names = {_phecode_key(code): name for _, code, name in load_label_mapping()}
        codes = [str(c) for c in listed]
        return codes, [names.get(_phecode_key(c), f"phecode {c}") for c in codes]
    candidates = []
    if label_mapping is not None:
        candidates.append(label_mapping)
    if handle.path is not None:
        candidates += [handle.path / "label_mapping.csv", handle.path.parent / "label_mapping.csv"]
    candidates.append(None)  # the shipped mapping
    for cand in candidates:
        if cand is not None and not Path(cand).is_file():
            continue
        rows = load_label_mapping(cand)
        if len(rows) == n:
            return [r[1] for r in rows], [r[2] for r in rows]
        if cand is label_mapping and label_mapping is not None:
            raise ValueError(f"{label_mapping}: {len(rows)} labels but the head has {n} outputs")
    warnings.warn(f"no label mapping with {n} rows (the released head has 1065); outputs are "
                  f"labelled by index", RuntimeWarning, stacklevel=3)
    return [""] * n, [f"output {i}" for i in range(n)]


def risk_recording(embeddings: Embeddings, diagnosis_model: Any, *, age: float, sex: str | int,
                   device=None, precision: str = "fp32",
                   label_mapping: str | os.PathLike | None = None, state=None) -> RiskTable:
    """Disease log-hazards of one night with the SleepFM diagnosis head.

    Parameters
    ----------
    embeddings : Embeddings
    diagnosis_model : nn.Module, Release, ModelHandle or path
    age : float
        Age in years at the recording.
    sex : str or int
        ``"M"``/``"F"`` (male/female, 1/0).
    device, precision
        As for :func:`embed_recording`.
    label_mapping : path, optional
        A ``label_mapping.csv``; default: one beside the model folder, else the shipped one.
    state : TaskState, optional
        Status and cancellation (one forward: checked before it starts).

    Returns
    -------
    RiskTable
        Sorted by log-hazard, highest first, with the night's out-of-distribution verdict
        (``ood``; which checks are not available for a head without training statistics).
    """
    import torch

    from ..ood import assess_risk_night

    handle = resolve_model(diagnosis_model, "diagnosis")
    model = handle.module
    dev = resolve_device(device, model)
    precision = check_precision(precision, dev)
    model.to(dev).eval()
    demo = encode_demographics(age, sex, _demographic_encoding(handle))
    limit = handle.max_seq_length
    n = min(embeddings.n_tokens, limit)
    truncated = embeddings.n_tokens > limit
    if truncated:
        warnings.warn(f"{embeddings.source or 'night'}: {embeddings.n_tokens} tokens; the diagnosis "
                      f"head reads the first {limit} ({limit * 5 / 3600:.1f} h), as the reference does",
                      RuntimeWarning, stacklevel=2)
    x, mask = stack_tokens(embeddings, handle.max_channels, 0, n)
    if state is not None:
        state.set_status("disease risk")
        state.check_cancelled()
    with inference_context(dev, precision):
        xt, mt = torch.from_numpy(x).to(dev), torch.from_numpy(mask).to(dev)
        if type(model).__name__.endswith("WithDemo"):
            hazards = model(xt, mt, torch.from_numpy(demo[None]).to(dev))
        else:
            hazards = model(xt, mt)
        hazards = hazards.float().to("cpu").numpy()[0]
    if state is not None:
        state.set_progress(1.0)
    phecodes, phenotypes = _labels(handle, hazards.shape[0], label_mapping)
    ood = assess_risk_night(embeddings, handle.metadata, hazards,
                            [c or name for c, name in zip(phecodes, phenotypes)], handle.path, n)
    return RiskTable(np.arange(hazards.shape[0]), phecodes, phenotypes, hazards, age=float(age),
                     sex=parse_sex(sex), model_id=handle.model_id, config_hash=handle.config_hash,
                     source=embeddings.source, n_tokens_used=n, truncated=truncated,
                     modalities=sorted(embeddings.modalities)[:handle.max_channels], ood=ood)


_ID_COLUMNS = ("study id", "study_id", "id", "name", "recording", "file", "subject", "subject_id")


def read_demographics_csv(path: str | os.PathLike) -> dict[str, tuple[float, str]]:
    """Age and sex per recording from a CSV with an id column, ``age`` and ``sex``/``gender``.

    The id column is the first of ``Study ID``, ``id``, ``name``, ``recording``, ``file``,
    ``subject`` (any case); ids are matched against recording names with and without their
    extension. The reference's own ``demo_age_gender.csv`` (``Study ID,age,gender``) reads as is.

    Raises
    ------
    ValueError
        Naming the file and line of a missing column, a bad age or sex, or a duplicate id.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = {name.strip().lower(): name for name in (reader.fieldnames or [])}
        id_col = next((fields[c] for c in _ID_COLUMNS if c in fields), None)
        age_col = fields.get("age")
        sex_col = fields.get("sex") or fields.get("gender")
        if id_col is None or age_col is None or sex_col is None:
            raise ValueError(f"{path}: demographics need an id column ({', '.join(_ID_COLUMNS)}), "
                             f"'age' and 'sex' (or 'gender'); found {', '.join(reader.fieldnames or [])}")
        out: dict[str, tuple[float, str]] = {}
        for line, row in enumerate(reader, start=2):
            key = (row.get(id_col) or "").strip()
            if not key:
                continue
            try:
                age = float(row[age_col])
                encode_demographics(age, row[sex_col])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}, line {line}: {exc}") from None
            if key in out:
                raise ValueError(f"{path}, line {line}: id {key!r} appears twice")
            out[key] = (age, parse_sex(row[sex_col]))
    return out
