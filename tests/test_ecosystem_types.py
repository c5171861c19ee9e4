"""The ecosystem's types: Hypnogram <-> MNE annotations / yasa.Hypnogram, Recording -> mne Raw."""
import datetime as dt
import sys

import mne
import numpy as np
import pytest
import yasa

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
