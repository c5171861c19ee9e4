"""Model folders: the official layout loads, broken ones are refused with a clear ModelError."""
from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch

from sleepfm_engine.checkpoints import (ModelInfo, config_hash, describe_model, load_config,
                                        load_model, load_release, save_model)
from sleepfm_engine.errors import ModelError
from sleepfm_engine.models import (DiagnosisFinetuneFullLSTMCOXPH,
                                   DiagnosisFinetuneFullLSTMCOXPHWithDemo, SetTransformer,
                                   SleepEventLSTMClassifier)

DATA = Path(__file__).parent / "data"
TINY = DATA / "golden_tiny"
OFFICIAL = DATA / "golden_official"
#: Parameter counts of the released models (all parameters; NOTES.md).
OFFICIAL_PARAMS = {"model_base": 4_831_656, "model_sleep_staging": 1_286_277, "model_diagnosis": 963_497}
CLASSES = {"model_base": SetTransformer, "model_sleep_staging": SleepEventLSTMClassifier,
           "model_diagnosis": DiagnosisFinetuneFullLSTMCOXPHWithDemo}


def _random_state(spec: dict) -> dict:
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, info in spec.items():
        dtype = getattr(torch, info["dtype"])
        if dtype.is_floating_point:
            state[key] = torch.randn(info["shape"], generator=gen, dtype=dtype) * 0.02
        else:
            state[key] = torch.zeros(info["shape"], dtype=dtype)
    return state


def _write_official(folder: Path, name: str, manifest: dict, state: dict | None = None) -> Path:
    """A model folder exactly as the official release lays it out, with random tensors."""
    entry = manifest[name]
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(OFFICIAL / f"{name}.config.json", folder / "config.json")
    state = _random_state(entry["state_dict"]) if state is None else state
    if entry["top_level_keys"] == ["epoch", "state_dict"]:
        torch.save({"epoch": 0, "state_dict": state}, folder / entry["file"])
    else:
        torch.save(state, folder / entry["file"])
    return folder


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((OFFICIAL / "manifest.json").read_text())


@pytest.fixture(scope="module")
def official_release(tmp_path_factory, manifest) -> Path:
    root = tmp_path_factory.mktemp("official") / "checkpoints"
    for name in manifest:
        _write_official(root / name, name, manifest)
    return root


@pytest.fixture
def staging_copy(tmp_path) -> Path:
    return Path(shutil.copytree(TINY / "model_sleep_staging", tmp_path / "staging"))


# ----------------------------------------------------------------------------- official layout
@pytest.mark.parametrize("name", list(OFFICIAL_PARAMS))
def test_official_layout_with_random_weights_loads_with_the_released_parameter_count(
        official_release, manifest, name):
    model = load_model(official_release / name)
    assert type(model) is CLASSES[name]
    assert not model.training
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == OFFICIAL_PARAMS[name] == manifest[name]["n_parameters_excluding_buffers"]
    expected = {k.removeprefix("module."): v["shape"] for k, v in manifest[name]["state_dict"].items()}
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == expected


def test_official_weights_arrive_unchanged_in_the_model(official_release, manifest):
    model = load_model(official_release / "model_sleep_staging")
    state = torch.load(official_release / "model_sleep_staging" / "best.pth", weights_only=True)
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key.removeprefix("module.")], value), key


def test_official_release_folder_loads_all_three_models(official_release):
    release = load_release(official_release)
    assert release.kinds == ["base", "staging", "diagnosis"]
    assert isinstance(release.base, SetTransformer)
    assert isinstance(release.staging, SleepEventLSTMClassifier)
    assert isinstance(release.diagnosis, DiagnosisFinetuneFullLSTMCOXPHWithDemo)
    info = release.info["diagnosis"]
    assert (info.kind, info.num_classes, info.embed_dim, info.max_seq_length) == ("diagnosis", 1065, 128, 6480)
    assert release.info["base"].max_seq_length == 128
    assert release.info["staging"].n_parameters == OFFICIAL_PARAMS["model_sleep_staging"]


