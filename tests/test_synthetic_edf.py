"""Synthetic nights written as EDF+: readable by MNE, annotated, reproducible byte for byte."""
from __future__ import annotations

import datetime as dt
import hashlib

import mne
import numpy as np
import pytest
from edfio import read_edf

from sleepfm_engine.synthetic import MONTAGES, make_night, write_night
from sleepfm_engine.synthetic.edf import hypnogram_sidecar

FULL = ["F4-M1", "C4-M1", "O2-M1", "F3-M2", "C3-M2", "O1-M2", "E1-M2", "E2-M2", "Chin1-Chin2",
        "LLeg", "RLeg", "ECG", "Airflow", "Thor", "Abdo", "Snore", "SpO2", "Position"]
RATES = {"ECG": 512, "Airflow": 32, "Thor": 32, "Abdo": 32, "SpO2": 1, "Position": 1}
STAGE_TEXT = {"Sleep stage W", "Sleep stage N1", "Sleep stage N2", "Sleep stage N3",
              "Sleep stage R"}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    night = make_night(0.5, seed=3, apnea=True)
    path = write_night(night, tmp_path_factory.mktemp("edf") / "night.edf")
    return night, path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_montage_labels_rates_and_units(written):
    night, path = written
    assert night.labels == FULL
    edf = read_edf(path)
    assert [s.label for s in edf.signals] == FULL
    for s in edf.signals:
        assert s.sampling_frequency == RATES.get(s.label, 256), s.label
    units = {s.label: s.physical_dimension for s in edf.signals}
    assert units["C4-M1"] == "uV" and units["ECG"] == "mV" and units["SpO2"] == "%"
    assert edf.signals[FULL.index("C4-M1")].prefiltering.startswith("HP:0.3Hz LP:35Hz")
    assert edf.signals[FULL.index("Chin1-Chin2")].prefiltering.startswith("HP:10Hz")


def test_mne_reads_the_file_with_the_same_values(written):
    night, path = written
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.ch_names == FULL
    assert raw.n_times / raw.info["sfreq"] == pytest.approx(night.duration)
    # ECG is at the highest rate, so MNE returns its samples unchanged (in volts)
    ecg = raw.get_data(picks=["ECG"])[0]
    np.testing.assert_allclose(ecg * 1e3, night.signal("ECG").data, atol=1e-4)
    c4 = raw.get_data(picks=["C4-M1"])[0] * 1e6
    assert np.std(c4) == pytest.approx(np.std(night.signal("C4-M1").data), rel=0.02)


def test_header_carries_start_patient_and_recording(written):
    night, path = written
    edf = read_edf(path)
    start = dt.datetime.combine(edf.startdate, edf.starttime)
    assert start == night.start
    assert edf.patient.code == night.patient["code"]
    assert edf.patient.sex == night.patient["sex"]
    assert edf.patient.birthdate == night.patient["birthdate"]
    assert edf.recording.hospital_administration_code == night.recording["admin_code"]
    assert make_night(0.1, seed=3).start == night.start  # fixed per seed
    assert make_night(0.1, seed=4).start != night.start


def test_one_stage_annotation_per_epoch_and_events(written):
    night, path = written
    raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
    ann = raw.annotations
    stage = [(o, d, t) for o, d, t in zip(ann.onset, ann.duration, ann.description)
             if t.startswith("Sleep stage")]
    assert len(stage) == night.stages.size
    assert {t for _, _, t in stage} <= STAGE_TEXT
    onsets = np.array([o for o, _, _ in stage])
    np.testing.assert_allclose(onsets, np.arange(night.stages.size) * 30.0)
    assert all(d == 30.0 for _, d, _ in stage)
    names = [t.split()[-1] for _, _, t in stage]
    assert names == night.stage_names
    others = [t for t in ann.description if not t.startswith("Sleep stage")]
    assert len(others) == len(night.events) > 0
    assert {"Arousal (respiratory)", "SpO2 desaturation"} <= set(others)
    assert any("apnea" in t or t == "Hypopnea" for t in others)


def test_sidecar_csv_matches_stages(written):
    night, path = written
    csv = hypnogram_sidecar(path)
    assert csv.name == "night.hypnogram.csv"
    lines = csv.read_text().splitlines()
    assert lines[0] == "onset,duration,stage"
    rows = [ln.split(",") for ln in lines[1:]]
    assert len(rows) == night.stages.size
    assert [float(r[0]) for r in rows] == [30.0 * i for i in range(night.stages.size)]
    assert all(float(r[1]) == 30.0 for r in rows)
    assert [r[2] for r in rows] == night.stage_names


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    a = write_night(make_night(0.2, seed=5), tmp_path / "a.edf")
    b = write_night(make_night(0.2, seed=5), tmp_path / "b.edf")
    c = write_night(make_night(0.2, seed=6), tmp_path / "c.edf")
    assert digest(a) == digest(b)
    assert hypnogram_sidecar(a).read_bytes() == hypnogram_sidecar(b).read_bytes()
    assert digest(a) != digest(c)


def test_write_is_atomic_and_replaces_an_old_file(tmp_path):
    target = tmp_path / "n.edf"
    target.write_bytes(b"old")
    write_night(make_night(0.1, seed=1, montage="eeg-only"), target)
    assert target.read_bytes()[:8] == b"0       "
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.edf", "n.hypnogram.csv"]


@pytest.mark.parametrize("montage, labels", [
    ("eeg-only", ["F4-M1", "C4-M1", "O2-M1", "F3-M2", "C3-M2", "O1-M2"]),
    ("minimal", ["C4-M1", "E1-M2", "Chin1-Chin2", "ECG", "Airflow", "SpO2"]),
    ("no-resp", [lb for lb in FULL if lb not in ("Airflow", "Thor", "Abdo", "Snore", "SpO2")]),
])
def test_montages(tmp_path, montage, labels):
    night = make_night(0.1, seed=2, montage=montage)
    assert night.labels == labels == list(MONTAGES[montage])
    raw = mne.io.read_raw_edf(write_night(night, tmp_path / "m.edf"), verbose="error")
    assert raw.ch_names == labels


def test_channels_do_not_depend_on_the_montage():
    full = make_night(0.1, seed=8)
    small = make_night(0.1, seed=8, montage="minimal")
    for lb in small.labels:
        np.testing.assert_array_equal(full.signal(lb).data, small.signal(lb).data)


def test_signals_are_float32_and_inside_their_physical_range(written):
    night, _ = written
    for s in night.signals:
        assert s.data.dtype == np.float32
        assert s.data.size == int(night.duration * s.rate)
        lo, hi = s.physical_range
        assert lo <= s.data.min() and s.data.max() <= hi
        assert np.all(np.isfinite(s.data))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="montage"):
        make_night(0.1, montage="everything")
    with pytest.raises(ValueError, match="label"):
        make_night(0.1, montage=["C4-M1", "Cz-Oz"])
    with pytest.raises(ValueError, match="hours"):
        make_night(0.0)
    with pytest.raises(ValueError, match="stage codes"):
        make_night(stages=[0, 1, 7])
