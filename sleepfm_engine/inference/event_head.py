"""The SleepFM event head at inference: token probabilities, then events.

The head gives, per 5-s token, the probability of each event class it was trained on
(:data:`sleepfm_engine.event_classes.EVENT_CLASSES`, sigmoid outputs). Post-processing
turns one class's probabilities into events with three settings tuned on the validation nights
and saved with the model (:class:`PostProcessing`): tokens at or above ``threshold`` form runs;
runs separated by at most ``merge_gap_s`` seconds are joined; joined runs shorter than
``min_duration_s`` are dropped. Each event spans its tokens (5-s resolution) and carries the
highest token probability inside it as its ``confidence``. Tokens outside sleep are never part
of an event (the head was not trained on them). Limb movements in a series by the AASM rule
become periodic limb movements (:func:`mark_periodic`), leaving out, as the AASM does, those
that share a token with a predicted apnea or hypopnea.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..contract import TOKEN_SECONDS
from ..event_classes import EVENT_CLASSES
from ..events import Event, EventSet, EventSource, EventType
from ..events.vocabulary import APNEA_TYPES, HYPOPNEA_TYPES

__all__ = ["PostProcessing", "DEFAULT_POSTPROCESSING", "probabilities_to_events",
           "class_runs", "mark_periodic", "event_probabilities", "postprocessing_from_metadata",
           "PLM_MIN_SERIES", "PLM_INTERVAL_S", "LM_DURATION_S", "PLM_RESPIRATORY_MARGIN_S",
           "PLM_RESPIRATORY_TYPES", "TOKEN_GRID_MARGIN_S"]

#: AASM periodic limb movement series: at least this many movements...
PLM_MIN_SERIES = 4
#: ...with onset-to-onset intervals in this range (seconds)...
PLM_INTERVAL_S = (5.0, 90.0)
#: ...each lasting this long (seconds)...
LM_DURATION_S = (0.5, 10.0)
#: ...and none this near (seconds, before or after) a respiratory event of these types.
PLM_RESPIRATORY_MARGIN_S = 0.5
PLM_RESPIRATORY_TYPES = frozenset(APNEA_TYPES | HYPOPNEA_TYPES | {EventType.rera})
#: The respiratory margin for events on the 5-s token grid (see :func:`mark_periodic`).
TOKEN_GRID_MARGIN_S = 0.0


@dataclass(frozen=True)
class PostProcessing:
    """How one class's token probabilities become events.

    Attributes
    ----------
    threshold : float
        Probability at or above which a token is part of an event (0 < threshold <= 1).
    min_duration_s : float
        Shortest event kept, after merging (seconds, >= 0).
    merge_gap_s : float
        Runs at most this far apart (seconds, >= 0) are one event.
    series_threshold : float or None
        Limb movements only: the probability a predicted movement needs to count in a periodic
        series (:func:`mark_periodic`); None: every one counts. The events themselves are the
        F1-tuned ones; the PLMS index, derived from the series, has its own operating point,
        tuned on the validation nights for index agreement
        (:func:`~sleepfm_engine.training.event_metrics.tune_postprocessing`).
    """

    threshold: float = 0.5
    min_duration_s: float = 0.0
    merge_gap_s: float = 0.0
    series_threshold: float | None = None

    def __post_init__(self):
        if not 0.0 < float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not float(self.min_duration_s) >= 0 or not float(self.merge_gap_s) >= 0:
            raise ValueError("min_duration_s and merge_gap_s must be >= 0")
        if self.series_threshold is not None and not 0.0 < float(self.series_threshold) <= 1.0:
            raise ValueError(f"series_threshold must be in (0, 1] or None, got {self.series_threshold}")

    def to_dict(self) -> dict:
        out = {"threshold": float(self.threshold), "min_duration_s": float(self.min_duration_s),
               "merge_gap_s": float(self.merge_gap_s)}
        if self.series_threshold is not None:
            out["series_threshold"] = float(self.series_threshold)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PostProcessing":
        series = data.get("series_threshold")
        return cls(float(data["threshold"]), float(data["min_duration_s"]), float(data["merge_gap_s"]),
                   None if series is None else float(series))


#: Before tuning (a run without validation nights).
DEFAULT_POSTPROCESSING = PostProcessing()


def class_runs(probs: np.ndarray, params: PostProcessing, valid: np.ndarray | None = None,
               token_seconds: float = float(TOKEN_SECONDS)) -> list[tuple[int, int, float]]:
    """Events of one class as token runs ``(first, stop, confidence)`` (``stop`` exclusive).

    Parameters
    ----------
    probs : ndarray (n_tokens,)
    params : PostProcessing
    valid : ndarray of bool, optional
        Tokens that may be part of an event (sleep); others break runs.
    """
    p = np.asarray(probs, dtype=np.float64)
    on = p >= params.threshold
    if valid is not None:
        on &= np.asarray(valid, dtype=bool)
    if not on.any():
        return []
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    gap_tokens = params.merge_gap_s / token_seconds
    merged: list[list[int]] = [[int(starts[0]), int(stops[0])]]
    for a, b in zip(starts[1:], stops[1:]):
        if a - merged[-1][1] <= gap_tokens + 1e-9:
            merged[-1][1] = int(b)
        else:
            merged.append([int(a), int(b)])
    out = []
    for a, b in merged:
        if (b - a) * token_seconds + 1e-9 >= params.min_duration_s:
            out.append((a, b, float(p[a:b].max())))
    return out


def probabilities_to_events(probs: np.ndarray, classes: Sequence[str],
                            params: Mapping[str, PostProcessing], source: EventSource, *,
                            valid: np.ndarray | None = None, start=None,
                            token_seconds: float = float(TOKEN_SECONDS)) -> EventSet:
    """The events of a night from its token probabilities (n_tokens, n_classes).

    Each event's ``confidence`` is its highest token probability; its ``attributes`` hold the
    head class (``head_class``). Limb movements in an AASM series are typed
    ``periodic_limb_movement`` (:func:`mark_periodic`).
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probabilities of shape {probs.shape} do not match {len(classes)} classes")
    events: list[Event] = []
    for k, name in enumerate(classes):
        spec = EVENT_CLASSES[name]
        for a, b, conf in class_runs(probs[:, k], params[name], valid, token_seconds):
            events.append(Event(onset=a * token_seconds, duration=(b - a) * token_seconds,
                                type=spec.output, source=source, confidence=min(1.0, max(0.0, conf)),
                                attributes={"head_class": name}, label=spec.output.value))
    lm = params.get("limb_movement")
    series = 0.0 if lm is None or lm.series_threshold is None else lm.series_threshold
    return EventSet(mark_periodic(events, TOKEN_GRID_MARGIN_S, durations=None, min_confidence=series),
                    start=start, source=source.name)


