"""Event-level agreement of predicted and scored events, and tuning of the post-processing.

Matching (:func:`match_events`): a predicted and a scored event of one class match when their
overlap is at least :data:`MIN_OVERLAP` (50 %) of the shorter of the two; each event matches
at most one other, pairs taken by decreasing overlap fraction. Scored events of a class that
overlap one another (a left and a right leg movement at once) count as one event, since a
per-token head cannot tell them apart. Only scored events with their onset in a sleep token
count, as the indices count them.

Night-level agreement: the indices of :mod:`sleepfm_engine.indices` (AHI, arousal index, PLMS
index) and each class's events per hour of sleep, from the predicted and from the scored
events on the same hypnogram, compared by ICC(A,1) (two-way random effects, absolute
agreement, single measurement), mean absolute error and bias (mean predicted - scored); and
the AASM AHI severity class agreement. The head has no night-level output of its own: its
indices are a derivation from its predicted events, and their error is reported as such.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..contract import TOKEN_SECONDS
from ..events import EventSet, EventType
from ..inference.event_head import PostProcessing, class_runs, mark_periodic
from ..event_classes import EVENT_CLASSES

__all__ = ["MIN_OVERLAP", "INDICES_SOURCE", "match_events", "event_counts", "prf", "icc_a1", "severity_agreement",
           "night_indices", "events_report", "tune_postprocessing", "reference_intervals",
           "TUNING_GRID"]

#: Fraction of the shorter event two events must share to match.
MIN_OVERLAP = 0.5
#: The post-processing settings tried per class: thresholds, minimum durations (s), merge gaps (s).
TUNING_GRID = (tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.05)), (0.0, 10.0, 15.0, 20.0),
               (0.0, 5.0, 10.0))
#: How the night-level indices are obtained: no separate head predicts them.
INDICES_SOURCE = ("derived from the predicted events (sleepfm_engine.indices on the night's hypnogram), "
                  "not a separate night-level head")
#: Indices compared per night, and the class each needs.
INDEX_CLASSES = {"AHI": ("apnea", "hypopnea"), "ArI": ("arousal",), "PLMSI": ("limb_movement",)}
_SEVERITIES = ("normal", "mild", "moderate", "severe")


# ---------------------------------------------------------------------------------- matching
def match_events(pred: Sequence[tuple[float, float]], ref: Sequence[tuple[float, float]],
                 min_overlap: float = MIN_OVERLAP) -> list[tuple[int, int]]:
    """One-to-one matches ``(i_pred, i_ref)`` of two lists of ``(start, stop)`` intervals.

    Two intervals match when their intersection is at least ``min_overlap`` of the shorter
    one's length (a zero-length one matches an interval holding it). Pairs are taken by
    decreasing overlap fraction, each interval at most once.
    """
    ref_sorted = sorted(range(len(ref)), key=lambda j: ref[j][0])
    starts = np.array([ref[j][0] for j in ref_sorted], dtype=np.float64)
    max_len = max((b - a for a, b in ref), default=0.0)
    pairs = []
    for i, (a, b) in enumerate(pred):
        lo = int(np.searchsorted(starts, a - max_len, side="left"))
        hi = int(np.searchsorted(starts, b, side="right"))
        for j in ref_sorted[lo:hi]:
            c, d = ref[j]
            inter = min(b, d) - max(a, c)
            if inter < 0:
                continue
            shorter = min(b - a, d - c)
            frac = 1.0 if shorter <= 0 else inter / shorter
            if frac >= min_overlap:
                pairs.append((frac, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_p, used_r, out = set(), set(), []
    for _, i, j in pairs:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            out.append((i, j))
    return sorted(out)


def event_counts(pred, ref) -> tuple[int, int, int]:
    """(true positives, predicted, scored) of two interval lists."""
    return len(match_events(pred, ref)), len(pred), len(ref)


def prf(tp: int, n_pred: int, n_ref: int) -> dict:
    """Precision, recall, F1 (None where undefined: nothing predicted / nothing scored)."""
    precision = tp / n_pred if n_pred else None
    recall = tp / n_ref if n_ref else None
    if n_pred == 0 and n_ref == 0:
        f1 = None
    else:
        f1 = 2 * tp / (n_pred + n_ref)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "n_predicted": n_pred,
            "n_scored": n_ref}


def reference_intervals(events: EventSet, name: str, sleep: np.ndarray,
                        token_seconds: float = float(TOKEN_SECONDS)) -> list[tuple[float, float]]:
    """Scored events of class ``name`` with onset in a sleep token, overlapping ones joined."""
    out: list[list[float]] = []
    for e in sorted(events.of_type(*EVENT_CLASSES[name].types), key=lambda e: e.onset):
        t = int(e.onset // token_seconds)
        if not 0 <= t < len(sleep) or not sleep[t]:
            continue
        if out and e.onset < out[-1][1]:
            out[-1][1] = max(out[-1][1], e.end)
        else:
            out.append([e.onset, e.end])
    return [(a, b) for a, b in out]


# -------------------------------------------------------------------------- night agreement
def icc_a1(x: Sequence[float], y: Sequence[float]) -> float | None:
    """ICC(A,1) of paired measurements; None for fewer than two pairs or no variance."""
    data = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    n, k = data.shape
    if n < 2:
        return None
    grand = data.mean()
    ms_r = k * ((data.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    ms_c = n * ((data.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    sse = ((data - data.mean(axis=1, keepdims=True) - data.mean(axis=0, keepdims=True) + grand) ** 2).sum()
    ms_e = sse / ((n - 1) * (k - 1))
    den = ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n
    if not den > 0:
        return None
    return float((ms_r - ms_e) / den)


def severity_agreement(pred_ahi: Sequence[float | None], ref_ahi: Sequence[float | None]) -> dict:
    """Share of nights whose AASM AHI severity class is the same, and the confusion matrix
    (rows scored, columns predicted; classes normal, mild, moderate, severe)."""
    from ..indices import ahi_severity

    matrix = [[0] * len(_SEVERITIES) for _ in _SEVERITIES]
    n = same = 0
    for p, r in zip(pred_ahi, ref_ahi):
        sp, sr = ahi_severity(p), ahi_severity(r)
        if sp is None or sr is None:
            continue
        n += 1
        same += sp == sr
        matrix[_SEVERITIES.index(sr)][_SEVERITIES.index(sp)] += 1
    return {"agreement": same / n if n else None, "n_nights": n, "labels": list(_SEVERITIES),
            "confusion_matrix": matrix}


def _reference_for_indices(events: EventSet, classes: Sequence[str]) -> EventSet:
    """The scored events of the trained classes; limb movements typed periodic by the same
    series rule as the head's when the file scores no periodic limb movement."""
    keep = [e for e in events if any(e.type in EVENT_CLASSES[c].types for c in classes)]
    if "limb_movement" in classes and not any(e.type is EventType.periodic_limb_movement for e in keep):
        keep = mark_periodic([e.replace(type=EventType.limb_movement)
                              if e.type in EVENT_CLASSES["limb_movement"].types else e for e in keep])
    return EventSet(keep, start=events.start)


