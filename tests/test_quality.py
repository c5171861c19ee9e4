"""Signal quality checks on generated recordings: each check fires on the fault it names and
stays silent on a clean synthetic night; inference leaves flat channels out unless overridden."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf_factory import Sig, write_edf
from sleepfm_engine.channels import (ALL_MODALITIES, ChannelMap, ChannelMapError, read_overrides,
                                     read_quality_overrides)
from sleepfm_engine.errors import RecordingError
from sleepfm_engine.inference import prepare_modalities
from sleepfm_engine.quality import (CHANNEL_CHECKS, EPOCH_CHECKS, EXCLUDING_CHECKS, THRESHOLDS,
                                    QualityReport, QualityWarning, Severity, assess_channel,
                                    assess_recording)
from sleepfm_engine.recording import open_recording
from sleepfm_engine.sidecars import overrides_target

RATE = 256
SECONDS = 300           # ten 30-s epochs
UV_STEP = 0.1           # µV per digital step of edf_factory's default ±3276.8 µV range


def eeg_like(seed: int = 0, std: float = 15.0, seconds: int = SECONDS, rate: int = RATE) -> np.ndarray:
    """A brown-noise trace without drift, ``std`` in its unit (a stand-in for an EEG)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 1, seconds * rate))
    walk -= np.convolve(walk, np.ones(rate) / rate, mode="same")
    return walk / walk.std() * std


def digital(values: np.ndarray, step: float = UV_STEP) -> np.ndarray:
    return np.clip(np.round(values / step), -32768, 32767).astype(np.int64)


def one_channel(tmp_path, label: str, values: np.ndarray, *, rate: int = RATE, unit: str = "uV",
                pmin: float = -3276.8, pmax: float = 3276.7, name: str = "night.edf"):
    step = (pmax - pmin) / 65535
    # physical = pmin + (digital + 32768) * step, the EDF scaling of a full 16-bit range
    codes = np.clip(np.round((values - pmin) / step) - 32768, -32768, 32767).astype(np.int64)
    return write_edf(tmp_path / name, [Sig(label, rate, codes, unit=unit, pmin=pmin, pmax=pmax)])


def check(path, label: str, modality: str):
    with open_recording(path) as rec:
        return assess_channel(rec, label, modality)


def keys(quality) -> set[str]:
    return {f.check for f in quality.findings}


def test_clean_eeg_like_channel_has_no_findings_and_every_check_applied(tmp_path):
    path = one_channel(tmp_path, "C4-M1", eeg_like())
    q = check(path, "C4-M1", "BAS")
    assert q.findings == () and q.status == "ok" and q.usable
    assert set(q.checked) == set(CHANNEL_CHECKS)
    assert q.epochs.n_epochs == SECONDS // 30 and not q.epochs.mask().any()


def test_flat_constant_3uv_eeg_is_flagged_unusable_with_its_amplitude_and_expectation(tmp_path):
    path = one_channel(tmp_path, "C4-M1", np.full(SECONDS * RATE, 3.0))
    q = check(path, "C4-M1", "BAS")
    assert keys(q) == {"flat"} and not q.usable and q.status == "error"
    reason = q.findings[0].reason
    assert reason.startswith("flat or disconnected: peak-to-peak 0 µV over the whole night")
    assert "EEG/EOG typically 20–500 µV" in reason
    assert q.epochs.mask("flat").all()


def test_an_electrode_noise_floor_of_half_a_microvolt_is_flat_too(tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.1, SECONDS * RATE)
    q = check(one_channel(tmp_path, "C4-M1", noise), "C4-M1", "BAS")
    assert keys(q) == {"flat"}
    assert "over the whole night" in q.findings[0].reason


def test_a_channel_that_comes_off_for_a_few_epochs_keeps_its_place_with_epoch_flags(tmp_path):
    x = eeg_like()
    x[2 * 30 * RATE:4 * 30 * RATE] = 0.0                        # epochs 2 and 3 flat
    x[7 * 30 * RATE + 100:7 * 30 * RATE + 300] += 1800.0 * np.hanning(200)  # epoch 7: a pop
    q = check(one_channel(tmp_path, "C4-M1", x), "C4-M1", "BAS")
    assert q.usable and keys(q) == {"epoch_artefacts"}
    assert q.epochs.flags["flat"] == (2, 3) and q.epochs.flags["extreme"] == (7,)
    finding = q.findings[0]
    assert finding.severity is Severity.WARNING          # 3 of 10 epochs is a lot
    assert finding.reason == ("artefacts in 3 of 10 epochs (30.0 %): 2 flat, 1 extreme amplitude "
                              "(> 1000 µV peak-to-peak)")


