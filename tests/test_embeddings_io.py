"""Embedding files: the reference HDF5 layout, provenance attributes, round trip, atomic re-runs."""
from __future__ import annotations

import datetime as dt
import json

import h5py
import numpy as np
import pytest

from sleepfm_engine import __version__
from sleepfm_engine.inference import Embeddings
from sleepfm_engine.inference.embeddings_io import (embeddings_attrs, read_embeddings_hdf5,
                                                    write_embeddings_hdf5)


def _emb(mods=("BAS", "RESP", "EKG", "EMG"), n=90, seed=0) -> Embeddings:
    rng = np.random.default_rng(seed)
    return Embeddings(tokens={m: rng.standard_normal((n, 32)).astype(np.float32) for m in mods},
                      chunks={m: rng.standard_normal((2, 32)).astype(np.float32) for m in mods},
                      channels={m: [f"{m}-a", f"{m}-b"] for m in mods},
                      start=dt.datetime(2024, 5, 6, 22, 30, 15), duration_s=452.0, model_id="rel/model_base",
                      config_hash="0123456789abcdef", chunk_starts_s=[0.0, 150.0], source="/data/n1.edf")


def test_hdf5_has_the_reference_layout_and_provenance(tmp_path):
    emb = _emb(mods=("EMG", "BAS"))
    path = write_embeddings_hdf5(emb, tmp_path / "n1.hdf5")
    with h5py.File(path, "r") as f:
        assert sorted(k for k in f if isinstance(f[k], h5py.Dataset)) == ["BAS", "EMG"]
        assert f["BAS"].shape == (90, 32) and f["BAS"].dtype == np.float32
        np.testing.assert_array_equal(f["EMG"][()], emb.tokens["EMG"])
        assert sorted(f["5min"]) == ["BAS", "EMG"] and f["5min/BAS"].shape == (2, 32)
        np.testing.assert_array_equal(f["5min"].attrs["chunk_start_s"], [0.0, 150.0])
        attrs = dict(f.attrs)
        assert attrs["model_id"] == "rel/model_base" and attrs["config_hash"] == "0123456789abcdef"
        assert json.loads(attrs["channels"]) == {"BAS": ["BAS-a", "BAS-b"], "EMG": ["EMG-a", "EMG-b"]}
        assert attrs["start"] == "2024-05-06T22:30:15" and attrs["engine_version"] == __version__
        assert attrs["n_tokens"] == 90 and attrs["token_seconds"] == 5
        assert json.loads(f["BAS"].attrs["channels"]) == ["BAS-a", "BAS-b"]
    assert not list(tmp_path.glob(".*"))           # no temporary file left behind


def test_hdf5_round_trip(tmp_path):
    emb = _emb()
    back = read_embeddings_hdf5(emb.to_hdf5(tmp_path / "x.hdf5"))
    assert embeddings_attrs(tmp_path / "x.hdf5")["config_hash"] == emb.config_hash
    assert back.modalities == emb.modalities and back.channels == emb.channels
    for m in emb.modalities:
        np.testing.assert_array_equal(back.tokens[m], emb.tokens[m])
        np.testing.assert_array_equal(back.chunks[m], emb.chunks[m])
    assert (back.start, back.duration_s, back.model_id, back.config_hash, back.source) == \
        (emb.start, emb.duration_s, emb.model_id, emb.config_hash, emb.source)
    np.testing.assert_array_equal(back.chunk_starts_s, emb.chunk_starts_s)
    assert Embeddings.from_hdf5(tmp_path / "x.hdf5").n_tokens == 90


def test_rerun_replaces_the_file_whole_without_stale_modalities(tmp_path):
    target = tmp_path / "n1.hdf5"
    write_embeddings_hdf5(_emb(), target)
    write_embeddings_hdf5(_emb(mods=("BAS",), n=60, seed=5), target)
    with h5py.File(target, "r") as f:
        assert [k for k in f if k != "5min"] == ["BAS"] and list(f["5min"]) == ["BAS"]
        assert f["BAS"].shape == (60, 32)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "n1.hdf5"
    write_embeddings_hdf5(_emb(), target)
    before = target.read_bytes()
    real = h5py.Group.create_dataset

    def failing(self, name, *a, **k):
        if name == "EKG":
            raise OSError("disk full")
        return real(self, name, *a, **k)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        write_embeddings_hdf5(_emb(seed=9), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["n1.hdf5"]


def test_reference_embedding_file_without_attributes_is_read(tmp_path):
    path = tmp_path / "ref.hdf5"
    with h5py.File(path, "w") as f:
        f["BAS"] = np.ones((120, 128), np.float32)
        f["EKG"] = np.zeros((120, 128), np.float32)
    emb = read_embeddings_hdf5(path)
    assert emb.modalities == ["BAS", "EKG"] and emb.n_tokens == 120 and emb.n_chunks == 0
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        read_embeddings_hdf5(bad)
