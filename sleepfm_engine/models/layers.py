"""Building blocks shared by the SleepFM base model and its heads.

Attribute names (``tokenizer``, ``transformer_layer``, ``pe``) and the order of the layers inside
``Tokenizer.tokenizer`` are fixed by the released checkpoints: their state-dict keys are
``...tokenizer.<index>.weight`` and ``...transformer_layer.self_attn.in_proj_weight``, so the
module tree here mirrors the reference one-to-one even where a flatter design would do.
"""
from __future__ import annotations

import math

import torch
from torch import nn

#: Channels after each of the six stride-2 convolutions of the tokenizer.
_TOKENIZER_WIDTHS = (4, 8, 16, 32, 64, 128)


class Tokenizer(nn.Module):
    """Cut each channel into patches and encode every patch with a small 1-D CNN.

    Six blocks of Conv1d(k=5, s=2, p=2) → BatchNorm1d → ELU → LayerNorm([ch, len]) halve the
    patch length each time; an adaptive average pool, a flatten and a linear layer then map the
    128 feature maps to ``output_size``.

    Parameters
    ----------
    input_size : int
        Samples per patch (640 = 5 s at 128 Hz in the released model).
    output_size : int
        Size of each token embedding.
    """

    def __init__(self, input_size: int = 640, output_size: int = 128):
        super().__init__()
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        blocks: list[nn.Module] = []
        in_ch, length = 1, self.input_size
        for out_ch in _TOKENIZER_WIDTHS:
            length //= 2
            blocks += [
                nn.Conv1d(in_ch, out_ch, kernel_size=5, stride=2, padding=2),
                nn.BatchNorm1d(out_ch),
                nn.ELU(),
                # The reference normalises over (channels, time) jointly, with its own affine.
                nn.LayerNorm([out_ch, length]),
            ]
            in_ch = out_ch
        blocks += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(in_ch, self.output_size)]
        self.tokenizer = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` (B, C, T) into tokens (B, C, T // input_size, output_size)."""
        if x.dim() != 3:
            raise ValueError(f"Tokenizer expects (batch, channels, samples); got shape {tuple(x.shape)}")
        batch, channels, samples = x.shape
        if samples % self.input_size:
            raise ValueError(f"Tokenizer needs a whole number of {self.input_size}-sample patches; "
                             f"got {samples} samples")
        patches = x.reshape(batch * channels * (samples // self.input_size), 1, self.input_size)
        tokens = self.tokenizer(patches)
        return tokens.view(batch, channels, -1, self.output_size)


class AttentionPooling(nn.Module):
    """Pool a set or sequence into one vector: a transformer layer, then a (masked) mean.

    Parameters
    ----------
    input_dim : int
        Embedding size.
    num_heads : int
        Attention heads of the transformer layer.
    dropout : float
        Dropout of the transformer layer.

    Notes
    -----
    Semantics kept from the reference: ``key_padding_mask`` is (N, L) with 1/True = padding.
    With a mask of length 1 the layer is skipped and the input returned as is (mean of one).
    With a mask, the mean runs over unpadded positions only (divisor clamped at 1). Without a
    mask, every position is attended to and averaged.
    """

    def __init__(self, input_dim: int, num_heads: int = 1, dropout: float = 0.1):
        super().__init__()
        self.transformer_layer = nn.TransformerEncoderLayer(
            d_model=input_dim, nhead=num_heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``x`` (N, L, E) over L → (N, E)."""
        if key_padding_mask is None:
            return self.transformer_layer(x).mean(dim=1)
        if key_padding_mask.size(1) == 1:
            return x.mean(dim=1)
        padded = key_padding_mask.to(torch.bool)
        encoded = self.transformer_layer(x, src_key_padding_mask=padded)
        keep = (~padded).unsqueeze(-1).to(encoded.dtype)
        return (encoded * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)


class PositionalEncoding(nn.Module):
    """Add the fixed sinusoidal position table ``pe`` (1, max_seq_len, d_model).

    ``pe`` is a persistent buffer, so it travels in the checkpoint (the released files hold it).
    """

    def __init__(self, max_seq_len: int, d_model: int):
        super().__init__()
        pos = torch.arange(max_seq_len, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_seq_len, d_model)
        table[:, 0::2] = torch.sin(pos * freq)
        table[:, 1::2] = torch.cos(pos * freq)
        self.register_buffer("pe", table[None])

    @property
    def max_seq_len(self) -> int:
        return int(self.pe.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` (B, S, E) plus the first S rows of the table."""
        if x.size(1) > self.pe.size(1):
            raise ValueError(f"sequence of {x.size(1)} tokens exceeds the positional table "
                             f"({self.pe.size(1)}, the model's max_seq_length)")
        return x + self.pe[:, : x.size(1)]


def spatial_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, S, E) → (B·S, C, E): one set of channel tokens per time step."""
    b, c, s, e = x.shape
    return x.permute(0, 2, 1, 3).reshape(b * s, c, e)


def spatial_mask(channel_mask: torch.Tensor, steps: int) -> torch.Tensor:
    """Channel padding mask (B, C) → (B·S, C) bool, repeated for each of ``steps`` time steps."""
    b, c = channel_mask.shape
    return channel_mask.to(torch.bool)[:, None, :].expand(b, steps, c).reshape(b * steps, c)
