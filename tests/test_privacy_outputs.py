"""``--deidentify`` on every command that writes per-recording outputs (``embed``, ``stage``
with ``--save-embeddings``, ``risk``, ``preprocess``): every output is searched (file names,
HDF5 attributes and names read with h5py, the raw bytes of every file: CSV, provenance JSON,
OOD JSON, HDF5) for the strings of a recording named ``Doe_Jane_night.edf`` with a patient
header; the study-ID map is written only where the user says, never beside the outputs."""
from __future__ import annotations

import csv
import os
import re

import h5py
import numpy as np
import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.formats import read_hypnogram
from sleepfm_engine.inference.embeddings_io import read_embeddings_hdf5

from edf_factory import Sig, write_edf
from inference_helpers import make_release, one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

PATIENT = "MCH-0234567 F 02-MAY-1951 Doe_Jane"
RECORDING = "Startdate 17-NOV-2003 EMR-123 Smithson SomnoScreen"
#: What must appear in no output: the file and folder names, header fields, the true start day.
SECRETS = ("Doe", "Jane", "Doe_Jane_night", "MCH-0234567", "02-MAY-1951", "1951", "EMR-123",
           "Smithson", "SomnoScreen", "patients_site", "2003-11-17", "17-NOV-2003", "17.11.03")


@pytest.fixture(autouse=True)
def _restore_omp_env(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    release = make_release(root / "release")
    rng = np.random.default_rng(0)
    n = 330 * 128
    sigs = [Sig(label, 128, np.clip(np.cumsum(rng.normal(0, 300, n)) % 20000 - 10000
                                    + rng.normal(0, 800, n), -32768, 32767).astype(np.int64))
            for label in ("C3-M2", "O1-M2", "ECG", "Chin1-Chin2", "Airflow")]
    folder = root / "patients_site" / "Doe_Jane"
    folder.mkdir(parents=True)
    night = write_edf(folder / "Doe_Jane_night.edf", sigs, patient=PATIENT, recording=RECORDING)
    return release, night, root


def _h5_strings(path) -> list[str]:
    """Every object name and attribute value of an HDF5 file, as text."""
    out = []
    with h5py.File(path, "r") as f:
        def visit(name, obj=None):
            out.append(name)
            target = f if obj is None else obj
            for key, value in target.attrs.items():
                out.append(key)
                out.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
        visit("/")
        f.visititems(visit)
    return out


def _leaks(folder) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        texts = [str(path.relative_to(folder))]
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
            if path.suffix in (".hdf5", ".h5"):
                texts += _h5_strings(path)
        for secret in SECRETS:
            if any(re.search(re.escape(secret), t, re.IGNORECASE) for t in texts):
                found.append(f"{path.name}: {secret}")
    return found


def _id_map(path) -> dict[str, str]:
    with open(path, newline="") as fh:
        return {row["study_id"]: row["source"] for row in csv.DictReader(fh)}


def test_embed_and_stage_with_saved_embeddings_deidentified_leak_nothing(world, tmp_path):
    release, night, root = world
    out, id_map = tmp_path / "shared", tmp_path / "private" / "ids.csv"
    for cmd in (["embed"], ["stage", "--save-embeddings"]):
        assert main([*cmd, str(root / "patients_site"), "--model", str(release), "-o", str(out / cmd[0]),
                     "--deidentify", "--shift-days", "-400", "--id-map", str(id_map), "--overwrite"]) == 0
    names = sorted(p.name for p in out.rglob("*"))
    assert "study-0001.hdf5" in names and "study-0001.auto-hypnogram.csv" in names
    assert "study-0001.provenance.json" in names
    assert _leaks(out) == []
    assert _id_map(id_map) == {"study-0001": str(night.resolve())}   # the same ID on both runs
    emb = read_embeddings_hdf5(out / "embed" / "study-0001.hdf5")        # still read back
    assert emb.source == "study-0001" and emb.start.date().isoformat() == "2002-10-13"
    hyp = read_hypnogram(out / "stage" / "study-0001.auto-hypnogram.csv")
    assert hyp.n_epochs == 11 and hyp.start.date().isoformat() == "2002-10-13"


def test_risk_deidentified_leaks_nothing(world, tmp_path):
    release, night, root = world
    out = tmp_path / "risk"
    assert main(["risk", str(night), "--model", str(release), "-o", str(out), "--age", "52", "--sex", "F",
                 "--deidentify"]) == 0
    assert (out / "study-0001.risk.csv").is_file()
    assert _leaks(out) == []


def test_preprocess_deidentified_leaks_nothing_and_takes_its_study_id(world, tmp_path):
    release, night, root = world
    out, id_map = tmp_path / "prep", tmp_path / "ids.csv"
    out.mkdir()
    assert main(["preprocess", str(night), "-o", str(out), "--deidentify", "--shift-days", "7",
                 "--id-map", str(id_map)]) == 0
    assert [p.name for p in out.iterdir()] == ["study-0001.hdf5"]
    assert _leaks(out) == []
    with h5py.File(out / "study-0001.hdf5", "r") as f:
        assert f.attrs["source_file"] == "study-0001"
        assert f.attrs["source_start"].startswith("2003-11-24")


def test_without_deidentify_the_outputs_do_carry_the_names(world, tmp_path):
    """The search above can fail: the same outputs without --deidentify are caught by it."""
    release, night, root = world
    out = tmp_path / "plain"
    assert main(["embed", str(night), "--model", str(release), "-o", str(out)]) == 0
    assert any("Doe_Jane_night" in leak for leak in _leaks(out))


def test_an_id_map_beside_the_outputs_is_refused(world, tmp_path, capsys):
    release, night, root = world
    out = tmp_path / "out"
    code = main(["embed", str(night), "--model", str(release), "-o", str(out), "--deidentify",
                 "--id-map", str(out / "ids.csv")])
    assert code == 1 and "inside the output folder" in capsys.readouterr().err
    assert not out.exists()


def test_id_map_options_need_deidentify(world, tmp_path, capsys):
    release, night, root = world
    code = main(["preprocess", str(night), "-o", str(tmp_path / "x.hdf5"), "--id-map", str(tmp_path / "m.csv")])
    assert code == 1 and "with --deidentify only" in capsys.readouterr().err


def test_staging_an_identified_embedding_file_deidentified_leaks_nothing(world, tmp_path):
    release, night, root = world
    plain = tmp_path / "plain" / "Doe_Jane"
    assert main(["embed", str(night), "--model", str(release), "-o", str(plain)]) == 0
    out = tmp_path / "shared"
    assert main(["stage", str(plain / "Doe_Jane_night.hdf5"), "--model", str(release), "-o", str(out),
                 "--deidentify", "--shift-days", "30"]) == 0
    assert (out / "study-0001.auto-hypnogram.csv").is_file()
    assert _leaks(out) == []
