"""Evaluation of trained models: staging agreement, Harrell's C, JSON and plots.

Staging agreement (accuracy, Cohen's kappa, per-class and macro F1, confusion matrix) comes from
:mod:`sleepfm_engine.sleep_stats`; this module only turns per-token predictions into 30-s epochs
and collects them over nights. Plots are written with matplotlib (Agg), imported on use.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..contract import TOKENS_PER_EPOCH
from ..hypnogram import STAGES, STAGE_COLORS
from ..sleep_stats import agreement

#: Subjects per block when counting Harrell's C pairs (memory grows with its square).
_CINDEX_BLOCK = 1024


def tokens_to_epochs(labels: np.ndarray, probs: np.ndarray | None = None,
                     tokens_per_epoch: int = TOKENS_PER_EPOCH) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-token labels (and probabilities) → 30-s epochs.

    An epoch's label is the most common scored label among its tokens, or -1 when more than
    half of them are unscored; its probabilities are the mean of its tokens'. A trailing
    partial epoch is dropped.

    Returns
    -------
    labels : ndarray (n_epochs,)
    probs : ndarray (n_epochs, K) or None
    """
    n = len(labels) // tokens_per_epoch
    lab = np.asarray(labels[: n * tokens_per_epoch]).reshape(n, tokens_per_epoch)
    out = np.full(n, -1, dtype=np.int64)
    counts = np.stack([(lab == k).sum(axis=1) for k in range(len(STAGES))], axis=1)
    scored = counts.sum(axis=1)
    best = counts.argmax(axis=1)
    keep = scored >= math.ceil(tokens_per_epoch / 2)
    out[keep] = best[keep]
    p = None
    if probs is not None:
        p = np.asarray(probs[: n * tokens_per_epoch]).reshape(n, tokens_per_epoch, -1).mean(axis=1)
    return out, p


def staging_report(nights: Sequence[dict]) -> dict:
    """Agreement of predicted and reference stages over nights, at 5-s tokens and 30-s epochs.

    Parameters
    ----------
    nights : sequence of dict
        ``{"id", "labels": (S,) int (-1 unscored), "probs": (S, 5) float}`` per night.

    Returns
    -------
    dict
        ``epoch`` and ``token`` (each :func:`sleepfm_engine.sleep_stats.agreement` over all
        nights pooled: accuracy, kappa, macro F1, per-stage F1, confusion matrix), ``per_night``
        (accuracy and kappa at 30 s), ``n_nights``, and ``score`` (the 30-s kappa, used for
        early stopping and model selection).
    """
    tok_ref, tok_pred, ep_ref, ep_pred, per_night = [], [], [], [], []
    for night in nights:
        lab = np.asarray(night["labels"], dtype=np.int64)
        probs = np.asarray(night["probs"], dtype=np.float64)
        n = min(len(lab), len(probs))
        lab, probs = lab[:n], probs[:n]
        tok_ref.append(lab)
        tok_pred.append(probs.argmax(axis=1))
        el, ep = tokens_to_epochs(lab, probs)
        epred = ep.argmax(axis=1) if ep is not None and len(ep) else np.zeros(0, np.int64)
        ep_ref.append(el)
        ep_pred.append(epred)
        a = agreement(el, epred)
        per_night.append({"id": night.get("id"), "accuracy": a["accuracy"], "kappa": a["kappa"],
                          "n_epochs": a["n_compared"]})
    def cat(parts):
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    token = agreement(cat(tok_ref), cat(tok_pred))
    epoch = agreement(cat(ep_ref), cat(ep_pred))
    kappa = epoch["kappa"]
    return {"epoch": epoch, "token": token, "per_night": per_night, "n_nights": len(per_night),
            "accuracy": epoch["accuracy"], "kappa": kappa, "macro_f1": epoch["macro_f1"],
            "score": kappa if kappa is not None else (epoch["accuracy"] or 0.0)}


