"""Out-of-distribution scores and calibration: constructed embeddings and logits, metadata
round trips, training writes them, inference and the CLI tell the user."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from inference_helpers import TINY, one_thread, write_night

from sleepfm_engine.ood import (CALIBRATION_KEY, OOD_KEY, SYNTHETIC_ONLY_KEY, Calibration, OODResult,
                                TrainingStatistics, expected_calibration_error, fit_temperature,
                                ood_path, read_ood_file, softmax, update_metadata, write_ood_file)

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(autouse=True)
def _restore_omp_env(monkeypatch):
    """The CLI sets OMP_WAIT_POLICY when unset; keep that out of the other tests' environment."""
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


def _night(rng, n_tokens=600, dim=24, shift=0.0, scale=None):
    """Token embeddings with a correlated structure (a fixed mixing matrix) and optional shift."""
    scale = np.linspace(3.0, 0.2, dim) if scale is None else scale
    mix = np.linalg.qr(np.random.default_rng(99).normal(size=(dim, dim)))[0]
    return (rng.normal(size=(n_tokens, dim)) * scale) @ mix + shift


def _stats(rng, nights=6, **kw):
    return TrainingStatistics.fit([{"BAS": _night(rng, **kw), "EKG": _night(rng, **kw)}
                                   for _ in range(nights)], source="constructed")


def test_ood_score_keeps_in_distribution_epochs_below_the_threshold_and_flags_a_shifted_night():
    rng = np.random.default_rng(0)
    stats = _stats(rng)
    held_out = stats.score({"BAS": _night(rng), "EKG": _night(rng)})
    assert held_out.available and not held_out.flagged
    assert held_out.fraction < 0.05 and np.median(held_out.epoch_scores) < 0.8
    # Shifted along the direction the training data barely varies in: far out.
    mix = np.linalg.qr(np.random.default_rng(99).normal(size=(24, 24)))[0]
    shifted = stats.score({"BAS": _night(rng, shift=10.0 * mix[-1]), "EKG": _night(rng)})
    assert shifted.flagged and shifted.fraction > 0.9
    assert np.median(shifted.epoch_scores) > 10
    assert set(shifted.epoch_modality) == {"BAS"}
    assert shifted.verdict == "unlike the training data"
    assert any("furthest out in BAS" in r for r in shifted.reasons())


def test_the_threshold_measures_each_night_against_the_other_nights_so_a_new_sleeper_is_not_flagged():
    from sleepfm_engine.ood import PCAStatistics, epoch_means

    rng = np.random.default_rng(8)
    sleeper = lambda: rng.normal(0, 0.6, size=24)   # noqa: E731 - each night its own offset
    nights = [epoch_means(_night(rng, shift=sleeper())) for _ in range(8)]
    groups = np.concatenate([np.full(len(n), i) for i, n in enumerate(nights)])
    new = epoch_means(_night(rng, shift=sleeper()))
    pooled = PCAStatistics.fit(np.concatenate(nights))
    per_night = PCAStatistics.fit(np.concatenate(nights), groups=groups)
    assert per_night.threshold > pooled.threshold
    assert np.mean(per_night.score(new) > 1) < 0.05 < np.mean(pooled.score(new) > 1)


def test_epochs_without_data_are_neither_scored_nor_marked_nor_counted():
    rng = np.random.default_rng(7)
    stats = _stats(rng, nights=3)
    night = _night(rng, shift=50.0)                     # every epoch far out
    skip = np.zeros(100, dtype=bool)
    skip[:80] = True
    result = stats.score({"BAS": night, "EKG": night}, skip=skip)
    assert not result.epoch_ood[:80].any() and np.isnan(result.epoch_scores[:80]).all()
    assert result.n_scored == 20 and result.fraction == 1.0
    assert "20 of 20 30-s epochs" in result.reasons()[0]