def test_clipped_channel_is_flagged_with_the_rails_it_piles_at(tmp_path):
    x = eeg_like(std=60.0)
    q = check(one_channel(tmp_path, "C4-M1", x, pmin=-100.0, pmax=100.0), "C4-M1", "BAS")
    assert "clipped" in keys(q) and q.usable
    clipped = next(f for f in q.findings if f.check == "clipped")
    assert clipped.severity is Severity.WARNING and clipped.value > 0.05
    assert "at 100 µV (the file's physical maximum)" in clipped.reason
    assert "at -100 µV (the file's physical minimum)" in clipped.reason
    assert len(q.epochs.flags["clipped"]) >= 5


def test_mains_dominated_channel_is_flagged_at_50_hz(tmp_path):
    t = np.arange(SECONDS * RATE) / RATE
    x = eeg_like() + 200.0 * np.sin(2 * np.pi * 50.0 * t)
    q = check(one_channel(tmp_path, "C4-M1", x), "C4-M1", "BAS")
    mains = next(f for f in q.findings if f.check == "mains")
    assert "is at 50 Hz" in mains.reason and mains.value > THRESHOLDS.mains_fraction


def test_60_hz_mains_is_named_as_such(tmp_path):
    t = np.arange(SECONDS * RATE) / RATE
    x = eeg_like() + 200.0 * np.sin(2 * np.pi * 60.0 * t)
    q = check(one_channel(tmp_path, "C4-M1", x), "C4-M1", "BAS")
    assert "is at 60 Hz" in next(f for f in q.findings if f.check == "mains").reason


def test_white_noise_eeg_is_mostly_high_frequency_artefact(tmp_path):
    x = np.random.default_rng(2).normal(0, 15.0, SECONDS * RATE)
    q = check(one_channel(tmp_path, "C4-M1", x), "C4-M1", "BAS")
    hf = next(f for f in q.findings if f.check == "high_frequency")
    assert "above 35 Hz" in hf.reason and "EEG/EOG" in hf.reason


def test_eeg_stored_in_mv_but_labelled_uv_is_implausibly_small_and_named(tmp_path):
    # The numbers are millivolts (0.015 mV std) written under a microvolt label.
    x = eeg_like(std=0.015)
    q = check(one_channel(tmp_path, "C4-M1", x, pmin=-3.2768, pmax=3.2767), "C4-M1", "BAS")
    assert keys(q) == {"amplitude"} and q.usable          # a waveform at the wrong scale, not flat
    reason = q.findings[0].reason
    assert reason.startswith("amplitude implausibly small for EEG/EOG: median peak-to-peak 0.")
    assert "the numbers look like mV labelled µV" in reason


def test_eeg_in_uv_numbers_labelled_mv_is_implausibly_large_and_named(tmp_path):
    x = eeg_like(std=15.0)
    q = check(one_channel(tmp_path, "C4-M1", x, unit="mV"), "C4-M1", "BAS")
    assert keys(q) == {"amplitude"}
    assert "implausibly large" in q.findings[0].reason
    assert "the numbers look like µV labelled mV" in q.findings[0].reason


def test_respiratory_belt_labelled_uv_is_implausibly_small_for_a_belt(tmp_path):
    rate = 32
    t = np.arange(SECONDS * rate) / rate
    x = 0.4 * np.sin(2 * np.pi * 0.25 * t)          # a belt's millivolts under a µV label
    path = one_channel(tmp_path, "Thor", x, rate=rate, pmin=-5.0, pmax=5.0)
    q = check(path, "Thor", "RESP")
    assert q.profile == "effort" and keys(q) == {"amplitude"}
    assert "respiratory effort belt" in q.findings[0].reason
    assert "mV labelled µV" in q.findings[0].reason


def test_other_channels_are_not_checked(tmp_path):
    q = check(one_channel(tmp_path, "Position", np.zeros(SECONDS * RATE)), "Position", "other")
    assert q.status == "not checked" and q.findings == () and q.usable


def test_a_constant_spo2_all_night_is_flat_but_a_steady_one_is_not(tmp_path):
    steady = 96 + np.round(np.random.default_rng(3).normal(0, 0.6, SECONDS))
    sigs = [Sig("SpO2", 1, digital(steady, 0.01), unit="%", pmin=-327.68, pmax=327.67),
            Sig("SaO2", 1, digital(np.full(SECONDS, 97.0), 0.01), unit="%", pmin=-327.68,
                pmax=327.67)]
    path = write_edf(tmp_path / "ox.edf", sigs)
    with open_recording(path) as rec:
        report = assess_recording(rec)
    assert report.channel("SpO2").findings == ()
    assert keys(report.channel("SaO2")) == {"flat"}
    assert "peak-to-peak 0 %" in report.channel("SaO2").findings[0].reason