@pytest.mark.parametrize("name", list(OFFICIAL_PARAMS))
def test_official_layout_with_a_key_removed_is_refused_naming_the_key(tmp_path, manifest, name):
    state = _random_state(manifest[name]["state_dict"])
    victim = [k for k in state if "linear2.weight" in k][0]
    del state[victim]
    folder = _write_official(tmp_path / name, name, manifest, state)
    with pytest.raises(ModelError, match="missing keys") as err:
        load_model(folder)
    assert victim.removeprefix("module.") in str(err.value)
    assert str(folder) in str(err.value)


@pytest.mark.parametrize("name", list(OFFICIAL_PARAMS))
def test_official_layout_with_a_shape_changed_is_refused_naming_the_key_and_both_shapes(tmp_path, manifest, name):
    state = _random_state(manifest[name]["state_dict"])
    victim = [k for k in state if k.endswith("layer_norm.weight")][0]
    state[victim] = torch.zeros(64)
    folder = _write_official(tmp_path / name, name, manifest, state)
    with pytest.raises(ModelError, match="shape mismatches") as err:
        load_model(folder)
    assert f"{victim.removeprefix('module.')} (file (64,) vs model (128,))" in str(err.value)


def test_an_unexpected_key_is_refused_by_name(tmp_path, manifest):
    state = _random_state(manifest["model_sleep_staging"]["state_dict"])
    state["module.extra.weight"] = torch.zeros(3)
    folder = _write_official(tmp_path / "s", "model_sleep_staging", manifest, state)
    with pytest.raises(ModelError, match=r"unexpected keys: extra\.weight"):
        load_model(folder)


def test_a_config_whose_size_disagrees_with_the_weights_is_refused(tmp_path, manifest):
    folder = _write_official(tmp_path / "d", "model_diagnosis", manifest)
    config = json.loads((folder / "config.json").read_text())
    config["model_params"]["num_classes"] = 10
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"disease_heads\.weight \(file \(1065, 160\) vs model \(10, 160\)\)"):
        load_model(folder)


# ------------------------------------------------------------------------------ golden folders
def test_golden_folders_load_from_both_weight_file_layouts():
    base, staging = load_model(TINY / "model_base"), load_model(TINY / "model_sleep_staging")
    assert isinstance(base, SetTransformer) and isinstance(staging, SleepEventLSTMClassifier)


def test_weights_without_the_module_prefix_load_too(staging_copy):
    state = torch.load(staging_copy / "best.pth", weights_only=True)
    torch.save({k.removeprefix("module."): v for k, v in state.items()}, staging_copy / "best.pth")
    model = load_model(staging_copy)
    assert torch.equal(model.fc.bias, state["module.fc.bias"])


def test_load_model_accepts_a_file_inside_the_folder_and_a_device():
    model = load_model(TINY / "model_base" / "config.json", device="cpu")
    assert next(model.parameters()).device.type == "cpu"


def test_the_diagnosis_class_without_demographics_loads_from_its_own_config(tmp_path):
    model = DiagnosisFinetuneFullLSTMCOXPH(embed_dim=16, num_heads=2, num_layers=1, num_classes=3,
                                           pooling_head=2, max_seq_length=32)
    config = {"model": "DiagnosisFinetuneFullLSTMCOXPH",
              "model_params": {"embed_dim": 16, "num_heads": 2, "num_layers": 1, "num_classes": 3,
                               "pooling_head": 2, "max_seq_length": 32}}
    save_model(model, config, tmp_path / "dx")
    loaded = load_model(tmp_path / "dx")
    assert type(loaded) is DiagnosisFinetuneFullLSTMCOXPH
    assert loaded(torch.randn(2, 2, 5, 16), torch.zeros(2, 2, 5)).shape == (2, 3)