def mark_periodic(events: Sequence[Event], margin_s: float = PLM_RESPIRATORY_MARGIN_S,
                  durations: tuple[float, float] | None = LM_DURATION_S,
                  min_confidence: float = 0.0) -> list[Event]:
    """``events`` with the limb movements (type ``limb_movement``) that form an AASM series
    retyped ``periodic_limb_movement``; other events unchanged.

    A series is at least :data:`PLM_MIN_SERIES` movements in a row, onset to onset
    :data:`PLM_INTERVAL_S` apart. As the AASM scores them, only movements of ``durations``
    count, and none within ``margin_s`` of a respiratory event (:data:`PLM_RESPIRATORY_TYPES`
    among ``events``): those are left out of the series as if absent, neither part of it nor
    breaking it, and stay ``limb_movement``.

    Parameters
    ----------
    events : sequence of Event
    margin_s : float
        How near (seconds, before or after) a respiratory event a movement is left out:
        the AASM's 0.5 s for events at their scored times. Events on the head's 5-s token
        grid pass 0 (:data:`TOKEN_GRID_MARGIN_S`): a movement sharing a token with a
        respiratory event is left out, one in the next token is not (it may lie up to 10 s
        away).
    durations : (float, float) or None
        Shortest and longest movement counted (seconds): the AASM's 0.5-10 s for scored
        events. None counts every length: the head's events pass None, since a run of 5-s
        tokens cannot measure a movement's length (a 2-s movement across a token boundary
        fills 10 s, and the head's probability spreads a token either side).
    min_confidence : float
        Movements with a ``confidence`` below this are left out of series as if absent (the
        head's series threshold, :class:`PostProcessing`); a scored movement (no confidence)
        always counts.
    """
    lo_d, hi_d = durations if durations is not None else (-np.inf, np.inf)
    resp = sorted((e.onset - margin_s, e.end + margin_s) for e in events if e.type in PLM_RESPIRATORY_TYPES)
    starts = np.array([a for a, _ in resp], dtype=np.float64)
    ends = np.maximum.accumulate(np.array([b for _, b in resp], dtype=np.float64)) if resp else starts

    def counts(e: Event) -> bool:
        if not lo_d - 1e-9 <= e.duration <= hi_d + 1e-9:
            return False
        if e.confidence is not None and e.confidence < min_confidence:
            return False
        # respiratory intervals starting before the movement ends; the latest end among them
        k = int(np.searchsorted(starts, e.end, side="left"))
        return not (k and ends[k - 1] > e.onset)

    lms = sorted((e for e in events if e.type is EventType.limb_movement and counts(e)),
                 key=lambda e: e.onset)
    periodic: set[str] = set()
    series: list[Event] = []
    lo, hi = PLM_INTERVAL_S
    for e in lms:
        if series and not lo <= e.onset - series[-1].onset <= hi:
            if len(series) >= PLM_MIN_SERIES:
                periodic.update(x.id for x in series)
            series = []
        series.append(e)
    if len(series) >= PLM_MIN_SERIES:
        periodic.update(x.id for x in series)
    return [e.replace(type=EventType.periodic_limb_movement, label=EventType.periodic_limb_movement.value)
            if e.id in periodic else e for e in events]


