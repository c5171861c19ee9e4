"""The ecosystem's types: Hypnogram <-> MNE annotations / yasa.Hypnogram, Recording -> mne Raw."""
import datetime as dt
import sys

import mne
import numpy as np
import pytest
import yasa
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED, Hypnogram, parse_stage

START = dt.datetime(2024, 3, 1, 22, 15, 30)


def _hypnogram(**kw):
    stages = [0, 0, 1, 2, 2, 3, 4, UNSCORED, ARTEFACT, 2, 0]
    return Hypnogram(stages, 30.0, START, 0.0, "RPSGT", **kw)


def test_to_yasa_gives_a_yasa_hypnogram_with_unscored_and_artefact_in_yasas_codes():
    hyp = _hypnogram().to_yasa()
    assert isinstance(hyp, yasa.Hypnogram)
    assert list(hyp.hypno) == ["WAKE", "WAKE", "N1", "N2", "N2", "N3", "REM", "UNS", "ART",
                               "N2", "WAKE"]
    # YASA's integers: -2 unscored, -1 artefact (ours are -1 and -2).
    assert list(hyp.as_int()) == [0, 0, 1, 2, 2, 3, 4, -2, -1, 2, 0]
    assert hyp.start == START and hyp.scorer == "RPSGT"
    assert hyp.sampling_frequency == pytest.approx(1 / 30)


def test_yasa_round_trip_is_equal_with_probabilities():
    rng = np.random.default_rng(0)
    p = rng.random((11, 5))
    ours = _hypnogram(probabilities=p / p.sum(axis=1, keepdims=True))
    back = Hypnogram.from_yasa(ours.to_yasa())
    assert back == ours
    assert back.probabilities is not None


def test_from_yasa_reads_a_hypnogram_made_by_yasa_from_its_integers():
    made = yasa.Hypnogram.from_integers(np.array([0, 1, 2, -2, -1, 4]), freq="20s",
                                        start="2023-01-02 23:00:00")
    ours = Hypnogram.from_yasa(made)
    assert list(ours.stages) == [0, 1, 2, UNSCORED, ARTEFACT, 4]
    assert ours.epoch_length == 20.0 and ours.start == dt.datetime(2023, 1, 2, 23)


def test_to_yasa_starts_at_epoch_zero_when_the_hypnogram_has_an_offset():
    ours = Hypnogram([0, 2, 4], 30.0, START, 90.0)
    hyp = ours.to_yasa()
    assert hyp.start == START + dt.timedelta(seconds=90)
    assert Hypnogram.from_yasa(hyp).epoch_start == ours.epoch_start


def test_to_yasa_with_epochs_without_probabilities_warns_and_leaves_them_out():
    p = np.full((11, 5), 0.2)
    p[3] = np.nan
    with pytest.warns(UserWarning, match="left out"):
        hyp = _hypnogram(probabilities=p).to_yasa()
    assert hyp.proba is None


def test_from_yasa_refuses_a_two_stage_hypnogram():
    with pytest.raises(ValueError, match="SLEEP"):
        Hypnogram.from_yasa(yasa.Hypnogram(["WAKE", "SLEEP", "SLEEP"], n_stages=2))


def test_mne_annotations_round_trip_through_parse_stage_is_equal():
    ours = _hypnogram()
    ann = ours.to_mne_annotations()
    assert isinstance(ann, mne.Annotations)
    assert ann.orig_time == START.replace(tzinfo=dt.timezone.utc)
    assert np.allclose(ann.onset, ours.onsets) and np.allclose(ann.duration, 30.0)
    back = Hypnogram.from_events(ann.onset, ann.duration, [parse_stage(d) for d in ann.description],
                                 epoch_length=30.0, start=ann.orig_time.replace(tzinfo=None),
                                 scorer="RPSGT")
    assert back == ours


