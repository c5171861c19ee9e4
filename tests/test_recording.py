"""Recordings: lazy EDF/EDF+/BDF reading, native rates, and loud handling of bad files."""
from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from sleepfm_engine import RecordingError, open_recording
from sleepfm_engine.recording import RecordingWarning

from edf_factory import Sig, tal_record, write_edf

N_REC = 20  # seconds (1-s records)


def _signals(rng=None):
    rng = rng or np.random.default_rng(0)
    return [
        Sig("C4-M1", 256, rng.integers(-2000, 2000, 256 * N_REC)),
        Sig("SpO2", 1, rng.integers(900, 1000, N_REC), unit="%", pmin=0, pmax=100, dmin=0, dmax=1000),
        Sig("ECG", 512, rng.integers(-30000, 30000, 512 * N_REC), unit="mV", pmin=-5, pmax=5),
    ]


def _quiet_open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_recording(path)


def test_header_fields_and_native_rates_without_upsampling(tmp_path):
    path = write_edf(tmp_path / "a.edf", _signals())
    rec = open_recording(path)
    assert rec.format == "EDF"
    assert rec.labels == ["C4-M1", "SpO2", "ECG"]
    assert [c.rate for c in rec.channels] == [256.0, 1.0, 512.0]
    assert [c.n_samples for c in rec.channels] == [256 * N_REC, N_REC, 512 * N_REC]
    assert rec.duration == pytest.approx(N_REC)
    assert rec.start == dt.datetime(2003, 11, 17, 22, 15, 0)
    assert rec.patient["name"] == "Haagse Harry" and rec.patient["sex"] == "F"
    assert rec.recording_info["admin_code"] == "EMR-123"
    assert rec.read_channel("SpO2").shape == (N_REC,)


def test_physical_values_in_volts_match_header_scaling(tmp_path):
    sigs = _signals()
    rec = open_recording(write_edf(tmp_path / "a.edf", sigs))
    eeg = rec.read_channel("C4-M1")
    gain = (3276.7 - -3276.8) / (32767 - -32768)
    expected = (sigs[0].digital - -32768) * gain + -3276.8
    np.testing.assert_allclose(eeg, expected * 1e-6, rtol=0, atol=1e-12)
    assert rec.channel("C4-M1").unit == "V" and rec.channel("SpO2").unit == "%"
    spo2 = rec.read_channel("SpO2")
    np.testing.assert_allclose(spo2, sigs[1].digital / 10.0, atol=1e-9)


def test_read_returns_only_the_requested_window(tmp_path):
    sigs = _signals()
    rec = open_recording(write_edf(tmp_path / "a.edf", sigs))
    full = rec.read(["ECG", "C4-M1"])
    win = rec.read(["ECG", "C4-M1"], 3.5, 7.25)
    assert [len(w) for w in win] == [int(3.75 * 512), int(3.75 * 256)]
    np.testing.assert_array_equal(win[0], full[0][int(3.5 * 512):int(7.25 * 512)])
    np.testing.assert_array_equal(win[1], full[1][int(3.5 * 256):int(7.25 * 256)])
    assert len(rec.read_channel("C4-M1", 18.0, 99.0)) == 2 * 256  # clipped to the end


def test_values_match_mne_on_a_single_rate_file(tmp_path):
    mne = pytest.importorskip("mne", reason="MNE is the cross-check reference reader")
    rng = np.random.default_rng(1)
    sigs = [Sig(f"EEG{i}", 128, rng.integers(-30000, 30000, 128 * N_REC)) for i in range(3)]
    path = write_edf(tmp_path / "b.edf", sigs)
    ours = np.stack(open_recording(path).read())
    theirs = mne.io.read_raw_edf(path, preload=True, verbose="error").get_data()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_bdf_24_bit_samples_are_decoded_with_sign(tmp_path):
    digital = np.array([-8388608, -1, 0, 1, 8388607] * 52)[:256].repeat(1)
    digital = np.tile(digital, 2)
    sig = Sig("Fpz", 256, digital, pmin=-262144, pmax=262143, dmin=-8388608, dmax=8388607)
    rec = open_recording(write_edf(tmp_path / "c.bdf", [sig], bdf=True))
    assert rec.format == "BDF"
    gain = (262143 + 262144) / (8388607 + 8388608)
    expected = ((digital + 8388608) * gain - 262144) * 1e-6
    np.testing.assert_allclose(rec.read_channel("Fpz"), expected, atol=1e-12)


