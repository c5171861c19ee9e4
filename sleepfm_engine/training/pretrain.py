"""Contrastive pretraining of the base model (SetTransformer) on unlabelled recordings.

The reference recipe: for every 5-min chunk, each modality is embedded by the same
SetTransformer, the pooled embeddings are L2-normalised, and a multimodal InfoNCE with a
learnable temperature pulls together the modalities of the same chunk (leave-one-out: each
modality against the mean of the others; or pairwise). Chunks from recordings that lack a
modality take part with the modalities they have. SGD with momentum and StepLR as the
reference, or AdamW.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..contract import MODALITIES, PATCH_SIZE
from ..training_tasks import BASE_KIND
from .config import PretrainConfig
from .data import ChunkBatch, ChunkDataset, ShardedBatchSampler, passthrough, seed_worker
from .loop import DistContext, Task
from .losses import masked_contrastive_loss

#: The released base model's settings (``model_base/config.json``), used when none are given.
RELEASED_BASE = {"model": "SetTransformer", "in_channels": 1, "patch_size": PATCH_SIZE, "embed_dim": 128,
                 "num_heads": 8, "num_layers": 6, "pooling_head": 8, "dropout": 0.3}


def base_config(overrides: dict | None = None) -> dict:
    """A complete base config: the released settings updated with ``overrides``."""
    cfg = dict(RELEASED_BASE)
    cfg.update(overrides or {})
    cfg["model"] = "SetTransformer"
    return cfg


def encode_chunks(base: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor, tokenize=None,
                  tokenizer_fp32: bool = True, pool: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``base(x, mask)`` for training, with the tokenizer kept out of bf16 autocast.

    The same computation as :meth:`SetTransformer.forward` (checked in the tests), split so
    that the convolutional tokenizer can run in fp32 (TF32) while the attention layers run
    under the caller's bf16 autocast: measured on an H100, autocast made the tokenizer slower
    (its LayerNorms return fp32, so every block pays casts, and cuDNN's bf16 kernels for 1-128
    channel convolutions are no faster). ``tokenize`` may be a compiled copy of the tokenizer.

    ``pool=False`` skips the temporal pooling (its 5-min output is then None), for training
    that uses only the 5-s embeddings.

    Returns
    -------
    pooled : Tensor (B, E) or None
    embedding : Tensor (B, T / patch, E)
    """
    from ..models.layers import spatial_mask, spatial_tokens

    b, c, t = x.shape
    patch = base.patch_size
    n = t // patch
    if t % patch:
        raise ValueError(f"chunks of {t} samples are not a whole number of {patch}-sample patches")
    tokenize = tokenize or base.patch_embedding.tokenizer
    patches = x.reshape(b * c * n, 1, patch)
    if tokenizer_fp32:
        with torch.autocast(device_type=x.device.type, enabled=False):
            feats = tokenize(patches.float())
    else:
        feats = tokenize(patches)
    tokens = feats.view(b, c, n, -1)
    pooled = base.spatial_pooling(spatial_tokens(tokens), spatial_mask(mask, n))
    seq = base.layer_norm(base.positional_encoding(pooled.view(b, n, -1)))
    embedding = base.transformer_encoder(seq)
    return (base.temporal_pooling(embedding) if pool else None), embedding