def postprocessing_from_metadata(metadata: Mapping[str, Any] | None,
                                 classes: Sequence[str]) -> dict[str, PostProcessing]:
    """The saved post-processing of each class (``metadata["postprocessing"]``).

    Raises
    ------
    ValueError
        When a class has none (a model folder that was not saved by the events task).
    """
    saved = (metadata or {}).get("postprocessing")
    if not isinstance(saved, Mapping) or any(c not in saved for c in classes):
        raise ValueError("the event head's metadata.json has no post-processing for every class "
                         f"({', '.join(classes)})")
    return {c: PostProcessing.from_dict(saved[c]) for c in classes}


def event_probabilities(x: np.ndarray, mask: np.ndarray, model: Any, device: Any = None,
                        windows_per_batch: int = 1) -> np.ndarray:
    """Sigmoid probabilities (n_tokens, n_classes) of one night.

    ``x`` (1, C, S, E) and ``mask`` (1, C, S) as the heads take them. A night longer than the
    head's positional table runs in windows of that length overlapping by a quarter; each
    token's probability is averaged over the windows that hold it.
    """
    import torch

    from .staging import plan_windows

    dev = torch.device("cpu") if device is None else torch.device(device)
    model.to(dev).eval()
    limit = int(model.positional_encoding.pe.shape[1])
    n = x.shape[2]
    starts = plan_windows(n, limit, limit // 4)
    length = min(limit, n)
    total = np.zeros((n, model.num_classes), dtype=np.float64)
    counts = np.zeros(n, dtype=np.int64)
    xt = torch.as_tensor(x, dtype=torch.float32)
    mt = torch.as_tensor(mask, dtype=torch.bool)
    with torch.no_grad():
        for b0 in range(0, len(starts), windows_per_batch):
            group = starts[b0:b0 + windows_per_batch]
            xb = torch.cat([xt[..., s:s + length, :] for s in group]).to(dev)
            mb = torch.cat([mt[..., s:s + length] for s in group]).to(dev)
            probs = torch.sigmoid(model(xb, mb)[0].float()).cpu().numpy()
            for p, s in zip(probs, group):
                total[s:s + length] += p
                counts[s:s + length] += 1
    return (total / np.maximum(counts, 1)[:, None]).astype(np.float32)