def test_mne_annotations_set_on_a_raw_with_the_same_start_land_on_its_epochs():
    ours = Hypnogram([0, 1, 2], 30.0, START, 60.0)
    info = mne.create_info(["C3"], 10.0, "eeg")
    raw = mne.io.RawArray(np.zeros((1, 1500)), info, verbose="error")
    raw.set_meas_date(START.replace(tzinfo=dt.timezone.utc))
    raw.set_annotations(ours.to_mne_annotations())
    assert list(raw.annotations.onset) == [60.0, 90.0, 120.0]
    assert list(raw.annotations.description) == ["Sleep stage W", "Sleep stage N1",
                                                 "Sleep stage N2"]


@pytest.mark.parametrize("module, call", [
    ("mne", lambda: _hypnogram().to_mne_annotations()),
    ("yasa", lambda: _hypnogram().to_yasa()),
])
def test_missing_optional_package_names_the_extra(monkeypatch, module, call):
    # A None entry in sys.modules makes importing that package raise ImportError.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"sleepfm-studio\[interop\]"):
        call()


# ---------------------------------------------------------------------------- Recording.to_mne
def _edf(tmp_path, signals, n_rec=6, annotations=((1.5, 3, "Sleep stage W"), (4.0, 0, "Arousal"))):
    from tests.edf_factory import tal_record, write_edf

    records = [tal_record(r, [a for a in annotations if r <= a[0] < r + 1]) for r in range(n_rec)]
    return write_edf(tmp_path / "night.edf", signals, reserved="EDF+C", annotation_records=records)


