"""The event head's training statistics: embeddings and per-type logit ranges stored when it is
trained, the night's verdict at detection (API, ``sleepfm events detect``), on constructed
embeddings and a tiny trained head."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training_helpers import TINY_HEAD, make_base, write_night

from sleepfm_engine.errors import ModelError
from sleepfm_engine.event_head_ood import (EVENT_LOGITS_KEY, NOT_AVAILABLE, EventLogitStatistics,
                                           assess_event_night, fit_event_head_statistics)
from sleepfm_engine.inference.embeddings import Embeddings
from sleepfm_engine.ood import OOD_KEY, TrainingStatistics

DIM = 16
MIX = np.linalg.qr(np.random.default_rng(42).normal(size=(DIM, DIM)))[0]
CLASSES = ("apnea", "hypopnea", "desaturation")


def _tokens(rng, n_tokens=360, shift=0.0):
    return ((rng.normal(size=(n_tokens, DIM)) * np.linspace(2.0, 0.3, DIM)) @ MIX + shift).astype(np.float32)


def _probs(rng, n_tokens=360, logit_shift=0.0):
    """Token probabilities whose logits are drawn around -3 (events are rare)."""
    z = rng.normal(-3.0, 1.0, size=(n_tokens, len(CLASSES))) + logit_shift
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def _embeddings(tokens: dict) -> Embeddings:
    n = len(next(iter(tokens.values())))
    return Embeddings(tokens, {m: np.zeros((0, DIM), np.float32) for m in tokens},
                      {m: [] for m in tokens}, duration_s=5.0 * n, source="")


def _metadata(rng, nights=8):
    """An event head's metadata entries fitted on constructed nights, through JSON."""
    tokens = [{"BAS": _tokens(rng), "RESP": _tokens(rng)} for _ in range(nights)]
    entries = fit_event_head_statistics(tokens, [_probs(rng) for _ in tokens], CLASSES, source="constructed")
    return json.loads(json.dumps(entries))


def test_event_head_statistics_hold_the_embeddings_and_each_types_logit_range_and_read_back_equal():
    rng = np.random.default_rng(0)
    meta = _metadata(rng)
    stats = TrainingStatistics.from_metadata(meta)
    assert set(stats.modalities) == {"BAS", "RESP"} and stats.n_nights == 8
    assert stats.review is None and stats.logits is None and stats.outputs is None
    logits = EventLogitStatistics.from_metadata(meta)
    assert logits.classes == CLASSES and logits.n == 8 * 60
    lo, mid, hi = logits.quantiles
    assert np.all(lo < mid) and np.all(mid < hi) and np.allclose(mid, -3.0, atol=0.3)
    assert EventLogitStatistics.from_dict(logits.to_dict()).to_dict() == logits.to_dict()


def test_a_night_like_the_training_nights_is_not_flagged_and_says_so():
    rng = np.random.default_rng(1)
    meta = _metadata(rng)
    result = assess_event_night(_embeddings({"BAS": _tokens(rng), "RESP": _tokens(rng)}), meta,
                                _probs(rng), CLASSES)
    assert result.available and not result.flagged and result.verdict == "like the training data"
    assert result.fraction < 0.25 and len(result.epoch_scores) == 60
    assert result.message().startswith("OOD check: the night is like the event head's training nights")


def test_a_night_with_shifted_embeddings_is_flagged_per_epoch_and_named_by_modality():
    rng = np.random.default_rng(2)
    meta = _metadata(rng)
    night = {"BAS": _tokens(rng, shift=15.0 * MIX[-1]), "RESP": _tokens(rng)}
    result = assess_event_night(_embeddings(night), meta, _probs(rng), CLASSES)
    assert result.flagged and result.fraction > 0.9 and np.all(result.epoch_scores > 1.0)
    assert result.message().startswith("the night is unlike the event head's training nights")
    assert "furthest out in BAS" in result.message()
    record = result.to_dict()
    assert record["flagged"] and len(record["epoch_scores"]) == 60 and sum(record["epoch_ood"]) == 60


