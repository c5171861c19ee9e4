"""Training losses of the reference pipeline: CoxPH, weighted staging cross-entropy, contrastive.

Each reproduces the reference formula (checked against the golden file); where the reference
has a defect that a caller may want to avoid, an option says so and the default is noted.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

#: Class weights of the staging loss for Wake, N1, N2, N3, REM (the reference's).
STAGING_CLASS_WEIGHTS: tuple[float, ...] = (1.0, 4.0, 2.0, 4.0, 3.0)
#: Stage number that marks an unscored / unknown token.
UNSCORED = -1


def cox_ph_loss(hazards: torch.Tensor, event_times: torch.Tensor, is_event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood, averaged over labels.

    Per label: order subjects by event time (latest first) so that the running
    log-sum-exp of the hazards is the log of each subject's risk set; the loss is
    ``-(h - logcumsumexp(h)) * is_event`` summed over subjects and divided by the number of
    events (+1e-9, so a label without events contributes 0); then the mean over labels.

    Parameters
    ----------
    hazards : Tensor (N, K)
        Predicted log-hazards.
    event_times : Tensor (N, K)
        Time to event or censoring.
    is_event : Tensor (N, K)
        1 where the event happened, 0 where censored.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    if hazards.shape != event_times.shape or hazards.shape != is_event.shape:
        raise ValueError(f"hazards {tuple(hazards.shape)}, event_times {tuple(event_times.shape)} and "
                         f"is_event {tuple(is_event.shape)} must have the same shape")
    order = event_times.sort(dim=0, descending=True).indices
    h = hazards.gather(0, order)
    events = is_event.gather(0, order)
    log_risk = torch.logcumsumexp(h.float(), dim=0)
    per_label = (-(h - log_risk) * events).sum(dim=0) / (events.sum(dim=0) + 1e-9)
    return per_label.mean()


def staging_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
                          class_weights: torch.Tensor | tuple[float, ...] | None = STAGING_CLASS_WEIGHTS,
                          unscored: str = "ignore") -> torch.Tensor:
    """Class-weighted cross-entropy averaged over unpadded tokens, as the reference trains staging.

    The per-token loss is ``weight[target] * -log softmax(logits)[target]``; the result is its
    sum over valid tokens divided by the *number* of valid tokens (not by the sum of weights,
    which is what ``F.cross_entropy(weight=...)`` would do).

    Parameters
    ----------
    logits : Tensor (B, S, K)
    targets : Tensor (B, S)
        Integer stages 0..K-1, or -1 for an unscored token.
    mask : Tensor (B, S), optional
        1/True where padding (excluded). None: every token counts.
    class_weights : sequence of float or Tensor (K,), optional
        Defaults to (1, 4, 2, 4, 3); None for unweighted.
    unscored : {"ignore", "wake"}
        What to do with targets of -1. ``"ignore"`` (default) leaves them out of the loss and of
        the count; ``"wake"`` trains them as Wake, which is what the reference's dataset does.

    Returns
    -------
    Tensor
        Scalar loss (0 with a gradient path when no token is valid).
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"expected logits (B, S, K) and targets (B, S); got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}")
    if unscored not in ("ignore", "wake"):
        raise ValueError(f"unscored must be 'ignore' or 'wake', not {unscored!r}")
    n_classes = logits.shape[-1]
    targets = targets.long()
    if bool(((targets < UNSCORED) | (targets >= n_classes)).any()):
        raise ValueError(f"targets must lie in -1..{n_classes - 1}")
    valid = torch.ones_like(targets, dtype=torch.bool) if mask is None else ~mask.to(torch.bool)
    if unscored == "wake":
        targets = targets.clamp(min=0)
    else:
        valid = valid & (targets != UNSCORED)
    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device)
        if weight.shape != (n_classes,):
            raise ValueError(f"class_weights must have {n_classes} entries; got {tuple(weight.shape)}")
    per_token = F.cross_entropy(logits.reshape(-1, n_classes), targets.clamp(min=0).reshape(-1),
                                weight=weight, reduction="none").view_as(targets)
    per_token = torch.where(valid, per_token, torch.zeros_like(per_token))
    return per_token.sum() / valid.sum().clamp(min=1)


def contrastive_loss(embeddings: torch.Tensor | list[torch.Tensor], temperature: torch.Tensor | float,
                     mode: str = "leave_one_out", reduction: str = "mean") -> torch.Tensor:
    """Multimodal InfoNCE of SleepFM pretraining.

    Parameters
    ----------
    embeddings : Tensor (M, B, E) or list of M tensors (B, E)
        One embedding per modality for the same B chunks, already L2-normalised.
    temperature : Tensor or float
        Log-scale t: logits are similarities times ``exp(max(t, 0))`` (the reference keeps its
        learnable t at or above 0).
    mode : {"leave_one_out", "pairwise"}
        ``leave_one_out``: modality i against the mean of the other modalities (M terms).
        ``pairwise``: every pair of modalities (M(M-1)/2 terms).
        Each term is the cross-entropy of matching chunk b to chunk b, both ways (rows and
        columns), summed over the batch; the total is divided by the number of directed terms
        (2M for leave-one-out, M(M-1) for pairwise).
    reduction : {"mean", "sum"}
        ``"sum"``: the value above (summed over the batch); ``"mean"``: divided by B, the loss
        the reference steps on.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    emb = torch.stack(list(embeddings)) if isinstance(embeddings, (list, tuple)) else embeddings
    if emb.dim() != 3 or emb.shape[0] < 2:
        raise ValueError(f"expected embeddings (modalities >= 2, batch, embed); got {tuple(emb.shape)}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
    n_mod, batch, _ = emb.shape
    t = torch.as_tensor(temperature, dtype=emb.dtype, device=emb.device)
    scale = torch.exp(t.clamp(min=0))
    target = torch.arange(batch, device=emb.device)

    def both_ways(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        logits = a @ b.T * scale
        return (F.cross_entropy(logits, target, reduction="sum")
                + F.cross_entropy(logits.T, target, reduction="sum"))

    if mode == "leave_one_out":
        total = emb.sum(dim=0)
        terms = [both_ways(emb[i], (total - emb[i]) / (n_mod - 1)) for i in range(n_mod)]
        directed = 2 * n_mod
    elif mode == "pairwise":
        terms = [both_ways(emb[i], emb[j]) for i, j in itertools.combinations(range(n_mod), 2)]
        directed = n_mod * (n_mod - 1)
    else:
        raise ValueError(f"mode must be 'leave_one_out' or 'pairwise', not {mode!r}")
    loss = torch.stack(terms).sum() / directed
    return loss / batch if reduction == "mean" else loss