class ContrastiveModel(torch.nn.Module):
    """The base model plus the learnable log-temperature; ``forward(batch)`` → (loss, accuracy).

    Parameters
    ----------
    base : SetTransformer
    temperature : float
        Initial log-temperature (the reference starts at 0).
    mode : {"leave_one_out", "pairwise"}
    """

    def __init__(self, base: torch.nn.Module, temperature: float = 0.0, mode: str = "leave_one_out",
                 tokenizer_fp32: bool = True, compile_tokenizer: bool = False):
        super().__init__()
        self.base = base
        self.temperature = torch.nn.Parameter(torch.tensor(float(temperature)))
        self.mode = mode
        self.tokenizer_fp32 = bool(tokenizer_fp32)
        tokenize = base.patch_embedding.tokenizer
        if compile_tokenizer:
            tokenize = torch.compile(tokenize, dynamic=True)
        # Kept out of the module tree: the compiled wrapper would duplicate the weights'
        # state-dict entries.
        self.__dict__["_tokenize"] = tokenize

    def embed(self, batch: ChunkBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled, L2-normalised embeddings (M, B, E) and presence (M, B) of a chunk batch."""
        device = self.temperature.device
        e = self.base.embed_dim
        emb = torch.zeros((len(MODALITIES), batch.size, e), device=device)
        present = torch.zeros((len(MODALITIES), batch.size), dtype=torch.bool, device=device)
        for k, m in enumerate(MODALITIES):
            mb = batch.modalities.get(m)
            if mb is None:
                continue
            pooled, _ = encode_chunks(self.base, mb.x.float(), mb.mask, self._tokenize, self.tokenizer_fp32)
            emb = emb.index_put((torch.full_like(mb.index, k), mb.index), F.normalize(pooled.float(), dim=-1))
            present[k, mb.index] = True
        return emb, present

    def forward(self, batch: ChunkBatch, return_accuracy: bool = False):
        emb, present = self.embed(batch)
        return masked_contrastive_loss(emb, present, self.temperature, self.mode,
                                       return_accuracy=return_accuracy)


class PretrainTask(Task):
    """Contrastive pretraining as a :class:`~sleepfm_engine.training.loop.Task`.

    Parameters
    ----------
    config : PretrainConfig
    base : SetTransformer
        The model to train (fresh or from ``config.init``).
    base_cfg : dict
        Its config (saved beside the weights).
    train, validation, test : sequence of PreparedRecord
    dist : DistContext
    out : Path
        The output (release) folder; the model goes to ``out/model_base``.
    metadata : dict
        Data summary and provenance saved with the model.
    """

    name = "pretrain"
    score_label = "validation -loss"

    def __init__(self, config: PretrainConfig, base: torch.nn.Module, base_cfg: dict,
                 train: Sequence, validation: Sequence, test: Sequence, dist: DistContext,
                 out: Path, metadata: dict):
        self.config = config
        self.base_cfg = base_cfg
        self.module = ContrastiveModel(base, config.temperature, config.mode,
                                       tokenizer_fp32=config.tokenizer_precision == "fp32",
                                       compile_tokenizer=config.compile and dist.device.type == "cuda")
        self.dist = dist
        self.out = Path(out)
        self.metadata = metadata
        from .loop import single_channel_records

        self.find_unused_parameters = single_channel_records(train)
        self.train_set = ChunkDataset(train)
        self.val_set = ChunkDataset(validation)
        self.test_set = ChunkDataset(test)
        if len(self.train_set) < 2 * dist.world_size:
            raise ValueError(f"pretraining needs at least {2 * dist.world_size} 5-min chunks in the "
                             f"training split; it has {len(self.train_set)}")
        self.sampler = ShardedBatchSampler(len(self.train_set), config.batch_size, shuffle=True,
                                           seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        self._loader = None

    # -- optimisation ----------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict]:
        return [{"params": [p for p in self.module.parameters() if p.requires_grad]}]

    def make_optimizer(self, groups):
        c = self.config
        if c.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        return torch.optim.AdamW(groups, lr=c.lr, weight_decay=c.weight_decay)

    def make_scheduler(self, optimizer):
        c = self.config
        if c.optimizer == "sgd":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=c.lr_step, gamma=c.gamma)
        return super().make_scheduler(optimizer)

    def loader(self, dataset, sampler):
        cuda = self.dist.device.type == "cuda"
        workers = int(self.config.num_workers)
        g = torch.Generator()
        g.manual_seed(self.config.seed + 1000 * self.dist.rank)
        return torch.utils.data.DataLoader(
            dataset, batch_size=None, sampler=sampler, collate_fn=passthrough, num_workers=workers,
            pin_memory=cuda, worker_init_fn=seed_worker, generator=g,
            persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None)

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        if self._loader is None:
            self._loader = self.loader(self.train_set, self.sampler)
        device = self.dist.device
        for batch in self._loader:
            yield batch.to(device), batch.size

    def training_step(self, model, batch):
        return model(batch)

    # -- evaluation ------------------------------------------------------------------------------
    def has_validation(self) -> bool:
        return len(self.val_set) >= 2

    def _evaluate(self, dataset: ChunkDataset) -> dict:
        from .loop import autocast_for

        if len(dataset) < 2:
            return {}
        sampler = ShardedBatchSampler(len(dataset), self.config.batch_size, shuffle=True,
                                      seed=self.config.seed, drop_last=False)
        losses, accs, n = [], [], 0
        model = self.module
        model.eval()
        with torch.no_grad():
            for k, idx in enumerate(sampler):
                if k >= self.config.max_val_batches:
                    break
                if len(idx) < 2:
                    continue
                batch = dataset[idx].to(self.dist.device)
                with autocast_for(self.dist.device, self.config.precision):
                    loss, acc = model(batch, return_accuracy=True)
                losses.append(float(loss) * len(idx))
                accs.append(acc * len(idx))
                n += len(idx)
        if n == 0:
            return {}
        loss = sum(losses) / n
        return {"loss": loss, "retrieval_accuracy": sum(accs) / n, "n_chunks": n, "score": -loss,
                "temperature": float(self.module.temperature.detach().clamp(min=0).exp())}

    def evaluate(self, part: str = "validation") -> dict:
        return self._evaluate(self.val_set if part == "validation" else self.test_set)

    def _base(self) -> torch.nn.Module:
        return self.module.base

    def save_best(self, epoch: int, metrics: dict) -> None:
        from ..checkpoints import save_model

        meta = dict(self.metadata)
        meta.update({"epoch": epoch, "metrics": {"validation": metrics},
                     "pretraining": {"mode": self.config.mode,
                                     "temperature_log": float(self.module.temperature.detach()),
                                     "optimizer": self.config.optimizer}})
        save_model(self._base(), self.base_cfg, self.folder(BASE_KIND), meta)

    def finish(self, best_metrics: dict) -> dict:
        from ..checkpoints import load_model

        folder = self.folder(BASE_KIND)
        if not (folder / "config.json").is_file():
            return {}
        best = load_model(folder, device=self.dist.device)
        self._base().load_state_dict(best.state_dict())
        test = self._evaluate(self.test_set)
        return test

    @classmethod
    def metrics_summary(cls, metrics: dict) -> dict:
        return {k: metrics.get(k) for k in ("loss", "retrieval_accuracy", "n_chunks")}