def test_logits_outside_a_types_training_range_flag_the_night_and_name_the_type():
    rng = np.random.default_rng(3)
    meta = _metadata(rng)
    probs = _probs(rng)
    probs[:, 1] = 1.0 / (1.0 + np.exp(-(rng.normal(6.0, 1.0, size=len(probs)))))   # hypopnea everywhere
    result = assess_event_night(_embeddings({"BAS": _tokens(rng), "RESP": _tokens(rng)}), meta, probs, CLASSES)
    assert result.flagged and result.logit_outside[:, 1].all()
    assert int(result.embeddings.epoch_ood.sum()) < 15                 # the embeddings alone are fine
    assert "hypopnea in 60" in result.message()


def test_a_head_without_statistics_says_the_check_is_not_available():
    rng = np.random.default_rng(4)
    result = assess_event_night(_embeddings({"BAS": _tokens(rng)}), {"event_classes": list(CLASSES)},
                                _probs(rng), CLASSES)
    assert not result.available and not result.flagged and result.verdict == "not checked"
    assert result.message() == NOT_AVAILABLE
    assert result.to_dict()["message"] == "OOD check not available for this event head (no training statistics)"


def test_malformed_or_other_types_statistics_are_a_model_error_naming_the_folder(tmp_path):
    rng = np.random.default_rng(5)
    meta = _metadata(rng)
    night = _embeddings({"BAS": _tokens(rng)})
    with pytest.raises(ModelError, match="the head gives"):
        assess_event_night(night, meta, _probs(rng)[:, :2], CLASSES[:2], folder=tmp_path)
    broken = dict(meta, **{EVENT_LOGITS_KEY: {"format": "sleepfm-studio event head logits", "classes": ["apnea"]}})
    with pytest.raises(ModelError, match=str(tmp_path.name)):
        assess_event_night(night, broken, _probs(rng), CLASSES, folder=tmp_path)


def test_a_synthetic_only_head_flags_a_night_it_cannot_tell_is_generated_even_without_statistics():
    from sleepfm_engine.ood import SYNTHETIC_ONLY_KEY

    rng = np.random.default_rng(7)
    result = assess_event_night(_embeddings({"BAS": _tokens(rng)}), {SYNTHETIC_ONLY_KEY: True}, _probs(rng), CLASSES)
    assert result.flagged and not result.available
    assert "its events mean nothing" in result.message() and NOT_AVAILABLE in result.message()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                     max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({"format": st.just("sleepfm-studio event head logits")},
                             optional={"classes": _JSON, "quantiles": _JSON, "n": _JSON}) | _JSON)
def test_any_json_reads_as_logit_statistics_or_a_model_error_naming_the_folder(data):
    from pathlib import Path

    try:
        stats = EventLogitStatistics.from_metadata({EVENT_LOGITS_KEY: data}, Path("head-folder"))
    except ModelError as exc:
        assert "head-folder" in str(exc) and EVENT_LOGITS_KEY in str(exc)
    else:
        assert stats is None if data is None else stats.quantiles.shape[1] == len(stats.classes)


def test_written_logit_statistics_read_back_equal():
    rng = np.random.default_rng(8)
    stats = EventLogitStatistics.fit(rng.normal(size=(50, 3)), CLASSES)
    back = EventLogitStatistics.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert back.classes == stats.classes and back.n == 50
    assert np.allclose(back.quantiles, stats.quantiles, atol=1e-6)


# ------------------------------------------------------------------------- detector and CLI
def _release(folder, metadata_extra: dict | None = None):
    """A tiny release whose event head gives every token the probabilities sigmoid(4, -4)."""
    from sleepfm_engine.checkpoints import build_model, save_model
    from sleepfm_engine.training.events import events_head_config

    base = make_base(folder / "model_base")
    classes = ["apnea", "desaturation"]
    cfg = events_head_config(16, classes, dict(TINY_HEAD))
    head = build_model(cfg)
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.copy_(torch.tensor([4.0, -4.0]))
    meta = {"event_classes": classes,
            "postprocessing": {c: {"threshold": 0.5, "min_duration_s": 0.0, "merge_gap_s": 0.0} for c in classes}}
    save_model(head, cfg, folder / "model_events", dict(meta, **(metadata_extra or {})))
    return base.parent