def test_clean_synthetic_night_has_no_findings(tmp_path):
    from sleepfm_engine.synthetic import make_night, write_night

    path = write_night(make_night(hours=0.5, seed=7, montage="full"), tmp_path / "demo.edf")
    with open_recording(path) as rec:
        report = assess_recording(rec)
    assert report.findings == [], [f.reason for f in report.findings]
    checked = {c.label: c.checked for c in report.channels}
    assert checked["C4-M1"] and checked["ECG"] and checked["Thor"] and checked["SpO2"]
    assert not checked["Position"]
    assert all(not c.epochs.mask().any() for c in report.channels)


def test_quality_report_reads_back_identically_through_json(tmp_path):
    x = eeg_like()
    x[:30 * RATE] = 0.0
    sigs = [Sig("C4-M1", RATE, digital(x)), Sig("O1-M2", RATE, np.full(SECONDS * RATE, 30)),
            Sig("Position", 1, np.zeros(SECONDS, dtype=np.int64), unit="")]
    path = write_edf(tmp_path / "n.edf", sigs)
    with open_recording(path) as rec:
        report = assess_recording(rec)
    saved = json.loads(json.dumps(report.to_dict()))
    assert QualityReport.from_dict(saved) == report
    assert saved["channels"][1]["findings"][0]["check"] == "flat"
    assert saved["thresholds"]["flat_night_fraction"] == THRESHOLDS.flat_night_fraction
    with pytest.raises(ValueError, match="not a sleepfm-quality report"):
        QualityReport.from_dict({**saved, "version": 99})


def test_registries_name_their_checks_and_only_flatness_excludes():
    assert all(key == c.key for key, c in CHANNEL_CHECKS.items())
    assert all(key == c.key for key, c in EPOCH_CHECKS.items())
    assert EXCLUDING_CHECKS == {"flat"}
    for c in CHANNEL_CHECKS.values():
        assert c.modalities <= set(ALL_MODALITIES) - {"other"}
        assert set(c.epoch_checks) <= set(EPOCH_CHECKS)


def test_unknown_check_key_is_refused(tmp_path):
    path = one_channel(tmp_path, "C4-M1", eeg_like())
    with open_recording(path) as rec, pytest.raises(ValueError, match="unknown quality check"):
        assess_recording(rec, checks=["flat", "smell"])


# --------------------------------------------------------------------------------------------
# Inference

def night_with_flat_channels(tmp_path):
    n = 60 * RATE
    sigs = [Sig("C3-M2", RATE, digital(eeg_like(0, seconds=60))),
            Sig("O1-M2", RATE, np.full(n, 30, dtype=np.int64)),           # flat 3 µV
            Sig("ECG", RATE, np.zeros(n, dtype=np.int64)),                # disconnected
            Sig("Chin1-Chin2", RATE, digital(eeg_like(1, std=5.0, seconds=60)))]
    return write_edf(tmp_path / "night.edf", sigs)


def test_inference_leaves_flat_channels_out_with_a_warning_and_drops_an_empty_modality(tmp_path):
    path = night_with_flat_channels(tmp_path)
    with pytest.warns(QualityWarning) as caught:
        inputs = prepare_modalities(path)
    assert inputs["BAS"].channels == ["C3-M2"]
    assert "EKG" not in inputs and inputs["EMG"].channels == ["Chin1-Chin2"]
    said = [str(w.message) for w in caught]
    assert any(m.startswith("night.edf: O1-M2 left out of BAS: flat or disconnected: peak-to-peak 0 µV")
               for m in said), said
    assert any("ECG left out of EKG" in m and "use despite quality" in m for m in said), said


