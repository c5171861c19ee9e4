"""The Hypnogram type: vocabulary, construction, resampling, alignment, serialisation."""
from __future__ import annotations

import datetime as dt
import json
import warnings
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from sleepfm_engine.hypnogram import (ARTEFACT, STAGE_CODES, STAGE_COLORS, STAGES, UNSCORED,
                                      Hypnogram, parse_stage)


def test_vocabulary_matches_sleepfm_classes_and_has_one_colour_per_code():
    assert STAGES == ("W", "N1", "N2", "N3", "R")
    assert [STAGE_CODES[s] for s in STAGES] == [0, 1, 2, 3, 4]
    assert STAGE_CODES["?"] == UNSCORED == -1 and STAGE_CODES["A"] == ARTEFACT == -2
    assert set(STAGE_COLORS) == set(STAGE_CODES)
    assert STAGE_COLORS["R"].upper() in ("#D62728", "#FF0000")  # REM is red
    assert all(c.startswith("#") and len(c) == 7 for c in STAGE_COLORS.values())


@pytest.mark.parametrize("label, code", [
    ("Sleep stage W", 0), ("Sleep stage 1", 1), ("Sleep stage 2", 2), ("Sleep stage 3", 3),
    ("Sleep stage 4", 3), ("Sleep stage R", 4), ("Sleep stage ?", UNSCORED),
    ("Movement time", ARTEFACT), ("Sleep stage N1", 1), ("Stage 2", 2), ("W", 0), ("REM", 4),
    ("wake", 0), ("N3", 3), ("stage_4", 3), ("  rem  sleep ", 4), ("Unscored", UNSCORED),
])
def test_parse_stage_knows_common_spellings(label, code):
    assert parse_stage(label) == code


def test_strict_parsing_skips_labels_that_may_mean_other_events():
    assert parse_stage("A") == ARTEFACT
    assert parse_stage("A", strict=True) is None
    assert parse_stage("Arousal", strict=True) is None
    assert parse_stage("Sleep stage 2", strict=True) == 2
    assert parse_stage("W", strict=True) == 0


def test_properties_onsets_and_names():
    hyp = Hypnogram([0, 1, 2, -1, -2], epoch_length=30, offset=60)
    assert hyp.n_epochs == len(hyp) == 5
    assert hyp.duration == 150
    np.testing.assert_allclose(hyp.onsets, [60, 90, 120, 150, 180])
    assert hyp.stage_names() == ["W", "N1", "N2", "?", "A"]
    assert hyp.stage_counts() == {"W": 1, "N1": 1, "N2": 1, "N3": 0, "R": 0, "?": 1, "A": 1}
    assert hyp.stages.dtype == np.int8


def test_stage_names_are_accepted_as_input():
    assert Hypnogram(["W", "Sleep stage 2", "REM", "?"]).stages.tolist() == [0, 2, 4, -1]


@pytest.mark.parametrize("bad, exc", [([0, 5], ValueError), ([-3], ValueError), (["Xyz"], ValueError),
                                      ([[0, 1]], ValueError), ([0.5], ValueError)])
def test_invalid_stages_are_rejected(bad, exc):
    with pytest.raises(exc):
        Hypnogram(bad)


def test_invalid_epoch_length_and_probabilities_are_rejected():
    with pytest.raises(ValueError, match="epoch_length"):
        Hypnogram([0], epoch_length=0)
    with pytest.raises(ValueError, match="probabilities"):
        Hypnogram([0, 1], probabilities=np.ones((3, 5)))
    with pytest.raises(TypeError, match="start"):
        Hypnogram([0], start="2020-01-01")


def test_dict_round_trip_is_json_serialisable_and_keeps_everything():
    probs = np.array([[0.7, 0.1, 0.1, 0.05, 0.05], [np.nan] * 5], dtype=np.float32)
    hyp = Hypnogram([0, -1], 30, dt.datetime(2021, 3, 4, 22, 15, 30), 12.5, "Dr X", probs, "f.csv")
    data = json.loads(json.dumps(hyp.to_dict()))
    back = Hypnogram.from_dict(data)
    assert back == hyp
    assert back.source == "f.csv"
    assert np.isnan(back.probabilities[1]).all()