def concordance_index(times: np.ndarray, events: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index of a risk score against censored event times.

    A pair (i, j) is comparable when subject i had the event (``events[i] == 1``) and j was
    still at risk after it: j's time is later, or equal with j censored (an event and a
    censoring at the same time count as the event first; two events at the same time are not
    comparable). This is lifelines' convention. The pair is concordant when i's risk is
    higher, and counts one half when the risks tie. NaN when no pair is comparable.

    The pairs are counted in blocks of sorted subjects, so time is O(n**2 / B * log B) with
    B = 1024 and memory O(n + B**2): 40,000 subjects need a few megabytes, not gigabytes.

    Parameters
    ----------
    times : array (n,)
    events : array (n,) of 0/1
    risk : array (n,)
        Higher means earlier expected event (the CoxPH log-hazard).

    Returns
    -------
    float
    """
    t = np.asarray(times, dtype=np.float64)
    e = np.asarray(events, dtype=np.float64) > 0.5
    r = np.asarray(risk, dtype=np.float64)
    if not (t.shape == e.shape == r.shape) or t.ndim != 1:
        raise ValueError("times, events and risk must be 1-D arrays of the same length")
    ok = np.isfinite(t) & np.isfinite(r)
    t, e, r = t[ok], e[ok], r[ok]
    # Sorted by time with events before censorings at the same time, the subjects comparable
    # with event i are exactly a suffix: everything after the events that share i's time.
    order = np.lexsort((~e, t))
    t, e, r = t[order], e[order], r[order]
    ev = np.flatnonzero(e)
    if ev.size == 0:
        return float("nan")
    t_ev = t[ev]
    first = np.searchsorted(t_ev, t_ev, side="left")
    after = np.searchsorted(t_ev, t_ev, side="right")
    start = np.searchsorted(t, t_ev, side="left") + (after - first)   # non-decreasing
    n = t.size
    n_pairs = int((n - start).sum())
    if n_pairs == 0:
        return float("nan")
    r_ev = r[ev]
    lower = np.zeros(ev.size, dtype=np.int64)   # comparable partners with lower risk
    equal = np.zeros(ev.size, dtype=np.int64)   # ... and with the same risk
    block = _CINDEX_BLOCK
    start_block = start // block
    for k in range(-(-n // block)):
        lo, hi = k * block, min((k + 1) * block, n)
        r_blk = r[lo:hi]
        # Events whose suffix starts before this block see all of it.
        m = int(np.searchsorted(start_block, k, side="left"))
        if m:
            s = np.sort(r_blk)
            below = np.searchsorted(s, r_ev[:m], side="left")
            lower[:m] += below
            equal[:m] += np.searchsorted(s, r_ev[:m], side="right") - below
        # Events whose suffix starts inside this block see part of it.
        inside = np.arange(m, int(np.searchsorted(start_block, k, side="right")))
        pos = np.arange(lo, hi)
        for c in range(0, inside.size, block):
            q = inside[c:c + block]
            seen = pos[None, :] >= start[q][:, None]
            lower[q] += (seen & (r_blk[None, :] < r_ev[q][:, None])).sum(axis=1)
            equal[q] += (seen & (r_blk[None, :] == r_ev[q][:, None])).sum(axis=1)
    return float((lower.sum() + 0.5 * equal.sum()) / n_pairs)


def concordance_report(times: np.ndarray, events: np.ndarray, hazards: np.ndarray,
                       labels: Sequence[str]) -> dict:
    """Harrell's C per label and their mean (``score``) over labels where it is defined."""
    per = {}
    for k, name in enumerate(labels):
        c = concordance_index(times[:, k], events[:, k], hazards[:, k])
        per[str(name)] = None if math.isnan(c) else c
    defined = [v for v in per.values() if v is not None]
    mean = float(np.mean(defined)) if defined else None
    return {"c_index": per, "mean_c_index": mean, "n_labels_defined": len(defined),
            "n_subjects": int(times.shape[0]), "events": {str(n): int(np.nansum(events[:, k]))
                                                           for k, n in enumerate(labels)},
            "score": mean if mean is not None else 0.5}


# ------------------------------------------------------------------------------------- plots
def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   title: str = "Confusion matrix (30-s epochs)") -> Path:
    """Row-normalised confusion matrix (rows reference, columns predicted) with counts."""
    from ..atomic import atomic_path

    plt = _pyplot()
    cm = np.asarray(matrix, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_history(history: Sequence[dict], path: str | Path, score_name: str = "validation score") -> Path:
    """Training loss and validation score per epoch."""
    from ..atomic import atomic_path

    plt = _pyplot()
    ep = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(6, 3.4), dpi=120)
    ax1.plot(ep, [h["train_loss"] for h in history], "o-", color="#1f77b4", label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss", color="#1f77b4")
    scores = [h.get("validation", {}).get("score") for h in history]
    if any(s is not None for s in scores):
        ax2 = ax1.twinx()
        ax2.plot(ep, [np.nan if s is None else s for s in scores], "s-", color="#d62728", label=score_name)
        ax2.set_ylabel(score_name, color="#d62728")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_f1(f1: dict, path: str | Path, title: str = "F1 per stage") -> Path:
    """Bar chart of per-stage F1 in the stage colours."""
    from ..atomic import atomic_path

    plt = _pyplot()
    names = list(f1)
    vals = [np.nan if f1[n] is None else f1[n] for n in names]
    fig, ax = plt.subplots(figsize=(4.5, 3), dpi=120)
    ax.bar(names, vals, color=[STAGE_COLORS.get(n, "#888888") for n in names])
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_c_index(c_index: dict, path: str | Path) -> Path:
    """Bar chart of Harrell's C per label (0.5 = chance)."""
    from ..atomic import atomic_path

    plt = _pyplot()
    names = [k for k, v in c_index.items() if v is not None][:60]
    fig, ax = plt.subplots(figsize=(max(4, 0.25 * len(names) + 2), 3.2), dpi=120)
    ax.bar(range(len(names)), [c_index[n] for n in names], color="#4c72b0")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Harrell's C")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