def _signals(rate=64, n_rec=6):
    from tests.edf_factory import Sig

    rng = np.random.default_rng(1)
    n = rate * n_rec
    return [Sig("EEG C3-M2", rate, rng.integers(-3000, 3000, n)),
            Sig("EOG E1-M2", rate, rng.integers(-3000, 3000, n)),
            Sig("Chin EMG", rate, rng.integers(-3000, 3000, n)),
            Sig("ECG", rate, rng.integers(-30000, 30000, n), unit="mV", pmin=-5, pmax=5),
            Sig("Thorax", rate, rng.integers(-3000, 3000, n)),
            Sig("SpO2", rate, rng.integers(900, 1000, n), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]


def test_to_mne_matches_mnes_own_edf_reader(tmp_path):
    from sleepfm_engine.recording import open_recording

    path = _edf(tmp_path, _signals())
    ours = open_recording(path).to_mne()
    theirs = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert isinstance(ours, mne.io.BaseRaw)
    assert ours.ch_names == theirs.ch_names
    assert ours.info["sfreq"] == theirs.info["sfreq"] == 64.0
    assert ours.info["meas_date"] == theirs.info["meas_date"] == dt.datetime(
        2003, 11, 17, 22, 15, tzinfo=dt.timezone.utc)
    np.testing.assert_allclose(ours.get_data(), theirs.get_data(), rtol=1e-9, atol=1e-12)
    assert list(ours.annotations.description) == list(theirs.annotations.description)
    np.testing.assert_allclose(ours.annotations.onset, theirs.annotations.onset)
    np.testing.assert_allclose(ours.annotations.duration, theirs.annotations.duration)
    assert ours.annotations.orig_time == theirs.annotations.orig_time


def test_to_mne_takes_channel_types_from_the_channel_map(tmp_path):
    from sleepfm_engine.channels import ChannelMap
    from sleepfm_engine.recording import open_recording

    rec = open_recording(_edf(tmp_path, _signals()))
    raw = rec.to_mne()
    assert raw.get_channel_types() == ["eeg", "eog", "emg", "ecg", "resp", "resp"]
    # A user override moves the channel, and a voltage type never holds a non-volt channel.
    cmap = ChannelMap.from_recording(rec, overrides={"Thorax": "other", "SpO2": "EKG"})
    assert rec.to_mne(channel_map=cmap).get_channel_types()[4:] == ["misc", "misc"]


def test_to_mne_hypnogram_annotations_land_on_the_raw(tmp_path):
    from sleepfm_engine.recording import open_recording

    rec = open_recording(_edf(tmp_path, _signals(n_rec=90), n_rec=90, annotations=()))
    raw = rec.to_mne()
    raw.set_annotations(Hypnogram([0, 2, 4], 30.0, rec.start).to_mne_annotations())
    assert list(raw.annotations.onset) == [0.0, 30.0, 60.0]


def test_to_mne_refuses_channels_of_different_rates_and_names_them(tmp_path):
    from tests.edf_factory import Sig
    from sleepfm_engine.recording import open_recording

    sigs = [Sig("C3", 64, np.zeros(64 * 6, int)), Sig("Thorax", 16, np.zeros(16 * 6, int))]
    rec = open_recording(_edf(tmp_path, sigs))
    with pytest.raises(ValueError, match=r"64 Hz: C3; 16 Hz: Thorax|16 Hz: Thorax; 64 Hz: C3"):
        rec.to_mne()
    assert rec.to_mne(channels=["Thorax"]).info["sfreq"] == 16.0


def test_to_mne_without_mne_names_the_extra(tmp_path, monkeypatch):
    from sleepfm_engine.recording import open_recording

    rec = open_recording(_edf(tmp_path, _signals()))
    monkeypatch.setitem(sys.modules, "mne", None)
    with pytest.raises(ImportError, match=r"sleepfm-studio\[interop\]"):
        rec.to_mne()


def test_to_mne_marks_the_gaps_of_a_discontinuous_file_as_bad_acq_skip(tmp_path):
    from tests.edf_factory import Sig, tal_record, write_edf
    from sleepfm_engine.recording import open_recording

    sig = Sig("C3", 8, np.arange(32) + 1)
    anns = [tal_record(o) for o in (0, 1, 5, 6)]   # no data from 2 s to 5 s
    rec = open_recording(write_edf(tmp_path / "d.edf", [sig], reserved="EDF+D",
                                   annotation_records=anns, n_records=4))
    raw = rec.to_mne()
    assert list(raw.annotations.description) == ["BAD_ACQ_SKIP"]
    assert raw.annotations.onset[0] == 2.0 and raw.annotations.duration[0] == 3.0
    data = raw.get_data()[0]
    assert np.isnan(data[16:40]).all() and np.isfinite(data[:16]).all()
    # MNE's own methods skip the span: no NaN reaches what they return.
    assert np.isfinite(raw.get_data(reject_by_annotation="omit")).all()


@settings(max_examples=40, deadline=None)
@given(stages=st.lists(st.sampled_from([0, 1, 2, 3, 4, UNSCORED, ARTEFACT]), min_size=1,
                       max_size=60),
       epoch_length=st.sampled_from([1.0, 5.0, 20.0, 30.0, 2.5]))
def test_any_hypnogram_round_trips_through_yasa_and_mne_annotations(stages, epoch_length):
    ours = Hypnogram(stages, epoch_length, START, 0.0, "x")
    assert Hypnogram.from_yasa(ours.to_yasa()) == ours
    ann = ours.to_mne_annotations()
    back = Hypnogram.from_events(ann.onset, ann.duration, [parse_stage(d) for d in ann.description],
                                 epoch_length=epoch_length, start=START, scorer="x")
    assert back == ours


def test_sleep_statistics_as_a_dataframe_keep_every_value_with_its_unit():
    from sleepfm_engine.sleep_stats import STATISTICS_DEFINITIONS, statistics_dataframe

    hyp = Hypnogram(np.array([0, 0, 1, 2, 2, 3, 3, 2, 4, 4, 0]))
    stats = hyp.statistics()
    df = statistics_dataframe(stats)
    assert list(df.columns) == ["key", "value", "unit", "definition"]
    shown = [k for k in STATISTICS_DEFINITIONS if k in stats]
    assert list(df["key"]) == shown and len(shown) > 10
    for row in df.itertuples():
        assert row.value == stats[row.key] or (row.value != row.value and stats[row.key] != stats[row.key])
        assert row.unit == STATISTICS_DEFINITIONS[row.key].unit
