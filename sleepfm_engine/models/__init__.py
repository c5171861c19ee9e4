"""SleepFM architectures and training losses, faithful to the reference implementation.

Importing this package imports torch; the rest of the engine only imports it when a model is
needed.

Forward signatures (1 = padding in every mask):

- ``SetTransformer(x (B, C, T), mask (B, C)) -> (pooled (B, E), embedding (B, T/640, E))``
- ``SleepEventLSTMClassifier(x (B, C, S, E), mask (B, C, S)) -> (logits (B, S, K), mask[:, 0, :])``
- ``DiagnosisFinetuneFullLSTMCOXPH(x, mask) -> hazards (B, K)``
- ``DiagnosisFinetuneFullLSTMCOXPHWithDemo(x, mask, demo_features (B, 2)) -> hazards (B, K)``
- ``SleepEventMultiLabelHead(x (B, C, S, E), mask (B, C, S)) -> (event logits (B, S, K), mask[:, 0, :])``
"""
from __future__ import annotations

from .event_head import SleepEventMultiLabelHead, event_bce_loss
from .heads import (DiagnosisFinetuneFullLSTMCOXPH, DiagnosisFinetuneFullLSTMCOXPHWithDemo,
                    SleepEventLSTMClassifier)
from .layers import AttentionPooling, PositionalEncoding, Tokenizer
from .losses import (STAGING_CLASS_WEIGHTS, contrastive_loss, cox_ph_loss,
                     staging_cross_entropy)
from .set_transformer import SetTransformer

#: Model classes a ``config.json`` may name in its ``"model"`` key.
MODEL_CLASSES: dict[str, type] = {
    "SetTransformer": SetTransformer,
    "SleepEventLSTMClassifier": SleepEventLSTMClassifier,
    "DiagnosisFinetuneFullLSTMCOXPH": DiagnosisFinetuneFullLSTMCOXPH,
    "DiagnosisFinetuneFullLSTMCOXPHWithDemo": DiagnosisFinetuneFullLSTMCOXPHWithDemo,
    "SleepEventMultiLabelHead": SleepEventMultiLabelHead,
}

__all__ = [
    "Tokenizer", "AttentionPooling", "PositionalEncoding", "SetTransformer",
    "SleepEventLSTMClassifier", "DiagnosisFinetuneFullLSTMCOXPH",
    "DiagnosisFinetuneFullLSTMCOXPHWithDemo", "cox_ph_loss", "staging_cross_entropy",
    "contrastive_loss", "STAGING_CLASS_WEIGHTS", "MODEL_CLASSES", "SleepEventMultiLabelHead",
    "event_bce_loss",
]