def test_copy_is_independent():
    hyp = Hypnogram([0, 1, 2])
    dup = hyp.copy()
    dup.stages[0] = 4
    assert hyp.stages[0] == 0 and dup != hyp


# -- resampling --------------------------------------------------------------------------------
def test_resample_5s_to_30s_takes_the_majority_stage_of_each_epoch():
    five = ["W"] * 6 + ["N2"] * 4 + ["N1"] * 2 + ["N1"] * 3 + ["N2"] * 3 + ["?"] * 4 + ["N2"] * 2 \
        + ["?"] * 3 + ["N3"] * 3 + ["R"] * 3  # last 3 values: a partial 30-s epoch
    hyp = Hypnogram(five, epoch_length=5, offset=10)
    out = hyp.resample(30)
    assert out.epoch_length == 30 and out.offset == 10
    # W; N2 (4 of 6); tie N1/N2 -> first in time (N1); mostly unscored -> ?; half scored -> N3
    assert out.stage_names() == ["W", "N2", "N1", "?", "N3"]


def test_resample_30s_to_5s_repeats_each_epoch_and_round_trips():
    hyp = Hypnogram([0, 2, 4, -2], epoch_length=30)
    fine = hyp.resample(5)
    assert fine.n_epochs == 24
    assert fine.stages.tolist() == [0] * 6 + [2] * 6 + [4] * 6 + [-2] * 6
    assert fine.resample(30).stages.tolist() == hyp.stages.tolist()


def test_resample_with_a_non_integer_ratio_uses_time_overlap():
    # 20-s R&K epochs onto 30 s: [0,30) has 20 s W + 10 s N2; [30,60) is N2.
    hyp = Hypnogram(["W", "N2", "N2"], epoch_length=20)
    assert hyp.resample(30).stage_names() == ["W", "N2"]


def test_resample_averages_probabilities_over_time():
    probs = np.zeros((6, 5), dtype=np.float32)
    probs[:3, 0] = 1.0
    probs[3:, 4] = 1.0
    out = Hypnogram([0, 0, 0, 4, 4, 4], 5, probabilities=probs).resample(30)
    np.testing.assert_allclose(out.probabilities, [[0.5, 0, 0, 0, 0.5]], atol=1e-6)


# -- alignment ---------------------------------------------------------------------------------
REC_START = dt.datetime(2022, 5, 6, 23, 0, 0)


def _rec(duration=300.0, start=REC_START):
    return SimpleNamespace(start=start, duration=duration)


def test_align_pads_with_unscored_when_the_hypnogram_starts_later():
    hyp = Hypnogram(["W", "N1", "N2", "R"], 30, REC_START + dt.timedelta(seconds=60))
    out = hyp.align_to(_rec())
    assert out.n_epochs == 10 and out.offset == 0 and out.start == REC_START
    assert out.stage_names() == ["?", "?", "W", "N1", "N2", "R", "?", "?", "?", "?"]


def test_align_trims_epochs_before_the_recording_and_after_its_end():
    hyp = Hypnogram(["W", "N1", "N2", "N3", "R", "W"], 30, REC_START - dt.timedelta(seconds=60))
    out = hyp.align_to(_rec(duration=90.0))
    assert out.stage_names() == ["N2", "N3", "R"]


def test_align_keeps_the_scorers_grid_when_it_is_not_a_whole_epoch_away():
    hyp = Hypnogram(["W", "N1"], 30, REC_START + dt.timedelta(seconds=45))
    out = hyp.align_to(_rec(duration=120.0))
    assert out.offset == pytest.approx(15.0)
    assert out.stage_names() == ["?", "W", "N1"]  # epochs at 15, 45, 75 s (105 s would end past 120)
    np.testing.assert_allclose(out.onsets, [15, 45, 75])


def test_align_without_start_times_uses_the_offset():
    hyp = Hypnogram(["N2", "R"], 30, None, offset=30)
    assert hyp.align_to(_rec(duration=120.0, start=None)).stage_names() == ["?", "N2", "R", "?"]


