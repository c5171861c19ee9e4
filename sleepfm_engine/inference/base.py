"""The base model over a whole night: 5-s token and 5-min chunk embeddings per modality.

How the night is cut. Every modality shares the same 5-s token grid from the recording start.
The base model sees 5-min chunks (60 tokens); chunk ``k`` starts at token ``60 k``. When the
night does not end on a chunk boundary, the reference drops the tail; here the last 5 minutes
are run as one more chunk, overlapping the chunk before it, and only its tokens that no earlier
chunk produced are kept, so every whole token of the night gets an embedding (a 7.5-min night
gives 90 tokens: 60 from chunk 0 and the last 30 of a chunk over minutes 2.5-7.5). A night
shorter than 5 minutes is run as one shorter chunk of all its tokens (no padding: the temporal
transformer has no padding mask, so padded tokens would change the real ones).

How it runs. The tokenizer and the channel pooling look at one 5-s patch at a time, so they run
once per token of the night (never twice for the overlap), in large batches over all tokens;
only the temporal transformer runs per chunk, with the chunks of all modalities in one batch.
The result is the same as calling the model's ``forward`` on each chunk (checked in the tests).
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..contract import PATCH_SIZE, TOKENS_PER_CHUNK
from ..devices import check_precision, inference_context, module_device, select_device
from ..errors import ModelError
from ..jobs import TaskState
from ..recording import Recording, open_recording
from .embeddings import Embeddings
from .handles import resolve_model
from .inputs import ModalityInput, prepare_modalities

__all__ = ["ChunkPlan", "plan_chunks", "embed_recording", "embed_inputs", "resolve_device",
           "pack_token_blocks", "fast_tokenizer"]

#: Patches per tokenizer call on a CPU (and channel-tokens per pooling call).
CPU_PATCH_BLOCK = 2048


@dataclass(frozen=True)
class ChunkPlan:
    """Where the base model's chunks lie on the token grid.

    Attributes
    ----------
    starts : numpy.ndarray
        First token of each chunk.
    length : int
        Tokens per chunk (60, or all tokens of a night shorter than 5 minutes).
    n_full : int
        Chunks on the regular grid (their tokens are all kept).
    tail : int
        Tokens kept from the last, overlapping chunk (0 when the night ends on the grid).
    """

    starts: np.ndarray
    length: int
    n_full: int
    tail: int

    @property
    def n_chunks(self) -> int:
        return int(self.starts.shape[0])

    @property
    def n_tokens(self) -> int:
        return self.n_full * self.length + self.tail


def plan_chunks(n_tokens: int, tokens_per_chunk: int = TOKENS_PER_CHUNK) -> ChunkPlan:
    """Cut ``n_tokens`` tokens into chunks; see the module notes.

    Raises
    ------
    ValueError
        If ``n_tokens`` < 1.
    """
    n_tokens = int(n_tokens)
    if n_tokens < 1:
        raise ValueError(f"a night needs at least one token, got {n_tokens}")
    if n_tokens <= tokens_per_chunk:
        return ChunkPlan(np.zeros(1, dtype=np.int64), n_tokens, 1, 0)
    n_full, tail = divmod(n_tokens, tokens_per_chunk)
    starts = np.arange(n_full, dtype=np.int64) * tokens_per_chunk
    if tail:
        starts = np.append(starts, n_tokens - tokens_per_chunk)
    return ChunkPlan(starts, tokens_per_chunk, n_full, tail)


def resolve_device(device, module) -> "Any":
    """``device`` as a torch.device; None keeps a module already on an accelerator, else auto."""
    if device is None:
        current = module_device(module)
        return current if current.type != "cpu" else select_device("auto")
    return select_device(device)


def _block_sizes(device, batch_size: int, total_patches: int, widest: int) -> tuple[int, int]:
    """(patches per tokenizer call, channel-tokens per pooling call) for a device.

    On a CPU, blocks of about 2,000 patches keep activations in cache and one fixed shape
    (oneDNN builds a kernel per shape); on an accelerator, bigger is better.
    """
    if device.type == "cpu":
        small = -(-total_patches // 256) * 256     # a short night: no need to pad to a full block
        return max(min(CPU_PATCH_BLOCK, small), widest), CPU_PATCH_BLOCK
    cap = max(widest, batch_size * TOKENS_PER_CHUNK * 16)
    return max(widest, min(cap, total_patches)), cap


def pack_token_blocks(sizes: Mapping[str, tuple[int, int]], patch_block: int) -> list[list[tuple[str, int, int]]]:
    """Cut each modality's tokens into pieces ``(modality, first, stop)`` and pack them into
    blocks of at most ``patch_block`` patches (a token brings one patch per channel)."""
    blocks: list[list[tuple[str, int, int]]] = []
    current: list[tuple[str, int, int]] = []
    room = patch_block
    for m, (channels, n_tokens) in sizes.items():
        if channels > patch_block:
            raise ValueError(f"{m}: {channels} channels do not fit a block of {patch_block} patches")
        t = 0
        while t < n_tokens:
            fit = room // channels
            if fit == 0:
                blocks.append(current)
                current, room = [], patch_block
                continue
            stop = min(n_tokens, t + fit)
            current.append((m, t, stop))
            room -= (stop - t) * channels
            t = stop
    if current:
        blocks.append(current)
    return blocks


def fast_tokenizer(tokenizer) -> Any:
    """The tokenizer's forward with each BatchNorm folded into the convolution before it.

    In eval mode a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` equals one
    convolution with scaled weights and a shifted bias (to float rounding, about 1e-6); ELU then
    runs in place. This saves two passes over the largest activations of the base model on a
    CPU. Anything but the released layer pattern (Conv1d, BatchNorm1d, ELU, LayerNorm blocks,
    then average pool, flatten, linear) gets the module itself.
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    layers = list(tokenizer)
    n_blocks = (len(layers) - 3) // 4
    blocks = [layers[4 * i:4 * i + 4] for i in range(n_blocks)]
    tail = layers[4 * n_blocks:]
    ok = (n_blocks > 0 and len(tail) == 3 and isinstance(tail[0], nn.AdaptiveAvgPool1d)
          and tail[0].output_size in (1, (1,)) and isinstance(tail[1], nn.Flatten)
          and isinstance(tail[2], nn.Linear) and not tokenizer.training)
    for block in blocks if ok else []:
        conv, bn, elu, ln = block
        ok = ok and (isinstance(conv, nn.Conv1d) and conv.bias is not None and conv.groups == 1
                     and conv.padding_mode == "zeros" and isinstance(bn, nn.BatchNorm1d) and bn.affine
                     and bn.track_running_stats and isinstance(elu, nn.ELU)
                     and isinstance(ln, nn.LayerNorm) and ln.elementwise_affine)
    if not ok:
        return tokenizer
    with torch.no_grad():
        folded = []
        for conv, bn, elu, ln in blocks:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            weight = (conv.weight * scale[:, None, None]).contiguous()
            bias = ((conv.bias - bn.running_mean) * scale + bn.bias).contiguous()
            folded.append((weight, bias, conv.stride, conv.padding, conv.dilation, elu.alpha, ln))
    linear = tail[2]

    def forward(x):
        for weight, bias, stride, padding, dilation, alpha, ln in folded:
            x = F.conv1d(x, weight, bias, stride, padding, dilation)
            x = F.elu(x, alpha, inplace=True)
            x = F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        return F.linear(x.mean(-1), linear.weight, linear.bias)

    return forward


def _check_base(module) -> None:
    for attr in ("patch_embedding", "spatial_pooling", "positional_encoding", "layer_norm",
                 "transformer_encoder", "temporal_pooling"):
        if not hasattr(module, attr):
            raise ModelError(None, f"{type(module).__name__} is not a SleepFM base model (no {attr})")


def embed_inputs(inputs: Mapping[str, ModalityInput], base_model: Any, *, device=None,
                 batch_size: int = 64, state: TaskState | None = None, precision: str = "fp32",
                 start: _dt.datetime | None = None, duration_s: float | None = None,
                 source: str = "", profile: dict | None = None) -> Embeddings:
    """Embed prepared modalities (see :func:`prepare_modalities`); see :func:`embed_recording`.

    ``profile``, when given a dict, receives the seconds spent in each stage (``upload``,
    ``tokenizer``, ``channel_pooling``, ``temporal``, ``download``); the device is synchronised
    between stages for that, so leave it out when speed matters.
    """
    import time

    import torch

    def mark(name: str | None = None) -> None:
        nonlocal t_mark
        if profile is None:
            return
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        now = time.perf_counter()
        if name is not None:
            profile[name] = profile.get(name, 0.0) + now - t_mark
        t_mark = now

    t_mark = 0.0

    if not inputs:
        raise ValueError("no modality to embed")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    handle = resolve_model(base_model, "base")
    model = handle.module
    _check_base(model)
    dev = resolve_device(device, model)
    precision = check_precision(precision, dev)
    model.to(dev).eval()
    n_tok = min(inp.n_tokens for inp in inputs.values())
    plan = plan_chunks(n_tok)
    if plan.length > model.positional_encoding.pe.shape[1]:
        raise ModelError(handle.path, f"the base model holds at most {model.positional_encoding.pe.shape[1]} "
                                      f"tokens per forward, fewer than a {plan.length}-token chunk")
    embed_dim = int(model.positional_encoding.pe.shape[-1])
    mods = list(inputs)
    widths = {m: len(inputs[m].channels) for m in mods}
    patch_block, pool_rows = _block_sizes(dev, batch_size, n_tok * sum(widths.values()), max(widths.values()))
    blocks = pack_token_blocks({m: (widths[m], n_tok) for m in mods}, patch_block)
    pool_steps = {m: max(1, pool_rows // widths[m]) for m in mods}
    n_seq = len(mods) * plan.n_chunks
    total = len(blocks) + sum(-(-n_tok // k) for k in pool_steps.values()) + -(-n_seq // batch_size)
    done = 0

    def tick(message: str) -> None:
        nonlocal done
        done += 1
        if state is not None:
            state.set_progress(done / total)
            state.set_status(message)
            state.check_cancelled()

    tokenizer = fast_tokenizer(model.patch_embedding.tokenizer)
    with inference_context(dev, precision):
        mark()
        # Stage 1: every 5-s patch of every channel through the tokenizer, in blocks of a fixed
        # number of patches (whole tokens; the last block zero-padded), so that CPU kernels
        # built for one input shape are reused for the whole night and the next ones.
        nights = {m: torch.from_numpy(np.ascontiguousarray(inputs[m].data)).to(dev)[:, :n_tok * PATCH_SIZE]
                  .view(widths[m], n_tok, PATCH_SIZE) for m in mods}
        feats = {m: torch.empty(n_tok, widths[m], embed_dim, device=dev, dtype=torch.float32) for m in mods}
        mark("upload")
        for block in blocks:
            pieces = [nights[m][:, t0:t1].transpose(0, 1).reshape(-1, PATCH_SIZE) for m, t0, t1 in block]
            used = sum(p.shape[0] for p in pieces)
            if used < patch_block and dev.type == "cpu":
                pieces.append(torch.zeros(patch_block - used, PATCH_SIZE, device=dev, dtype=pieces[0].dtype))
            out = tokenizer(torch.cat(pieces)[:, None, :])
            offset = 0
            for m, t0, t1 in block:
                n = (t1 - t0) * widths[m]
                feats[m][t0:t1] = out[offset:offset + n].view(t1 - t0, widths[m], embed_dim)
                offset += n
            tick(f"embedding: tokenizer {done + 1}/{len(blocks)}")
        del nights
        mark("tokenizer")
        # Stage 2: attention pooling over each token's channels (no channel is padding).
        pooled: dict[str, torch.Tensor] = {}
        for m in mods:
            step, c = pool_steps[m], widths[m]
            no_padding = torch.zeros(min(step, n_tok), c, dtype=torch.bool, device=dev)
            out = torch.empty(n_tok, embed_dim, device=dev, dtype=torch.float32)
            for t0 in range(0, n_tok, step):
                t1 = min(n_tok, t0 + step)
                out[t0:t1] = model.spatial_pooling(feats[m][t0:t1], no_padding[: t1 - t0])
                tick(f"embedding {m}: tokens {t1}/{n_tok}")
            pooled[m] = out
            del feats[m]
        mark("channel_pooling")
        # Stage 3: the temporal transformer per 5-min chunk, all modalities in one batch.
        index = torch.as_tensor(plan.starts, device=dev)[:, None] + torch.arange(plan.length, device=dev)
        seqs = torch.cat([pooled[m][index] for m in mods])          # (M * n_chunks, L, E)
        del pooled
        seq_out = torch.empty(n_seq, plan.length, embed_dim, dtype=torch.float32, device=dev)
        chunk_out = torch.empty(n_seq, embed_dim, dtype=torch.float32, device=dev)
        for b0 in range(0, n_seq, batch_size):
            b1 = min(n_seq, b0 + batch_size)
            h = model.layer_norm(model.positional_encoding(seqs[b0:b1]))
            h = model.transformer_encoder(h)
            seq_out[b0:b1] = h
            chunk_out[b0:b1] = model.temporal_pooling(h)
            tick(f"embedding: chunks {b1}/{n_seq}")
        mark("temporal")
        seq_np = seq_out.to("cpu").numpy().reshape(len(mods), plan.n_chunks, plan.length, embed_dim)
        chunk_np = chunk_out.to("cpu").numpy().reshape(len(mods), plan.n_chunks, embed_dim)
        mark("download")
    tokens_out: dict[str, np.ndarray] = {}
    chunks_out: dict[str, np.ndarray] = {}
    for i, m in enumerate(mods):
        parts = [seq_np[i, :plan.n_full].reshape(-1, embed_dim)]
        if plan.tail:
            parts.append(seq_np[i, -1, plan.length - plan.tail:])
        tokens_out[m] = np.ascontiguousarray(np.concatenate(parts) if len(parts) > 1 else parts[0])
        chunks_out[m] = np.ascontiguousarray(chunk_np[i])
    first = next(iter(inputs.values()))
    from ..contract import SAMPLING_RATE_HZ, TOKEN_SECONDS

    no_data = np.zeros(n_tok, dtype=bool)
    for inp in inputs.values():
        if inp.no_data is not None:
            no_data |= np.asarray(inp.no_data[:n_tok], dtype=bool)
    return Embeddings(no_data=no_data,
        tokens=tokens_out, chunks=chunks_out, channels={m: list(inputs[m].channels) for m in mods},
        start=start, duration_s=float(duration_s if duration_s is not None
                                      else first.n_samples / SAMPLING_RATE_HZ),
        model_id=handle.model_id, config_hash=handle.config_hash,
        chunk_starts_s=plan.starts.astype(np.float64) * TOKEN_SECONDS, source=str(source),
        precision=precision)


def embed_recording(rec_or_inputs: Recording | str | os.PathLike | Mapping[str, ModalityInput],
                    base_model: Any, *, device=None, batch_size: int = 64,
                    state: TaskState | None = None, precision: str = "fp32", channel_map=None,
                    max_channels: bool | Mapping[str, int] = True,
                    workers: int | None = None) -> Embeddings:
    """Embed a whole recording with the SleepFM base model.

    Parameters
    ----------
    rec_or_inputs : Recording, path or dict of ModalityInput
        A recording (preprocessed here) or the output of :func:`prepare_modalities`.
    base_model : nn.Module, Release, ModelHandle or path
        The base model (``release.base``), a loaded release, or a model/release folder.
    device : str or torch.device, optional
        None: the model's device if it is on an accelerator, else the best one here.
    batch_size : int
        5-min chunks per forward of the temporal transformer; the tokenizer takes
        ``batch_size * 60`` tokens (times the channel count) per forward. Bigger is faster on
        a GPU; 16-64 suits a CPU.
    state : TaskState, optional
        Progress (preprocessing then model), cooperative cancellation between batches.
    precision : {"fp32", "bf16"}
        bf16 autocast on CUDA (see docs/inference.md for its deviation); fp32 elsewhere.
    channel_map : ChannelMap, optional
        Channel → modality assignment (default: automatic).
    max_channels : bool or mapping
        Channel cap per modality (see :func:`prepare_modalities`).
    workers : int, optional
        Threads decoding and filtering channels.

    Returns
    -------
    Embeddings
        5-s tokens (n_tokens, E) and 5-min chunks per present modality; every whole 5-s token
        of the night is covered, the trailing partial chunk included.
    """
    if isinstance(rec_or_inputs, Mapping):
        return embed_inputs(rec_or_inputs, base_model, device=device, batch_size=batch_size,
                            state=state, precision=precision)
    rec = rec_or_inputs if isinstance(rec_or_inputs, Recording) else open_recording(rec_or_inputs)
    prep_state = state.sub(0.0, 0.5) if state is not None else None
    model_state = state.sub(0.5, 1.0) if state is not None else None
    if state is not None:
        state.set_status(f"preprocessing {rec.path.name}")
    inputs = prepare_modalities(rec, channel_map, max_channels=max_channels, state=prep_state,
                                workers=workers)
    return embed_inputs(inputs, base_model, device=device, batch_size=batch_size, state=model_state,
                        precision=precision, start=rec.start, duration_s=rec.duration,
                        source=str(rec.path))
