"""Review by confidence on a night unlike the training data: per-epoch review evidence fixed
from the training statistics, on constructed embeddings and logits."""
from __future__ import annotations

import numpy as np
import pytest

from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.ood import (REVIEW_MODALITY, REVIEW_P, OODResult, TrainingStatistics, fisher_p,
                                ood_path, read_ood_file, write_ood_file)
from sleepfm_engine.scoring import ScoringSession

DIM = 24
MIX = np.linalg.qr(np.random.default_rng(99).normal(size=(DIM, DIM)))[0]


def _tokens(rng, n_tokens=600, shift=0.0):
    return (rng.normal(size=(n_tokens, DIM)) * np.linspace(3.0, 0.2, DIM)) @ MIX + shift


def _logits(rng, n_tokens=600, margin=8.0):
    """Token logits of a head sure of one class by ``margin`` (per token, jittered)."""
    z = rng.normal(0, 0.3, size=(n_tokens, 5))
    z[:, 2] += margin
    return z


def _training(rng, nights=6):
    tokens = [{REVIEW_MODALITY: _tokens(rng), "EKG": _tokens(rng)} for _ in range(nights)]
    logits = [_logits(rng, margin=rng.uniform(4, 10)) for _ in range(nights)]
    return TrainingStatistics.fit(tokens, logits, source="constructed")


def _shifted_night(rng, odd):
    """A night far from training everywhere (one offset shared by all epochs, in both
    modalities), whose ``odd`` epochs also differ in BAS beyond that offset and whose head is
    unsure there."""
    shift = 12.0 * MIX[-1]
    bas, ekg, logits = _tokens(rng, shift=shift), _tokens(rng, shift=shift), _logits(rng, margin=9.0)
    for e in odd:
        rows = slice(6 * e, 6 * e + 6)
        bas[rows] += 4.0 * MIX[0] + 6.0 * MIX[-2]
        logits[rows, 2] -= 8.0
    return {REVIEW_MODALITY: bas, "EKG": ekg}, logits


def test_fisher_p_matches_the_chi_square_tail_of_the_combined_statistic():
    from scipy.stats import chi2

    rng = np.random.default_rng(1)
    p1, p2, p3 = rng.uniform(1e-4, 1, size=(3, 50))
    np.testing.assert_allclose(fisher_p(p1, p2), chi2.sf(-2 * (np.log(p1) + np.log(p2)), 4), rtol=1e-9)
    np.testing.assert_allclose(fisher_p(p1, p2, p3),
                               chi2.sf(-2 * (np.log(p1) + np.log(p2) + np.log(p3)), 6), rtol=1e-9)
    np.testing.assert_allclose(fisher_p(p1), p1, rtol=1e-12)
    assert np.isnan(fisher_p(np.array([np.nan]), np.array([0.5]))[0])


def test_a_flagged_night_offers_the_epochs_atypical_beyond_its_shared_offset_least_typical_first():
    rng = np.random.default_rng(2)
    stats = _training(rng)
    odd = [7, 23, 40, 41, 77]
    tokens, logits = _shifted_night(rng, odd)
    result = stats.score(tokens, logits)
    assert result.flagged and result.fraction > 0.9          # every epoch is marked ...
    offered = result.review_epochs
    assert set(odd) <= set(np.flatnonzero(offered).tolist())  # ... review offers the odd ones
    assert offered.sum() < 0.7 * len(offered)                # and spares the ordinary ones
    assert np.all(result.epoch_evidence[odd] < 0.01)
    assert any(f"review by confidence offers first the {int(offered.sum())} epochs" in r for r in result.reasons())

    probs = np.full((100, 5), 0.001)
    probs[:, 2] = 0.996                                     # sure of every epoch
    session = ScoringSession(100, auto=Hypnogram(probs.argmax(axis=1), probabilities=probs,
                                                 automatic=True), autosave=False)
    session.set_ood(result)
    assert session.review_count("uncertain") == int(offered.sum())
    first = [session.next_review_epoch(0, "lowest") for _ in range(len(odd))]
    assert sorted(first) == odd


