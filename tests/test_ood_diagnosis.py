"""The disease (CoxPH) head's training statistics: embeddings and log-hazard ranges fitted at
training, the night's verdict at inference, on constructed embeddings and a tiny trained head."""
from __future__ import annotations

import numpy as np
import pytest

from training_helpers import TINY_HEAD, make_base, make_cohort, write_survival

from sleepfm_engine.errors import ModelError
from sleepfm_engine.inference.embeddings import Embeddings
from sleepfm_engine.ood import OOD_KEY, SYNTHETIC_ONLY_KEY, TrainingStatistics, assess_risk_night

DIM = 16
MIX = np.linalg.qr(np.random.default_rng(42).normal(size=(DIM, DIM)))[0]
CODES = ("327.3", "401.1", "250.2", "296.2")


def _tokens(rng, n_tokens=360, shift=0.0):
    return ((rng.normal(size=(n_tokens, DIM)) * np.linspace(2.0, 0.3, DIM)) @ MIX + shift).astype(np.float32)


def _embeddings(tokens: dict) -> Embeddings:
    n = len(next(iter(tokens.values())))
    return Embeddings(tokens, {m: np.zeros((0, DIM), np.float32) for m in tokens},
                      {m: [] for m in tokens}, duration_s=5.0 * n, source="")


def _metadata(rng, nights=8):
    """A disease head's metadata: statistics of ``nights`` constructed nights and log-hazards
    drawn around 0 with spread 1."""
    tokens = [{"BAS": _tokens(rng), "RESP": _tokens(rng)} for _ in range(nights)]
    hazards = rng.normal(0.0, 1.0, size=(nights * 10, len(CODES)))[:nights]
    stats = TrainingStatistics.fit(tokens, outputs=hazards, output_names=CODES, source="constructed")
    return {OOD_KEY: TrainingStatistics.from_dict(stats.to_dict()).to_dict()}, hazards


def test_disease_statistics_keep_each_log_hazards_training_range_and_no_review_evidence():
    rng = np.random.default_rng(0)
    meta, hazards = _metadata(rng)
    stats = TrainingStatistics.from_metadata(meta)
    assert stats.outputs.names == CODES and stats.outputs.n == len(hazards)
    lo, hi = stats.outputs.quantiles[0], stats.outputs.quantiles[-1]
    assert np.all(lo >= hazards.min(axis=0)) and np.all(hi <= hazards.max(axis=0)) and np.all(lo < hi)
    assert stats.review is None and stats.logits is None
    assert set(stats.modalities) == {"BAS", "RESP"}


def test_a_night_like_the_training_nights_with_log_hazards_in_range_is_not_flagged():
    rng = np.random.default_rng(1)
    meta, _ = _metadata(rng)
    result = assess_risk_night(_embeddings({"BAS": _tokens(rng), "RESP": _tokens(rng)}), meta,
                               np.zeros(len(CODES)), CODES)
    assert result.available and not result.flagged
    assert result.n_outputs == len(CODES) and result.outputs_outside == ()
    assert not any("energy" in u or "review" in u for u in result.unavailable)
    assert any(r.startswith("0 of 4 disease log-hazards") for r in result.reasons())


def test_log_hazards_outside_their_training_range_flag_the_night_and_are_named():
    rng = np.random.default_rng(2)
    meta, _ = _metadata(rng)
    hazards = np.array([9.0, -9.0, 0.0, 0.1])                # two of four far outside
    result = assess_risk_night(_embeddings({"BAS": _tokens(rng), "RESP": _tokens(rng)}), meta,
                               hazards, CODES)
    assert result.outputs_outside == ("327.3", "401.1") and result.flagged
    assert result.fraction < 0.25                           # the embeddings alone are fine
    assert any("2 of 4 disease log-hazards" in r and "327.3, 401.1" in r for r in result.reasons())


def test_embeddings_unlike_the_training_nights_flag_the_night_even_with_ordinary_log_hazards():
    rng = np.random.default_rng(3)
    meta, _ = _metadata(rng)
    night = {"BAS": _tokens(rng, shift=15.0 * MIX[-1]), "RESP": _tokens(rng)}
    result = assess_risk_night(_embeddings(night), meta, np.zeros(len(CODES)), CODES)
    assert result.flagged and result.fraction > 0.9 and result.outputs_outside == ()
    assert set(result.epoch_modality) == {"BAS"}


def test_only_the_tokens_the_head_read_are_compared():
    rng = np.random.default_rng(4)
    meta, _ = _metadata(rng)
    shifted = _tokens(rng, shift=15.0 * MIX[-1])
    night = {"BAS": np.concatenate([_tokens(rng), shifted]), "RESP": _tokens(rng, n_tokens=720)}
    result = assess_risk_night(_embeddings(night), meta, np.zeros(len(CODES)), CODES, n_tokens=360)
    assert len(result.epoch_scores) == 60 and not result.flagged


def test_a_head_without_statistics_says_which_checks_are_not_available_and_synthetic_only_is_noted():
    rng = np.random.default_rng(5)
    result = assess_risk_night(_embeddings({"BAS": _tokens(rng)}), {SYNTHETIC_ONLY_KEY: True},
                               np.zeros(len(CODES)), CODES)
    assert not result.available and result.flagged          # a note flags the night
    assert any("holds no training statistics" in u for u in result.unavailable)
    assert any("its risks mean nothing" in n for n in result.notes)


def test_statistics_of_another_number_of_outputs_are_a_model_error_naming_the_folder(tmp_path):
    rng = np.random.default_rng(6)
    meta, _ = _metadata(rng)
    with pytest.raises(ModelError, match="statistics have 4"):
        assess_risk_night(_embeddings({"BAS": _tokens(rng)}), meta, np.zeros(3), folder=tmp_path)


def test_a_trained_disease_head_stores_its_statistics_and_risk_inference_returns_the_verdict(
        tmp_path, one_torch_thread):
    from sleepfm_engine.checkpoints import load_metadata
    from sleepfm_engine.inference import risk_recording
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.cache import read_embeddings
    from sleepfm_engine.training.config import FinetuneConfig

    data = make_cohort(tmp_path / "data", n=6, minutes=10)
    write_survival(data, [f"night{i:02d}" for i in range(6)])
    cfg = FinetuneConfig(output=str(tmp_path / "out"), data=str(data), base=str(make_base(tmp_path / "base")),
                         epochs=1, batch_size=3, lr=3e-3, cache_dir=str(tmp_path / "cache"),
                         fractions=[0.5, 0.33, 0.17], log_every=1, device="cpu", task="diagnosis",
                         head=dict(TINY_HEAD, num_layers=1))
    run_finetune(cfg)
    folder = tmp_path / "out" / "model_diagnosis"
    stats = TrainingStatistics.from_metadata(load_metadata(folder), folder)
    assert stats is not None and stats.outputs.names == ("327.3", "401.1")
    assert stats.n_nights == 3 and stats.outputs.n == 3 and stats.modalities
    entry = next((tmp_path / "cache" / "emb").glob("*.h5"))
    table = risk_recording(_embeddings({m: np.asarray(t, np.float32) for m, t in read_embeddings(entry).items()}),
                           folder, age=50, sex="F")
    assert table.ood is not None and table.ood.available and table.ood.n_outputs == 2
    assert table.top(1).ood is table.ood
