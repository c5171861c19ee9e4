"""Sleep staging over a whole night: token probabilities, windows, and 30-s epochs.

The staging head classifies every 5-s token of a sequence. A night longer than the head's
``max_seq_length`` (8196 tokens, 11.4 h, for the released head) is cut into windows of that
length overlapping by a quarter of it; the last window ends at the last token. Each token's
class probabilities (softmax of the logits) are averaged over the windows that hold it. When the
night fits, this is exactly one pass of the head over the whole night.

The per-token probabilities are then averaged over 30-s epochs aligned with the recording
start (tokens ``6 e .. 6 e + 5`` make epoch ``e``); a last epoch with fewer than six tokens is
averaged over the tokens it has (with a warning), or left unscored when it holds less than
half an epoch. Tokens without data (gaps of an EDF+D file, see ``Embeddings.no_data``) are
left out of the average, and an epoch without any data is unscored: no data, no stage. The
stage of an epoch is its most probable class. Non-finite model outputs are refused.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..contract import EPOCH_SECONDS, TOKEN_SECONDS, TOKENS_PER_EPOCH
from ..hypnogram import UNSCORED
from ..devices import check_precision, inference_context
from ..jobs import TaskState
from .base import resolve_device
from .embeddings import Embeddings
from .handles import resolve_model
from .heads import stack_tokens

__all__ = ["stage_recording", "stage_night", "token_probabilities", "epoch_probabilities",
           "plan_windows"]


def _head_forward(model, x, mask):
    """The staging head's logits (B, S, K).

    For the released head class this is its ``forward`` with one difference that changes no
    number: when no token of the batch is padding, the temporal transformer gets no padding mask,
    which lets PyTorch use its fused attention instead of a masked softmax over S x S scores
    (about twice as fast on a CPU for a whole night). Other classes run their own ``forward``.
    """
    from ..models import SleepEventLSTMClassifier
    from ..models.layers import spatial_mask, spatial_tokens

    if type(model).forward is not SleepEventLSTMClassifier.forward or bool(mask[:, 0, :].any()):
        return model(x, mask)[0]
    b, _, s, e = x.shape
    seq = model.spatial_pooling(spatial_tokens(x), spatial_mask(mask[:, :, 0], s)).view(b, s, e)
    seq = model.layer_norm(model.positional_encoding(seq))
    seq = model.transformer_encoder(seq)
    seq, _ = model.lstm(seq)
    return model.fc(seq)


def plan_windows(n_tokens: int, window: int, overlap: int) -> list[int]:
    """Window starts covering ``n_tokens`` with windows of ``window`` tokens (see module notes)."""
    if window < 1:
        raise ValueError(f"window must be >= 1 token, got {window}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in 0..window-1 ({window - 1}), got {overlap}")
    if n_tokens <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, n_tokens - window, stride))
    starts.append(n_tokens - window)
    return starts


def token_probabilities(embeddings: Embeddings, staging_model: Any, *, device=None,
                        state: TaskState | None = None, precision: str = "fp32",
                        window: int | None = None, overlap: int | None = None,
                        windows_per_batch: int | None = None, temperature: float = 1.0,
                        return_logits: bool = False):
    """Stage probabilities of every 5-s token, float32 (n_tokens, n_classes).

    Parameters
    ----------
    temperature : float
        The logits are divided by it before the softmax (temperature scaling; 1: none).
    return_logits : bool
        Also return the token logits (averaged over the windows holding each token, before
        any temperature), for the out-of-distribution check.
    window : int, optional
        Tokens per head pass (default and maximum: the head's ``max_seq_length``).
    overlap : int, optional
        Tokens shared by consecutive windows (default: a quarter of the window).
    windows_per_batch : int, optional
        Windows per forward (default: 8 on CUDA, 1 elsewhere, as attention memory grows with
        the square of the window).
    """
    import torch

    handle = resolve_model(staging_model, "staging")
    model = handle.module
    dev = resolve_device(device, model)
    precision = check_precision(precision, dev)
    model.to(dev).eval()
    limit = handle.max_seq_length
    window = limit if window is None else int(window)
    if window > limit:
        raise ValueError(f"window {window} exceeds the staging head's max_seq_length ({limit})")
    overlap = window // 4 if overlap is None else int(overlap)
    n = embeddings.n_tokens
    starts = plan_windows(n, window, overlap)
    length = min(window, n)
    per_batch = windows_per_batch or (8 if dev.type == "cuda" else 1)
    x_all, mask_all = stack_tokens(embeddings, handle.max_channels)
    total = np.zeros((n, model.num_classes), dtype=np.float64)
    total_logits = np.zeros_like(total) if return_logits else None
    counts = np.zeros(n, dtype=np.int64)
    with inference_context(dev, precision):
        x_dev = torch.from_numpy(x_all).to(dev)
        mask_dev = torch.from_numpy(mask_all).to(dev)
        for b0 in range(0, len(starts), per_batch):
            group = starts[b0:b0 + per_batch]
            x = torch.cat([x_dev[..., s:s + length, :] for s in group])
            mask = torch.cat([mask_dev[..., s:s + length] for s in group])
            logits = _head_forward(model, x, mask)
            probs = torch.softmax(logits.float() / float(temperature), dim=-1).to("cpu").numpy()
            raw = logits.float().to("cpu").numpy() if return_logits else None
            for k, (p, s) in enumerate(zip(probs, group)):
                total[s:s + length] += p
                counts[s:s + length] += 1
                if raw is not None:
                    total_logits[s:s + length] += raw[k]
            if state is not None:
                state.set_progress(min(1.0, (b0 + len(group)) / len(starts)))
                state.set_status(f"staging: window {b0 + len(group)}/{len(starts)}")
                state.check_cancelled()
    probs = (total / counts[:, None]).astype(np.float32)
    if return_logits:
        return probs, (total_logits / counts[:, None]).astype(np.float32)
    return probs


def epoch_probabilities(token_probs: np.ndarray, tokens_per_epoch: int = TOKENS_PER_EPOCH,
                        no_data: np.ndarray | None = None) -> np.ndarray:
    """Average token probabilities over consecutive epochs of ``tokens_per_epoch`` tokens.

    Tokens flagged in ``no_data`` (bool per token) are left out of the average; an epoch
    with no token of data gets a row of NaN (no stage).
    """
    n = token_probs.shape[0]
    if n == 0:
        return np.zeros((0, token_probs.shape[1]), dtype=np.float32)
    has_data = np.ones(n, dtype=bool) if no_data is None else ~np.asarray(no_data, dtype=bool)
    probs = np.where(has_data[:, None], token_probs.astype(np.float64), 0.0)
    edges = np.arange(0, n, tokens_per_epoch)
    sums = np.add.reduceat(probs, edges, axis=0)
    sizes = np.add.reduceat(has_data.astype(np.float64), edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / sizes[:, None]
    out[sizes == 0] = np.nan
    return out.astype(np.float32)


def stage_recording(embeddings: Embeddings, staging_model: Any, *, device=None,
                    state: TaskState | None = None, precision: str = "fp32",
                    window: int | None = None, overlap: int | None = None):
    """Score a night in 30-s epochs with the SleepFM staging head (see :func:`stage_night`).

    Returns
    -------
    Hypnogram
    """
    return stage_night(embeddings, staging_model, device=device, state=state, precision=precision,
                       window=window, overlap=overlap)[0]


def stage_night(embeddings: Embeddings, staging_model: Any, *, device=None,
                state: TaskState | None = None, precision: str = "fp32",
                window: int | None = None, overlap: int | None = None):
    """Score a night in 30-s epochs and compare it with the model's training data.

    Parameters
    ----------
    embeddings : Embeddings
        The night's 5-s embeddings (:func:`embed_recording`).
    staging_model : nn.Module, Release, ModelHandle or path
    device, precision
        As for :func:`embed_recording`.
    state : TaskState, optional
        Progress per window; cancellation between windows.
    window, overlap : int, optional
        See :func:`token_probabilities`.

    Returns
    -------
    hypnogram : Hypnogram
        30-s epochs from the recording start, stages ``W N1 N2 N3 R`` (codes 0..4) with their
        probabilities (n_epochs, 5), calibrated by the temperature of the model's metadata when
        it has one; ``scorer`` is ``"SleepFM <model id>"``.
    ood : OODResult
        The night against the model's training statistics (:func:`sleepfm_engine.ood.assess_night`);
        says which checks are not available for a model without them.
    """
    from ..hypnogram import Hypnogram
    from ..ood import Calibration, assess_night

    handle = resolve_model(staging_model, "staging")
    if handle.module.num_classes != 5:
        from ..errors import ModelError

        raise ModelError(handle.path, f"a staging head has 5 classes (W, N1, N2, N3, R); this one has "
                                      f"{handle.module.num_classes}")
    calibration = Calibration.from_metadata(handle.metadata, handle.path)
    probs, logits = token_probabilities(embeddings, handle, device=device, state=state, precision=precision,
                                        window=window, overlap=overlap, return_logits=True,
                                        temperature=calibration.temperature if calibration else 1.0)
    no_data = embeddings.no_data.copy()
    bad = ~np.isfinite(probs).all(axis=1) & ~no_data
    if bad.any():
        from ..errors import ModelError

        raise ModelError(handle.path, f"the staging model gave non-finite probabilities for "
                                      f"{int(bad.sum())} of {len(bad)} tokens (are its weights "
                                      "finite?); no hypnogram is written from them")
    last_tokens = len(no_data) % TOKENS_PER_EPOCH
    if last_tokens and 2 * last_tokens < TOKENS_PER_EPOCH:
        # A trailing piece shorter than half an epoch is not staged as if it were a whole one.
        no_data[len(no_data) - last_tokens:] = True
        warnings.warn(f"{embeddings.source or 'recording'}: the last epoch holds only "
                      f"{last_tokens * TOKEN_SECONDS} s of recording; it is left unscored",
                      RuntimeWarning, stacklevel=3)
    elif last_tokens:
        warnings.warn(f"{embeddings.source or 'recording'}: the last epoch is partial "
                      f"({last_tokens * TOKEN_SECONDS} of {EPOCH_SECONDS} s); its stage is from "
                      "those seconds", RuntimeWarning, stacklevel=3)
    epochs = epoch_probabilities(probs, no_data=no_data)
    stages = np.where(np.isnan(epochs).any(axis=1), UNSCORED,
                      np.nan_to_num(epochs, nan=-1.0).argmax(axis=1)).astype(np.int8)
    # A model named "SleepFM Studio demo staging" must not read "SleepFM SleepFM Studio ...".
    scorer = (handle.model_id if handle.model_id.startswith("SleepFM")
              else f"SleepFM {handle.model_id}")
    hyp = Hypnogram(stages, float(EPOCH_SECONDS), start=embeddings.start,
                    offset=0.0, scorer=scorer, probabilities=epochs,
                    source=embeddings.source, automatic=True)
    return hyp, assess_night(embeddings, handle.metadata, logits, handle.path,
                             skip=np.isnan(epochs).any(axis=1))
