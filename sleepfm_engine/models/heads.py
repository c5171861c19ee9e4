"""The SleepFM heads over per-token embeddings: sleep staging and disease risk (CoxPH).

Inputs are the 5-s embeddings of several modalities stacked as "channels":
``x`` (B, C, S, E) with a padding mask (B, C, S), 1 = padding. As in the reference, the
channel mask is read at the first token (``mask[:, :, 0]``) and the temporal mask from the
first channel (``mask[:, 0, :]``): channel 0 must be a modality that is present.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import rnn as rnn_utils

from .layers import AttentionPooling, PositionalEncoding, spatial_mask, spatial_tokens

#: Positional table size the reference uses when a config gives ``max_seq_length: null``.
DEFAULT_MAX_SEQ_LENGTH = 20000


def _check_inputs(x: torch.Tensor, mask: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected x of shape (batch, channels, tokens, embed); got {tuple(x.shape)}")
    if mask.shape != x.shape[:3]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match x's (batch, channels, tokens) "
                         f"{tuple(x.shape[:3])}")


def _pool_channels(pooling: AttentionPooling, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention-pool the channel axis of (B, C, S, E) → (B, S, E)."""
    b, _, s, e = x.shape
    return pooling(spatial_tokens(x), spatial_mask(mask[:, :, 0], s)).view(b, s, e)