def test_a_night_like_the_training_data_offers_only_its_marked_epochs():
    rng = np.random.default_rng(3)
    stats = _training(rng)
    result = stats.score({REVIEW_MODALITY: _tokens(rng), "EKG": _tokens(rng)}, _logits(rng, margin=7.0))
    assert not result.flagged
    np.testing.assert_array_equal(result.review_epochs, result.epoch_ood)
    assert result.review_epochs.mean() < 0.05
    assert np.nanmedian(result.epoch_evidence) > 0.2        # typical epochs, typical p-values


def test_the_same_rule_fixed_from_training_offers_about_half_of_a_new_training_like_night_if_flagged():
    """The threshold is the median training epoch: on a night drawn like the training nights
    about half its epochs fall below it (what a flagged night would be offered)."""
    rng = np.random.default_rng(4)
    stats = _training(rng, nights=8)
    shares = []
    for _ in range(4):
        result = stats.score({REVIEW_MODALITY: _tokens(rng)}, _logits(rng, margin=rng.uniform(4, 10)))
        shares.append(np.mean(result.epoch_evidence < REVIEW_P))
    assert 0.2 < np.mean(shares) < 0.8


def test_review_statistics_survive_the_metadata_round_trip_with_equal_p_values():
    rng = np.random.default_rng(5)
    stats = _training(rng)
    back = TrainingStatistics.from_dict(stats.to_dict())
    tokens, logits = _shifted_night(rng, [3])
    np.testing.assert_allclose(back.score(tokens, logits).epoch_evidence,
                               stats.score(tokens, logits).epoch_evidence, rtol=1e-5, atol=1e-7)


def test_statistics_without_review_evidence_offer_the_marked_epochs_of_a_flagged_night_and_say_so():
    rng = np.random.default_rng(6)
    data = _training(rng).to_dict()
    data.pop("review")                                      # statistics from before review evidence
    stats = TrainingStatistics.from_dict(data)
    result = stats.score(*_shifted_night(rng, []))
    assert result.flagged and result.epoch_evidence is None
    np.testing.assert_array_equal(result.review_epochs, result.epoch_ood)
    assert result.review_epochs.mean() > 0.9
    assert any("per-epoch review evidence" in r for r in result.reasons())


def test_epochs_without_data_get_no_review_evidence_and_are_not_offered():
    rng = np.random.default_rng(7)
    stats = _training(rng)
    tokens, logits = _shifted_night(rng, [5])
    skip = np.zeros(100, dtype=bool)
    skip[50:60] = True
    result = stats.score(tokens, logits, skip)
    assert np.isnan(result.epoch_evidence[50:60]).all()
    assert not result.review_epochs[50:60].any()


def test_an_ood_record_with_review_evidence_is_read_back_identically(tmp_path):
    result = OODResult(np.array([2.0, np.nan, 3.0]), np.array([True, False, True]),
                       np.array([False, False, True]), ("BAS", "", "EKG"), 0.25, ("BAS", "EKG"),
                       epoch_evidence=np.array([0.7, np.nan, 0.01]))
    back = read_ood_file(write_ood_file(ood_path(tmp_path / "n.provenance.json"), result, "m"))
    assert back.to_dict() == result.to_dict()
    np.testing.assert_array_equal(back.review_epochs, [False, False, True])


@pytest.mark.parametrize("flagged", [True, False])
def test_the_session_clears_review_marks_for_a_night_that_could_not_be_checked(flagged):
    result = OODResult.not_available(4, ("out-of-distribution check",))
    if flagged:
        result = result.with_notes("a synthetic-only model on a real recording")
    session = ScoringSession(4, autosave=False)
    session.set_ood(result)
    assert session.review_count("uncertain") == (4 if flagged else 0)
