"""The SleepFM event head: per-token, multi-label presence of clinical event classes.

Same trunk as the staging head (channel pooling → positions → pre-norm transformer → BiLSTM →
linear) with one logit per event class, read through a sigmoid: a token may be in several
events at once (an apnea, its desaturation, its arousal). It is its own class so that a model
folder says which kind of model it holds (the training-task registry maps classes to kinds).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .heads import SleepEventLSTMClassifier

__all__ = ["SleepEventMultiLabelHead", "event_bce_loss"]


class SleepEventMultiLabelHead(SleepEventLSTMClassifier):
    """Event head: ``forward(x (B, C, S, E), mask (B, C, S))`` → (logits (B, S, K), mask[:, 0, :]).

    ``num_classes`` is the number of event classes (K); the logits are independent per class.
    """


def event_bce_loss(logits: torch.Tensor, targets: torch.Tensor,
                   pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy over the scored tokens and classes.

    Parameters
    ----------
    logits : Tensor (B, S, K)
    targets : Tensor (B, S, K)
        1 event, 0 none, -1 masked (outside sleep, unscored, padding): masked entries add
        nothing to the loss and nothing to its denominator.
    pos_weight : Tensor (K,), optional
        Weight of the positives per class (rare events weigh more).

    Returns
    -------
    Tensor
        Mean loss over the unmasked entries (0 when every entry is masked, with a gradient).
    """
    valid = targets >= 0
    loss = F.binary_cross_entropy_with_logits(logits, targets.clamp(min=0).to(logits.dtype),
                                              pos_weight=pos_weight, reduction="none")
    n = valid.sum()
    return (loss * valid).sum() / n.clamp(min=1)
