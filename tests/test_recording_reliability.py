"""Recordings with faults real files have: read correctly and loudly, or refused by name."""
from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from sleepfm_engine import RecordingError, open_recording
from sleepfm_engine import recording as recording_module
from sleepfm_engine.recording import RecordingWarning

from edf_factory import Sig, tal_record, write_edf

N_REC = 10


def _eeg(label="C3-M2", rate=64, n=N_REC, seed=0, **kw):
    return Sig(label, rate, np.random.default_rng(seed).integers(-2000, 2000, rate * n), **kw)


def _open_warned(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = open_recording(path)
    return rec, [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]


def _tal_bytes_signal(records: list[bytes], width_samples: int, label: str, bdf: bool) -> Sig:
    """An annotation signal as a plain Sig: its record bytes packed into 2- or 3-byte samples."""
    sample_bytes = 3 if bdf else 2
    raw = b"".join(r.ljust(width_samples * sample_bytes, b"\x00") for r in records)
    b = np.frombuffer(raw, dtype=np.uint8).astype(np.int64).reshape(-1, sample_bytes)
    values = b[:, 0] | (b[:, 1] << 8) | ((b[:, 2] << 16) if bdf else 0)
    if not bdf:
        values = values.astype(np.uint16).view(np.int16).astype(np.int64)
    return Sig(label, width_samples, values, unit="", pmin=-1, pmax=1,
               dmin=-(1 << (8 * sample_bytes - 1)), dmax=(1 << (8 * sample_bytes - 1)) - 1)


@pytest.mark.parametrize("declared", ["0", "-1", "-5"])
def test_record_count_zero_or_negative_is_inferred_from_the_file_size_and_said(tmp_path, declared):
    path = write_edf(tmp_path / "a.edf", [_eeg()], record_n_field=declared)
    rec, said = _open_warned(path)
    assert rec.duration == pytest.approx(N_REC)
    assert rec.channels[0].n_samples == 64 * N_REC
    assert any(f"declares {declared} data records; inferred {N_REC} from the file size" in m
               for m in said)


@pytest.mark.parametrize("field", ["nan", "inf", "1e-300", "-inf"])
def test_record_duration_not_finite_or_absurdly_small_is_a_recording_error(tmp_path, field):
    path = write_edf(tmp_path / "a.edf", [_eeg()])
    raw = bytearray(path.read_bytes())
    raw[244:252] = field.ljust(8).encode()
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="duration of a data record") as err:
        open_recording(path)
    assert err.value.path == path


def test_a_signal_with_zero_samples_per_record_is_skipped_with_a_warning(tmp_path):
    empty = Sig("Dead", 0, np.zeros(0, dtype=int))
    path = write_edf(tmp_path / "a.edf", [_eeg(), empty, _eeg("O2-M1", seed=1)], n_records=N_REC)
    rec, said = _open_warned(path)
    assert rec.labels == ["C3-M2", "O2-M1"]
    assert np.allclose(rec.read_channel("O2-M1"), _eeg("O2-M1", seed=1).digital * 1e-7,
                       rtol=0, atol=1e-10)
    assert any("'Dead'" in m and "0 samples per data record; skipped" in m for m in said)


@pytest.mark.parametrize("pmin,pmax", [("nan", "100"), ("-100", "inf"), ("-inf", "nan")])
def test_non_finite_physical_range_skips_the_channel_with_a_warning_naming_it(tmp_path, pmin, pmax):
    path = write_edf(tmp_path / "a.edf", [_eeg(), _eeg("Broken", seed=2, pmin=pmin, pmax=pmax)])
    rec, said = _open_warned(path)
    assert rec.labels == ["C3-M2"]
    assert any("'Broken'" in m and "not finite" in m for m in said)


def test_digital_minimum_above_maximum_is_warned_naming_the_channel(tmp_path):
    sig = _eeg("Inverted", dmin=32767, dmax=-32768)
    path = write_edf(tmp_path / "a.edf", [sig])
    rec, said = _open_warned(path)
    assert any("'Inverted'" in m and "digital minimum (32767) is greater" in m for m in said)
    # Scaled as written: the header's own (inverted) mapping, not silently corrected.
    values = rec.read_channel("Inverted")
    assert values[0] == pytest.approx(-(sig.digital[0] + 1) * 0.1e-6, abs=1e-12)


def test_unreadable_file_is_a_recording_error_not_a_permission_error(tmp_path, monkeypatch):
    path = write_edf(tmp_path / "a.edf", [_eeg()])

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(recording_module, "open", refuse, raising=False)
    with pytest.raises(RecordingError, match="cannot be read: Permission denied") as err:
        open_recording(path)
    assert err.value.path == path


