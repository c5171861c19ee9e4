"""Per-recording sidecar files: where they are written, where they are found."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sleepfm_engine import registry, scoring_store, sidecars
from sleepfm_engine.sidecars import (find_overrides, find_sidecar, folder_is_writable,
                                     overrides_target, sidecar_candidates, sidecar_target,
                                     user_data_dir)


@pytest.fixture
def read_only(tmp_path):
    """A folder holding a recording whose permission bits forbid writing (restored after)."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    rec = folder / "night.edf"
    rec.write_bytes(b"0")
    folder.chmod(0o555)
    yield rec
    folder.chmod(0o755)


def test_every_module_shares_one_user_data_dir(isolated_user_dirs):
    assert user_data_dir() == isolated_user_dirs
    assert registry.user_data_dir is sidecars.user_data_dir
    assert scoring_store.user_data_dir is sidecars.user_data_dir
    from sleepfm_gui import paths
    assert paths.user_data_dir is sidecars.user_data_dir
    assert paths.find_overrides is find_overrides


def test_writable_folder_is_probed_and_left_clean(tmp_path):
    assert folder_is_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_folder_without_write_bits_is_read_only_even_for_root(read_only):
    assert not folder_is_writable(read_only.parent)
    assert sorted(p.name for p in read_only.parent.iterdir()) == ["night.edf"]


def test_missing_folder_and_plain_file_are_not_writable(tmp_path):
    (tmp_path / "f").write_text("x")
    assert not folder_is_writable(tmp_path / "absent")
    assert not folder_is_writable(tmp_path / "f")


def test_probe_failure_counts_as_read_only(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(sidecars.tempfile, "mkstemp", refuse)
    assert not folder_is_writable(tmp_path)


def test_sidecar_goes_beside_a_writable_recording(tmp_path):
    rec = tmp_path / "night.edf"
    assert sidecar_target(rec, ".x.json", "xs") == tmp_path / "night.edf.x.json"


def test_read_only_recording_falls_back_to_the_data_folder(read_only, isolated_user_dirs):
    target = sidecar_target(read_only, ".x.json", "xs")
    assert target.parent == isolated_user_dirs / "xs"
    assert target.name.startswith("night.edf-") and target.name.endswith(".x.json")
    assert find_sidecar(read_only, ".x.json", "xs") is None
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    assert find_sidecar(read_only, ".x.json", "xs") == target


def test_same_name_in_two_folders_gets_two_fallback_sidecars(tmp_path):
    a = sidecar_candidates(tmp_path / "a" / "night.edf", ".x.json", "xs")[1]
    b = sidecar_candidates(tmp_path / "b" / "night.edf", ".x.json", "xs")[1]
    assert a != b and a.parent == b.parent


def test_sidecar_beside_the_recording_wins_over_the_data_folder(tmp_path):
    rec = tmp_path / "night.edf"
    beside, fallback = sidecar_candidates(rec, ".x.json", "xs")
    fallback.parent.mkdir(parents=True)
    fallback.write_text("{}")
    assert find_sidecar(rec, ".x.json", "xs") == fallback
    beside.write_text("{}")
    assert find_sidecar(rec, ".x.json", "xs") == beside


def test_overrides_found_beside_the_recording(tmp_path):
    rec = tmp_path / "night.edf"
    assert find_overrides(rec) is None
    target = overrides_target(rec)
    assert target == tmp_path / "night.edf.channels.json"
    target.write_text(json.dumps({"Airflow": "EMG"}))
    assert find_overrides(rec) == target


def test_overrides_of_read_only_recording_found_in_the_data_folder(read_only, isolated_user_dirs):
    target = overrides_target(read_only)
    assert target.parent == isolated_user_dirs / "channel_overrides"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"Airflow": "EMG"}))
    assert find_overrides(read_only) == target
    assert find_overrides(Path(os.path.relpath(read_only))) == target


def test_scoring_sidecars_use_the_shared_rule(read_only, isolated_user_dirs):
    assert scoring_store.sidecar_path(read_only, "saved").parent == isolated_user_dirs / "scoring"
    beside = scoring_store.sidecar_path(read_only.parent.parent / "night.edf", "autosave")
    assert beside == read_only.parent.parent / ("night.edf" + scoring_store.AUTOSAVE_SUFFIX)
