"""Disease-risk heads: CoxPH over the night's embeddings, with demographics when given.

The reference recipe: ``DiagnosisFinetuneFullLSTMCOXPHWithDemo`` over the 5-s embeddings
truncated to 6480 tokens (9 h), with (age, sex) as extra inputs, trained with the CoxPH partial
likelihood per phecode (any number of them) and judged by Harrell's concordance index per
label. Age enters z-scored with the training cohort's mean and standard deviation (saved in the
model's metadata, so inference scales it the same way); sex is 1 for male, 0 for female.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..contract import MODALITIES
from ..models import cox_ph_loss
from .config import FinetuneConfig
from .data import NightDataset, ShardedBatchSampler, collate_nights, move, seed_worker
from .loop import DistContext, Task

#: The released disease head's settings (``model_diagnosis/config.json``), for ``num_classes``
#: phecodes.
RELEASED_DIAGNOSIS = {"embed_dim": 128, "num_heads": 8, "num_layers": 2, "pooling_head": 8,
                      "dropout": 0.3, "max_seq_length": 6480}


def diagnosis_config(embed_dim: int, n_labels: int, with_demo: bool, overrides: dict | None = None) -> dict:
    """A disease head config: released settings for ``n_labels`` outputs + overrides."""
    params = dict(RELEASED_DIAGNOSIS, embed_dim=int(embed_dim), num_classes=int(n_labels))
    params.update(overrides or {})
    if params["embed_dim"] != embed_dim:
        raise ValueError(f"the head's embed_dim ({params['embed_dim']}) must equal the base's ({embed_dim})")
    if params["num_classes"] != n_labels:
        raise ValueError(f"num_classes ({params['num_classes']}) must equal the number of phecodes ({n_labels})")
    model = "DiagnosisFinetuneFullLSTMCOXPHWithDemo" if with_demo else "DiagnosisFinetuneFullLSTMCOXPH"
    return {"model": model, "model_params": params, "max_channels": len(MODALITIES), "chunk_size": 60,
            "modality_types": list(MODALITIES)}


class DiagnosisTask(Task):
    """Disease-risk fine-tuning as a :class:`~sleepfm_engine.training.loop.Task`.

    Parameters
    ----------
    config : FinetuneConfig
    head : nn.Module
        A CoxPH disease head.
    head_cfg : dict
    parts : dict
        ``train``/``validation``/``test`` → list of NightItem (times, events, demo set).
    phecodes : list of str
    dist : DistContext
    out : Path
    metadata : dict
    """

    name = "diagnosis"
    score_label = "validation mean C"
    use_autocast = False

    def __init__(self, config: FinetuneConfig, head: torch.nn.Module, head_cfg: dict, parts: dict,
                 phecodes: list[str], dist: DistContext, out: Path, metadata: dict):
        self.config = config
        self.module = head
        self.head_cfg = head_cfg
        self.parts = parts
        self.phecodes = list(phecodes)
        self.dist = dist
        self.out = Path(out)
        self.metadata = metadata
        self.with_demo = head_cfg["model"].endswith("WithDemo")
        limit = int(head.positional_encoding.pe.shape[1])
        self.max_tokens = min(config.max_tokens or limit, limit)
        self.train_set = NightDataset(parts["train"], max_tokens=self.max_tokens, random_crop=False)
        if len(self.train_set) < 2 * dist.world_size:
            raise ValueError("the CoxPH loss compares subjects: the training split needs at least "
                             f"{2 * dist.world_size} nights, it has {len(self.train_set)}")
        self.sampler = ShardedBatchSampler(len(self.train_set), config.batch_size, shuffle=True,
                                           seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        self._loader = None

    def parameter_groups(self) -> list[dict]:
        return [{"params": list(self.module.parameters())}]

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        if self._loader is None:
            workers = int(self.config.num_workers)
            g = torch.Generator()
            g.manual_seed(self.config.seed + 1000 * self.dist.rank)
            self._loader = torch.utils.data.DataLoader(
                self.train_set, batch_sampler=self.sampler, collate_fn=collate_nights,
                num_workers=workers, pin_memory=self.dist.device.type == "cuda",
                worker_init_fn=seed_worker, generator=g, persistent_workers=workers > 0)
        for batch in self._loader:
            yield move(batch, self.dist.device), len(batch["ids"])

    def _forward(self, model, batch):
        x = batch["x"].float()
        if self.with_demo:
            return model(x, batch["mask"], batch["demo"].float())
        return model(x, batch["mask"])

    def training_step(self, model, batch):
        hazards = self._forward(model, batch)
        return cox_ph_loss(hazards.float(), batch["times"], batch["events"])

    def has_validation(self) -> bool:
        return len(self.parts.get("validation", [])) >= 2

    #: Validation batches are independent: the ranks split them (:meth:`predict`).
    evaluates_across_ranks = True
    #: The heads keep ``layer_norm`` (it is in the released weights) but never apply it, so
    #: its parameters get no gradient; DDP must be told or it stops at the second step.
    find_unused_parameters = True

    def predict(self, part: str, shared: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Log-hazards, times and events (n, K) of a split part, and the study IDs.

        ``shared``: every rank calls this together; each predicts its share of the batches and
        all get every night, in order.
        """
        ds = NightDataset(self.parts[part], max_tokens=self.max_tokens, random_crop=False, preload=False)

        def predict_batch(i: int) -> tuple:
            batch = move(collate_nights([ds[k] for k in range(i, min(len(ds), i + self.config.batch_size))]),
                         self.dist.device)
            h = self._forward(self.module, batch)
            return (h.float().cpu().numpy(), batch["times"].cpu().numpy(), batch["events"].cpu().numpy(),
                    list(batch["ids"]))

        self.module.eval()
        starts = list(range(0, len(ds), self.config.batch_size))
        with torch.no_grad():
            out = self.dist.map_shards(starts, predict_batch) if shared else [predict_batch(i) for i in starts]
        self.module.train()
        return (np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out]),
                np.concatenate([o[2] for o in out]), [sid for o in out for sid in o[3]])

    def evaluate(self, part: str = "validation", shared: bool = False) -> dict:
        from .metrics import concordance_report

        if len(self.parts.get(part, [])) < 2:
            return {}
        hz, tt, ee, _ = self.predict(part, shared)
        report = concordance_report(tt, ee, hz, self.phecodes)
        with torch.no_grad():
            report["loss"] = float(cox_ph_loss(torch.from_numpy(hz), torch.from_numpy(tt), torch.from_numpy(ee)))
        return report

    def save_best(self, epoch: int, metrics: dict) -> None:
        from ..checkpoints import save_model

        summary = {k: metrics.get(k) for k in ("mean_c_index", "score", "loss", "train_loss")}
        meta = dict(self.metadata, epoch=epoch, metrics={"validation": summary})
        save_model(self.module, self.head_cfg, self.folder(self.name), meta)
        if epoch == 1 or not (self.folder(self.name) / "label_mapping.csv").is_file():
            self._write_labels()

    def _write_labels(self) -> None:
        """``label_mapping.csv`` in the released layout, phenotype names where known."""
        import csv
        import io

        from ..atomic import write_text_atomic

        names = phenotype_names()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["label_idx", "phecode", "phenotype"])
        for i, c in enumerate(self.phecodes):
            w.writerow([i, c, names.get(_phecode_key(c), "")])
        write_text_atomic(self.folder(self.name) / "label_mapping.csv", buf.getvalue())

    def finish(self, best_metrics: dict) -> dict:
        from ..checkpoints import load_model

        folder = self.folder(self.name)
        if not (folder / "config.json").is_file():
            return {}
        self.module.load_state_dict(load_model(folder).state_dict())
        self.module.to(self.dist.device)
        test = self.evaluate("test")
        self._fit_trust(folder)
        return test

    def _fit_trust(self, folder: Path) -> None:
        """Training statistics into the head's metadata: the training nights' embeddings (the
        tokens the head reads) and its log-hazards on them, what inference compares a night
        with (:func:`sleepfm_engine.ood.assess_risk_night`). A CoxPH head has no temperature:
        its log-hazards are relative scores, not probabilities."""
        from ..ood import OOD_KEY, TrainingStatistics, update_metadata
        from .cache import read_embeddings
        from .data import head_order

        hazards, _, _, ids = self.predict("train")
        row = {sid: i for i, sid in enumerate(ids)}
        items = [item for item in self.parts["train"] if item.id in row]
        nights = []
        for item in items:
            emb = read_embeddings(item.embeddings)
            nights.append({m: np.asarray(emb[m][: self.max_tokens], dtype=np.float32) for m in head_order(emb)})
        stats = TrainingStatistics.fit(nights, outputs=hazards[[row[item.id] for item in items]],
                                       output_names=self.phecodes,
                                       source=f"{len(items)} training nights of {self.config.data}")
        update_metadata(folder, **{OOD_KEY: stats.to_dict()})

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def from_cohort(cls, config: FinetuneConfig, *, cohort, split: dict, prepared: dict, emb_paths: dict,
                    base: torch.nn.Module, base_cfg: dict, dist: DistContext, out: Path,
                    metadata: dict) -> DiagnosisTask:
        """The disease task of a fine-tuning run: survival targets of the chosen phecodes,
        demographics encoded from the training split when the cohort has them, a fresh head
        (or ``config.head_init``).

        Raises
        ------
        ValueError
            When a requested phecode is not in the label tables.
        """
        from ..checkpoints import build_model, load_config, load_model
        from .data import NightItem

        surv = cohort.survival
        codes = list(config.phecodes or surv.phecodes)
        missing = [c for c in codes if c not in surv.phecodes]
        if missing:
            raise ValueError(f"phecodes not in the label tables: {', '.join(missing[:10])}")
        cols = [surv.phecodes.index(c) for c in codes]
        with_demo = cohort.demographics is not None
        encoding = demographic_encoding(cohort.demographics[sid][0] for sid in split["train"]) if with_demo else None
        parts: dict[str, list] = {}
        for part in ("train", "validation", "test"):
            items = []
            for sid in split[part]:
                ev = surv.is_event[sid][cols]
                tt = surv.time_to_event[sid][cols]
                bad = ~(np.isfinite(ev) & np.isfinite(tt))
                ev = np.where(bad, 0.0, ev).astype(np.float32)
                tt = np.where(bad, 0.0, tt).astype(np.float32)
                demo = demographic_features(cohort.demographics[sid], encoding) if with_demo else None
                items.append(NightItem(sid, emb_paths[sid], times=tt, events=ev, demo=demo))
            parts[part] = items
        metadata["phecodes"] = codes
        metadata["demographics"] = encoding
        metadata["data_summary"]["events_in_train"] = {c: int(sum(it.events[k] for it in parts["train"]))
                                                       for k, c in enumerate(codes)}
        if config.head_init:
            head_cfg = load_config(config.head_init)
            head = load_model(config.head_init)
        else:
            head_cfg = diagnosis_config(base.embed_dim, len(codes), with_demo, config.head)
            head = build_model(head_cfg).train()
        return cls(config, head, head_cfg, parts, codes, dist, out, metadata)

    @classmethod
    def for_evaluation(cls, config: FinetuneConfig, *, release, cohort, records: list, prepared: dict,
                       emb_paths: dict, metadata: dict, dist: DistContext) -> DiagnosisTask:
        """A task that evaluates a release's disease head on ``records`` (as its test part).

        Raises
        ------
        ValueError
            When the label tables lack a phecode the model predicts, or the model takes
            demographics a recording has none for.
        """
        from .data import NightItem

        codes = list(metadata.get("phecodes") or cohort.survival.phecodes)
        missing = [c for c in codes if c not in cohort.survival.phecodes]
        if missing:
            raise ValueError(f"{cohort.root}: the label tables lack phecodes the model predicts: "
                             f"{', '.join(missing[:10])}")
        cols = [cohort.survival.phecodes.index(c) for c in codes]
        with_demo = type(release.diagnosis).__name__.endswith("WithDemo")
        items = []
        for r in records:
            ev = np.nan_to_num(cohort.survival.is_event[r.id][cols]).astype(np.float32)
            tt = np.nan_to_num(cohort.survival.time_to_event[r.id][cols]).astype(np.float32)
            demo = None
            if with_demo:
                if cohort.demographics is None or r.id not in cohort.demographics:
                    raise ValueError(f"{r.id}: the model takes demographics; add demographics.csv")
                demo = demographic_features(cohort.demographics[r.id], metadata.get("demographics") or {})
            items.append(NightItem(r.id, emb_paths[r.id], times=tt, events=ev, demo=demo))
        head_cfg = {"model": type(release.diagnosis).__name__}
        return cls(config, release.diagnosis, head_cfg, {"train": items, "test": items}, codes, dist, Path("."), {})

    # -- metrics -----------------------------------------------------------------------------------
    @classmethod
    def metrics_summary(cls, metrics: dict) -> dict:
        return {k: metrics.get(k) for k in ("mean_c_index", "n_subjects", "c_index")}

    @classmethod
    def plot_metrics(cls, metrics: dict, folder: Path, part: str | None = None) -> None:
        from .metrics import plot_c_index

        if metrics.get("c_index"):
            plot_c_index(metrics["c_index"], folder / (f"c_index_{part}.png" if part else "c_index.png"))

    @classmethod
    def metrics_lines(cls, metrics: dict) -> list[str]:
        return [f"  mean Harrell's C {metrics.get('mean_c_index')}"]