def test_edf_plus_annotations_are_parsed_with_onsets(tmp_path):
    anns = [tal_record(r, [(r + 0.5, 30, "Sleep stage W")] if r in (0, 4) else []) for r in range(N_REC)]
    path = write_edf(tmp_path / "d.edf", _signals(), reserved="EDF+C", annotation_records=anns)
    rec = open_recording(path)
    assert rec.format == "EDF+C"
    assert rec.labels == ["C4-M1", "SpO2", "ECG"]  # the annotation signal is not a channel
    assert [(a.onset, a.duration, a.description) for a in rec.annotations] == [
        (0.5, 30.0, "Sleep stage W"), (4.5, 30.0, "Sleep stage W")]


def test_edf_plus_discontinuous_places_records_at_their_onsets_with_nan_gaps(tmp_path):
    n = 4
    sig = Sig("C3", 8, np.arange(8 * n) + 1, pmin=-32768, pmax=32767)
    onsets = [0, 1, 5, 6]  # a 3-s gap after the second record
    anns = [tal_record(o) for o in onsets]
    rec = open_recording(write_edf(tmp_path / "e.edf", [sig], reserved="EDF+D",
                                   annotation_records=anns, n_records=n))
    assert rec.format == "EDF+D" and rec.is_discontinuous
    assert rec.duration == pytest.approx(7.0)
    x = rec.read_channel("C3") * 1e6
    assert len(x) == 7 * 8
    assert np.isnan(x[16:40]).all()
    np.testing.assert_allclose(x[:16], np.arange(16) + 1)
    np.testing.assert_allclose(x[40:], np.arange(16, 32) + 1)


def test_zero_byte_file_is_refused_with_its_own_message(tmp_path):
    p = tmp_path / "empty.edf"
    p.write_bytes(b"")
    with pytest.raises(RecordingError, match=r"empty\.edf: the file is empty \(0 bytes\)"):
        open_recording(p)


def test_truncated_header_is_refused_naming_the_size(tmp_path):
    good = write_edf(tmp_path / "g.edf", _signals()).read_bytes()
    p = tmp_path / "short.edf"
    p.write_bytes(good[:600])
    with pytest.raises(RecordingError, match=r"short\.edf: the file is truncated.*3 signals"):
        open_recording(p)


def test_file_with_header_but_no_complete_record_is_refused_as_truncated(tmp_path):
    good = write_edf(tmp_path / "g.edf", _signals()).read_bytes()
    p = tmp_path / "nodata.edf"
    p.write_bytes(good[:256 * 4 + 100])
    with pytest.raises(RecordingError, match=r"nodata\.edf: the file is truncated.*data records"):
        open_recording(p)


def test_non_edf_file_renamed_edf_is_refused(tmp_path):
    p = tmp_path / "photo.edf"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
    with pytest.raises(RecordingError, match=r"photo\.edf: not an EDF or BDF file"):
        open_recording(p)


def test_corrupt_annotation_channel_is_refused_naming_the_record(tmp_path):
    anns = [tal_record(r) for r in range(N_REC)]
    anns[3] = np.frombuffer(b"garbage without structure".ljust(240, b"\x00"), "<i2").copy()
    rec = _quiet_open(write_edf(tmp_path / "f.edf", _signals(), reserved="EDF+C", annotation_records=anns))
    with pytest.raises(RecordingError, match=r"f\.edf: the EDF\+ annotation channel .* corrupt in data record 4"):
        rec.annotations  # noqa: B018 - the property parses


def test_record_count_disagreeing_with_file_size_warns_and_reads_what_is_there(tmp_path):
    p = write_edf(tmp_path / "n.edf", _signals(), record_n_field="25")
    with pytest.warns(RecordingWarning, match="declares 25 data records but the file holds only 20"):
        rec = open_recording(p)
    assert rec.duration == pytest.approx(20)


def test_unknown_record_count_minus_one_warns_and_uses_file_size(tmp_path):
    p = write_edf(tmp_path / "n.edf", _signals(), record_n_field="-1")
    with pytest.warns(RecordingWarning, match="-1"):
        rec = open_recording(p)
    assert rec.duration == pytest.approx(20)


def test_invalid_start_date_warns_and_continues(tmp_path):
    p = write_edf(tmp_path / "d.edf", _signals(), startdate="31.02.03")
    with pytest.warns(RecordingWarning, match="invalid start date"):
        rec = open_recording(p)
    assert rec.start == dt.datetime(1985, 1, 1)
    assert any("invalid start date" in w for w in rec.warnings)


