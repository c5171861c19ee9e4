"""The contrastive loss when recordings do not all have every modality.

:func:`sleepfm_engine.models.contrastive_loss` is the reference loss for a batch in which every
chunk has every modality; it is used as is in that case. Otherwise each directed term is taken
over the chunks that have the modalities it involves (leave-one-out: the modality and at least
one other; pairwise: both), and the total is the mean cross-entropy over every (row, direction)
computed. With every modality present this equals the reference value.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from ..models import contrastive_loss


def masked_contrastive_loss(embeddings: torch.Tensor, present: torch.Tensor,
                            temperature: torch.Tensor | float, mode: str = "leave_one_out",
                            return_accuracy: bool = False):
    """Multimodal InfoNCE over the modalities each chunk has.

    Parameters
    ----------
    embeddings : Tensor (M, B, E)
        L2-normalised embeddings; rows of absent modalities are ignored (any value).
    present : Tensor (M, B) bool
        Which chunk has which modality.
    temperature : Tensor or float
        Learnable log-scale (clamped at >= 0), as in the reference.
    mode : {"leave_one_out", "pairwise"}
    return_accuracy : bool
        Also return the top-1 retrieval accuracy (the matching chunk ranked first) over every
        (row, direction), a readable measure of what the loss optimises.

    Returns
    -------
    Tensor, or (Tensor, float)
        The loss (0 with a gradient path when no term is defined).
    """
    if embeddings.dim() != 3 or present.shape != embeddings.shape[:2]:
        raise ValueError(f"expected embeddings (M, B, E) and present (M, B); got "
                         f"{tuple(embeddings.shape)} and {tuple(present.shape)}")
    if mode not in ("leave_one_out", "pairwise"):
        raise ValueError(f"mode must be 'leave_one_out' or 'pairwise', not {mode!r}")
    present = present.to(torch.bool)
    keep = present.any(dim=1)
    emb, present = embeddings[keep], present[keep]
    n_mod = emb.shape[0]
    if bool(present.all()) and n_mod >= 2 and not return_accuracy:
        return contrastive_loss(emb, temperature, mode=mode, reduction="mean")
    t = torch.as_tensor(temperature, dtype=emb.dtype, device=emb.device)
    scale = torch.exp(t.clamp(min=0))
    total = emb.new_zeros(())
    rows = 0
    correct = 0

    def both_ways(a: torch.Tensor, b: torch.Tensor):
        logits = a @ b.T * scale
        target = torch.arange(a.shape[0], device=a.device)
        loss = F.cross_entropy(logits, target, reduction="sum") + F.cross_entropy(logits.T, target,
                                                                                 reduction="sum")
        hits = 0
        if return_accuracy:
            with torch.no_grad():
                hits = int((logits.argmax(1) == target).sum() + (logits.argmax(0) == target).sum())
        return loss, hits

    if mode == "leave_one_out":
        weights = present.to(emb.dtype)
        count = weights.sum(dim=0)
        summed = (emb * weights[..., None]).sum(dim=0)
        for i in range(n_mod):
            sel = present[i] & (count >= 2)
            if int(sel.sum()) < 1:
                continue
            other = (summed[sel] - emb[i][sel]) / (count[sel] - 1)[:, None]
            loss, hits = both_ways(emb[i][sel], other)
            total = total + loss
            rows += 2 * int(sel.sum())
            correct += hits
    else:
        for i, j in itertools.combinations(range(n_mod), 2):
            sel = present[i] & present[j]
            if int(sel.sum()) < 1:
                continue
            loss, hits = both_ways(emb[i][sel], emb[j][sel])
            total = total + loss
            rows += 2 * int(sel.sum())
            correct += hits
    if rows == 0:
        loss = embeddings.sum() * 0.0
    else:
        loss = total / rows
    if return_accuracy:
        return loss, (correct / rows if rows else float("nan"))
    return loss
