"""A hypnogram paired with a recording is checked against it: cut to the recording's time with
a loud warning giving both durations, or refused when it misses the recording entirely."""
from __future__ import annotations

import datetime as dt
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from sleepfm_engine.alignment import (HypnogramAlignmentWarning, fit_to_recording,
                                      hypnogram_fit)
from sleepfm_engine.errors import HypnogramError
from sleepfm_engine.formats import write_hypnogram
from sleepfm_engine.formats.discover import find_manual_hypnogram
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.recording import open_recording
from sleepfm_engine.report import build_report

from edf_factory import Sig, write_edf

START = dt.datetime(2003, 11, 17, 22, 15, 0)


def _six_hours(start=START, source=""):
    rng = np.random.default_rng(1)
    return Hypnogram(rng.integers(0, 5, 720), 30.0, start=start, scorer="tech", source=source)


def _recording(minutes: float, start=START):
    return SimpleNamespace(start=start, duration=minutes * 60.0)


def test_six_hour_hypnogram_beside_25_minute_recording_is_cut_with_both_durations_said():
    hyp = _six_hours()
    with pytest.warns(HypnogramAlignmentWarning) as caught:
        fitted = fit_to_recording(hyp, _recording(25))
    message = str(caught[0].message)
    assert "360.0 min" in message and "25.0 min" in message and "670 dropped" in message
    assert fitted.n_epochs == 50
    assert np.array_equal(fitted.stages, hyp.stages[:50])
    assert fitted.statistics()["TIB"] == pytest.approx(25.0)


def test_hypnogram_inside_the_recording_is_returned_unchanged_without_a_warning():
    hyp = Hypnogram([0, 1, 2, 2], 30.0, start=START + dt.timedelta(minutes=10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_to_recording(hyp, _recording(25)) is hyp
    assert hypnogram_fit(hyp, _recording(25)).first_s == 600.0


def test_a_partial_last_epoch_under_the_recording_is_kept():
    hyp = Hypnogram(np.zeros(51, dtype=int), 30.0, start=START)
    rec = SimpleNamespace(start=START, duration=25 * 60 + 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_to_recording(hyp, rec).n_epochs == 51


def test_hypnogram_starting_before_the_recording_loses_the_early_epochs_by_clock_time():
    hyp = Hypnogram(np.arange(10) % 5, 30.0, start=START - dt.timedelta(minutes=2))
    with pytest.warns(HypnogramAlignmentWarning, match="by their start times"):
        fitted = fit_to_recording(hyp, _recording(60))
    assert fitted.n_epochs == 6
    assert fitted.epoch_start == START
    assert np.array_equal(fitted.stages, hyp.stages[4:])


def test_hypnogram_of_another_night_is_refused_naming_the_file_and_both_spans():
    hyp = _six_hours(start=START + dt.timedelta(days=1), source="/data/night2.csv")
    with pytest.raises(HypnogramError, match=r"night2\.csv: does not belong to this recording.*"
                                             r"360\.0 min.*25\.0 min"):
        fit_to_recording(hyp, _recording(25))


@pytest.fixture
def short_recording_with_long_pair(tmp_path):
    n = 25 * 60
    rec_path = write_edf(tmp_path / "night.edf",
                         [Sig("C3-M2", 1, np.zeros(n, dtype=int)), Sig("E1-M2", 1, np.zeros(n, dtype=int))])
    hyp_path = write_hypnogram(_six_hours(start=None), tmp_path / "night.hypnogram.csv")
    return rec_path, hyp_path


def test_report_never_gives_statistics_over_time_the_recording_does_not_have(
        short_recording_with_long_pair):
    rec_path, hyp_path = short_recording_with_long_pair
    with open_recording(rec_path) as rec, pytest.warns(HypnogramAlignmentWarning):
        manual, _ = find_manual_hypnogram(rec_path)
        model = build_report(rec, manual=manual)
    stats = model.statistics["manual"]
    assert stats["TIB"] == pytest.approx(25.0)
    assert stats["TST"] <= 25.0
    assert any("360.0 min" in w and "25.0 min" in w for w in model.warnings)


def test_discovery_given_the_recording_fits_the_pair_the_same_way(short_recording_with_long_pair):
    rec_path, hyp_path = short_recording_with_long_pair
    with open_recording(rec_path) as rec, pytest.warns(HypnogramAlignmentWarning):
        hyp, found = find_manual_hypnogram(rec_path, fit_to=rec)
    assert found == hyp_path
    assert hyp.n_epochs == 50


def test_an_annotation_only_file_bounds_nothing():
    hyp = _six_hours()
    assert fit_to_recording(hyp, SimpleNamespace(start=START, duration=0.0, channels=[])) is hyp
