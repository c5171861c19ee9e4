"""Disease risk (labels, sorting, demographics) and device / precision / sharding choices."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from sleepfm_engine.checkpoints import load_release
from sleepfm_engine.devices import (check_precision, select_device, shard_from_env, Shard)
from sleepfm_engine.inference import (Embeddings, encode_demographics, load_label_mapping, parse_sex,
                                      risk_recording)
from sleepfm_engine.inference.heads import stack_tokens
from sleepfm_engine.inference.risk import read_demographics_csv

from inference_helpers import make_release, one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = make_release(tmp_path_factory.mktemp("rel") / "release")
    return load_release(root)


def _emb(n=120, mods=("BAS", "EMG"), seed=3):
    rng = np.random.default_rng(seed)
    return Embeddings(tokens={m: rng.standard_normal((n, 32)).astype(np.float32) for m in mods},
                      chunks={m: np.zeros((2, 32), np.float32) for m in mods},
                      channels={m: [m] for m in mods}, start=dt.datetime(2024, 3, 1, 23, 0),
                      duration_s=n * 5.0, source="night.edf")


def _mapping(tmp_path, n=7):
    path = tmp_path / "label_mapping.csv"
    path.write_text("label_idx,phecode,phenotype\n" + "".join(f"{i},{100 + i}.1,Condition {i}\n"
                                                              for i in range(n)))
    return path


def test_shipped_label_mapping_has_the_1065_released_outputs():
    rows = load_label_mapping()
    assert len(rows) == 1065
    assert rows[0] == (0, "8.0", "Intestinal infection")


def test_risk_table_is_labelled_sorted_and_equals_the_head(tmp_path, release):
    emb = _emb()
    table = risk_recording(emb, release, age=63, sex="F", device="cpu", label_mapping=_mapping(tmp_path))
    assert len(table) == 7
    assert np.all(np.diff(table.log_hazard) <= 0)
    assert table.rows()[0]["rank"] == 1
    for row in table.rows():
        assert row["phecode"] == f"{100 + row['label_idx']}.1"
        assert row["phenotype"] == f"Condition {row['label_idx']}"
    x, mask = stack_tokens(emb, 4)
    with torch.inference_mode():
        hz = release.diagnosis(torch.from_numpy(x), torch.from_numpy(mask),
                               torch.tensor([[0.63, 0.0]])).numpy()[0]
    np.testing.assert_allclose(table.log_hazard, np.sort(hz)[::-1], atol=1e-5)
    assert table.age == 63 and table.sex == "F" and table.n_tokens_used == 120 and not table.truncated
    assert table.top(3).phenotype == table.phenotype[:3]
    assert table.by_phecode(table.phecode[2])["rank"] == 3


def test_risk_depends_on_age_and_sex(tmp_path, release):
    emb, mapping = _emb(), _mapping(tmp_path)
    a = risk_recording(emb, release, age=30, sex="M", device="cpu", label_mapping=mapping)
    b = risk_recording(emb, release, age=80, sex="F", device="cpu", label_mapping=mapping)
    by_idx = lambda t: t.log_hazard[np.argsort(t.label_idx)]  # noqa: E731
    assert not np.allclose(by_idx(a), by_idx(b))


def test_long_night_is_truncated_to_what_the_head_reads(tmp_path, release):
    with pytest.warns(RuntimeWarning, match="reads the first 512"):
        table = risk_recording(_emb(n=700), release, age=50, sex=1, device="cpu",
                               label_mapping=_mapping(tmp_path))
    assert table.truncated and table.n_tokens_used == 512


def test_a_mapping_of_another_size_is_refused_and_none_labels_by_index(tmp_path, release):
    with pytest.raises(ValueError, match="3 labels but the head has 7 outputs"):
        risk_recording(_emb(), release, age=50, sex="M", device="cpu", label_mapping=_mapping(tmp_path, 3))
    with pytest.warns(RuntimeWarning, match="labelled by index"):
        table = risk_recording(_emb(), release, age=50, sex="M", device="cpu")
    assert sorted(table.phenotype) == sorted(f"output {i}" for i in range(7))


@pytest.mark.parametrize("value, expected", [("M", "M"), ("female", "F"), (1, "M"), (0, "F"), ("f", "F"),
                                             (1.0, "M")])
def test_parse_sex(value, expected):
    assert parse_sex(value) == expected


@pytest.mark.parametrize("age, sex", [(-1, "M"), (200, "F"), ("old", "M"), (float("nan"), "M"), (50, "X")])
def test_bad_demographics_are_refused(age, sex):
    with pytest.raises(ValueError):
        encode_demographics(age, sex)


def test_demographics_encoding_defaults_and_override():
    np.testing.assert_allclose(encode_demographics(45, "M"), [0.45, 1.0])
    np.testing.assert_allclose(encode_demographics(45, "F", {"age_scale": 1.0, "sex_codes": {"M": 0, "F": 1}}),
                               [45.0, 1.0])


def test_demographics_csv_in_the_reference_layout(tmp_path):
    path = tmp_path / "demo.csv"
    path.write_text("Study ID,age,gender\nnight1,54,F\nnight2,61,1\n")
    assert read_demographics_csv(path) == {"night1": (54.0, "F"), "night2": (61.0, "M")}
    path.write_text("Study ID,age,gender\nnight1,abc,F\n")
    with pytest.raises(ValueError, match="line 2"):
        read_demographics_csv(path)
    path.write_text("name,years\nx,3\n")
    with pytest.raises(ValueError, match="id column"):
        read_demographics_csv(path)


# -------------------------------------------------------------------------------- devices
def test_select_device_auto_cpu_and_refusals():
    assert select_device("cpu") == torch.device("cpu")
    auto = select_device("auto")
    assert auto == select_device(None)
    if not torch.cuda.is_available():
        assert auto.type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(ValueError, match="invalid device"):
        select_device("gpu-please")


def test_bf16_is_a_cuda_option_and_falls_back_to_fp32_elsewhere():
    with pytest.warns(RuntimeWarning, match="only used on CUDA"):
        assert check_precision("bf16", torch.device("cpu")) == "fp32"
    assert check_precision("fp32", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError):
        check_precision("fp8", torch.device("cpu"))


def test_torchrun_environment_shards_the_file_list():
    shard = shard_from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"})
    assert shard == Shard(1, 3, 1) and shard.active
    assert shard.take(list(range(8))) == [1, 4, 7]
    assert shard_from_env({}) == Shard(0, 1, None)
    with pytest.raises(ValueError):
        shard_from_env({"RANK": "3", "WORLD_SIZE": "3"})
    with pytest.raises(ValueError):
        shard_from_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_engine_trained_heads_use_their_metadata_for_age_scaling_and_phecodes(tmp_path, release):
    from sleepfm_engine.inference import ModelHandle

    meta = {"demographics": {"age_mean": 50.0, "age_std": 10.0},
            "phecodes": ["427.2", "8", "250.2", "401.1", "296.2", "327.3", "999.9"]}
    handle = ModelHandle(release.diagnosis, "mine/model_diagnosis", "abc", metadata=meta)
    table = risk_recording(_emb(), handle, age=70, sex="M", device="cpu")
    by_code = {r["phecode"]: r["phenotype"] for r in table.rows()}
    assert by_code["8"] == "Intestinal infection" and by_code["999.9"] == "phecode 999.9"
    x, mask = stack_tokens(_emb(), 4)
    with torch.inference_mode():
        hz = release.diagnosis(torch.from_numpy(x), torch.from_numpy(mask), torch.tensor([[2.0, 1.0]])).numpy()[0]
    np.testing.assert_allclose(np.sort(table.log_hazard), np.sort(hz), atol=1e-5)
    assert table.model_id == "mine/model_diagnosis"