def test_utf8_micro_volt_unit_is_a_voltage(tmp_path):
    utf8_uv = "µV".encode("utf-8").decode("latin-1")  # the bytes C2 B5 56, as a writer puts them
    latin_uv = "µV"  # the single byte B5
    path = write_edf(tmp_path / "a.edf", [_eeg(unit=utf8_uv), _eeg("C4-M1", unit=latin_uv)])
    rec, said = _open_warned(path)
    assert [c.raw_unit for c in rec.channels] == ["µV", "µV"]
    assert all(c.is_voltage and c.unit == "V" for c in rec.channels)
    assert not any("read as" in m for m in said)


def test_control_characters_are_removed_from_labels_and_said(tmp_path):
    path = write_edf(tmp_path / "a.edf", [_eeg("C3\x07-M2\x01")])
    rec, said = _open_warned(path)
    assert rec.labels == ["C3-M2"]
    assert any("control characters removed" in m for m in said)


def test_edf_plus_sub_second_start_is_added_to_the_start_time(tmp_path):
    anns = [tal_record(0.3945 + r, [(1.3945, 0, "Lights off")] if r == 0 else []) for r in range(N_REC)]
    path = write_edf(tmp_path / "a.edf", [_eeg()], reserved="EDF+C", annotation_records=anns)
    rec = open_recording(path)
    assert rec.start == dt.datetime(2003, 11, 17, 22, 15, 0, 394500)
    # Onsets stay relative to that exact start.
    assert [(a.onset, a.description) for a in rec.annotations] == [(pytest.approx(1.0), "Lights off")]


def test_nihon_kohden_time_keeping_tal_without_nul_is_read_tolerantly(tmp_path):
    records = [b"+0.000000\x14\x14+1.140000\x14A1+A2 OFF\x14\x00"]
    records += [f"+{r}.000000\x14\x14".encode() for r in range(1, N_REC)]
    ann = _tal_bytes_signal(records, 30, "EDF Annotations", bdf=False)
    path = write_edf(tmp_path / "nk.edf", [_eeg(), ann], reserved="EDF+C")
    rec = open_recording(path)
    assert [(a.onset, a.description) for a in rec.annotations] == [(pytest.approx(1.14), "A1+A2 OFF")]


def test_bdf_plus_with_several_annotation_channels_later_ones_empty_is_read(tmp_path):
    first = [f"+{r}\x14\x14".encode() + (b"+2.5\x150.5\x14Blink\x14\x00" if r == 2 else b"")
             for r in range(N_REC)]
    later_with_event = [b"+4\x14Trigger 7\x14\x00" if r == 4 else b"" for r in range(N_REC)]
    sigs = [_eeg(dmin=-8388608, dmax=8388607),
            _tal_bytes_signal(first, 20, "BDF Annotations", bdf=True),
            _tal_bytes_signal(later_with_event, 20, "BDF Annotations", bdf=True)]
    sigs += [_tal_bytes_signal([b""] * N_REC, 20, "BDF Annotations", bdf=True) for _ in range(13)]
    path = write_edf(tmp_path / "openbci.bdf", sigs, bdf=True, reserved="BDF+C")
    rec = open_recording(path)
    assert rec.format == "BDF+C"
    assert rec.labels == ["C3-M2"]
    assert [(a.onset, a.duration, a.description) for a in rec.annotations] == [
        (2.5, 0.5, "Blink"), (4.0, 0.0, "Trigger 7")]


def test_first_annotation_channel_still_needs_its_time_keeping_tal(tmp_path):
    first = [b"" if r == 3 else f"+{r}\x14\x14".encode() for r in range(N_REC)]
    path = write_edf(tmp_path / "a.edf",
                     [_eeg(), _tal_bytes_signal(first, 10, "EDF Annotations", bdf=False)],
                     reserved="EDF+C")
    rec = open_recording(path)
    with pytest.raises(RecordingError, match="data record 4: no time-keeping annotation"):
        rec.annotations


def test_an_integer_field_spelled_with_a_huge_exponent_is_a_recording_error(tmp_path):
    path = write_edf(tmp_path / "a.edf", [_eeg()])
    raw = bytearray(path.read_bytes())
    raw[252:256] = b"1e30"
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="number of signals"):
        open_recording(path)


def test_an_implausible_first_time_keeping_onset_keeps_the_header_start_with_a_warning(tmp_path):
    records = [f"+{99999999 + r}\x14\x14".encode() for r in range(N_REC)]
    path = write_edf(tmp_path / "a.edf", [_eeg(), _tal_bytes_signal(records, 10, "EDF Annotations", False)],
                     reserved="EDF+C")
    rec, said = _open_warned(path)
    assert rec.start == dt.datetime(2003, 11, 17, 22, 15, 0)
    assert any("not a plausible start" in m for m in said)


def test_edf_plus_d_record_times_beyond_a_year_are_a_recording_error(tmp_path):
    records = [f"+{r if r < N_REC - 1 else 99999999}\x14\x14".encode() for r in range(N_REC)]
    path = write_edf(tmp_path / "a.edf", [_eeg(), _tal_bytes_signal(records, 10, "EDF Annotations", False)],
                     reserved="EDF+D")
    with pytest.raises(RecordingError, match="annotation channel is corrupt"):
        open_recording(path)
