"""Training data: cohort discovery and skip reasons, subject split, caches, losses, metrics."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from training_helpers import make_base, make_cohort, write_night, write_survival

from sleepfm_engine.contract import CHUNK_SAMPLES, TOKENS_PER_CHUNK


# Tiny models: one torch thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    return make_cohort(tmp_path_factory.mktemp("cohort"), n=4, minutes=10)


# ------------------------------------------------------------------------------------- cohort
def test_discovery_lists_found_and_skipped_with_reasons(tmp_path):
    from sleepfm_engine.training.cohort import discover_cohort

    make_cohort(tmp_path, n=2, minutes=10)
    write_night(tmp_path, "nolabels", 10, seed=5, labels=False)
    write_night(tmp_path, "short", 2, seed=6)
    write_night(tmp_path, "other", 10, seed=7, channels=(("Position", ""),))
    (tmp_path / "broken.edf").write_bytes(b"not an edf at all")
    cohort = discover_cohort(tmp_path, "staging")
    assert sorted(cohort.ids) == ["night00", "night01"]
    reasons = {s.path.name: s.reason for s in cohort.skipped}
    assert reasons["nolabels.edf"].startswith("no labels")
    assert reasons["short.edf"].startswith("shorter than one 5-min chunk")
    assert reasons["other.edf"].startswith("no usable modality")
    assert reasons["broken.edf"].startswith("unreadable")
    rec = cohort.by_id("night00")
    assert rec.labels.name == "night00.hypnogram.csv"
    assert rec.modalities == {"BAS": ["C3-M2"], "RESP": ["Airflow"], "EKG": ["ECG"], "EMG": ["Chin1-Chin2"]}
    assert rec.n_chunks == 2
    listing = json.loads(cohort.write_listing(tmp_path / "listing.json").read_text())
    assert listing["n_records"] == 2 and listing["n_skipped"] == 4


def test_pretraining_skips_single_modality_recordings(tmp_path):
    from sleepfm_engine.training.cohort import discover_cohort

    write_night(tmp_path, "eegonly", 10, channels=(("C3-M2", "uV"),), labels=False)
    write_night(tmp_path, "full", 10, labels=False)
    cohort = discover_cohort(tmp_path, "pretrain")
    assert cohort.ids == ["full"]
    assert "only one modality" in cohort.skipped[0].reason


def test_label_files_are_matched_by_name_and_hypnogram_names_preferred(tmp_path):
    from sleepfm_engine.training.cohort import label_candidates

    rec = tmp_path / "n1.edf"
    rec.write_bytes(b"")
    for name in ("n1.csv", "n1.hypnogram.csv", "n10.hypnogram.csv", "Hypnogram_n1.txt", "n1-nsrr.xml",
                 "is_event.csv"):
        (tmp_path / name).write_text("x")
    names = [p.name for p in label_candidates(rec, [tmp_path])]
    assert set(names) == {"n1.csv", "n1.hypnogram.csv", "Hypnogram_n1.txt", "n1-nsrr.xml"}
    assert names[0] in ("n1.hypnogram.csv", "Hypnogram_n1.txt", "n1-nsrr.xml")
    assert names[-1] == "n1.csv"


def test_split_is_subject_level_seeded_and_round_trips(tmp_path, cohort_dir):
    from sleepfm_engine.training.cohort import discover_cohort, load_split, make_split, write_split

    cohort = discover_cohort(cohort_dir, "staging")
    for r in cohort.records:  # two nights per subject
        r.subject = "S" + r.id[-1:] if int(r.id[-1]) < 2 else "S" + str(int(r.id[-1]) - 2)
    a = make_split(cohort, (0.5, 0.0, 0.5), seed=3)
    b = make_split(cohort, (0.5, 0.0, 0.5), seed=3)
    assert a == b
    for part in ("train", "test"):
        subjects = {a["subjects"][i] for i in a[part]}
        other = {a["subjects"][i] for p in ("train", "test") if p != part for i in a[p]}
        assert not subjects & other
    loaded = load_split(write_split(a, tmp_path / "split.json"), cohort)
    assert loaded["train"] == a["train"] and loaded["test"] == a["test"]


def test_split_with_a_subject_in_two_parts_is_refused(tmp_path, cohort_dir):
    from sleepfm_engine.training.cohort import discover_cohort, load_split

    cohort = discover_cohort(cohort_dir, "staging")
    for r in cohort.records:
        r.subject = "same person"
    (tmp_path / "s.json").write_text(json.dumps({"train": ["night00"], "validation": [], "test": ["night01"]}))
    with pytest.raises(ValueError, match="both train and test"):
        load_split(tmp_path / "s.json", cohort)


def test_reference_style_split_of_paths_is_matched_by_stem(tmp_path, cohort_dir):
    from sleepfm_engine.training.cohort import discover_cohort, load_split

    cohort = discover_cohort(cohort_dir, "staging")
    (tmp_path / "s.json").write_text(json.dumps({"train": ["/x/y/night00.h5", "/x/night01.h5"],
                                                 "validation": [], "test": ["night02", "missing"]}))
    with pytest.warns(UserWarning, match="not in the cohort"):
        s = load_split(tmp_path / "s.json", cohort)
    assert s["train"] == ["night00", "night01"] and s["test"] == ["night02"]


def test_survival_and_demographics_tables_are_read_and_bad_rows_named(tmp_path):
    from sleepfm_engine.training.cohort import read_demographics, read_survival

    write_survival(tmp_path, ["a", "b"])
    surv = read_survival(tmp_path / "is_event.csv", tmp_path / "time_to_event.csv")
    assert surv.phecodes == ["327.3", "401.1"] and surv.is_event["a"].shape == (2,)
    assert read_demographics(tmp_path / "demographics.csv")["b"] == (41.0, 1)
    (tmp_path / "d.csv").write_text("Study ID,age,gender\na,50,unknown\n")
    with pytest.raises(ValueError, match="line 2"):
        read_demographics(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text("Study ID,1.0\na,2\n")
    (tmp_path / "t.csv").write_text("Study ID,1.0\na,5\n")
    with pytest.raises(ValueError, match="other than 0/1"):
        read_survival(tmp_path / "e.csv", tmp_path / "t.csv")


def test_token_labels_follow_the_hypnogram_and_exclude_unscored(tmp_path):
    from sleepfm_engine import open_recording
    from sleepfm_engine.training.cohort import token_labels

    path = write_night(tmp_path, "n", 10, seed=1)
    lines = (tmp_path / "n.hypnogram.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",?"
    (tmp_path / "n.hypnogram.csv").write_text("\n".join(lines) + "\n")
    with open_recording(path) as rec:
        tok = token_labels(tmp_path / "n.hypnogram.csv", rec, 2 * TOKENS_PER_CHUNK)
    assert tok.shape == (120,)
    assert np.all(tok[12:18] == -1)  # epoch 2 unscored: its six tokens
    assert np.all(tok[:6] == tok[0]) and tok[0] >= 0


# -------------------------------------------------------------------------------------- cache
def test_prep_cache_is_reused_and_invalidated_when_the_file_changes(tmp_path, monkeypatch):
    from sleepfm_engine.training import cache as cache_mod
    from sleepfm_engine.training.cohort import discover_cohort

    folder = make_cohort(tmp_path / "c", n=1, minutes=10)
    cohort = discover_cohort(folder, "staging")
    c = cache_mod.TrainingCache(tmp_path / "cache")
    first = cache_mod.prepare_record(c, cohort.records[0])
    assert first.n_chunks == 2 and first.modalities == ["BAS", "RESP", "EKG", "EMG"]
    arr = first.array("BAS")
    assert arr.shape == (2, 1, CHUNK_SAMPLES) and arr.dtype == np.float16
    calls = []
    import sleepfm_engine.inference as inference

    real = inference.prepare_modalities
    monkeypatch.setattr(inference, "prepare_modalities", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = cache_mod.prepare_record(c, cohort.records[0])
    assert again.path == first.path and calls == []
    # change the recording: new content hash, new entry, preprocessed again
    p = cohort.records[0].recording
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10_000_000))
    changed = cache_mod.prepare_record(c, cohort.records[0])
    assert changed.path != first.path and calls == [1]


def test_cached_chunks_equal_the_preprocessed_signal(tmp_path):
    from sleepfm_engine import open_recording
    from sleepfm_engine.preprocessing import preprocess
    from sleepfm_engine.training.cache import TrainingCache, prepare_record
    from sleepfm_engine.training.cohort import discover_cohort

    folder = make_cohort(tmp_path / "c", n=1, minutes=10)
    rec = discover_cohort(folder, "staging").records[0]
    entry = prepare_record(TrainingCache(tmp_path / "cache"), rec)
    with open_recording(rec.recording) as r:
        ref = preprocess(r, ["C3-M2"])["C3-M2"]
    got = np.asarray(entry.array("BAS"), dtype=np.float32)[:, 0].reshape(-1)
    np.testing.assert_allclose(got, ref[: got.size].astype(np.float16).astype(np.float32), atol=1e-3)


def test_embedding_cache_is_keyed_by_the_model(tmp_path):
    import torch

    from sleepfm_engine.checkpoints import load_model
    from sleepfm_engine.training.cache import (TrainingCache, embed_records, model_identity,
                                               prepare_record, read_embeddings)
    from sleepfm_engine.training.cohort import discover_cohort

    folder = make_cohort(tmp_path / "c", n=1, minutes=10)
    rec = discover_cohort(folder, "staging").records[0]
    c = TrainingCache(tmp_path / "cache")
    prep = {rec.id: prepare_record(c, rec)}
    a, b = make_base(tmp_path / "a", seed=0), make_base(tmp_path / "b", seed=1)
    ma, mb = load_model(a), load_model(b)
    ida, idb = model_identity(ma, a), model_identity(mb, b)
    assert ida != idb
    pa = embed_records(c, prep, ma, ida, torch.device("cpu"))[rec.id]
    pb = embed_records(c, prep, mb, idb, torch.device("cpu"))[rec.id]
    assert pa != pb
    emb = read_embeddings(pa)
    assert emb["BAS"].shape == (2 * TOKENS_PER_CHUNK, 16)
    mtime = pa.stat().st_mtime_ns
    embed_records(c, prep, ma, ida, torch.device("cpu"))
    assert pa.stat().st_mtime_ns == mtime  # reused, not recomputed


# ------------------------------------------------------------------------------------- losses
def test_masked_contrastive_loss_equals_the_reference_with_every_modality():
    import torch
    import torch.nn.functional as F

    from sleepfm_engine.models import contrastive_loss
    from sleepfm_engine.training.losses import masked_contrastive_loss

    torch.manual_seed(0)
    emb = F.normalize(torch.randn(4, 6, 8), dim=-1)
    present = torch.ones(4, 6, dtype=torch.bool)
    t = torch.tensor(0.3)
    for mode in ("leave_one_out", "pairwise"):
        ref = contrastive_loss(emb, t, mode=mode)
        got, acc = masked_contrastive_loss(emb, present, t, mode, return_accuracy=True)
        torch.testing.assert_close(got, ref)
        assert 0.0 <= acc <= 1.0


def test_masked_contrastive_loss_uses_only_the_modalities_a_chunk_has():
    import torch
    import torch.nn.functional as F

    from sleepfm_engine.models import contrastive_loss
    from sleepfm_engine.training.losses import masked_contrastive_loss

    torch.manual_seed(1)
    emb = F.normalize(torch.randn(4, 5, 8), dim=-1)
    present = torch.ones(4, 5, dtype=torch.bool)
    present[3] = False  # no chunk has EMG: same as three modalities
    garbage = emb.clone()
    garbage[3] = 100.0
    torch.testing.assert_close(masked_contrastive_loss(garbage, present, 0.0),
                               contrastive_loss(emb[:3], 0.0))
    present[2, :2] = False  # two chunks lack EKG too
    loss = masked_contrastive_loss(garbage.requires_grad_(), present, 0.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(garbage.grad[3] == 0)


# ------------------------------------------------------------------------------------ metrics
def test_concordance_index_matches_a_brute_force_count():
    from sleepfm_engine.training.metrics import concordance_index

    rng = np.random.default_rng(0)
    t = rng.integers(1, 20, 40).astype(float)
    e = rng.random(40) < 0.6
    r = np.round(rng.normal(size=40), 1)
    num = den = 0.0
    for i in range(40):
        for j in range(40):
            # lifelines' convention: an event before a censoring at the same time is a pair
            if e[i] and (t[i] < t[j] or (t[i] == t[j] and not e[j])):
                den += 1
                num += 1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0
    assert concordance_index(t, e, r) == pytest.approx(num / den)
    u = np.arange(40.0)
    assert concordance_index(u, e, -u) == pytest.approx(1.0)  # risk = earlier event
    assert np.isnan(concordance_index(t, np.zeros(40), r))


def test_staging_report_aggregates_tokens_to_epochs():
    from sleepfm_engine.training.metrics import staging_report, tokens_to_epochs

    labels = np.repeat([0, 2, 2, 4, -1], 6)
    probs = np.eye(5)[np.repeat([0, 2, 1, 4, 3], 6)]
    el, ep = tokens_to_epochs(labels, probs)
    assert el.tolist() == [0, 2, 2, 4, -1] and ep.argmax(1).tolist() == [0, 2, 1, 4, 3]
    rep = staging_report([{"id": "a", "labels": labels, "probs": probs}])
    assert rep["epoch"]["n_compared"] == 4 and rep["accuracy"] == pytest.approx(0.75)
    assert rep["epoch"]["confusion_matrix"][2][1] == 1
    perfect = staging_report([{"id": "a", "labels": labels, "probs": np.eye(5)[np.maximum(labels, 0)]}])
    assert perfect["kappa"] == pytest.approx(1.0) and perfect["score"] == pytest.approx(1.0)


def test_training_forward_of_the_base_equals_its_forward():
    import torch

    from sleepfm_engine.checkpoints import build_model
    from sleepfm_engine.training.pretrain import base_config, encode_chunks

    from training_helpers import TINY_BASE

    torch.manual_seed(0)
    base = build_model(base_config(TINY_BASE)).eval()
    x = torch.randn(2, 3, CHUNK_SAMPLES)
    mask = torch.tensor([[False, False, True], [False, False, False]])
    with torch.no_grad():
        ref = base(x, mask)
        got = encode_chunks(base, x, mask)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])