def demographic_encoding(ages) -> dict:
    """The age/sex encoding of a disease head trained on a cohort, in the form inference reads
    from ``metadata.json`` (:func:`sleepfm_engine.inference.encode_demographics`): age
    z-scored with the training cohort's mean and standard deviation, sex 1 = male, 0 = female."""
    ages = np.asarray(list(ages), dtype=np.float64)
    mean = float(ages.mean()) if ages.size else 0.0
    std = float(ages.std()) if ages.size > 1 else 0.0
    return {"age_offset": mean, "age_scale": 1.0 / std if std > 0 else 0.01,
            "sex_codes": {"M": 1.0, "F": 0.0},
            "description": "age feature = (age - age_offset) * age_scale (z-score over the training "
                           "cohort); sex feature 1 = male, 0 = female"}


def demographic_features(demo: tuple[float, int | str], encoding: dict) -> tuple[float, float]:
    """(age, sex) → the head's two inputs, exactly as inference encodes them."""
    from ..inference import encode_demographics

    age, sex = demo
    f = encode_demographics(age, sex, encoding)
    return float(f[0]), float(f[1])


def _phecode_key(code: str) -> str:
    try:
        return f"{float(code):.2f}"
    except ValueError:
        return str(code).strip()


def phenotype_names() -> dict[str, str]:
    """Phecode → phenotype name from the shipped ``label_mapping.csv`` (empty if absent)."""
    import csv

    from ..resources import resource_path

    try:
        path = resource_path("label_mapping.csv")
    except FileNotFoundError:
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {_phecode_key(r["phecode"]): r.get("phenotype", "") for r in csv.DictReader(fh)}
