"""The SleepFM base model: raw 128-Hz channels of one modality → 5-s and 5-min embeddings."""
from __future__ import annotations

import torch
from torch import nn

from .layers import AttentionPooling, PositionalEncoding, Tokenizer, spatial_mask, spatial_tokens


class SetTransformer(nn.Module):
    """Channel-set encoder of the reference (``models.SetTransformer``).

    Each channel is tokenised into patches, the channels of every patch are pooled by attention
    (order-invariant, padded channels excluded), positions are added, a pre-norm transformer
    runs over time, and a final attention pooling gives one vector per input.

    Parameters
    ----------
    in_channels : int
        Kept for config compatibility; the tokenizer always takes one channel at a time.
    patch_size : int
        Samples per token (640 in the released model).
    embed_dim : int
        Embedding size (128 released).
    num_heads : int
        Heads of the temporal transformer.
    num_layers : int
        Layers of the temporal transformer.
    pooling_head : int
        Heads of the two attention poolings.
    dropout : float
        Dropout of every transformer layer.
    max_seq_length : int
        Rows of the positional table: the most tokens one forward may hold (128 released,
        so at most 128 × 5 s per call; the released pipeline uses 60).
    """

    def __init__(self, in_channels: int, patch_size: int, embed_dim: int, num_heads: int,
                 num_layers: int, pooling_head: int = 4, dropout: float = 0.1,
                 max_seq_length: int = 128):
        super().__init__()
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.patch_embedding = Tokenizer(input_size=patch_size, output_size=embed_dim)
        self.spatial_pooling = AttentionPooling(embed_dim, num_heads=pooling_head, dropout=dropout)
        self.positional_encoding = PositionalEncoding(max_seq_length, embed_dim)
        self.layer_norm = nn.LayerNorm(embed_dim)
        layer = nn.TransformerEncoderLayer(d_model=embed_dim, nhead=num_heads, dropout=dropout,
                                           batch_first=True, norm_first=True)
        # norm_first layers cannot use the nested-tensor fast path; say so instead of warning.
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=num_layers,
                                                         enable_nested_tensor=False)
        self.temporal_pooling = AttentionPooling(embed_dim, num_heads=pooling_head, dropout=dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed one modality.

        Parameters
        ----------
        x : Tensor (B, C, T)
            Preprocessed channels; T a multiple of ``patch_size`` (38400 = 60 tokens released).
        mask : Tensor (B, C)
            1/True where a channel is padding. Every row needs at least one real channel: an
            all-padding row comes out as NaN under no_grad (drop an absent modality instead).

        Returns
        -------
        pooled : Tensor (B, E)
            The 5-min (whole-input) embedding.
        embedding : Tensor (B, T // patch_size, E)
            The per-token (5-s) embeddings after the temporal transformer.
        """
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match x's (batch, channels) "
                             f"{tuple(x.shape[:2])}")
        tokens = self.patch_embedding(x)                       # (B, C, S, E)
        b, _, s, e = tokens.shape
        pooled = self.spatial_pooling(spatial_tokens(tokens), spatial_mask(mask, s))
        seq = self.layer_norm(self.positional_encoding(pooled.view(b, s, e)))
        embedding = self.transformer_encoder(seq)
        # The reference pools over time with no mask: every token of the chunk is real.
        return self.temporal_pooling(embedding), embedding
