"""Preprocessing reproduces the reference numbers without the reference's defects."""
from __future__ import annotations


import h5py
import numpy as np
import pytest

from sleepfm_engine import JobCancelled, open_recording
from sleepfm_engine.contract import CHUNK_SAMPLES, SAMPLING_RATE_HZ
from sleepfm_engine.jobs import Job
from sleepfm_engine.preprocessing import (PreprocessWarning, preprocess, preprocess_signal,
                                          preprocess_to_hdf5)

from edf_factory import Sig, write_edf


def test_golden_psg_matches_reference_hdf5_to_float16_rounding(data_dir, tmp_path):
    src = data_dir / "golden_preprocessing" / "golden_psg.edf"
    ref = h5py.File(data_dir / "golden_preprocessing" / "golden_psg_reference.hdf5", "r")
    out = preprocess_to_hdf5(src, tmp_path / "out.hdf5")
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(ref)
        for name in ref:
            ours, theirs = f[name], ref[name]
            assert ours.dtype == np.float16 and ours.shape == theirs.shape
            assert ours.chunks == (CHUNK_SAMPLES,) and ours.compression == "gzip"
            np.testing.assert_allclose(ours[:].astype(np.float32), theirs[:].astype(np.float32),
                                       rtol=1e-3, atol=2e-3)
        assert f.attrs["sampling_rate_hz"] == SAMPLING_RATE_HZ
        assert f.attrs["source_file"].endswith("golden_psg.edf")


def test_in_memory_preprocessing_equals_the_file_path(data_dir):
    src = data_dir / "golden_preprocessing" / "golden_psg.edf"
    ref = h5py.File(data_dir / "golden_preprocessing" / "golden_psg_reference.hdf5", "r")
    out = preprocess(src, ["C3-M2", "SpO2"], dtype=np.float16)
    np.testing.assert_array_equal(out["C3-M2"], ref["C3-M2"][:])
    np.testing.assert_array_equal(out["SpO2"], ref["SpO2"][:])


def test_low_rate_channel_is_interpolated_from_its_native_rate_not_upsampled_first(tmp_path):
    rng = np.random.default_rng(3)
    spo2 = rng.integers(900, 1000, 60)
    sigs = [Sig("C4", 256, rng.integers(-3000, 3000, 256 * 60)),
            Sig("SpO2", 1, spo2, unit="%", pmin=0, pmax=100, dmin=0, dmax=1000)]
    rec = open_recording(write_edf(tmp_path / "mixed.edf", sigs))
    got = preprocess(rec, ["SpO2"])["SpO2"]
    assert got.shape == (60 * SAMPLING_RATE_HZ,)
    x = spo2 / 10.0
    t_in = np.arange(60.0)
    t_out = np.arange(60 * SAMPLING_RATE_HZ) / SAMPLING_RATE_HZ
    y = np.interp(t_out, t_in, x)
    np.testing.assert_allclose(got, (y - y.mean()) / y.std(), atol=1e-5)
    # native 1-Hz interpolation keeps the plateau linear between samples: no filter ringing
    assert np.all(np.abs(np.diff(got[:128])) <= np.abs(got[128] - got[0]) / 127 + 1e-5)


def test_flat_channel_is_only_centred():
    x = np.full(1000, 7.0)
    assert np.all(preprocess_signal(x, 100.0) == 0)


def test_channel_with_gaps_keeps_its_name_and_the_following_names(tmp_path):
    x = np.sin(np.linspace(0, 50, 256 * 10))
    x[100:200] = np.nan
    with pytest.warns(PreprocessWarning, match="'EEG A': 100 missing samples"):
        y = preprocess_signal(x, 256, label="EEG A")
    assert np.isfinite(y).all() and y.shape == (1280,)


def test_cancelled_preprocessing_leaves_previous_output_intact(data_dir, tmp_path):
    src = data_dir / "golden_preprocessing" / "golden_psg.edf"
    out = tmp_path / "out.hdf5"
    out.write_bytes(b"previous good output")

    def work(state):
        def cancel_after_first(progress):
            if progress.fraction > 0:
                state.request_interruption()
        state.add_callback(cancel_after_first)
        return preprocess_to_hdf5(src, out, state=state)

    with pytest.raises(JobCancelled):
        Job("pp", work).run()
    assert out.read_bytes() == b"previous good output"
    assert [p.name for p in tmp_path.iterdir()] == ["out.hdf5"]  # no temp file left behind


def test_partial_last_chunk_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    n_sec = 310  # 5 min 10 s: one full chunk and a partial one
    sigs = [Sig("C4", 200, rng.integers(-3000, 3000, 200 * n_sec))]
    rec = open_recording(write_edf(tmp_path / "p.edf", sigs))
    out = preprocess_to_hdf5(rec, tmp_path / "p.hdf5")
    mem = preprocess(rec, dtype=np.float16)["C4"]
    with h5py.File(out, "r") as f:
        assert f["C4"].shape == (n_sec * 128,)
        np.testing.assert_array_equal(f["C4"][:], mem)


def test_cli_preprocess_writes_modalities_and_refuses_to_overwrite(data_dir, tmp_path, capsys):
    from sleepfm_engine.cli import main
    src = data_dir / "golden_preprocessing" / "golden_psg.edf"
    out = tmp_path / "cli.hdf5"
    assert main(["preprocess", str(src), "-o", str(out)]) == 0
    with h5py.File(out, "r") as f:
        assert f["C3-M2"].attrs["modality"] == "BAS"
        assert f["ECG"].attrs["modality"] == "EKG"
    assert main(["preprocess", str(src), "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
