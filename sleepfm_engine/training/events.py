"""Event heads: apneas, hypopneas, arousals, limb movements and desaturations per 5-s token,
trained on frozen base embeddings (or end to end with the base, ``unfreeze_base``, as staging
allows) from a site's own scored events.

The head (:class:`~sleepfm_engine.models.SleepEventMultiLabelHead`) predicts, for each token,
the presence of each event class the training nights have
(:data:`~sleepfm_engine.event_classes.EVENT_CLASSES`; ``event_classes`` picks some).
Labels come from each night's events file and hypnogram (cohort label kind ``events``); tokens
outside sleep are masked, never negatives. The loss is binary cross-entropy over the unmasked
tokens with positives weighted by the training nights' negative/positive ratio per class.

After each epoch the validation nights' probabilities tune, per class, the post-processing
(threshold, minimum duration, merge gap: :func:`~.event_metrics.tune_postprocessing`); the
validation score is the mean event-level F1 over the classes with those settings. The settings
of the best epoch are saved in the head's ``metadata.json`` (``postprocessing``) and are the
ones the test nights, ``sleepfm evaluate`` and the detector use.

End to end (``unfreeze_base``): the base embeds windows of ``window_chunks`` consecutive 5-min
chunks of the cached signals and the head runs over their tokens
(:class:`~.staging.EndToEnd`); the base trains at ``lr * base_lr_scale`` and the best epoch's
base is saved beside the head (``model_base``). The validation nights are embedded with the
base as it is at that epoch.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..contract import MODALITIES, TOKEN_SECONDS, TOKENS_PER_CHUNK
from ..training_tasks import BASE_KIND
from ..inference.event_head import (DEFAULT_POSTPROCESSING, PostProcessing, event_probabilities,
                                    postprocessing_from_metadata)
from ..models import SleepEventMultiLabelHead, event_bce_loss
from .config import FinetuneConfig
from .data import (ChunkDataset, NightDataset, ShardedBatchSampler, collate_nights, head_order, move,
                   passthrough, seed_worker)
from ..event_classes import EVENT_CLASSES
from .event_labels import classes_present, token_targets
from .loop import DistContext, Task

__all__ = ["EventsTask", "events_head_config", "RELEASED_EVENTS_HEAD", "MAX_POS_WEIGHT"]

#: Default head settings: the released staging head's trunk.
RELEASED_EVENTS_HEAD = {"embed_dim": 128, "num_heads": 4, "num_layers": 1, "pooling_head": 4,
                        "dropout": 0.3, "max_seq_length": 8196}
#: Cap on the positive weight of a class (very rare events would otherwise swamp the loss).
MAX_POS_WEIGHT = 50.0


def events_head_config(embed_dim: int, classes: list[str], overrides: dict | None = None) -> dict:
    """An event head config for a base of ``embed_dim`` and these classes (their order is the
    logits')."""
    params = dict(RELEASED_EVENTS_HEAD, embed_dim=int(embed_dim))
    params.update(overrides or {})
    params["num_classes"] = len(classes)
    if params["embed_dim"] != embed_dim:
        raise ValueError(f"the head's embed_dim ({params['embed_dim']}) must equal the base's ({embed_dim})")
    return {"model": "SleepEventMultiLabelHead", "model_params": params, "max_channels": len(MODALITIES),
            "context": -1, "channel_like": list(MODALITIES), "event_classes": list(classes),
            "token_seconds": float(TOKEN_SECONDS)}


def collate_event_nights(samples: list[dict]) -> dict:
    """:func:`~.data.collate_nights` with (B, S_max, K) targets padded with -1 (masked)."""
    batch = collate_nights([{k: v for k, v in smp.items() if k != "labels"} for smp in samples])
    s_max = batch["x"].shape[2]
    k = samples[0]["labels"].shape[1]
    targets = torch.full((len(samples), s_max, k), -1, dtype=torch.int8)
    for i, smp in enumerate(samples):
        targets[i, :len(smp["labels"])] = torch.from_numpy(smp["labels"].astype(np.int8))
    batch["targets"] = targets
    return batch


class EventsTask(Task):
    """Event-head fine-tuning as a :class:`~sleepfm_engine.training.loop.Task` (frozen base, or
    end to end with it).

    Parameters
    ----------
    config : FinetuneConfig
    head : SleepEventMultiLabelHead
    head_cfg : dict
    classes : list of str
        The head's event classes, in logit order.
    parts : dict
        ``train``/``validation``/``test`` → list of night dicts: ``item`` (NightItem with the
        (S, K) targets as labels), ``stages`` (stage code per token), ``events`` (EventSet) and
        ``prepared`` (its cache entry; end to end only).
    dist : DistContext
    out : Path
    metadata : dict
    pos_weight : ndarray (K,), optional
    postprocessing : dict, optional
        Per-class settings to evaluate with (a saved head's); else tuned on validation.
    base, base_cfg : the base model and its config (end to end only).
    """

    name = "events"
    score_label = "validation event F1 (mean over classes)"
    use_autocast = False

    def __init__(self, config: FinetuneConfig, head: SleepEventMultiLabelHead, head_cfg: dict,
                 classes: list[str], parts: dict[str, list], dist: DistContext, out: Path, metadata: dict,
                 pos_weight: np.ndarray | None = None,
                 postprocessing: dict[str, PostProcessing] | None = None,
                 base: torch.nn.Module | None = None, base_cfg: dict | None = None):
        self.config = config
        self.head = head
        self.module = head
        self.base_cfg = base_cfg
        self.end_to_end = bool(config.unfreeze_base)
        # the base's convolutions and attention run in bf16 when it trains; a frozen-base head
        # is small and trains in fp32
        self.use_autocast = self.end_to_end
        self.head_cfg = head_cfg
        self.classes = list(classes)
        self.parts = parts
        self.dist = dist
        self.out = Path(out)
        self.metadata = metadata
        self.postprocessing = dict(postprocessing or {c: DEFAULT_POSTPROCESSING for c in self.classes})
        self.tuned = postprocessing is not None
        self._candidate: dict[str, PostProcessing] | None = None
        self.pos_weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        limit = int(head.positional_encoding.pe.shape[1])
        if self.end_to_end:
            from .loop import single_channel_records
            from .staging import EndToEnd

            if base is None:
                raise ValueError("end-to-end event training needs the base model")
            w = int(config.window_chunks)
            if w * TOKENS_PER_CHUNK > limit:
                raise ValueError(f"window_chunks={w} gives {w * TOKENS_PER_CHUNK} tokens, more than the "
                                 f"head's max_seq_length {limit}")
            self.module = EndToEnd(base, head, w)
            recs = [n["prepared"] for n in parts["train"]]
            self.find_unused_parameters = single_channel_records(recs)
            self.train_set = ChunkDataset(recs, window=w, labels=[n["item"].labels for n in parts["train"]])
        else:
            max_tokens = min(config.max_tokens or limit, limit)
            self.train_set = NightDataset([n["item"] for n in parts["train"]], max_tokens=max_tokens,
                                          random_crop=True)
        if len(self.train_set) < dist.world_size:
            raise ValueError(f"the training split has {len(self.train_set)} nights, fewer than the "
                             f"{dist.world_size} processes")
        self.sampler = ShardedBatchSampler(len(self.train_set), config.batch_size, shuffle=True,
                                           seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        self._loader = None
        self._eval_sets = {k: NightDataset([n["item"] for n in v], preload=False) for k, v in parts.items()}

    # -- optimisation ----------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict]:
        groups = [{"params": list(self.head.parameters())}]
        if self.end_to_end:
            groups.append({"params": [p for p in self.module.base.parameters() if p.requires_grad],
                           "lr": self.config.lr * self.config.base_lr_scale})
        return groups

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        device = self.dist.device
        if self._loader is None:
            workers = int(self.config.num_workers)
            g = torch.Generator()
            g.manual_seed(self.config.seed + 1000 * self.dist.rank)
            common = dict(num_workers=workers, pin_memory=device.type == "cuda", worker_init_fn=seed_worker,
                          generator=g, persistent_workers=workers > 0)
            if self.end_to_end:
                self._loader = torch.utils.data.DataLoader(self.train_set, batch_size=None, sampler=self.sampler,
                                                           collate_fn=passthrough, **common)
            else:
                self._loader = torch.utils.data.DataLoader(self.train_set, batch_sampler=self.sampler,
                                                           collate_fn=collate_event_nights, **common)
        for batch in self._loader:
            if self.end_to_end:
                yield batch.to(device), batch.size
            else:
                yield move(batch, device), len(batch["ids"])

    def training_step(self, model, batch):
        if self.end_to_end:
            logits, targets = model(batch), batch.labels
        else:
            logits, _ = model(batch["x"].float(), batch["mask"])
            targets = batch["targets"]
        weight = None if self.pos_weight is None else self.pos_weight.to(logits.device)
        return event_bce_loss(logits.float(), targets, weight)

    # -- evaluation ------------------------------------------------------------------------------
    def has_validation(self) -> bool:
        return len(self.parts.get("validation", [])) > 0

    #: Validation nights are independent: the ranks split them (:meth:`predict`).
    evaluates_across_ranks = True

    def predict(self, part: str, shared: bool = False) -> list[dict]:
        """Per-night token probabilities, token stages and scored events of a split part.

        ``shared``: every rank calls this together; each predicts its share of the nights and
        all get every night, in order.
        """
        def predict_night(k: int) -> dict:
            night = self.parts[part][k]
            if self.end_to_end:
                batch = self._embed_night(night["prepared"])
            else:
                sample = self._eval_sets[part][k]
                batch = collate_nights([{key: v for key, v in sample.items() if key != "labels"}])
            probs = event_probabilities(batch["x"].numpy(), batch["mask"].numpy(), self.head, self.dist.device)
            n = min(len(probs), len(night["stages"]))
            return {"id": night["item"].id, "probs": probs[:n], "stages": night["stages"][:n],
                    "events": night["events"]}

        was_training = self.module.training
        self.module.eval()
        indices = list(range(len(self.parts[part])))
        nights = (self.dist.map_shards(indices, predict_night) if shared
                  else [predict_night(k) for k in indices])
        self.module.train(was_training)
        return nights

    def _embed_night(self, prepared) -> dict:
        """A night's tokens embedded by the base as it is now (end to end), collated for the head."""
        from .cache import embed_prepared

        emb = embed_prepared(prepared, self.module.base, self.dist.device,
                             precision="bf16" if self.config.precision in ("auto", "bf16") else "fp32")
        return collate_nights([{"id": "", "x": np.stack([emb[m] for m in head_order(emb)]), "start": 0}])

    def evaluate(self, part: str = "validation", shared: bool = False) -> dict:
        """Agreement on a split part. On ``validation`` (while training) the post-processing is
        tuned on these nights first; other parts use the saved settings."""
        from .event_metrics import events_report, tune_postprocessing

        if not self.parts.get(part):
            return {}
        nights = self.predict(part, shared)
        if part == "validation" and not self.tuned:
            params = tune_postprocessing(nights, self.classes)
            self._candidate = params
            where = "tuned on these nights"
        else:
            params = self.postprocessing
            where = "saved with the model"
        report = events_report(nights, self.classes, params)
        report["postprocessing_source"] = where
        return report

    def save_best(self, epoch: int, metrics: dict) -> None:
        from ..checkpoints import save_model

        if self._candidate is not None:
            self.postprocessing = self._candidate
        meta = dict(self.metadata, epoch=epoch, metrics={"validation": self.metrics_summary(metrics)},
                    **self.head_metadata(tuned_on=len(self.parts.get("validation", []))))
        save_model(self.head, self.head_cfg, self.folder(self.name), meta)
        if self.end_to_end:
            base_meta = dict(self.metadata, epoch=epoch,
                             provenance=dict(self.metadata.get("provenance") or {},
                                             note="base fine-tuned end to end with the event head"))
            save_model(self.module.base, self.base_cfg, self.folder(BASE_KIND), base_meta)

    def head_metadata(self, tuned_on: int) -> dict:
        """What the detector needs beside the weights: classes, types, post-processing."""
        return {"event_classes": self.classes,
                "event_types": {c: {"output": EVENT_CLASSES[c].output.value,
                                    "scored_types": sorted(t.value for t in EVENT_CLASSES[c].types)}
                                for c in self.classes},
                "postprocessing": {c: self.postprocessing[c].to_dict() for c in self.classes},
                "postprocessing_tuned_on_nights": tuned_on,
                "token_seconds": float(TOKEN_SECONDS)}

    def finish(self, best_metrics: dict) -> dict:
        from ..checkpoints import load_metadata, load_model

        folder = self.folder(self.name)
        if not (folder / "config.json").is_file():
            return {}
        self.head.load_state_dict(load_model(folder).state_dict())
        if self.end_to_end and (self.folder(BASE_KIND) / "config.json").is_file():
            self.module.base.load_state_dict(load_model(self.folder(BASE_KIND)).state_dict())
        self.postprocessing = postprocessing_from_metadata(load_metadata(folder), self.classes)
        self.tuned = True
        self.module.to(self.dist.device)
        test = self.evaluate("test") if self.parts.get("test") else {}
        self._fit_ood(folder)
        return test

    def _fit_ood(self, folder: Path) -> None:
        """Training statistics into the head's metadata: the training nights' embeddings (those
        the head read: the cache's, or the best base's when end to end) and the head's logits on
        them per type, what detection compares a night with
        (:func:`sleepfm_engine.event_head_ood.assess_event_night`)."""
        from ..event_head_ood import fit_event_head_statistics
        from ..ood import update_metadata
        from .cache import embed_prepared, read_embeddings

        was_training = self.module.training
        self.module.eval()
        nights, probs = [], []
        for night in self.parts["train"]:
            if self.end_to_end:
                emb = embed_prepared(night["prepared"], self.module.base, self.dist.device,
                                     precision="bf16" if self.config.precision in ("auto", "bf16") else "fp32")
            else:
                emb = read_embeddings(night["item"].embeddings)
            present = head_order(emb)
            n = min(emb[m].shape[0] for m in present)
            tokens = {m: np.asarray(emb[m][:n], dtype=np.float32) for m in present}
            batch = collate_nights([{"id": night["item"].id, "x": np.stack([tokens[m] for m in present]),
                                     "start": 0}])
            probs.append(event_probabilities(batch["x"].numpy(), batch["mask"].numpy(), self.head,
                                             self.dist.device))
            nights.append(tokens)
        self.module.train(was_training)
        update_metadata(folder, **fit_event_head_statistics(
            nights, probs, self.classes, source=f"{len(nights)} training nights of {self.config.data}"))

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def from_cohort(cls, config: FinetuneConfig, *, cohort, split: dict, prepared: dict, emb_paths: dict,
                    base: torch.nn.Module, base_cfg: dict, dist: DistContext, out: Path,
                    metadata: dict) -> "EventsTask":
        """The events task of a fine-tuning run: every night's per-token targets from its events
        file and hypnogram, the classes the training nights have (or ``config.event_classes``),
        a fresh head (or ``config.head_init``), the base too when end to end.

        Raises
        ------
        ValueError
            For an unknown class, a class no training night has, or no usable training night.
        """
        from ..checkpoints import build_model, load_config, load_model

        labelled = {part: [(sid, *_night_labels(cohort.by_id(sid), prepared[sid])) for sid in split[part]]
                    for part in ("train", "validation", "test")}
        found = classes_present(ev for _, _, ev in labelled["train"])
        if config.event_classes:
            unknown = [c for c in config.event_classes if c not in EVENT_CLASSES]
            if unknown:
                raise ValueError(f"unknown event class {unknown[0]!r}; classes: {', '.join(EVENT_CLASSES)}")
            missing = [c for c in config.event_classes if c not in found]
            if missing:
                raise ValueError(f"no training night has a scored {missing[0]} event")
            classes = [c for c in EVENT_CLASSES if c in config.event_classes]
        else:
            classes = found
        if not classes:
            raise ValueError("no training night has a scored event of a class the head learns "
                             f"({', '.join(EVENT_CLASSES)})")
        if config.head_init:
            head_cfg = load_config(config.head_init)
            if head_cfg.get("event_classes") != classes:
                raise ValueError(f"{config.head_init}: its event classes {head_cfg.get('event_classes')} "
                                 f"differ from this cohort's {classes}")
            head = load_model(config.head_init)
        else:
            head_cfg = events_head_config(base.embed_dim, classes, config.head)
            head = build_model(head_cfg).train()
        from .data import NightItem

        parts: dict[str, list] = {}
        positives = np.zeros(len(classes), dtype=np.int64)
        negatives = np.zeros(len(classes), dtype=np.int64)
        for part, nights in labelled.items():
            parts[part] = []
            for sid, stages, events in nights:
                targets = token_targets(events, stages, classes)
                if not np.any(targets[:, 0] >= 0):
                    warnings.warn(f"{sid}: no sleep token in the usable chunks; left out", stacklevel=2)
                    continue
                if part == "train":
                    positives += (targets == 1).sum(axis=0)
                    negatives += (targets == 0).sum(axis=0)
                parts[part].append({"item": NightItem(sid, emb_paths.get(sid, Path()), labels=targets),
                                    "stages": stages, "events": events, "prepared": prepared[sid]})
        if not parts["train"]:
            raise ValueError("the training split has no night with sleep epochs")
        pos_weight = np.clip(negatives / np.maximum(positives, 1), 1.0, MAX_POS_WEIGHT)
        metadata["data_summary"]["train_tokens_per_class"] = dict(zip(classes, positives.tolist()))
        metadata["data_summary"]["train_events_per_class"] = {
            c: int(sum(len(ev.of_type(*EVENT_CLASSES[c].types)) for _, _, ev in labelled["train"]))
            for c in classes}
        return cls(config, head, head_cfg, classes, parts, dist, out, metadata, pos_weight=pos_weight,
                   base=base.train() if config.unfreeze_base else None, base_cfg=base_cfg)

    @classmethod
    def for_evaluation(cls, config: FinetuneConfig, *, release, cohort, records: list, prepared: dict,
                       emb_paths: dict, metadata: dict, dist: DistContext) -> "EventsTask":
        """A task that evaluates a release's event head on ``records`` (as its test part), with
        the post-processing saved beside it."""
        from ..errors import ModelError
        from .data import NightItem

        info = release.info["events"]
        classes = list((info.config or {}).get("event_classes") or [])
        if not classes or any(c not in EVENT_CLASSES for c in classes):
            raise ModelError(info.path, f"config.json: event_classes must list classes of "
                                        f"{', '.join(EVENT_CLASSES)}, not {classes!r}")
        try:
            params = postprocessing_from_metadata(metadata, classes)
        except ValueError as exc:
            raise ModelError(info.path, str(exc)) from None
        nights = []
        for r in records:
            stages, events = _night_labels(r, prepared[r.id])
            nights.append({"item": NightItem(r.id, emb_paths[r.id], labels=token_targets(events, stages, classes)),
                           "stages": stages, "events": events})
        return cls(config, release.events, {}, classes, {"train": nights, "test": nights}, dist, Path("."), {},
                   postprocessing=params)

    # -- metrics -----------------------------------------------------------------------------------
    @classmethod
    def metrics_summary(cls, metrics: dict) -> dict:
        if not metrics:
            return {}
        return {"macro_f1": metrics.get("macro_f1"), "n_nights": metrics.get("n_nights"),
                "f1": {c: v["f1"] for c, v in (metrics.get("events") or {}).items()},
                "index_icc": {k: v["icc"] for k, v in (metrics.get("indices") or {}).items()},
                "index_error": {k: {"icc": v["icc"], "mae": v["mae"], "bias": v.get("bias")}
                                for k, v in (metrics.get("indices") or {}).items()},
                "severity_agreement": (metrics.get("severity") or {}).get("agreement")}

    @classmethod
    def plot_metrics(cls, metrics: dict, folder: Path, part: str | None = None) -> None:
        from .event_metrics import plot_event_f1, plot_indices

        per_class = metrics.get("events")
        if not per_class:
            return
        suffix, where = (f"_{part}", f", {part}") if part else ("", "")
        plot_event_f1(per_class, folder / f"event_f1{suffix}.png", title=f"Event F1 per class{where}")
        if metrics.get("indices"):
            plot_indices(metrics["indices"], folder / f"indices{suffix}.png", title=f"Indices per night{where}")

    @classmethod
    def metrics_lines(cls, metrics: dict) -> list[str]:
        def num(v, fmt=".3f"):
            return "-" if v is None else format(v, fmt)

        lines = [f"  events (>= {int(metrics['min_overlap'] * 100)} % overlap): mean F1 {num(metrics['macro_f1'], '.4f')}"]
        for c, v in metrics["events"].items():
            lines.append(f"    {c:<14} precision {num(v['precision'])}  recall {num(v['recall'])}  "
                         f"F1 {num(v['f1'])}  ({v['tp']} matched, {v['n_predicted']} predicted, "
                         f"{v['n_scored']} scored)")
        if metrics["indices"]:
            lines.append("  indices derived from the predicted events (no separate night-level head):")
        for key, v in metrics["indices"].items():
            lines.append(f"    {key:<18} ICC {num(v['icc'])}  mean abs. error {num(v['mae'], '.2f')} /h  "
                         f"bias {num(v.get('bias'), '+.2f')} /h")
        sev = metrics.get("severity")
        if sev and sev.get("agreement") is not None:
            lines.append(f"  AHI severity class agreement {sev['agreement']:.3f} ({sev['n_nights']} nights)")
        return lines


def _night_labels(record, prepared) -> tuple[np.ndarray, "object"]:
    """(stage code per 5-s token, scored events on the recording's time line) of a cohort
    record over the chunks its cache entry holds."""
    from ..recording import open_recording
    from .cohort import token_labels
    from .event_labels import read_night_events

    with warnings.catch_warnings():
        # The cohort scan already reported what is odd about the recording.
        warnings.simplefilter("ignore")
        with open_recording(record.recording) as rec:
            stages = token_labels(record.labels, rec, prepared.n_chunks * TOKENS_PER_CHUNK)
            events = read_night_events(record.events, rec)
    return stages, events