def night_indices(events: EventSet, hypnogram, classes: Sequence[str],
                  sleep: np.ndarray, token_seconds: float = float(TOKEN_SECONDS)) -> dict:
    """The compared indices of one night: ``INDEX_CLASSES`` keys whose classes were trained,
    and ``<class>_per_h`` (events of the class with onset in sleep per hour of sleep)."""
    from ..indices import compute_indices

    table = compute_indices(events, hypnogram)
    out = {k: table[k] for k, need in INDEX_CLASSES.items() if any(c in classes for c in need)}
    hours = table["TST_h"]
    for c in classes:
        n = 0
        for e in events.of_type(*EVENT_CLASSES[c].types):
            t = int(e.onset // token_seconds)
            n += 0 <= t < len(sleep) and bool(sleep[t])
        out[f"{c}_per_h"] = n / hours if hours else None
    return out


# ------------------------------------------------------------------------------------ report
def _night_hypnogram(stages: np.ndarray, token_seconds: float):
    from ..hypnogram import Hypnogram

    return Hypnogram(np.asarray(stages, dtype=np.int8), token_seconds, offset=0.0)


def events_report(nights: Sequence[Mapping], classes: Sequence[str],
                  params: Mapping[str, PostProcessing],
                  token_seconds: float = float(TOKEN_SECONDS)) -> dict:
    """Event-level and night-level agreement of the head on some nights.

    Parameters
    ----------
    nights : sequence of mapping
        ``id``, ``probs`` (n_tokens, n_classes), ``stages`` (n_tokens,) stage codes per token
        and ``events`` (the scored EventSet on the recording's time line).
    classes : sequence of str
    params : mapping
        Post-processing per class.

    Returns
    -------
    dict
        ``events`` per class (precision, recall, F1, counts), ``macro_f1`` (mean over classes
        with a defined F1; the validation score), ``indices`` per key (ICC, mean absolute
        error, bias = mean of predicted - scored, the number of nights and the per-night
        values), ``indices_source`` (:data:`INDICES_SOURCE`: the indices are derived from the
        predicted events), ``severity`` (AHI class agreement), ``postprocessing``, ``classes``,
        ``n_nights`` and ``score``.
    """
    from ..events import EventSource
    from ..inference.event_head import probabilities_to_events

    source = EventSource.detector("sleepfm-head", "", {})
    totals = {c: [0, 0, 0] for c in classes}
    per_night = []
    for night in nights:
        sleep = np.isin(night["stages"], (1, 2, 3, 4))
        pred = probabilities_to_events(night["probs"], classes, params, source, valid=sleep,
                                       token_seconds=token_seconds)
        hyp = _night_hypnogram(night["stages"], token_seconds)
        for c in classes:
            p = [(e.onset, e.end) for e in pred if e.attributes.get("head_class") == c]
            tp, n_p, n_r = event_counts(p, reference_intervals(night["events"], c, sleep, token_seconds))
            totals[c][0] += tp
            totals[c][1] += n_p
            totals[c][2] += n_r
        ref = _reference_for_indices(night["events"], classes)
        per_night.append({"id": night["id"],
                          "predicted": night_indices(pred, hyp, classes, sleep, token_seconds),
                          "scored": night_indices(ref, hyp, classes, sleep, token_seconds)})
    per_class = {c: prf(*totals[c]) for c in classes}
    f1s = [v["f1"] for v in per_class.values() if v["f1"] is not None]
    macro = float(np.mean(f1s)) if f1s else None
    indices = {}
    keys = list(per_night[0]["predicted"]) if per_night else []
    for key in keys:
        pairs = [(n["predicted"][key], n["scored"][key]) for n in per_night
                 if n["predicted"][key] is not None and n["scored"][key] is not None]
        p = [a for a, _ in pairs]
        r = [b for _, b in pairs]
        indices[key] = {"icc": icc_a1(p, r) if pairs else None,
                        "mae": float(np.mean(np.abs(np.subtract(p, r)))) if pairs else None,
                        "bias": float(np.mean(np.subtract(p, r))) if pairs else None,
                        "n_nights": len(pairs), "predicted": p, "scored": r}
    severity = None
    if "AHI" in keys:
        severity = severity_agreement([n["predicted"]["AHI"] for n in per_night],
                                      [n["scored"]["AHI"] for n in per_night])
    return {"classes": list(classes), "n_nights": len(nights), "events": per_class,
            "macro_f1": macro, "score": macro if macro is not None else 0.0, "indices": indices,
            "severity": severity, "indices_source": INDICES_SOURCE, "nights": [n["id"] for n in per_night],
            "postprocessing": {c: params[c].to_dict() for c in classes},
            "min_overlap": MIN_OVERLAP}


def tune_postprocessing(nights: Sequence[Mapping], classes: Sequence[str],
                        grid: tuple[Iterable[float], Iterable[float], Iterable[float]] = TUNING_GRID,
                        token_seconds: float = float(TOKEN_SECONDS)) -> dict[str, PostProcessing]:
    """Per class, the threshold, minimum duration and merge gap of ``grid`` with the best
    event-level F1 over ``nights`` (ties: the earliest in grid order, i.e. the lowest
    threshold, shortest minimum duration, smallest gap). A class never scored in these nights
    keeps the default (threshold 0.5, no minimum, no merging).

    Limb movements also get their series threshold (:class:`PostProcessing`): of none and
    the grid's thresholds above the class's own, the one whose PLMS index (the AASM series of
    the predicted movements, :func:`~sleepfm_engine.inference.event_head.mark_periodic`) is
    nearest the scored nights' (least mean absolute error; ties: the lowest). An F1-tuned
    threshold keeps doubtful movements, which cost F1 little but each can join a series."""
    thresholds, durations, gaps = (tuple(g) for g in grid)
    prepared = []
    for night in nights:
        sleep = np.isin(night["stages"], (1, 2, 3, 4))
        prepared.append((night["probs"], sleep,
                         {c: reference_intervals(night["events"], c, sleep, token_seconds) for c in classes}))
    out = {}
    tuned = set()
    for k, c in enumerate(classes):
        if not any(refs[c] for _, _, refs in prepared):
            out[c] = PostProcessing()
            continue
        tuned.add(c)
        best, best_f1 = None, -1.0
        for thr, dur, gap in itertools.product(thresholds, durations, gaps):
            params = PostProcessing(thr, dur, gap)
            tp = n_p = n_r = 0
            for probs, sleep, refs in prepared:
                runs = class_runs(probs[:, k], params, sleep, token_seconds)
                pred = [(a * token_seconds, b * token_seconds) for a, b, _ in runs]
                t, p, r = event_counts(pred, refs[c])
                tp, n_p, n_r = tp + t, n_p + p, n_r + r
            f1 = 2 * tp / (n_p + n_r) if n_p + n_r else 0.0
            if f1 > best_f1 + 1e-12:
                best, best_f1 = params, f1
        out[c] = best
    if "limb_movement" in tuned:
        out["limb_movement"] = _tune_series_threshold(nights, classes, out, thresholds, token_seconds)
    return out


def _tune_series_threshold(nights: Sequence[Mapping], classes: Sequence[str], params: dict,
                           thresholds: Sequence[float], token_seconds: float) -> PostProcessing:
    """The limb-movement post-processing with the series threshold (of None and ``thresholds``
    above its own) whose PLMS index has the least mean absolute error over ``nights``."""
    from dataclasses import replace

    from ..events import EventSource
    from ..indices import compute_indices
    from ..inference.event_head import probabilities_to_events

    source = EventSource.detector("sleepfm-head", "", {})
    lm = params["limb_movement"]
    scored = []
    for night in nights:
        hyp = _night_hypnogram(night["stages"], token_seconds)
        scored.append(compute_indices(_reference_for_indices(night["events"], classes), hyp)["PLMSI"])
    best, best_mae = lm, None
    for series in [None, *sorted(t for t in thresholds if t > lm.threshold)]:
        candidate = replace(lm, series_threshold=series)
        trial = dict(params, limb_movement=candidate)
        errors = []
        for night, truth in zip(nights, scored):
            if truth is None:
                continue
            sleep = np.isin(night["stages"], (1, 2, 3, 4))
            pred = probabilities_to_events(night["probs"], classes, trial, source, valid=sleep,
                                           token_seconds=token_seconds)
            value = compute_indices(pred, _night_hypnogram(night["stages"], token_seconds))["PLMSI"]
            if value is not None:
                errors.append(abs(value - truth))
        if errors and (best_mae is None or np.mean(errors) < best_mae - 1e-12):
            best, best_mae = candidate, float(np.mean(errors))
    return best



# ------------------------------------------------------------------------------------- plots
def plot_event_f1(per_class: Mapping[str, Mapping], path, title: str = "Event F1 per class"):
    """Bar chart of each class's event-level F1, in its event type's colour."""
    from ..atomic import atomic_path
    from ..events import EVENT_TYPES
    from .metrics import _pyplot

    plt = _pyplot()
    names = list(per_class)
    vals = [np.nan if per_class[n]["f1"] is None else per_class[n]["f1"] for n in names]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(names)), 3), dpi=120)
    ax.bar(names, vals, color=[EVENT_TYPES[EVENT_CLASSES[n].output].colour for n in names])
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"F1 (>= {int(MIN_OVERLAP * 100)} % overlap)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_indices(indices: Mapping[str, Mapping], path, title: str = "Indices per night"):
    """Predicted against scored values per night of each index of :data:`INDEX_CLASSES`, with
    the identity line and the ICC."""
    from ..atomic import atomic_path
    from .metrics import _pyplot

    keys = [k for k in INDEX_CLASSES if k in indices]
    plt = _pyplot()
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(3.2 * max(1, len(keys)), 3.2), dpi=120,
                             squeeze=False)
    for ax, key in zip(axes[0], keys):
        v = indices[key]
        ax.scatter(v["scored"], v["predicted"], s=14, color="#1f77b4")
        top = max([1.0, *v["scored"], *v["predicted"]])
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
        icc = v["icc"]
        ax.set_title(f"{key} (ICC {'-' if icc is None else f'{icc:.2f}'})", fontsize=9)
        ax.set_xlabel("scored (/h)")
        ax.set_ylabel("predicted (/h)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
