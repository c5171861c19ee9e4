"""Sleep staging heads: trained on frozen base embeddings, or end to end with the base.

The reference recipe: ``SleepEventLSTMClassifier`` over the 5-s embeddings of the modalities a
night has, cross-entropy with class weights 1/4/2/4/3 (W N1 N2 N3 R) averaged over scored
tokens, AdamW, ReduceLROnPlateau. Unscored and artefact tokens are left out of the loss and the
metrics (the reference trains them as Wake). Model selection and early stopping use Cohen's
kappa on 30-s epochs of the validation nights.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..contract import MODALITIES, TOKENS_PER_CHUNK
from ..training_tasks import BASE_KIND
from ..models import SleepEventLSTMClassifier, staging_cross_entropy
from .config import FinetuneConfig
from .data import (ChunkBatch, ChunkDataset, NightDataset, ShardedBatchSampler,
                   collate_nights, head_order, move, passthrough, seed_worker)
from .loop import DistContext, Task
from .pretrain import encode_chunks

#: The released staging head's settings (``model_sleep_staging/config.json``).
RELEASED_STAGING = {"embed_dim": 128, "num_heads": 4, "num_layers": 1, "num_classes": 5,
                    "pooling_head": 4, "dropout": 0.3, "max_seq_length": 8196}


def staging_config(embed_dim: int, overrides: dict | None = None) -> dict:
    """A staging head config for a base of ``embed_dim``: the released settings + overrides."""
    params = dict(RELEASED_STAGING, embed_dim=int(embed_dim))
    params.update(overrides or {})
    if params["embed_dim"] != embed_dim:
        raise ValueError(f"the head's embed_dim ({params['embed_dim']}) must equal the base's ({embed_dim})")
    if params["num_classes"] != 5:
        raise ValueError("a staging head has 5 classes (W N1 N2 N3 R)")
    return {"model": "SleepEventLSTMClassifier", "model_params": params, "max_channels": len(MODALITIES),
            "context": -1, "channel_like": list(MODALITIES)}


def predict_tokens(head: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor, device: torch.device,
                   precision: str = "auto", raw_logits: bool = False) -> np.ndarray:
    """Stage probabilities (S, 5) of one night: ``x`` (1, C, S, E), ``mask`` (1, C, S); the
    logits instead with ``raw_logits``.

    Nights longer than the head's positional table run in consecutive windows.
    """
    limit = int(head.positional_encoding.pe.shape[1])
    s = x.shape[2]
    out = []
    with torch.no_grad():
        for a in range(0, s, limit):
            logits, _ = head(x[:, :, a:a + limit].to(device).float(), mask[:, :, a:a + limit].to(device))
            out.append((logits.float() if raw_logits else torch.softmax(logits.float(), dim=-1))[0]
                       .cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 5), np.float32)


class EndToEnd(torch.nn.Module):
    """Base + staging head trained together: ``forward(batch)`` → logits (B, W·60, 5).

    Each sample of a :class:`ChunkBatch` is a window of W consecutive chunks; the base embeds
    every chunk of every modality and the head runs over the window's tokens.
    """

    def __init__(self, base: torch.nn.Module, head: torch.nn.Module, window: int):
        super().__init__()
        self.base = base
        self.head = head
        self.window = int(window)
        # Staging uses the 5-s embeddings only: the 5-min pooling gets no gradient, so it is
        # frozen (DDP requires every trainable parameter to take part in the loss).
        for p in base.temporal_pooling.parameters():
            p.requires_grad_(False)

    def tokens(self, batch: ChunkBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 4, W·60, E) token embeddings and mask, present modalities first per sample."""
        w, b = self.window, batch.size
        e = self.base.embed_dim
        device = next(self.parameters()).device
        per_mod = {}
        for m in MODALITIES:
            mb = batch.modalities.get(m)
            if mb is None:
                continue
            _, tok = encode_chunks(self.base, mb.x.float(), mb.mask, pool=False)   # (n·W, 60, E)
            per_mod[m] = (tok.reshape(-1, w * TOKENS_PER_CHUNK, e), mb.index[::w] // w)
        x = torch.zeros((b, len(MODALITIES), w * TOKENS_PER_CHUNK, e), device=device,
                        dtype=next(iter(per_mod.values()))[0].dtype)
        mask = torch.ones((b, len(MODALITIES), w * TOKENS_PER_CHUNK), dtype=torch.bool, device=device)
        slot = torch.zeros(b, dtype=torch.long, device=device)
        for m in head_order(per_mod):
            tok, rows = per_mod[m]
            cols = slot[rows]
            x = x.index_put((rows, cols), tok)
            mask[rows, cols] = False
            slot[rows] += 1
        return x, mask

    def forward(self, batch: ChunkBatch) -> torch.Tensor:
        x, mask = self.tokens(batch)
        # The base runs under the caller's autocast; the small head runs in fp32.
        with torch.autocast(device_type=x.device.type, enabled=False):
            logits, _ = self.head(x.float(), mask)
        return logits


class StagingTask(Task):
    """Staging fine-tuning as a :class:`~sleepfm_engine.training.loop.Task`.

    Parameters
    ----------
    config : FinetuneConfig
    head : SleepEventLSTMClassifier
    head_cfg : dict
    parts : dict
        ``train``/``validation``/``test`` → list of (NightItem, PreparedRecord) pairs.
    dist : DistContext
    out : Path
        Release folder: the head goes to ``model_sleep_staging`` (and a fine-tuned base to
        ``model_base``).
    metadata : dict
    base, base_cfg : the base model and its config (end to end only).
    """

    name = "staging"
    score_label = "validation kappa"

    def __init__(self, config: FinetuneConfig, head: SleepEventLSTMClassifier, head_cfg: dict,
                 parts: dict[str, list], dist: DistContext, out: Path, metadata: dict,
                 base: torch.nn.Module | None = None, base_cfg: dict | None = None):
        self.config = config
        self.head = head
        self.head_cfg = head_cfg
        self.parts = parts
        self.dist = dist
        self.out = Path(out)
        self.metadata = metadata
        self.base_cfg = base_cfg
        self.end_to_end = bool(config.unfreeze_base)
        self.use_autocast = self.end_to_end
        limit = int(head.positional_encoding.pe.shape[1])
        if self.end_to_end:
            if base is None:
                raise ValueError("end-to-end staging needs the base model")
            w = int(config.window_chunks)
            if w * TOKENS_PER_CHUNK > limit:
                raise ValueError(f"window_chunks={w} gives {w * TOKENS_PER_CHUNK} tokens, more than the "
                                 f"head's max_seq_length {limit}")
            self.module = EndToEnd(base, head, w)
            recs = [p for _, p in parts["train"]]
            from .loop import single_channel_records

            self.find_unused_parameters = single_channel_records(recs)
            labels = [it.labels for it, _ in parts["train"]]
            self.train_set = ChunkDataset(recs, window=w, labels=labels)
        else:
            self.module = head
            max_tokens = min(config.max_tokens or limit, limit)
            self.train_set = NightDataset([it for it, _ in parts["train"]], max_tokens=max_tokens,
                                          random_crop=True)
        if len(self.train_set) < dist.world_size:
            raise ValueError(f"the training split has {len(self.train_set)} samples, fewer than the "
                             f"{dist.world_size} processes")
        self.sampler = ShardedBatchSampler(len(self.train_set), config.batch_size, shuffle=True,
                                           seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        self._loader = None
        self._eval_sets = {k: NightDataset([it for it, _ in v], preload=False) for k, v in parts.items()}

    # -- optimisation ----------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict]:
        if not self.end_to_end:
            return [{"params": list(self.head.parameters())}]
        return [{"params": list(self.head.parameters())},
                {"params": [p for p in self.module.base.parameters() if p.requires_grad],
                 "lr": self.config.lr * self.config.base_lr_scale}]

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        device = self.dist.device
        if self._loader is None:
            workers = int(self.config.num_workers)
            g = torch.Generator()
            g.manual_seed(self.config.seed + 1000 * self.dist.rank)
            common = dict(num_workers=workers, pin_memory=device.type == "cuda",
                          worker_init_fn=seed_worker, generator=g, persistent_workers=workers > 0)
            if self.end_to_end:
                self._loader = torch.utils.data.DataLoader(self.train_set, batch_size=None,
                                                           sampler=self.sampler, collate_fn=passthrough,
                                                           **common)
            else:
                self._loader = torch.utils.data.DataLoader(self.train_set, batch_sampler=self.sampler,
                                                           collate_fn=collate_nights, **common)
        for batch in self._loader:
            if self.end_to_end:
                yield batch.to(device), batch.size
            else:
                yield move(batch, device), len(batch["ids"])

    def training_step(self, model, batch):
        if self.end_to_end:
            logits = model(batch)
            return staging_cross_entropy(logits.float(), batch.labels, None, unscored="ignore")
        logits, tmask = model(batch["x"].float(), batch["mask"])
        return staging_cross_entropy(logits.float(), batch["labels"], tmask, unscored="ignore")

    # -- evaluation ------------------------------------------------------------------------------
    def has_validation(self) -> bool:
        return len(self.parts.get("validation", [])) > 0

    #: Validation nights are independent: the ranks split them (:meth:`predict`).
    evaluates_across_ranks = True

    def predict(self, part: str, shared: bool = False) -> list[dict]:
        """Per-night stage probabilities and reference labels of a split part.

        ``shared``: every rank calls this together; each predicts its share of the nights and
        all get every night, in order.
        """
        device = self.dist.device

        def night(k: int) -> dict:
            item, prepared = self.parts[part][k]
            if self.end_to_end:
                x, mask = self._embed_night(prepared)
            else:
                batch = collate_nights([self._eval_sets[part][k]])
                x, mask = batch["x"], batch["mask"]
            probs = predict_tokens(self.head, x, mask, device, self.config.precision)
            n = min(len(probs), len(item.labels))
            return {"id": item.id, "labels": item.labels[:n], "probs": probs[:n]}

        self.module.eval()
        indices = list(range(len(self.parts[part])))
        nights = self.dist.map_shards(indices, night) if shared else [night(k) for k in indices]
        self.module.train()
        return nights

    def _embed_night(self, prepared) -> tuple[torch.Tensor, torch.Tensor]:
        from .cache import embed_prepared

        base = self.module.base
        emb = embed_prepared(prepared, base, self.dist.device,
                             precision="bf16" if self.config.precision in ("auto", "bf16") else "fp32")
        arr = np.stack([emb[m] for m in head_order(emb)])
        batch = collate_nights([{"id": "", "x": arr, "start": 0}])
        return batch["x"], batch["mask"]

    def evaluate(self, part: str = "validation", shared: bool = False) -> dict:
        from .metrics import staging_report

        if not self.parts.get(part):
            return {}
        report = staging_report(self.predict(part, shared))
        return report

    def save_best(self, epoch: int, metrics: dict) -> None:
        from ..checkpoints import save_model

        summary = {k: metrics.get(k) for k in ("accuracy", "kappa", "macro_f1", "score", "train_loss")}
        summary["f1"] = metrics.get("epoch", {}).get("f1")
        meta = dict(self.metadata, epoch=epoch, metrics={"validation": summary})
        save_model(self.head, self.head_cfg, self.folder(self.name), meta)
        if self.end_to_end:
            base_meta = dict(self.metadata, epoch=epoch,
                             provenance=dict(self.metadata.get("provenance") or {},
                                             note="base fine-tuned end to end with the staging head"))
            save_model(self.module.base, self.base_cfg, self.folder(BASE_KIND), base_meta)

    def finish(self, best_metrics: dict) -> dict:
        from ..checkpoints import load_model

        folder = self.folder(self.name)
        if not (folder / "config.json").is_file():
            return {}
        self.head.load_state_dict(load_model(folder).state_dict())
        if self.end_to_end and (self.folder(BASE_KIND) / "config.json").is_file():
            self.module.base.load_state_dict(load_model(self.folder(BASE_KIND)).state_dict())
        self.head.to(self.dist.device)
        self.module.to(self.dist.device)
        test = self.evaluate("test") if self.parts.get("test") else {}
        self._fit_trust(folder)
        return test

    def _fit_trust(self, folder: Path) -> None:
        """Training statistics (out-of-distribution checks) and the validation temperature into
        the head's metadata; the reliability diagram beside the other training plots."""
        from ..ood import (CALIBRATION_KEY, OOD_KEY, Calibration, TrainingStatistics, epoch_predictions,
                           plot_reliability, update_metadata)
        from .api import WORK_FOLDER
        from .metrics import tokens_to_epochs

        self.module.eval()
        train = [self._night_outputs(item, prepared) for item, prepared in self.parts["train"]]
        entries = {OOD_KEY: TrainingStatistics.fit(
            [tok for tok, _ in train], [lg for _, lg in train],
            source=f"{len(train)} training nights of {self.config.data}").to_dict()}
        if self.has_validation():
            nights = [(self._night_outputs(item, prepared)[1], tokens_to_epochs(item.labels)[0])
                      for item, prepared in self.parts["validation"]]
            calibration = Calibration.fit(nights)
            entries[CALIBRATION_KEY] = calibration.to_dict()
            if self.config.plots:
                before, labels = epoch_predictions(nights)
                after, _ = epoch_predictions(nights, calibration.temperature)
                plot_reliability(before, after, labels, self.out / WORK_FOLDER / "reliability.png")
        self.module.train()
        update_metadata(folder, **entries)

    def _night_outputs(self, item, prepared) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A night's 5-s token embeddings per modality and the head's token logits."""
        from .cache import embed_prepared
        from .data import read_embeddings

        if self.end_to_end:
            emb = embed_prepared(prepared, self.module.base, self.dist.device,
                                 precision="bf16" if self.config.precision in ("auto", "bf16") else "fp32")
        else:
            emb = read_embeddings(item.embeddings)
        present = head_order(emb)
        n = min(emb[m].shape[0] for m in present)
        batch = collate_nights([{"id": item.id, "x": np.stack([emb[m][:n] for m in present]), "start": 0}])
        logits = predict_tokens(self.head, batch["x"], batch["mask"], self.dist.device, raw_logits=True)
        return {m: np.asarray(emb[m][:n], dtype=np.float32) for m in present}, logits

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def from_cohort(cls, config: FinetuneConfig, *, cohort, split: dict, prepared: dict, emb_paths: dict,
                    base: torch.nn.Module, base_cfg: dict, dist: DistContext, out: Path,
                    metadata: dict) -> StagingTask:
        """The staging task of a fine-tuning run: every night's 5-s token labels from its
        hypnogram, a fresh head (or ``config.head_init``), the base too when end to end.

        Raises
        ------
        ValueError
            When no training night has a scored token.
        """
        from ..checkpoints import build_model, load_config, load_model
        from .data import NightItem

        parts: dict[str, list] = {}
        label_counts = np.zeros(5, dtype=np.int64)
        for part in ("train", "validation", "test"):
            parts[part] = []
            for sid in split[part]:
                p = prepared[sid]
                labels = _night_labels(cohort.by_id(sid), p)
                if not np.any(labels >= 0):
                    warnings.warn(f"{sid}: no scored 5-s token in the usable chunks; left out", stacklevel=2)
                    continue
                if part == "train":
                    label_counts += np.bincount(labels[labels >= 0], minlength=5)
                parts[part].append((NightItem(sid, emb_paths.get(sid, Path()), labels=labels), p))
        if not parts["train"]:
            raise ValueError("the training split has no night with scored epochs")
        metadata["data_summary"]["train_tokens_per_stage"] = dict(zip(("W", "N1", "N2", "N3", "R"),
                                                                     label_counts.tolist()))
        if config.head_init:
            head_cfg = load_config(config.head_init)
            head = load_model(config.head_init)
        else:
            head_cfg = staging_config(base.embed_dim, config.head)
            head = build_model(head_cfg).train()
        return cls(config, head, head_cfg, parts, dist, out, metadata,
                   base=base.train() if config.unfreeze_base else None, base_cfg=base_cfg)

    @classmethod
    def for_evaluation(cls, config: FinetuneConfig, *, release, cohort, records: list, prepared: dict,
                       emb_paths: dict, metadata: dict, dist: DistContext) -> StagingTask:
        """A task that evaluates a release's staging head on ``records`` (as its test part)."""
        from .data import NightItem

        items = [(NightItem(r.id, emb_paths[r.id], labels=_night_labels(r, prepared[r.id])), prepared[r.id])
                 for r in records]
        return cls(config, release.staging, {}, {"train": items, "test": items}, dist, Path("."), {})

    # -- metrics -----------------------------------------------------------------------------------
    @classmethod
    def metrics_summary(cls, metrics: dict) -> dict:
        summary = {k: metrics.get(k) for k in ("accuracy", "kappa", "macro_f1", "n_nights")}
        summary["f1"] = metrics.get("epoch", {}).get("f1")
        return summary

    @classmethod
    def plot_metrics(cls, metrics: dict, folder: Path, part: str | None = None) -> None:
        from .metrics import plot_confusion, plot_f1

        epoch = metrics.get("epoch")
        if not epoch:
            return
        suffix = f"_{part}" if part else ""
        titles = ({"title": f"Confusion matrix, {part} (30-s epochs)"}, {"title": f"F1 per stage, {part}"}) \
            if part else ({}, {})
        plot_confusion(epoch["confusion_matrix"], epoch["labels"], folder / f"confusion{suffix}.png", **titles[0])
        plot_f1(epoch["f1"], folder / f"f1{suffix}.png", **titles[1])

    @classmethod
    def metrics_lines(cls, metrics: dict) -> list[str]:
        e = metrics["epoch"]
        lines = [f"  30-s epochs: accuracy {e['accuracy']:.4f}, kappa {e['kappa']:.4f}, macro F1 {e['macro_f1']:.4f}",
                 "  F1: " + ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in e["f1"].items()),
                 "  confusion (rows reference, columns predicted, " + " ".join(e["labels"]) + "):"]
        lines += ["    " + " ".join(f"{v:6d}" for v in row) for row in e["confusion_matrix"]]
        return lines


def _night_labels(record, prepared) -> np.ndarray:
    """5-s token labels of a cohort record over the chunks its cache entry holds."""
    from ..recording import open_recording
    from .cohort import token_labels

    with warnings.catch_warnings():
        # The cohort scan already reported what is odd about the recording.
        warnings.simplefilter("ignore")
        with open_recording(record.recording) as rec:
            return token_labels(record.labels, rec, prepared.n_chunks * TOKENS_PER_CHUNK)
