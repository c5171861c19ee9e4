"""Preprocessing gives one answer for one signal: a flat channel is zeros whatever its rate;
a channel asked for by a name the recording lacks is a RecordingError listing its channels."""
from __future__ import annotations

import numpy as np
import pytest

from sleepfm_engine.errors import RecordingError
from sleepfm_engine.preprocessing import preprocess, preprocess_signal
from sleepfm_engine.recording import open_recording

from edf_factory import Sig, write_edf


@pytest.mark.parametrize("rate", [1.0, 100.0, 128.0, 200.0, 256.0, 500.0])
@pytest.mark.parametrize("level", [0.0, 3.7e-5, -80.0, 95.0])
def test_a_flat_channel_is_zeros_at_every_rate(rate, level):
    out = preprocess_signal(np.full(int(rate * 60), level), rate)
    assert out.size == 60 * 128
    assert not np.any(out)


def test_a_quiet_but_real_signal_is_still_scaled_to_unit_variance():
    x = np.random.default_rng(0).standard_normal(256 * 60) * 1e-7 + 2e-3
    assert preprocess_signal(x, 256.0).astype(np.float64).std() == pytest.approx(1.0, rel=1e-3)


def test_asking_for_a_missing_channel_is_a_recording_error_listing_the_channels(tmp_path):
    path = write_edf(tmp_path / "a.edf", [Sig("C3-M2", 64, np.zeros(640, dtype=int))])
    with pytest.raises(RecordingError, match=r"no channel 'Fpz'; its channels are C3-M2"):
        preprocess(open_recording(path), ["Fpz"])


@pytest.mark.parametrize("label", ["Trigger", "Status", "Marker"])
def test_a_trigger_or_status_signal_is_not_called_an_annotation_channel(label):
    from sleepfm_engine.channels import classify_channel

    modality, reason = classify_channel(label, rate=256.0, unit="")
    assert modality == "other"
    assert "annotation channel" not in reason and "trigger, marker or status" in reason


@pytest.mark.parametrize("label", ["C3", "A1", "C4-M1", "ECG"])
@pytest.mark.parametrize("rate", [1.0, 2.0])
def test_a_one_or_two_hertz_channel_is_no_eeg_or_ecg_whatever_its_name(label, rate):
    from sleepfm_engine.channels import classify_channel

    modality, reason = classify_channel(label, rate=rate, unit="uV")
    assert modality == "other" and "too slow" in reason


@pytest.mark.parametrize("label", ["C7", "C16", "A5", "A16", "O9", "Fp3"])
def test_numbers_no_head_has_are_not_ten_twenty_electrodes(label):
    from sleepfm_engine.channels import classify_channel

    modality, reason = classify_channel(label, rate=256.0, unit="uV")
    assert modality == "other" and "10-20" not in reason


@pytest.mark.parametrize("label", ["C5", "T8", "FT10", "P10", "Fpz", "O2", "A2", "M1", "F8-T8"])
def test_real_ten_ten_sites_stay_eeg(label):
    from sleepfm_engine.channels import classify_channel

    assert classify_channel(label, rate=256.0, unit="uV")[0] == "BAS"
