"""No data, no statistics: epochs in a gap of the recording are not recording time. They are
left out of TRT, SE, TST, SOL, SPT and every stage, counted apart from scorer-unscored epochs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.sleep_stats import (STATISTICS_DEFINITIONS, STATISTICS_LABELS, no_data_epochs,
                                        sleep_statistics)

from edf_factory import Sig, tal_record, write_edf


def test_no_data_epochs_leave_trt_and_sleep_efficiency():
    #        0 1  2  3  4  5  6  7 8
    night = "W W N2 N2 N2 N2 N2 R W".split()
    gap = np.zeros(9, dtype=bool)
    gap[4:6] = True   # the scorer labelled the gap N2: that label is not counted
    s = sleep_statistics(Hypnogram(night).stages, 30, no_data=gap)
    assert s["TRT"] == s["TIB"] == pytest.approx(3.5) and s["n_epochs"] == 7
    assert s["TST"] == pytest.approx(2.0) and s["N2_min"] == pytest.approx(1.5)
    assert s["SE"] == pytest.approx(100 * 2.0 / 3.5)
    assert s["SPT"] == pytest.approx(2.0)            # epochs 2..7 less the two without data
    assert s["no_data_min"] == pytest.approx(1.0) and s["unscored_min"] == 0
    assert s["N2_pct"] == pytest.approx(75.0)


def test_no_data_is_counted_apart_from_unscored_epochs():
    night = "W ? N2 N2 ? N2 R".split()
    gap = np.array([False, False, False, False, True, False, False])
    s = sleep_statistics(Hypnogram(night).stages, 30, no_data=gap)
    assert s["unscored_min"] == pytest.approx(0.5)   # epoch 1: the scorer gave no stage
    assert s["no_data_min"] == pytest.approx(0.5)    # epoch 4: the recording has no data
    assert s["TRT"] == pytest.approx(3.0)
    assert s["SOL"] == pytest.approx(1.0)


def test_rem_latency_and_sleep_onset_skip_time_without_data():
    night = "W W W N2 N2 N2 R".split()
    gap = np.array([False, True, False, False, True, False, False])
    s = sleep_statistics(Hypnogram(night).stages, 30, no_data=gap)
    assert s["SOL"] == pytest.approx(1.0)            # epochs 0 and 2 of wake with data
    assert s["REM_latency"] == pytest.approx(1.0)    # epochs 3 and 5
    assert s["sleep_onset_epoch"] == 3               # indices stay on the hypnogram's epochs


def test_no_data_flags_of_another_length_are_refused():
    with pytest.raises(ValueError, match="one flag per epoch"):
        sleep_statistics([0, 1, 2], 30, no_data=[False, True])


def test_definitions_say_no_data_epochs_are_left_out():
    assert "no data" in STATISTICS_DEFINITIONS["TRT"].definition
    assert "no-data" in STATISTICS_DEFINITIONS["SE"].definition
    assert "unscored_min" in STATISTICS_DEFINITIONS["no_data_min"].definition
    assert STATISTICS_LABELS["no_data_min"] == "No data"


def test_no_data_epochs_follow_the_recording_gaps_and_the_hypnogram_offset():
    assert no_data_epochs([(60.0, 120.0)], 30, 6).tolist() == [False, False, True, True, False, False]
    # epoch 0 starts 15 s into the recording: the gap 60-120 s touches epochs 1, 2 and 3
    assert no_data_epochs([(60.0, 120.0)], 30, 5, offset=15.0).tolist() == [False, True, True, True, False]


def test_report_statistics_of_a_recording_with_a_gap_leave_the_gap_out(tmp_path):
    from sleepfm_engine.recording import open_recording
    from sleepfm_engine.report.model import build_report

    onsets = list(range(0, 300)) + list(range(420, 600))   # 2 min gap at 300-420 s
    rng = np.random.default_rng(0)
    path = write_edf(tmp_path / "gap.edf", [Sig("C3-M2", 128, rng.integers(-3000, 3000, 128 * len(onsets)))],
                     reserved="EDF+D", annotation_records=[tal_record(s) for s in onsets])
    hyp = Hypnogram(["N2"] * 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_report(open_recording(path), manual=hyp)
    s = model.statistics["manual"]
    assert s["no_data_min"] == pytest.approx(2.0)
    assert s["TRT"] == pytest.approx(8.0) and s["TST"] == pytest.approx(8.0)
    assert s["SE"] == pytest.approx(100.0)


def test_the_scoring_session_leaves_the_recording_gaps_out_as_the_report_does(tmp_path):
    from sleepfm_engine.recording import open_recording
    from sleepfm_engine.report.model import build_report
    from sleepfm_engine.scoring import ScoringSession

    onsets = list(range(0, 300)) + list(range(420, 600))
    rng = np.random.default_rng(0)
    path = write_edf(tmp_path / "gap.edf", [Sig("C3-M2", 128, rng.integers(-3000, 3000, 128 * len(onsets)))],
                     reserved="EDF+D", annotation_records=[tal_record(s) for s in onsets])
    hyp = Hypnogram(["N2"] * 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = open_recording(path)
        session = ScoringSession.for_recording(rec, manual=hyp, autosave=False, load_saved=False)
        report = build_report(rec, manual=hyp)
    s = session.statistics()["manual"]
    assert s["no_data_min"] == pytest.approx(2.0) and s["TRT"] == pytest.approx(8.0)
    assert {k: s[k] for k in ("TRT", "TST", "SE", "no_data_min")} == {
        k: report.statistics["manual"][k] for k in ("TRT", "TST", "SE", "no_data_min")}
