"""Hypnogram.resample says how many merged epochs mixed stages (issue 12, DREAMS 5-s files)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepfm_engine.hypnogram import (Hypnogram, HypnogramResampleWarning, ResampleReport,
                                      resample_notes)


def test_resample_report_counts_new_epochs_that_mixed_codes():
    stages = np.array([0] * 6 + [1, 2, 2, 2, 2, 2] + [3] * 6, dtype=np.int8)
    hyp = Hypnogram(stages, epoch_length=5.0, source="Hypnogram_excerpt1.txt")
    assert hyp.resample_report(30) == ResampleReport(5.0, 30.0, 3, 1)
    with pytest.warns(HypnogramResampleWarning, match=r"excerpt1.txt: 5-s epochs merged into 3 "
                                                      r"30-s epochs; 1 of them mixed"):
        out = hyp.resample(30)
    assert out.stages.tolist() == [0, 2, 3]


def test_splitting_epochs_mixes_nothing_and_warns_nothing():
    hyp = Hypnogram(np.array([0, 2, 3], np.int8), epoch_length=30.0)
    assert hyp.resample_report(5).n_mixed == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hyp.resample(5).stages.shape == (18,)


def test_merging_epochs_that_each_hold_one_stage_mixes_nothing_and_warns_nothing():
    hyp = Hypnogram(np.repeat(np.array([0, 2, 4], np.int8), 6), epoch_length=5.0)
    assert hyp.resample_report(30).n_mixed == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hyp.resample(30).stages.tolist() == [0, 2, 4]


def test_resample_notes_collects_merges_and_passes_other_warnings_on():
    hyp = Hypnogram(np.array([0, 1, 2, 2], np.int8), epoch_length=15.0)
    with pytest.warns(UserWarning, match="something else"):
        with resample_notes() as notes:
            hyp.resample(30)
            warnings.warn("something else", UserWarning)
    assert len(notes) == 1 and "1 of them mixed" in notes[0]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-2, 4), min_size=1, max_size=120), st.sampled_from([5.0, 10.0, 15.0]),
       st.sampled_from([30.0, 45.0, 60.0]))
def test_mixed_count_matches_a_direct_count(codes, old, new):
    stages = np.array(codes, dtype=np.int8)
    hyp = Hypnogram(stages, epoch_length=old)
    rep = hyp.resample_report(new)
    mixed = 0
    for j in range(rep.n_epochs):
        a, b = j * new, (j + 1) * new
        inside = {int(stages[i]) for i in range(stages.shape[0])
                  if i * old < b - 1e-9 and (i + 1) * old > a + 1e-9}
        mixed += len(inside) > 1
    assert rep.n_mixed == mixed
