"""Whole-night trends (sleepfm_engine.trends): binning, no-data handling, density, the job."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf_factory import Sig, write_edf
from sleepfm_engine.errors import JobCancelled
from sleepfm_engine.events import Event, EventSet, EventType
from sleepfm_engine.position import POSITION_CODES, UNKNOWN_POSITION, BodyPosition
from sleepfm_engine.recording import open_recording
from sleepfm_engine.trends import (bin_level, bin_position, compute_trends, event_density,
                                   trends_job)

N = 180  # seconds: six 30-s bins


def _spo2_digital(values: np.ndarray) -> np.ndarray:
    # Physical 0..100 % over digital 0..1000: 0.1 % resolution.
    return np.round(np.asarray(values) * 10).astype(np.int64)


def _night(tmp_path, *, spo2: bool = True, position: bool = True):
    spo2_values = np.full(N, 96.0)
    spo2_values[30:60] = 96.0
    spo2_values[45] = 85.0                 # a nadir inside bin 1
    spo2_values[60:90] = 0.0               # probe off in bin 2: artefact, no data
    pos = np.full(N, 2)                    # nsrr code 2 = supine
    pos[90:] = 1                           # nsrr code 1 = left
    sigs = [Sig("C4-M1", 64, np.zeros(64 * N, dtype=np.int64))]
    if spo2:
        sigs.append(Sig("SpO2", 1, _spo2_digital(spo2_values), unit="%", pmin=0, pmax=100,
                        dmin=0, dmax=1000))
    if position:
        sigs.append(Sig("Position", 1, pos, unit="", pmin=0, pmax=10, dmin=0, dmax=10))
    return write_edf(tmp_path / "night.edf", sigs)


def test_compute_trends_bins_spo2_keeps_the_nadir_and_blanks_artefact(tmp_path):
    with open_recording(_night(tmp_path)) as rec:
        tr = compute_trends(rec)
    assert tr.spo2 is not None and tr.spo2.channel == "SpO2"
    assert tr.spo2.mean.shape == (6,)
    assert tr.spo2.low[1] == pytest.approx(85.0)
    assert tr.spo2.high[1] == pytest.approx(96.0)
    assert tr.spo2.mean[0] == pytest.approx(96.0)
    # A bin of 0 % (probe off) is no data, not a desaturation to 0.
    assert np.isnan(tr.spo2.mean[2]) and np.isnan(tr.spo2.low[2])
    np.testing.assert_allclose(tr.spo2.starts, [0, 30, 60, 90, 120, 150])


def test_compute_trends_decodes_body_position_with_the_code_table(tmp_path):
    with open_recording(_night(tmp_path)) as rec:
        tr = compute_trends(rec)
    assert tr.position is not None and tr.position.table == "nsrr"
    supine, left = POSITION_CODES["supine"], POSITION_CODES["left"]
    assert tr.position.codes.tolist() == [supine] * 3 + [left] * 3


def test_compute_trends_without_level_channels_has_no_trend_and_says_why(tmp_path):
    with open_recording(_night(tmp_path, spo2=False, position=False)) as rec:
        tr = compute_trends(rec)
    assert tr.spo2 is None and tr.heart_rate is None and tr.position is None
    assert tr.density is None
    assert any("SpO2" in n for n in tr.notes)
    assert any("heart-rate" in n for n in tr.notes)
    assert any("position" in n for n in tr.notes)


def test_event_density_counts_each_type_per_bin_by_onset():
    events = EventSet([Event(10, 15, EventType.apnea_obstructive),
                       Event(50, 15, EventType.apnea_obstructive),
                       Event(700, 12, EventType.hypopnea),
                       Event(100, 0, EventType.lights_off),   # not a sleep event
                       Event(5000, 10, EventType.hypopnea)])  # after the end: not counted
    d = event_density(events, duration=1800, bin_minutes=10)
    assert d.n_bins == 3
    assert set(d.counts) == {EventType.apnea_obstructive, EventType.hypopnea}
    assert d.counts[EventType.apnea_obstructive].tolist() == [2, 0, 0]
    assert d.counts[EventType.hypopnea].tolist() == [0, 1, 0]
    assert d.per_hour(EventType.apnea_obstructive)[0] == pytest.approx(12.0)


def test_compute_trends_counts_events_given(tmp_path):
    events = EventSet([Event(10, 20, EventType.desaturation)])
    with open_recording(_night(tmp_path)) as rec:
        tr = compute_trends(rec, events=events, density_minutes=1)
    assert tr.density.counts[EventType.desaturation].tolist() == [1, 0, 0]


def test_trends_job_reports_progress_and_closes_its_own_handle(tmp_path):
    with open_recording(_night(tmp_path)) as rec:
        job = trends_job(rec)
        seen = []
        job.add_progress_callback(seen.append)
        tr = job.run()
        assert tr.spo2 is not None
        assert seen[-1].fraction == 1.0
        # The caller's handle is still usable after the job closed its clone.
        assert rec.read_channel("SpO2", 0, 2).shape == (2,)


def test_trends_job_cancelled_raises_job_cancelled(tmp_path):
    with open_recording(_night(tmp_path)) as rec:
        job = trends_job(rec)
        job.cancel()
        with pytest.raises(JobCancelled):
            job.run()


def test_bin_width_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        bin_level(np.ones(10), 1.0, (0, 100), 10, bin_seconds=0)


def test_bin_position_without_known_samples_is_unknown():
    pos = BodyPosition(np.full(60, UNKNOWN_POSITION), 1.0)
    assert bin_position(pos, 60, 30).tolist() == [UNKNOWN_POSITION] * 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=200),
       st.sampled_from([1.0, 2.0, 4.0]), st.sampled_from([5.0, 30.0]))
def test_bin_level_bins_lie_within_valid_range_or_are_nan(values, rate, width):
    v = np.asarray(values, dtype=np.float64)
    duration = max(v.shape[0] / rate, 1.0)
    mean, low, high = bin_level(v, rate, (50.0, 100.0), duration, width)
    assert mean.shape == low.shape == high.shape == (int(np.ceil(duration / width - 1e-9)),)
    have = ~np.isnan(mean)
    assert np.all((low[have] >= 50) & (high[have] <= 100) & (low[have] <= mean[have] + 1e-6)
                  & (mean[have] <= high[have] + 1e-6))
    assert np.array_equal(have, ~np.isnan(low))