class SleepEventLSTMClassifier(nn.Module):
    """Sleep-staging head: channel pooling → positions → pre-norm transformer → BiLSTM → linear.

    Parameters
    ----------
    embed_dim, num_heads, num_layers, num_classes : int
        Embedding size, transformer heads, transformer and LSTM layers, output classes.
    pooling_head : int
        Heads of the channel attention pooling.
    dropout : float
        Transformer dropout; also LSTM dropout when ``num_layers`` > 1.
    max_seq_length : int or None
        Rows of the positional table (None → 20000): the most tokens one forward may hold.
    """

    def __init__(self, embed_dim: int, num_heads: int, num_layers: int, num_classes: int,
                 pooling_head: int = 4, dropout: float = 0.1, max_seq_length: int | None = 128):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.spatial_pooling = AttentionPooling(embed_dim, num_heads=pooling_head, dropout=dropout)
        self.positional_encoding = PositionalEncoding(
            DEFAULT_MAX_SEQ_LENGTH if max_seq_length is None else max_seq_length, embed_dim)
        self.layer_norm = nn.LayerNorm(embed_dim)
        layer = nn.TransformerEncoderLayer(d_model=embed_dim, nhead=num_heads, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=num_layers,
                                                         enable_nested_tensor=False)
        self.lstm = nn.LSTM(input_size=embed_dim, hidden_size=embed_dim // 2, num_layers=num_layers,
                            batch_first=True, bidirectional=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classify every token.

        Parameters
        ----------
        x : Tensor (B, C, S, E)
            Per-token embeddings of C modalities.
        mask : Tensor (B, C, S)
            1/True where padding (bool or float). Padded tokens are excluded from attention.
            (The reference passes its float mask straight to the transformer, which in
            inference under ``no_grad`` excludes them too but with gradients enabled adds +1
            to their attention logits instead; the bool form here gives the inference numbers
            in both modes.) The LSTM sees every position, padded or not, as in the reference.

        Returns
        -------
        logits : Tensor (B, S, num_classes)
        mask_temporal : Tensor (B, S)
            ``mask[:, 0, :]``, the temporal padding mask (same dtype as ``mask``).
        """
        _check_inputs(x, mask)
        seq = self.layer_norm(self.positional_encoding(_pool_channels(self.spatial_pooling, x, mask)))
        mask_temporal = mask[:, 0, :]
        seq = self.transformer_encoder(seq, src_key_padding_mask=mask_temporal.to(torch.bool))
        seq, _ = self.lstm(seq)
        return self.fc(seq), mask_temporal


class _DiagnosisBase(nn.Module):
    """Shared trunk of the CoxPH disease heads: channel pooling → packed BiLSTM → mean over time.

    ``positional_encoding`` and ``layer_norm`` exist (they are in the released state dict) but
    the reference never applies them in these heads; neither does this one. ``num_heads`` is
    accepted for config compatibility and unused.
    """

    def __init__(self, embed_dim: int, num_heads: int, num_layers: int, num_classes: int,
                 pooling_head: int = 4, dropout: float = 0.1, max_seq_length: int | None = 128):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.spatial_pooling = AttentionPooling(embed_dim, num_heads=pooling_head, dropout=dropout)
        self.positional_encoding = PositionalEncoding(
            DEFAULT_MAX_SEQ_LENGTH if max_seq_length is None else max_seq_length, embed_dim)
        self.layer_norm = nn.LayerNorm(embed_dim)
        self.lstm = nn.LSTM(input_size=embed_dim, hidden_size=embed_dim // 2, num_layers=num_layers,
                            batch_first=True, bidirectional=True)

    def _night_embedding(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, S, E), (B, C, S) → (B, E): BiLSTM over the valid tokens, averaged."""
        _check_inputs(x, mask)
        seq = _pool_channels(self.spatial_pooling, x, mask)
        lengths = (mask[:, 0, :] == 0).sum(dim=1).cpu()
        if bool((lengths == 0).any()):
            raise ValueError("a sample has no valid token in channel 0 of its mask; channel 0 must be "
                             "a modality that is present")
        packed = rnn_utils.pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
        out, _ = rnn_utils.pad_packed_sequence(self.lstm(packed)[0], batch_first=True)
        # pad_packed_sequence zero-fills past each length, so a sum over time is the valid sum.
        return out.sum(dim=1) / lengths.to(out.device, out.dtype)[:, None]


class DiagnosisFinetuneFullLSTMCOXPH(_DiagnosisBase):
    """Disease head without demographics: ``forward(x, mask)`` → log-hazards (B, num_classes)."""

    def __init__(self, embed_dim: int, num_heads: int, num_layers: int, num_classes: int,
                 pooling_head: int = 4, dropout: float = 0.1, max_seq_length: int | None = 128):
        super().__init__(embed_dim, num_heads, num_layers, num_classes, pooling_head, dropout,
                         max_seq_length)
        self.disease_heads = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, C, S, E), mask (B, C, S; 1 = padding) → hazards (B, num_classes)."""
        return self.disease_heads(self._night_embedding(x, mask))


class DiagnosisFinetuneFullLSTMCOXPHWithDemo(_DiagnosisBase):
    """Disease head with demographics (the released ``model_diagnosis``).

    ``forward(x, mask, demo_features)``: the night embedding (E) is concatenated with an
    embedding of (age, sex) (E // 4) before the linear layer giving the log-hazards.
    """

    def __init__(self, embed_dim: int, num_heads: int, num_layers: int, num_classes: int,
                 pooling_head: int = 4, dropout: float = 0.1, max_seq_length: int | None = 128):
        super().__init__(embed_dim, num_heads, num_layers, num_classes, pooling_head, dropout,
                         max_seq_length)
        self.demo_embedding = nn.Sequential(nn.Linear(2, embed_dim // 4), nn.ReLU(), nn.Dropout(dropout))
        self.disease_heads = nn.Linear(embed_dim + embed_dim // 4, num_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, demo_features: torch.Tensor) -> torch.Tensor:
        """x (B, C, S, E), mask (B, C, S; 1 = padding), demo_features (B, 2) → hazards (B, num_classes)."""
        if demo_features.shape != (x.shape[0], 2):
            raise ValueError(f"demo_features must be (batch, 2) = (age, sex); got {tuple(demo_features.shape)}")
        night = self._night_embedding(x, mask)
        return self.disease_heads(torch.cat([night, self.demo_embedding(demo_features)], dim=1))