def test_a_modality_without_statistics_is_said_to_be_unchecked():
    rng = np.random.default_rng(1)
    stats = TrainingStatistics.fit([{"BAS": _night(rng)} for _ in range(3)])
    result = stats.score({"BAS": _night(rng), "RESP": _night(rng)})
    assert result.checked == ("BAS",)
    assert any("embedding check of RESP" in u for u in result.unavailable)
    assert any("head energy check" in u for u in result.unavailable)


def test_head_energy_outside_its_training_range_marks_epochs():
    rng = np.random.default_rng(2)
    tokens = [{"BAS": _night(rng)} for _ in range(3)]
    logits = [rng.normal(0, 1, size=(600, 5)) for _ in range(3)]
    stats = TrainingStatistics.fit(tokens, logits)
    normal = stats.score({"BAS": _night(rng)}, rng.normal(0, 1, size=(600, 5)))
    assert not normal.flagged and normal.head_ood.mean() < 0.05
    sure = np.zeros((600, 5))
    sure[:, 2] = 60.0   # the head certain of N2 far beyond anything seen in training
    result = stats.score({"BAS": _night(rng)}, sure)
    assert result.head_ood.all() and result.flagged
    assert any("unusually sure or unsure" in r for r in result.reasons())


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(3)
    true_logits = rng.normal(0, 2.0, size=(20000, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    # The model's logits are the true ones times 2.5: over-confident by a temperature of 2.5.
    t = fit_temperature(true_logits * 2.5, labels)
    assert t == pytest.approx(2.5, rel=0.05)
    unscored = np.where(rng.random(len(labels)) < 0.3, -1, labels)
    assert fit_temperature(true_logits * 2.5, unscored) == pytest.approx(2.5, rel=0.08)


def test_ece_matches_a_hand_computed_case():
    # Confidences 0.9, 0.9 (one right, one wrong) in bin (0.8667, 0.9333]; 0.6 right in (0.5333, 0.6].
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    labels = np.array([0, 1, 1, -1])
    # (2/3)|0.5 - 0.9| + (1/3)|1 - 0.6| = 0.2667 + 0.1333
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)
    assert np.isnan(expected_calibration_error(probs[:1], np.array([-1])))


def test_calibration_lowers_the_ece_of_an_over_confident_head():
    rng = np.random.default_rng(4)
    nights = []
    for _ in range(4):
        # An epoch's six tokens share their logits and stage, as a stable stretch of sleep does.
        z = rng.normal(0, 1.5, size=(200, 5))
        y = np.array([rng.choice(5, p=p) for p in softmax(z)])
        nights.append((np.repeat(z * 3.0, 6, axis=0), y))
    cal = Calibration.fit(nights)
    assert cal.temperature == pytest.approx(3.0, rel=0.1)
    assert cal.ece_after < cal.ece_before and cal.nll_after < cal.nll_before


def test_statistics_and_calibration_round_trip_through_model_metadata(tmp_path):
    rng = np.random.default_rng(5)
    stats = TrainingStatistics.fit([{"BAS": _night(rng)} for _ in range(3)],
                                   [rng.normal(size=(600, 5)) for _ in range(3)])
    cal = Calibration(1.7, 0.2, 0.05, 1.1, 0.9, 100)
    (tmp_path / "metadata.json").write_text(json.dumps({"name": "x"}))
    update_metadata(tmp_path, **{OOD_KEY: stats.to_dict(), CALIBRATION_KEY: cal.to_dict()})
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["name"] == "x"
    back = TrainingStatistics.from_metadata(meta)
    assert Calibration.from_metadata(meta) == cal
    night = {"BAS": _night(rng)}
    logits = rng.normal(size=(600, 5))
    a, b = stats.score(night, logits), back.score(night, logits)
    np.testing.assert_allclose(a.epoch_scores, b.epoch_scores, rtol=1e-5)
    np.testing.assert_array_equal(a.head_ood, b.head_ood)
    assert back.to_dict() == json.loads(json.dumps(back.to_dict()))


def test_malformed_statistics_in_metadata_are_a_model_error_naming_the_folder(tmp_path):
    from sleepfm_engine.errors import ModelError

    with pytest.raises(ModelError, match="ood_statistics"):
        TrainingStatistics.from_metadata({OOD_KEY: {"format": "something else"}}, tmp_path)
    with pytest.raises(ModelError, match="temperature must be a positive"):
        Calibration.from_metadata({CALIBRATION_KEY: {"temperature": -1, "ece_before": 0, "ece_after": 0,
                                                     "nll_before": 0, "nll_after": 0, "n_epochs": 1}})


def test_an_ood_record_is_read_back_identically(tmp_path):
    result = OODResult(np.array([0.2, np.nan, 3.0]), np.array([False, False, True]),
                       np.array([False, False, True]), ("BAS", "", "EKG"), 0.25, ("BAS", "EKG"),
                       ("head energy check",), ("a note",))
    path = write_ood_file(ood_path(tmp_path / "n.provenance.json"), result, "m")
    assert path.name == "n.ood.json"
    back = read_ood_file(path)
    np.testing.assert_array_equal(back.epoch_scores, result.epoch_scores)
    assert back.to_dict() == result.to_dict()


def test_review_counts_ood_epochs_as_unsure_and_offers_them_first():
    from sleepfm_engine.hypnogram import Hypnogram
    from sleepfm_engine.scoring import ScoringSession

    probs = np.full((6, 5), 0.01)
    probs[:, 2] = 0.96
    probs[4] = [0.5, 0.1, 0.2, 0.1, 0.1]            # the one unsure epoch
    auto = Hypnogram(probs.argmax(axis=1), probabilities=probs, automatic=True)
    session = ScoringSession(6, auto=auto, autosave=False)
    assert np.flatnonzero(session.review_mask("uncertain")).tolist() == [4]
    session.set_ood_epochs(np.array([0, 1, 0, 1, 0, 0], dtype=bool))
    assert np.flatnonzero(session.review_mask("uncertain")).tolist() == [1, 3, 4]
    assert np.flatnonzero(session.review_mask("review")).tolist() == [1, 3, 4]
    order = [session.next_review_epoch(0, "lowest") for _ in range(3)]
    assert order == [1, 3, 4]


# ---------------------------------------------------------------------------------- inference
def _release_with(tmp_path, metadata):
    """A release folder: the tiny base, and a copy of the tiny staging head with ``metadata``."""
    root = tmp_path / "release"
    root.mkdir(parents=True)
    os.symlink(TINY / "model_base", root / "model_base", target_is_directory=True)
    shutil.copytree(TINY / "model_sleep_staging", root / "model_sleep_staging")
    if metadata is not None:
        (root / "model_sleep_staging" / "metadata.json").write_text(json.dumps(metadata))
    return root


def _stage(release, night, out) -> str:
    """``sleepfm stage`` as a console process (pytest records warnings itself, so only a process
    shows what a user sees); its standard error."""
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "sleepfm_engine.cli", "stage", str(night), "--model",
                           str(release), "-o", str(out), "--device", "cpu", "--workers", "0"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def _stage_in_process(release, night, out):
    from sleepfm_engine.cli import main
    from sleepfm_engine.ood import OODWarning

    with pytest.warns(OODWarning) as caught:
        assert main(["stage", str(night), "--model", str(release), "-o", str(out), "--device", "cpu",
                     "--workers", "0"]) == 0
    return [str(w.message) for w in caught if issubclass(w.category, OODWarning)]


def test_official_release_says_which_checks_are_not_available(tmp_path):
    night = write_night(tmp_path / "n.edf", 6.0)
    messages = _stage_in_process(_release_with(tmp_path, None), night, tmp_path / "out")
    assert len(messages) == 1 and messages[0].startswith("n.edf: ")
    assert "not available: out-of-distribution check" in messages[0]
    assert "not available: calibrated probabilities" in messages[0]
    record = read_ood_file(tmp_path / "out" / "n.ood.json")
    assert record.verdict == "not checked" and not record.flagged


def test_cli_warns_for_a_night_unlike_the_training_data_and_records_it(tmp_path):
    rng = np.random.default_rng(6)
    # Statistics of embeddings nothing like the tiny base's (mean 50): every epoch is far out.
    stats = TrainingStatistics.fit([{m: _night(rng, dim=32, shift=50.0) for m in ("BAS", "EKG", "EMG", "RESP")}
                                    for _ in range(2)])
    meta = {OOD_KEY: stats.to_dict(), CALIBRATION_KEY: Calibration(2.0, 0.1, 0.05, 1, 0.9, 10).to_dict()}
    night = write_night(tmp_path / "n.edf", 6.0)
    err = _stage(_release_with(tmp_path, meta), night, tmp_path / "out")
    warning = [ln for ln in err.splitlines() if ln.startswith("warning: n.edf: unlike the training data")]
    assert len(warning) == 1, err
    assert "12 of 12 30-s epochs (100 %)" in warning[0] and ".py:" not in err
    record = read_ood_file(tmp_path / "out" / "n.ood.json")
    assert record.flagged and record.epoch_ood.all()
    assert json.loads((tmp_path / "out" / "n.ood.json").read_text())["model"] == "release/model_sleep_staging"


def test_calibrated_probabilities_use_the_models_temperature(tmp_path):
    from sleepfm_engine.analysis import analyse_night
    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.devices import select_device

    night = write_night(tmp_path / "n.edf", 6.0)
    plain = load_release(_release_with(tmp_path / "a", None))
    hot = load_release(_release_with(tmp_path / "b", {CALIBRATION_KEY: Calibration(
        4.0, 0.1, 0.05, 1, 0.9, 10).to_dict()}))
    cpu = select_device("cpu")
    with pytest.warns(Warning):
        a = analyse_night(None, plain, device=cpu, recording=night)
    with pytest.warns(Warning, match="out-of-distribution check"):
        b = analyse_night(None, hot, device=cpu, embeddings=a.embeddings)
    # A temperature above 1 flattens every epoch's distribution; the stages stay.
    assert np.all(b.hypnogram.probabilities.max(axis=1) < a.hypnogram.probabilities.max(axis=1))
    np.testing.assert_array_equal(a.hypnogram.stages, b.hypnogram.stages)


def test_synthetic_only_model_warns_on_every_real_recording_but_not_on_a_generated_night(tmp_path):
    from sleepfm_engine.cli import main

    release = _release_with(tmp_path, {SYNTHETIC_ONLY_KEY: True})
    real = write_night(tmp_path / "real.edf", 6.0)
    for run in range(2):
        messages = _stage_in_process(release, real, tmp_path / f"out{run}")
        assert len(messages) == 1 and messages[0].startswith("real.edf: unlike the training data")
        assert "generated (synthetic) nights only and this recording is not a generated night" in messages[0]
    assert main(["synth", "-o", str(tmp_path / "gen.edf"), "--hours", "0.1", "--seed", "3"]) == 0
    messages = _stage_in_process(release, tmp_path / "gen.edf", tmp_path / "out_gen")
    assert not any("generated (synthetic) nights only" in m for m in messages)


def test_few_training_epochs_fit_fewer_directions_and_a_modality_with_too_few_is_left_out():
    from sleepfm_engine.ood import MIN_EPOCHS

    rng = np.random.default_rng(9)
    stats = TrainingStatistics.fit([{"BAS": _night(rng, n_tokens=6 * 12), "EKG": _night(rng, n_tokens=6 * 4)}])
    assert stats.modalities["BAS"].components.shape[0] == 10 and "EKG" not in stats.modalities
    assert any("embedding check of EKG" in u for u in stats.score({"BAS": _night(rng), "EKG": _night(rng)}).unavailable)
    with pytest.raises(ValueError, match=f"fewer than {MIN_EPOCHS} training epochs"):
        TrainingStatistics.fit([{"BAS": _night(rng, n_tokens=6 * 3)}])