def _far_statistics(rng):
    """Statistics of nights nowhere near any real night's embeddings (every value shifted by 50)."""
    nights = [{m: rng.normal(50.0, 1.0, size=(120, DIM)).astype(np.float32) for m in ("BAS", "RESP", "EKG", "EMG")}
              for _ in range(4)]
    probs = [np.tile(np.array([[1 / (1 + np.exp(-4.0)), 1 / (1 + np.exp(4.0))]], np.float32), (120, 1))
             for _ in nights]
    return fit_event_head_statistics(nights, probs, ["apnea", "desaturation"])


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_night(tmp_path_factory.mktemp("ood-events") / "data", "night", minutes=10, seed=3)


@pytest.mark.usefixtures("one_torch_thread")
def test_detection_without_statistics_notes_that_the_check_is_not_available_in_the_cli(night, tmp_path, capsys):
    from sleepfm_engine.cli import main

    release = _release(tmp_path / "rel")
    assert main(["events", "detect", str(night), "--model", str(release),
                 "-o", str(tmp_path / "night.events.json")]) == 0
    captured = capsys.readouterr()
    assert f"note: {NOT_AVAILABLE}" in captured.out and "warning" not in captured.err


@pytest.mark.usefixtures("one_torch_thread")
def test_a_night_unlike_the_heads_training_nights_is_returned_with_the_events_and_warned_in_the_cli(
        night, tmp_path, capsys):
    from sleepfm_engine.cli import main
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.recording import open_recording

    release = _release(tmp_path / "rel", _far_statistics(np.random.default_rng(6)))
    with open_recording(night) as rec:
        result = get_detector("sleepfm-head").detect(rec, None, model=release, device="cpu")
    ood = result.provenance["ood"]
    assert ood["flagged"] and ood["available"] and len(ood["epoch_scores"]) == 20
    assert all(s > 1.0 for s in ood["epoch_scores"]) and result.notes[-1] == ood["message"]
    assert len(result.events) == 1                                      # the events are still returned
    assert main(["events", "detect", str(night), "--model", str(release),
                 "-o", str(tmp_path / "night.events.json")]) == 0
    captured = capsys.readouterr()
    assert "warning: the night is unlike the event head's training nights" in captured.err
    assert "training nights" not in captured.out          # said once, as a warning


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from sleepfm_engine.synthetic import Severity, make_night
    from sleepfm_engine.synthetic import write_night as write_generated

    root = tmp_path_factory.mktemp("ood-events-cohort")
    data = root / "data"
    data.mkdir()
    for i, ahi in enumerate((40, 25, 60, 15)):
        write_generated(make_night(0.35, seed=i, montage="minimal", severity=Severity(ahi=ahi, plmi=30)),
                        data / f"night{i}.edf")
    return {"data": data, "base": make_base(root / "base"), "cache": root / "cache"}


@pytest.mark.usefixtures("one_torch_thread")
def test_a_trained_event_head_stores_its_statistics_and_detection_checks_its_training_night(cohort, tmp_path):
    from sleepfm_engine.checkpoints import load_metadata
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.recording import open_recording
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    out = tmp_path / "out"
    cfg = FinetuneConfig(task="events", output=str(out), data=str(cohort["data"]), base=str(cohort["base"]),
                         epochs=1, batch_size=2, lr=3e-3, head=dict(TINY_HEAD), cache_dir=str(cohort["cache"]),
                         fractions=[0.5, 0.25, 0.25], log_every=1, device="cpu", plots=False,
                         event_classes=["apnea", "desaturation"])
    run_finetune(cfg)
    folder = out / "model_events"
    meta = load_metadata(folder)
    stats = TrainingStatistics.from_metadata(meta, folder)
    assert stats is not None and stats.n_nights == 2 and set(stats.modalities) == {"BAS", "RESP", "EKG", "EMG"}
    assert "2 training nights" in stats.source and stats.review is None
    logits = EventLogitStatistics.from_metadata(meta, folder)
    assert logits.classes == ("apnea", "desaturation") and logits.n == stats.modalities["BAS"].n
    assert meta[OOD_KEY]["format"] == "sleepfm-studio ood"
    night = next(cohort["data"].glob("night*.edf"))
    with open_recording(night) as rec:
        result = get_detector("sleepfm-head").detect(rec, None, model=out, device="cpu")
    ood = result.provenance["ood"]
    assert ood["available"] and ood["checked"] and ood["message"] == result.notes[-1]
    assert ood["message"] != NOT_AVAILABLE
