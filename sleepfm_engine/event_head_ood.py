"""Is a night like the event head's training nights? Statistics stored at training, the verdict
at detection.

An event head (``sleepfm finetune events``) keeps in its ``metadata.json`` two compact records of
its training nights, fitted when training ends:

Embeddings (key :data:`~sleepfm_engine.ood.OOD_KEY`)
    :class:`sleepfm_engine.ood.TrainingStatistics` of the nights' 5-s embeddings, as the
    staging and disease heads keep them (per modality a PCA, each epoch's distance against the
    0.5 % of training epochs furthest from the other training nights). No review evidence: the
    review queue is the staging head's.
Head (key :data:`EVENT_LOGITS_KEY`)
    :class:`EventLogitStatistics`: per event type (class) the quantiles of the head's 30-s epoch
    logit (the mean of the epoch's token logits) over the training epochs. An event head's
    outputs are independent sigmoids, not one softmax, so each type keeps its own range
    instead of one energy.

At detection (:func:`assess_event_night`) an epoch is marked when its embeddings lie further out
than the training threshold or any type's logit lies outside that type's 0.5-99.5 % training
range, and the night is unlike the training nights when more than
:data:`~sleepfm_engine.ood.NIGHT_FRACTION` of its epochs are marked (as for staging). A head
without statistics says :data:`NOT_AVAILABLE`.

Needs numpy only; imports nothing from training and no Qt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from .contract import TOKENS_PER_EPOCH
from .errors import ModelError
from .ood import OOD_KEY, OODResult, TrainingStatistics, epoch_means, synthetic_note

__all__ = ["EVENT_LOGITS_KEY", "LOGIT_QUANTILES", "NOT_AVAILABLE", "probability_logits",
           "EventLogitStatistics", "fit_event_head_statistics", "EventNightOOD", "assess_event_night"]

#: metadata.json key of the event head's per-type logit statistics.
EVENT_LOGITS_KEY = "event_logit_statistics"
#: Quantiles of each type's epoch logit kept (the outer two bound its training range).
LOGIT_QUANTILES = (0.005, 0.5, 0.995)
#: What detection says for a head whose metadata holds no training statistics.
NOT_AVAILABLE = "OOD check not available for this event head (no training statistics)"
#: Probabilities are clipped this far from 0 and 1 before their logit (float32 sigmoids saturate).
_PROB_FLOOR = 1e-6
_FORMAT = "sleepfm-studio event head logits"
_FORMAT_VERSION = 1


def probability_logits(probs: Any) -> np.ndarray:
    """The logits of sigmoid probabilities (clipped to ``[1e-6, 1 - 1e-6]``), float64.

    Detection keeps the head's probabilities (averaged over overlapping windows); training and
    detection both take logits from them, so the two sides are measured alike."""
    p = np.clip(np.asarray(probs, dtype=np.float64), _PROB_FLOOR, 1.0 - _PROB_FLOOR)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class EventLogitStatistics:
    """Per event type, the quantiles of the head's epoch logit over the training epochs.

    Attributes
    ----------
    classes : tuple of str
        The head's classes, in output order.
    quantiles : ndarray (len(LOGIT_QUANTILES), K)
    n : int
        Training epochs.
    """

    classes: tuple[str, ...]
    quantiles: np.ndarray
    n: int

    @classmethod
    def fit(cls, epoch_logits: Any, classes: Sequence[str]) -> "EventLogitStatistics":
        """Fit on ``epoch_logits`` (n_epochs, K); rows with a non-finite value are left out.

        Raises
        ------
        ValueError
            Without a finite row, or with another number of classes than columns.
        """
        z = np.asarray(epoch_logits, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != len(classes):
            raise ValueError(f"epoch logits must be (epochs, {len(classes)}), got {z.shape}")
        z = z[np.all(np.isfinite(z), axis=1)]
        if len(z) == 0:
            raise ValueError("no finite epoch logit to fit")
        return cls(tuple(str(c) for c in classes), np.quantile(z, LOGIT_QUANTILES, axis=0), int(len(z)))

    def outside(self, epoch_logits: Any) -> np.ndarray:
        """(n_epochs, K) bool: is each type's epoch logit outside its training range? NaN rows
        are never outside.

        Raises
        ------
        ValueError
            When the logits have another number of classes.
        """
        z = np.asarray(epoch_logits, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != len(self.classes):
            raise ValueError(f"{z.shape[-1] if z.ndim else 0} event types; the statistics have "
                             f"{len(self.classes)}")
        with np.errstate(invalid="ignore"):
            return (z < self.quantiles[0]) | (z > self.quantiles[-1])

    def to_dict(self) -> dict:
        return {"format": _FORMAT, "format_version": _FORMAT_VERSION, "classes": list(self.classes),
                "quantiles": {f"{q:g}": np.asarray(v, dtype=np.float64).round(7).tolist()
                              for q, v in zip(LOGIT_QUANTILES, self.quantiles)},
                "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping) -> "EventLogitStatistics":
        """Read :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            When it is not such a record or is malformed.
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError(f"not event head logit statistics (no format {_FORMAT!r})")
        try:
            classes = tuple(str(c) for c in data["classes"])
            q = sorted((float(k), v) for k, v in dict(data["quantiles"]).items())
            table = np.asarray([v for _, v in q], dtype=np.float64)
            n = int(data["n"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"malformed event head logit statistics ({exc!r})") from exc
        if len(q) < 2 or table.ndim != 2 or table.shape[1] != len(classes):
            raise ValueError(f"logit quantiles must be at least two lists of {len(classes)} values")
        return cls(classes, table, n)

    @classmethod
    def from_metadata(cls, metadata: Mapping | None, folder: Any = None) -> "EventLogitStatistics | None":
        """The statistics an event head's metadata holds; None when it holds none.

        Raises
        ------
        ModelError
            When they are malformed.
        """
        data = (metadata or {}).get(EVENT_LOGITS_KEY)
        if data is None:
            return None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ModelError(folder, f"metadata.json: {EVENT_LOGITS_KEY}: {exc}") from exc


def fit_event_head_statistics(nights: Sequence[Mapping[str, np.ndarray]], probs: Sequence[np.ndarray],
                              classes: Sequence[str], source: str = "") -> dict:
    """The metadata entries of an event head's training statistics.

    Parameters
    ----------
    nights : sequence of mapping
        Per training night, modality -> 5-s token embeddings (S, E).
    probs : sequence of array (S, K)
        Per training night, the head's token probabilities (as detection computes them).
    classes : sequence of str
        The head's classes, in output order.
    source : str
        What they were fitted on, in words.

    Returns
    -------
    dict
        ``{OOD_KEY: ..., EVENT_LOGITS_KEY: ...}``, JSON-able, for
        :func:`sleepfm_engine.ood.update_metadata`.
    """
    if len(nights) != len(probs):
        raise ValueError(f"{len(nights)} nights but {len(probs)} probability tables")
    embeddings = replace(TrainingStatistics.fit(nights, source=source), review=None)
    logits = EventLogitStatistics.fit(
        np.concatenate([epoch_means(probability_logits(p)) for p in probs]), classes)
    return {OOD_KEY: embeddings.to_dict(), EVENT_LOGITS_KEY: logits.to_dict()}


@dataclass(frozen=True)
class EventNightOOD:
    """One night against the event head's training nights.

    Attributes
    ----------
    embeddings : OODResult
        The embedding check per 30-s epoch (:meth:`sleepfm_engine.ood.TrainingStatistics.score`:
        ``epoch_scores`` above 1 are further out than the training threshold), with any note
        (a synthetic-only head on a recording that is not generated).
    logit_outside : ndarray (n_epochs, K) of bool
        Per epoch and type, the head's logit outside its training range.
    classes : tuple of str
    unavailable : tuple of str
        Checks that could not be made, in words.
    """

    embeddings: OODResult
    logit_outside: np.ndarray
    classes: tuple[str, ...]
    unavailable: tuple[str, ...] = field(default=())

    @property
    def available(self) -> bool:
        """Whether any check was made (the head has training statistics)."""
        return self.embeddings.available

    @property
    def epoch_scores(self) -> np.ndarray:
        """The embedding score per epoch (NaN without data or without statistics)."""
        return self.embeddings.epoch_scores

    @property
    def epoch_ood(self) -> np.ndarray:
        """Marked epochs: embeddings beyond the threshold, or a type's logit out of range."""
        scored = np.isfinite(self.embeddings.epoch_scores)
        return self.embeddings.epoch_ood | (self.logit_outside.any(axis=1) & scored)

    @property
    def n_scored(self) -> int:
        return self.embeddings.n_scored

    @property
    def fraction(self) -> float:
        """Share of the scored epochs marked."""
        return float(self.epoch_ood.sum()) / self.n_scored if self.n_scored else 0.0

    @property
    def flagged(self) -> bool:
        """Whether the night is unlike the training nights (or a note makes it untrustworthy)."""
        return bool(self.embeddings.notes) or (self.available and self.fraction > self.embeddings.night_fraction)

    @property
    def verdict(self) -> str:
        if self.flagged:
            return "unlike the training data"
        return "like the training data" if self.available else "not checked"

    def reasons(self) -> list[str]:
        """What a user is told, one sentence each."""
        out = list(self.embeddings.notes)
        if not self.available:
            return out + [NOT_AVAILABLE]
        marked = self.epoch_ood
        k, n = int(marked.sum()), self.n_scored
        line = (f"{k} of {n} 30-s epochs ({100 * self.fraction:.0f} %) lie outside the range of the "
                f"event head's training nights (flagged above {100 * self.embeddings.night_fraction:.0f} %)")
        parts = []
        emb = int(self.embeddings.epoch_ood.sum())
        if emb:
            mods = [m for m, hit in zip(self.embeddings.epoch_modality, self.embeddings.epoch_ood) if hit and m]
            top = max(set(mods), key=mods.count) if mods else ""
            parts.append(f"the embeddings in {emb}" + (f" (furthest out in {top})" if top else ""))
        scored = np.isfinite(self.embeddings.epoch_scores)
        per_type = (self.logit_outside & scored[:, None]).sum(axis=0)
        types = [f"{c} in {int(v)}" for c, v in zip(self.classes, per_type) if v]
        if types:
            parts.append("the head's logit out of its training range: " + ", ".join(types))
        if k and parts:
            line += "; " + "; ".join(parts)
        out.append(line)
        return out + [f"not available: {u}" for u in self.unavailable]

    def message(self) -> str:
        """One line for the user: the verdict with its reasons, or :data:`NOT_AVAILABLE`."""
        if not self.available and not self.flagged:
            return NOT_AVAILABLE
        head = ("the night is unlike the event head's training nights" if self.flagged
                else "OOD check: the night is like the event head's training nights")
        return f"{head}: " + "; ".join(self.reasons())

    def to_dict(self) -> dict:
        """JSON-able record with the per-epoch scores and marks."""
        return {"verdict": self.verdict, "flagged": self.flagged, "available": self.available,
                "message": self.message(), "fraction": self.fraction,
                "night_fraction": self.embeddings.night_fraction, "classes": list(self.classes),
                "checked": list(self.embeddings.checked), "unavailable": list(self.unavailable),
                "notes": list(self.embeddings.notes), "reasons": self.reasons(),
                "epoch_scores": [None if not math.isfinite(v) else round(float(v), 6)
                                 for v in self.epoch_scores],
                "epoch_ood": self.epoch_ood.astype(int).tolist(),
                "logit_outside": {c: self.logit_outside[:, i].astype(int).tolist()
                                  for i, c in enumerate(self.classes)}}


def assess_event_night(embeddings: Any, metadata: Mapping | None, probs: Any, classes: Sequence[str],
                       folder: Any = None) -> EventNightOOD:
    """Compare a night's embeddings and the event head's probabilities with its training nights.

    Parameters
    ----------
    embeddings : Embeddings
        The night's base-model embeddings (``tokens``, ``n_tokens``, ``no_data``, ``source``).
    metadata : mapping or None
        The event head's ``metadata.json``.
    probs : array (S, K)
        The head's token probabilities.
    classes : sequence of str
        The head's classes, in output order.
    folder : path, optional
        The head's folder, named in errors.

    Raises
    ------
    ModelError
        When the statistics are malformed or of other classes than the head's.
    """
    classes = tuple(classes)
    n_tokens = int(embeddings.n_tokens)
    n_epochs = math.ceil(n_tokens / TOKENS_PER_EPOCH)
    stats = TrainingStatistics.from_metadata(metadata, folder)
    logit_stats = EventLogitStatistics.from_metadata(metadata, folder)
    outside = np.zeros((n_epochs, len(classes)), dtype=bool)
    if stats is None:
        result = synthetic_note(OODResult.not_available(n_epochs, ()), metadata, embeddings.source, "events")
        return EventNightOOD(result, outside, classes)
    no_data = np.asarray(embeddings.no_data, dtype=bool)
    skip = epoch_means(no_data.astype(np.float64)) >= 1.0 if len(no_data) else None
    result = stats.score(embeddings.tokens, None, skip)
    unavailable = [f"embedding check of {m} (no training statistics for it)"
                   for m in embeddings.tokens if m not in stats.modalities]
    # The staging-only checks (softmax energy, review evidence) mean nothing for an event head.
    result = replace(result, unavailable=(), epoch_evidence=None)
    if logit_stats is None:
        unavailable.append("event-type logit range check (no training statistics of the head's logits)")
    else:
        if logit_stats.classes != classes:
            raise ModelError(folder, f"metadata.json: {EVENT_LOGITS_KEY}: statistics of the types "
                                     f"{list(logit_stats.classes)}, the head gives {list(classes)}")
        z = epoch_means(probability_logits(probs))[:n_epochs]
        outside[: len(z)] = logit_stats.outside(z)
    result = synthetic_note(result, metadata, embeddings.source, "events")
    return EventNightOOD(result, outside, classes, tuple(unavailable))