# -------------------------------------------------------------------------------- unsafe files
class _CreatesMarker:
    """Unpickling this creates a marker file: what a malicious checkpoint could do instead."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dumps"])
def test_a_weights_file_that_would_run_code_is_refused_and_nothing_runs(staging_copy, tmp_path, writer):
    marker = tmp_path / "code_ran"
    payload = {"module.fc.bias": _CreatesMarker(marker)}
    if writer == "torch.save":
        torch.save(payload, staging_copy / "best.pth")
    else:
        (staging_copy / "best.pth").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(ModelError, match="is not a plain weights file") as err:
        load_model(staging_copy)
    assert not marker.exists()
    assert "best.pth" in str(err.value) and str(staging_copy) in str(err.value)
    assert "refused" in str(err.value)
    # The payload is live: an unrestricted unpickler would have run it.
    if writer == "pickle.dumps":
        pickle.loads((staging_copy / "best.pth").read_bytes())
        assert marker.exists()


def test_the_loader_only_ever_calls_torch_load_with_weights_only():
    import sleepfm_engine.checkpoints as ck

    source = Path(ck.__file__).read_text()
    calls = re.findall(r"torch\.load\(([^)]*)\)", source)
    assert calls and all("weights_only=True" in c for c in calls)


def test_an_empty_or_corrupt_weights_file_is_refused(staging_copy):
    (staging_copy / "best.pth").write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        load_model(staging_copy)
    (staging_copy / "best.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError, match="cannot be read as PyTorch weights"):
        load_model(staging_copy)


def test_a_file_holding_no_tensors_is_refused(staging_copy):
    torch.save({"module.fc.bias": [1, 2, 3]}, staging_copy / "best.pth")
    with pytest.raises(ModelError, match="not a tensor"):
        load_model(staging_copy)


# ------------------------------------------------------------------------------ broken folders
def test_a_missing_config_is_refused(staging_copy):
    (staging_copy / "config.json").unlink()
    with pytest.raises(ModelError, match="no config.json") as err:
        load_model(staging_copy)
    assert str(staging_copy) in str(err.value)


def test_a_config_that_is_not_json_is_refused_with_its_position(staging_copy):
    (staging_copy / "config.json").write_text('{"model": "SleepEventLSTMClassifier",\n  oops}')
    with pytest.raises(ModelError, match=r"not valid JSON \(line 2"):
        load_config(staging_copy)


def test_an_unknown_model_name_is_refused_listing_the_known_ones(staging_copy):
    (staging_copy / "config.json").write_text(json.dumps({"model": "ResNet", "model_params": {}}))
    with pytest.raises(ModelError, match=r"'ResNet'.*SetTransformer"):
        load_model(staging_copy)


def test_unknown_model_params_are_refused_by_name(staging_copy):
    config = json.loads((staging_copy / "config.json").read_text())
    config["model_params"]["hidden"] = 3
    (staging_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="hidden"):
        load_model(staging_copy)


def test_missing_weights_and_ambiguous_weights_are_refused(staging_copy):
    shutil.copy(staging_copy / "best.pth", staging_copy / "best.pt")
    with pytest.raises(ModelError, match="both best.pt and best.pth"):
        load_model(staging_copy)
    (staging_copy / "best.pt").unlink()
    (staging_copy / "best.pth").unlink()
    with pytest.raises(ModelError, match="no weights file"):
        load_model(staging_copy)


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- save and hash
def test_save_then_load_round_trips_weights_in_the_official_layout_with_metadata(tmp_path):
    model = load_model(TINY / "model_base")
    config = load_config(TINY / "model_base")
    folder = save_model(model, config, tmp_path / "mine",
                        {"channel_mapping": {"BAS": ["C3-M2"]}, "provenance": {"from": "test"},
                         "metrics": {"loss": 0.5}, "epoch": 3})
    raw = torch.load(folder / "best.pt", weights_only=True)
    assert raw["epoch"] == 3 and all(k.startswith("module.") for k in raw["state_dict"])
    loaded = load_model(folder)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    meta = json.loads((folder / "metadata.json").read_text())
    from sleepfm_engine import __version__
    from sleepfm_engine.contract import contract_dict

    assert meta["contract"] == contract_dict() and meta["engine_version"] == __version__
    assert meta["channel_mapping"] == {"BAS": ["C3-M2"]} and meta["metrics"] == {"loss": 0.5}
    assert meta["kind"] == "base" and meta["n_parameters"] == sum(p.numel() for p in model.parameters())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folders left


def test_saved_heads_use_best_pth_holding_the_state_dict(tmp_path):
    model = load_model(TINY / "model_diagnosis")
    folder = save_model(torch.nn.DataParallel(model), load_config(TINY / "model_diagnosis"), tmp_path / "dx")
    assert sorted(p.name for p in folder.iterdir()) == ["best.pth", "config.json", "metadata.json"]
    assert set(torch.load(folder / "best.pth", weights_only=True)) == {
        f"module.{k}" for k in model.state_dict()}


def test_save_refuses_a_config_that_does_not_rebuild_the_module(tmp_path):
    model = load_model(TINY / "model_sleep_staging")
    config = load_config(TINY / "model_sleep_staging")
    config["model_params"]["embed_dim"] = 64
    with pytest.raises(ModelError, match="shape mismatches"):
        save_model(model, config, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_save_refuses_to_replace_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    model = load_model(TINY / "model_sleep_staging")
    with pytest.raises(ModelError, match="holds no model"):
        save_model(model, load_config(TINY / "model_sleep_staging"), tmp_path / "docs")
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"


def test_resaving_replaces_the_weights_keeps_other_files_and_a_failed_save_leaves_the_old(tmp_path, monkeypatch):
    model = load_model(TINY / "model_sleep_staging")
    config = load_config(TINY / "model_sleep_staging")
    folder = save_model(model, config, tmp_path / "m")
    (folder / "notes.txt").write_text("keep me")
    before = config_hash(folder)
    with torch.no_grad():
        model.fc.bias.add_(1.0)
    save_model(model, config, folder)
    assert (folder / "notes.txt").read_text() == "keep me"
    after = config_hash(folder)
    assert after != before

    def broken_save(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, config, folder)
    assert config_hash(folder) == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    with pytest.raises(ModelError, match="already holds a model"):
        save_model(model, config, folder, overwrite=False)


def test_config_hash_ignores_json_formatting_but_not_content(staging_copy):
    h = config_hash(staging_copy)
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    config = json.loads((staging_copy / "config.json").read_text())
    (staging_copy / "config.json").write_text(json.dumps(config, indent=7))
    assert config_hash(staging_copy) == h
    config["max_channels"] = 5
    (staging_copy / "config.json").write_text(json.dumps(config))
    assert config_hash(staging_copy) != h


def test_describe_model_reports_kind_size_and_config():
    info = describe_model(TINY / "model_sleep_staging")
    assert isinstance(info, ModelInfo)
    assert (info.kind, info.model_class, info.embed_dim, info.num_classes, info.max_seq_length) == (
        "staging", "SleepEventLSTMClassifier", 32, 5, 512)
    assert info.weights_file == "best.pth" and info.metadata is None
    assert json.loads(json.dumps(info.to_dict()))["config"]["model"] == "SleepEventLSTMClassifier"


# -------------------------------------------------------------------------------------- release
def test_release_from_a_single_model_folder_sets_only_that_kind():
    release = load_release(TINY / "model_diagnosis")
    assert release.kinds == ["diagnosis"] and release.base is None
    with pytest.raises(ModelError, match="holds no staging model"):
        release.require("staging")


def test_release_can_load_a_subset_of_kinds():
    release = load_release(TINY, kinds=("base",))
    assert release.kinds == ["base"] and set(release.info) == {"base"}


def test_release_finds_renamed_model_folders_by_their_config(tmp_path):
    shutil.copytree(TINY / "model_base", tmp_path / "r" / "encoder")
    shutil.copytree(TINY / "model_sleep_staging", tmp_path / "r" / "stager")
    release = load_release(tmp_path / "r")
    assert release.kinds == ["base", "staging"]


def test_a_folder_with_no_models_is_not_a_release(tmp_path):
    with pytest.raises(ModelError, match="neither a model folder"):
        load_release(tmp_path)


def test_non_finite_weights_are_a_model_error_naming_the_key(staging_copy):
    state = torch.load(staging_copy / "best.pth", weights_only=True)
    state["module.fc.bias"][0] = float("nan")
    torch.save(state, staging_copy / "best.pth")
    with pytest.raises(ModelError, match=r"non-finite values in fc\.bias"):
        load_model(staging_copy)


def test_release_exposes_a_label_mapping_shipped_beside_the_diagnosis_model(tmp_path):
    root = Path(shutil.copytree(TINY, tmp_path / "r", ignore=shutil.ignore_patterns("*.pt")))
    shutil.copy(TINY / "model_base" / "best.pt", root / "model_base" / "best.pt")
    assert load_release(root, kinds=("diagnosis",)).label_mapping is None
    (root / "model_diagnosis" / "label_mapping.csv").write_text("index,phecode,phenotype\n")
    assert load_release(root, kinds=("diagnosis",)).label_mapping == root.resolve() / "model_diagnosis" / "label_mapping.csv"