def test_duplicate_labels_warn_and_get_unique_suffixes(tmp_path):
    sigs = _signals()
    sigs[2].label = "C4-M1"
    with pytest.warns(RecordingWarning, match="duplicate channel label 'C4-M1'"):
        rec = open_recording(write_edf(tmp_path / "dup.edf", sigs))
    assert rec.labels == ["C4-M1", "SpO2", "C4-M1_1"]
    assert rec.channel("C4-M1_1").original_label == "C4-M1"


def test_upper_case_unit_uv_is_read_as_microvolts_with_a_warning(tmp_path):
    sigs = _signals()
    sigs[0].unit = "UV"
    with pytest.warns(RecordingWarning, match="'UV' read as 'uV'"):
        rec = open_recording(write_edf(tmp_path / "uv.edf", sigs))
    ch = rec.channel("C4-M1")
    assert ch.is_voltage and ch.unit == "V"
    assert np.abs(rec.read_channel("C4-M1")).max() < 4e-3  # microvolts, not volts


def test_physical_min_equal_max_warns_and_reads_unscaled(tmp_path):
    sigs = _signals()
    sigs[1].pmin = sigs[1].pmax = 100
    with pytest.warns(RecordingWarning, match="physical minimum equals maximum"):
        rec = open_recording(write_edf(tmp_path / "pm.edf", sigs))
    np.testing.assert_array_equal(rec.read_channel("SpO2"), sigs[1].digital)


def test_trailing_partial_record_warns_and_is_ignored(tmp_path):
    p = write_edf(tmp_path / "t.edf", _signals())
    p.write_bytes(p.read_bytes() + b"\x00" * 100)
    with pytest.warns(RecordingWarning, match="trailing partial data record"):
        rec = open_recording(p)
    assert rec.duration == pytest.approx(20)


def test_missing_file_and_non_numeric_header_are_typed_errors(tmp_path):
    with pytest.raises(RecordingError, match="file not found"):
        open_recording(tmp_path / "nope.edf")
    good = bytearray(write_edf(tmp_path / "g.edf", _signals()).read_bytes())
    good[252:256] = b"ab  "
    bad = tmp_path / "ns.edf"
    bad.write_bytes(bytes(good))
    with pytest.raises(RecordingError, match=r"ns\.edf: header field 'number of signals' is not a number"):
        open_recording(bad)
    assert issubclass(RecordingError, ValueError)


def test_unknown_channel_key_error_lists_channels(tmp_path):
    rec = open_recording(write_edf(tmp_path / "a.edf", _signals()))
    with pytest.raises(KeyError, match="C4-M1, SpO2, ECG"):
        rec.channel("Fz")


def test_real_dreams_excerpt_opens_with_uv_units(tmp_path):
    from conftest import SHARED
    path = SHARED / "data" / "dreams" / "excerpt3.edf"
    if not path.exists():
        pytest.skip("the DREAMS excerpt is not on this machine (../shared/data absent)")
    with pytest.warns(RecordingWarning, match="'UV' read as 'uV'"):
        rec = open_recording(path)
    assert rec.duration == pytest.approx(1800)
    c3 = rec.read_channel("C3-A1")
    assert rec.channel("C3-A1").rate == 50.0 and len(c3) == 50 * 1800
    assert 5e-6 < np.std(c3) < 200e-6  # an EEG in volts


def test_plain_edf_free_text_patient_field_is_not_split_into_subfields(tmp_path):
    p = write_edf(tmp_path / "free.edf", _signals(), patient="excerpt3, female 48y insomnia",
                  recording="recorded at Brugmann")
    rec = open_recording(p)
    assert rec.patient["sex"] == "" and rec.patient["name"] == "" and not rec.patient["subfields"]
    assert rec.patient["additional"] == "excerpt3, female 48y insomnia"
    assert rec.recording_info["additional"] == "recorded at Brugmann"


def test_reads_after_releasing_mapped_pages_return_the_same_values(tmp_path, monkeypatch):
    import sleepfm_engine.recording as recording_module

    path = write_edf(tmp_path / "s.edf", _signals())
    before = open_recording(path).read(None, 1.3, 17.9)
    monkeypatch.setattr(recording_module, "_RELEASE_BYTES", 0)  # release after every read
    rec = open_recording(path)
    for _ in range(2):
        again = rec.read(None, 1.3, 17.9)
        for a, b in zip(before, again):
            np.testing.assert_array_equal(a, b)


def test_clone_reads_independently_of_the_original(tmp_path):
    rec = open_recording(write_edf(tmp_path / "a.edf", _signals()))
    twin = rec.clone()
    expected = rec.read_channel("ECG", 2, 4)
    rec.close()
    np.testing.assert_array_equal(twin.read_channel("ECG", 2, 4), expected)
    assert twin.labels == rec.labels and twin.duration == rec.duration
