"""Aligning a hypnogram to a recording that ends inside a scored epoch says so: the warning names
the recording and the seconds dropped; nothing is said when no scored epoch is lost."""
from __future__ import annotations

import datetime as dt
import warnings
from types import SimpleNamespace

import pytest

from sleepfm_engine.hypnogram import Hypnogram, PartialEpochWarning


def _recording(seconds: float, start=dt.datetime(2024, 1, 1, 22, 0)):
    return SimpleNamespace(start=start, duration=seconds, path="night_07.edf")


def test_a_partial_last_scored_epoch_is_dropped_with_a_warning_naming_file_and_seconds():
    hyp = Hypnogram(["W", "N1", "N2", "N2"], start=dt.datetime(2024, 1, 1, 22, 0))
    with pytest.warns(PartialEpochWarning, match=r"night_07\.edf: ends 5 s into epoch 4 .*N2.*5 s"):
        aligned = hyp.align_to(_recording(95.0))
    assert aligned.n_epochs == 3


def test_a_recording_ending_on_an_epoch_boundary_aligns_silently():
    hyp = Hypnogram(["W", "N1", "N2", "N2"], start=dt.datetime(2024, 1, 1, 22, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hyp.align_to(_recording(120.0)).n_epochs == 4


def test_a_partial_tail_beyond_the_hypnogram_or_unscored_loses_no_label_and_is_not_warned():
    hyp = Hypnogram(["W", "N1", "?"], start=dt.datetime(2024, 1, 1, 22, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hyp.align_to(_recording(75.0)).n_epochs == 2     # epoch 3 is unscored
        assert hyp.align_to(_recording(100.0)).n_epochs == 3    # no epoch 4 in the hypnogram
