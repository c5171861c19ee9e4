"""The SleepFM inputs of a recording in one pass: each channel read once for its quality check
and its preprocessing, on threads, with exactly the numbers of channel-by-channel preprocessing."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edf_factory import Sig, write_edf
from sleepfm_engine.inference import prepare_modalities
from sleepfm_engine.preprocessing import parallel_as_done, preprocess
from sleepfm_engine.quality import QualityWarning
from sleepfm_engine.recording import Recording, open_recording

RATE = 256
SECONDS = 120


def trace(seed: int, seconds: int = SECONDS, rate: int = RATE, std: float = 15.0) -> np.ndarray:
    """Digital codes of a brown-noise trace without drift (an EEG-like signal)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 1, seconds * rate))
    walk -= np.convolve(walk, np.ones(rate) / rate, mode="same")
    return np.clip(np.round(walk / walk.std() * std / 0.1), -32768, 32767).astype(np.int64)


def night(tmp_path, flat_first_eeg: bool = False):
    n = SECONDS * RATE
    first = np.full(n, 30, dtype=np.int64) if flat_first_eeg else trace(0)
    sigs = [Sig("C3-M2", RATE, first), Sig("C4-M1", RATE, trace(1)), Sig("O1-M2", RATE, trace(2)),
            Sig("ECG", 2 * RATE, trace(3, rate=2 * RATE)), Sig("Airflow", 32, trace(4, rate=32)),
            Sig("Chin1-Chin2", RATE, trace(5, std=5.0))]
    return write_edf(tmp_path / "night.edf", sigs)


def test_prepared_inputs_equal_channel_by_channel_preprocessing_bit_for_bit(tmp_path):
    path = night(tmp_path)
    with open_recording(path) as rec:
        inputs = prepare_modalities(rec, workers=3)
        reference = preprocess(rec, workers=1)
    assert [m for m in inputs] == ["BAS", "RESP", "EKG", "EMG"]
    for m, inp in inputs.items():
        assert inp.data.dtype == np.float32
        for row, label in zip(inp.data, inp.channels):
            assert np.array_equal(row, reference[label][:inp.n_samples]), label


def test_each_channel_is_read_once_for_its_quality_check_and_its_preprocessing(tmp_path, monkeypatch):
    path = night(tmp_path)
    reads = Counter()
    real = Recording.read_channel

    def counted(self, channel, *args, **kwargs):
        reads[self.channel(channel).label] += 1
        return real(self, channel, *args, **kwargs)

    monkeypatch.setattr(Recording, "read_channel", counted)
    with open_recording(path) as rec:
        prepare_modalities(rec, workers=2)
    assert reads == Counter({"C3-M2": 1, "C4-M1": 1, "O1-M2": 1, "ECG": 1, "Airflow": 1, "Chin1-Chin2": 1})


def test_a_flat_channel_within_the_cap_brings_in_the_next_usable_one_with_its_exact_numbers(tmp_path):
    path = night(tmp_path, flat_first_eeg=True)
    with open_recording(path) as rec:
        with pytest.warns(QualityWarning, match="C3-M2 left out of BAS"):
            inputs = prepare_modalities(rec, max_channels={"BAS": 1}, workers=2)
        reference = preprocess(rec, ["C4-M1"], workers=1)["C4-M1"]
    assert inputs["BAS"].channels == ["C4-M1"]
    assert np.array_equal(inputs["BAS"].data[0], reference[:inputs["BAS"].n_samples])


class _Item:
    def __init__(self, label: str, n_samples: int):
        self.label, self.n_samples = label, n_samples


def test_parallel_as_done_starts_the_longest_channels_first_and_returns_every_result():
    items = [_Item(f"c{i}", n) for i, n in enumerate([10, 40, 20, 30])]
    started = []

    def work(item):
        started.append(item.label)
        return item.label

    assert sorted(parallel_as_done(work, items, 1, None)) == ["c0", "c1", "c2", "c3"]
    assert started == ["c1", "c3", "c2", "c0"]