def test_use_despite_quality_override_saved_beside_the_recording_keeps_the_channel(tmp_path):
    path = night_with_flat_channels(tmp_path)
    with open_recording(path) as rec:
        cmap = ChannelMap.from_recording(rec)
    cmap.use_despite_quality("O1-M2")
    cmap.save_overrides(overrides_target(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = prepare_modalities(path)
    assert inputs["BAS"].channels == ["C3-M2", "O1-M2"]
    said = [str(w.message) for w in caught if issubclass(w.category, QualityWarning)]
    assert len(said) == 1 and "ECG left out of EKG" in said[0]


def test_recording_whose_every_modality_channel_is_flat_is_refused_saying_so(tmp_path):
    sigs = [Sig("C3-M2", RATE, np.zeros(60 * RATE, dtype=np.int64))]
    path = write_edf(tmp_path / "flat.edf", sigs)
    with pytest.warns(QualityWarning), pytest.raises(RecordingError, match="no usable channel.*C3-M2"):
        prepare_modalities(path)


# --------------------------------------------------------------------------------------------
# The "use despite quality" override in the overrides file

def test_overrides_file_keeps_modality_and_quality_override_side_by_side(tmp_path):
    cmap = ChannelMap.from_labels(["C3-M2", "O1-M2", "ECG"])
    cmap.override("ECG", "other")
    cmap.override("O1-M2", "BAS")
    cmap.use_despite_quality("O1-M2")
    cmap.use_despite_quality("C3-M2")
    path = cmap.save_overrides(tmp_path / "o.json")
    assert json.loads(path.read_text()) == {
        "C3-M2": {"use_despite_quality": True},
        "O1-M2": {"modality": "BAS", "use_despite_quality": True},
        "ECG": "other"}
    assert read_overrides(path) == {"O1-M2": "BAS", "ECG": "other"}
    assert read_quality_overrides(path) == ["C3-M2", "O1-M2"]
    fresh = ChannelMap.from_labels(["C3-M2", "O1-M2", "ECG"], overrides=path)
    assert fresh.quality_overrides == ["C3-M2", "O1-M2"] and fresh.overrides == cmap.overrides
    fresh.use_despite_quality("C3-M2", False)
    assert fresh.quality_overrides == ["O1-M2"]
    fresh.clear_overrides()
    assert fresh.quality_overrides == [] and fresh.overrides == {}


@pytest.mark.parametrize("entry, problem", [
    ({"modality": "BAS", "despite": True}, "'despite'"),
    ({}, "found nothing"),
    ({"use_despite_quality": "yes"}, "must be true or false"),
    ({"modality": "HEART"}, "'HEART'"),
])
def test_bad_override_entry_object_names_the_file_and_the_entry(tmp_path, entry, problem):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"O1-M2": entry}))
    with pytest.raises(ChannelMapError) as info:
        read_quality_overrides(path)
    assert str(path) in str(info.value) and "'O1-M2'" in str(info.value) and problem in str(info.value)


LABELS = ["C3-M2", "O1-M2", "ECG", "Airflow", "SpO2", "Chin1-Chin2"]


@settings(max_examples=60, deadline=None)
@given(modalities=st.dictionaries(st.sampled_from(LABELS), st.sampled_from(ALL_MODALITIES)),
       despite=st.sets(st.sampled_from(LABELS)))
def test_any_saved_overrides_file_reads_back_identically(tmp_path_factory, modalities, despite):
    cmap = ChannelMap.from_labels(LABELS, overrides=modalities)
    for label in despite:
        cmap.use_despite_quality(label)
    path = cmap.save_overrides(tmp_path_factory.mktemp("o") / "o.json")
    again = ChannelMap.from_labels(LABELS, overrides=path)
    assert again.overrides == cmap.overrides
    assert again.quality_overrides == [lb for lb in LABELS if lb in despite]


def test_gaps_of_a_discontinuous_file_are_neither_flat_nor_artefacts(tmp_path):
    from edf_factory import tal_record

    x = eeg_like(seconds=120)
    onsets = [*range(60), *range(90, 150)]          # 30 s missing after the first minute
    path = write_edf(tmp_path / "gap.edf", [Sig("C4-M1", RATE, digital(x))], reserved="EDF+D",
                     annotation_records=[tal_record(t) for t in onsets])
    with open_recording(path) as rec:
        assert rec.is_discontinuous
        q = assess_channel(rec, "C4-M1", "BAS")
    assert q.findings == () and q.epochs.n_epochs == 5 and not q.epochs.mask().any()


def test_a_quality_report_already_made_decides_without_reading_again(tmp_path, monkeypatch):
    import sleepfm_engine.inference.inputs as inputs_mod

    path = night_with_flat_channels(tmp_path)
    with open_recording(path) as rec:
        report = assess_recording(rec)
        calls = []
        real = inputs_mod.assess_channel
        monkeypatch.setattr(inputs_mod, "assess_channel", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
        with pytest.warns(QualityWarning, match="O1-M2 left out of BAS"):
            inputs = prepare_modalities(rec, quality=report)
        assert calls == [] and inputs["BAS"].channels == ["C3-M2"]
        # A report made under another channel map is not trusted for the channels it moved.
        moved = ChannelMap.from_recording(rec, overrides={"Chin1-Chin2": "other", "O1-M2": "EMG"})
        with pytest.warns(QualityWarning, match="O1-M2 left out of EMG"):
            prepare_modalities(rec, moved, quality=report)
        assert calls == ["O1-M2"]
