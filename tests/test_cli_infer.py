"""``sleepfm embed|stage|risk`` end to end on generated recordings with the tiny release."""
from __future__ import annotations

import csv
import os

import h5py
import numpy as np
import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.formats import read_hypnogram

from inference_helpers import make_release, one_thread, write_night

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(autouse=True)
def _restore_omp_env(monkeypatch):
    """The CLI sets OMP_WAIT_POLICY when unset; keep that out of the other tests' environment."""
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A release and a folder of nights: full montage 7.5 min, no ECG/EMG/RESP 3 min (shorter
    than one chunk), and a corrupt file."""
    root = tmp_path_factory.mktemp("cohort")
    release = make_release(root / "release")
    nights = root / "nights"
    write_night(nights / "site_a" / "full.edf", 7.5)
    write_night(nights / "site_b" / "short_eeg.edf", 3.0, labels=("C3-M2", "O1-M2"), seed=2)
    (nights / "site_b" / "corrupt.edf").write_bytes(b"0       " + b"\x00" * 300)
    return release, nights


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_embed_folder_writes_one_hdf5_per_night_and_reports_the_corrupt_file(cohort, tmp_path, capsys):
    release, nights = cohort
    code = main(["embed", str(nights), "--model", str(release), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1                                            # one file failed
    assert "2 done, 0 skipped" in err and "1 failed" in err and "corrupt.edf" in err
    with h5py.File(tmp_path / "out/site_a/full.hdf5", "r") as f:
        assert sorted(k for k in f if k != "5min") == ["BAS", "EKG", "EMG", "RESP"]
        assert f["BAS"].shape == (90, 32) and f["5min/BAS"].shape == (2, 32)
    with h5py.File(tmp_path / "out/site_b/short_eeg.hdf5", "r") as f:
        assert [k for k in f if k != "5min"] == ["BAS"]           # missing modalities are absent
        assert f["BAS"].shape == (36, 32) and f["5min/BAS"].shape == (1, 32)
    assert not (tmp_path / "out/site_b/corrupt.hdf5").exists()


def test_stage_writes_an_automatic_hypnogram_csv_and_skips_finished_outputs(cohort, tmp_path, capsys):
    release, nights = cohort
    night = nights / "site_a" / "full.edf"
    out = tmp_path / "out"
    assert main(["stage", str(night), "--model", str(release), "-o", str(out)]) == 0
    target = out / "full.auto-hypnogram.csv"
    hyp = read_hypnogram(target)
    assert hyp.automatic and hyp.file_format == "csv" and hyp.scorer.startswith("SleepFM")
    assert hyp.n_epochs == 15 and hyp.epoch_length == 30 and hyp.offset == 0
    np.testing.assert_allclose(hyp.probabilities.sum(1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(hyp.stages, hyp.probabilities.argmax(1))
    mtime = target.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["stage", str(night), "--model", str(release), "-o", str(out)]) == 0
    assert "skip" in capsys.readouterr().err
    assert target.stat().st_mtime_ns == mtime
    assert main(["stage", str(night), "--model", str(release), "-o", str(out), "--overwrite"]) == 0
    assert target.stat().st_mtime_ns != mtime


def test_stage_and_risk_read_embedding_files_from_embed(cohort, tmp_path):
    release, nights = cohort
    out = tmp_path / "out"
    assert main(["embed", str(nights / "site_b" / "short_eeg.edf"), "--model", str(release),
                 "-o", str(out)]) == 0
    assert main(["stage", str(out / "short_eeg.hdf5"), "--model", str(release), "-o", str(out)]) == 0
    assert read_hypnogram(out / "short_eeg.auto-hypnogram.csv").n_epochs == 6


def test_risk_with_age_and_sex_and_with_a_demographics_csv(cohort, tmp_path, capsys):
    release, nights = cohort
    out = tmp_path / "out"
    night = nights / "site_a" / "full.edf"
    with pytest.warns(RuntimeWarning, match="labelled by index"):
        assert main(["risk", str(night), "--model", str(release), "-o", str(out), "--age", "58",
                     "--sex", "F", "--save-embeddings"]) == 0
    rows = _rows(out / "full.risk.csv")
    assert len(rows) == 7 and [r["rank"] for r in rows] == [str(i) for i in range(1, 8)]
    hazards = [float(r["log_hazard"]) for r in rows]
    assert hazards == sorted(hazards, reverse=True)
    assert (out / "full.hdf5").is_file()
    demo = tmp_path / "demo.csv"
    demo.write_text("Study ID,age,gender\nfull,58,F\n")
    with pytest.warns(RuntimeWarning):
        assert main(["risk", str(night), "--model", str(release), "-o", str(tmp_path / "o2"),
                     "--demographics", str(demo)]) == 0
    assert _rows(tmp_path / "o2/full.risk.csv") == rows
    capsys.readouterr()
    demo.write_text("Study ID,age,gender\nsomeone_else,58,F\n")
    assert main(["risk", str(night), "--model", str(release), "-o", str(tmp_path / "o3"),
                 "--demographics", str(demo)]) == 1
    assert "no row for 'full'" in capsys.readouterr().err


def test_risk_without_demographics_is_a_usage_error(cohort, tmp_path):
    release, nights = cohort
    with pytest.raises(SystemExit, match="--age and --sex"):
        main(["risk", str(nights), "--model", str(release), "-o", str(tmp_path)])


def test_a_release_without_the_needed_head_is_refused(cohort, tmp_path, capsys):
    release, nights = cohort
    partial = tmp_path / "partial"
    partial.mkdir()
    os.symlink(release / "model_base", partial / "model_base")
    assert main(["stage", str(nights / "site_a"), "--model", str(partial), "-o", str(tmp_path / "o")]) == 1
    assert "holds no staging model" in capsys.readouterr().err


def test_torchrun_ranks_split_the_files(cohort, tmp_path, monkeypatch, capsys):
    release, nights = cohort
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    code = main(["embed", str(nights), "--model", str(release), "-o", str(tmp_path / "out"),
                 "--workers", "0"])
    err = capsys.readouterr().err
    # sorted files: site_a/full, site_b/corrupt, site_b/short_eeg -> rank 1 takes corrupt only
    assert "rank 1/2: 1 file(s)" in err and code == 1
    assert not list((tmp_path / "out").rglob("*.hdf5")) if (tmp_path / "out").exists() else True


def test_synthetic_night_with_mixed_rates_end_to_end(cohort, tmp_path):
    import json

    from sleepfm_engine.synthetic import make_night, write_night as write_synthetic

    release, _ = cohort
    path = write_synthetic(make_night(hours=0.125, seed=3, montage="full"), tmp_path / "syn.edf")
    out = tmp_path / "out"
    assert main(["stage", str(path), "--model", str(release), "-o", str(out), "--save-embeddings"]) == 0
    assert read_hypnogram(out / "syn.auto-hypnogram.csv").n_epochs == 15
    with h5py.File(out / "syn.hdf5", "r") as f:
        channels = json.loads(f.attrs["channels"])
        assert f["BAS"].shape == (90, 32) and sorted(channels) == ["BAS", "EKG", "EMG", "RESP"]
    assert "SpO2" in channels["RESP"] and "ECG" in channels["EKG"]     # 1 Hz and 512 Hz channels
    assert not any("Position" in labels for labels in channels.values())


def test_each_output_is_recorded_in_a_provenance_file_with_its_model_and_device(cohort, tmp_path):
    from sleepfm_engine.checkpoints import config_hash
    from sleepfm_engine.provenance import ResultSource, read_provenance_file

    release, nights = cohort
    out = tmp_path / "out"
    night = nights / "site_a" / "full.edf"
    assert main(["embed", str(night), "--model", str(release), "-o", str(out), "--device", "cpu"]) == 0
    assert main(["stage", str(out / "full.hdf5"), "--model", str(release), "-o", str(out),
                 "--device", "cpu"]) == 0
    records = read_provenance_file(out / "full.provenance.json")
    assert set(records) == {"full.hdf5", "full.auto-hypnogram.csv"}
    embedded, staged = records["full.hdf5"], records["full.auto-hypnogram.csv"]
    assert embedded.device == staged.device == "cpu" and staged.precision == "fp32"
    assert dict(embedded.config_hashes)["base"] == config_hash(release / "model_base")
    # Staged from the embedding file: the embeddings are credited to it, the stages to the head.
    assert staged.source("embeddings") == ResultSource.file(out / "full.hdf5")
    assert staged.source("hypnogram").config_hash == config_hash(release / "model_sleep_staging")