def test_align_warns_when_nothing_overlaps():
    hyp = Hypnogram(["N2"], 30, REC_START + dt.timedelta(hours=2))
    with pytest.warns(UserWarning, match="does not overlap"):
        out = hyp.align_to(_rec())
    assert (out.stages == UNSCORED).all()


def test_align_pads_probabilities_with_nan():
    probs = np.full((1, 5), 0.2, dtype=np.float32)
    out = Hypnogram([2], 30, REC_START + dt.timedelta(seconds=30), probabilities=probs).align_to(_rec(90))
    assert np.isnan(out.probabilities[0]).all() and np.isnan(out.probabilities[2]).all()
    np.testing.assert_allclose(out.probabilities[1], 0.2)


# -- events ------------------------------------------------------------------------------------
def test_from_events_expands_multi_epoch_events_and_fills_gaps_with_unscored():
    hyp = Hypnogram.from_events([30, 90, 180], [60, 60, 30], [0, 2, 4])
    assert hyp.offset == 30 and hyp.epoch_length == 30
    assert hyp.stage_names() == ["W", "W", "N2", "N2", "?", "R"]


def test_from_events_uses_a_20s_grid_for_20s_scoring_and_resamples_on_request():
    hyp = Hypnogram.from_events([0, 20, 40], [20, 20, 20], [0, 2, 2])
    assert hyp.epoch_length == 20
    assert Hypnogram.from_events([0, 20, 40], [20, 20, 20], [0, 2, 2], epoch_length=30
                                 ).stage_names() == ["W", "N2"]


def test_from_events_open_ended_durations_last_until_the_next_event():
    hyp = Hypnogram.from_events([0, 60, 90], [None, 0, None], [0, 1, 2])
    assert hyp.stage_names() == ["W", "W", "N1", "N2"]


def test_from_events_warns_about_overlaps():
    with pytest.warns(UserWarning, match="overlap"):
        hyp = Hypnogram.from_events([0, 30], [60, 30], [0, 2])
    assert hyp.stage_names() == ["W", "N2"]


def test_agreement_requires_the_same_epochs():
    a = Hypnogram([0, 1, 2])
    with pytest.raises(ValueError, match="epoch lengths differ"):
        a.agreement(Hypnogram([0, 1, 2], epoch_length=20))
    with pytest.raises(ValueError, match="different epochs"):
        a.agreement(Hypnogram([0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert a.agreement(a.copy())["accuracy"] == 1.0


def test_statistics_accepts_clock_lights_times():
    hyp = Hypnogram(["W", "W", "N2", "N2", "W"], 30, REC_START)
    stats = hyp.statistics(lights_off=REC_START + dt.timedelta(seconds=30),
                           lights_on=REC_START + dt.timedelta(seconds=120))
    assert stats["TRT"] == 1.5 and stats["SOL"] == 0.5 and stats["TST"] == 1.0


def test_majority_rule_agrees_with_a_plain_count_on_random_5s_hypnograms():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=600)
    out = Hypnogram(codes, 5).resample(30)
    for k, block in enumerate(codes.reshape(-1, 6)):
        counts = Counter(block.tolist())
        best = max(counts.values())
        first = next(c for c in block.tolist() if counts[c] == best)
        assert out.stages[k] == first


def test_from_events_tolerates_millisecond_jitter_in_onsets():
    hyp = Hypnogram.from_events([0.0, 30.004, 59.998, 90.001], [30, 30, 30, 30], [0, 1, 2, 4])
    assert hyp.epoch_length == 30 and hyp.stage_names() == ["W", "N1", "N2", "R"]


def test_from_events_off_any_grid_are_re_epoched_by_majority_with_a_warning():
    # W 0-40 s, N2 40-61.3 s, R 61.3-90 s: [0,30) W, [30,60) N2 (20 s vs 10 s), [60,90) R
    with pytest.warns(UserWarning, match="not on a regular epoch grid"):
        hyp = Hypnogram.from_events([0.0, 40.0, 61.3], [40.0, 21.3, 28.7], [0, 2, 4])
    assert hyp.epoch_length == 30 and hyp.stage_names() == ["W", "N2", "R"]
