"""Inference: chunking of a night, base-model embeddings, staging windows and epochs, risk, devices."""
from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest
import torch

from sleepfm_engine.checkpoints import load_release
from sleepfm_engine.errors import JobCancelled, ModelError, RecordingError
from sleepfm_engine.inference import (Embeddings, ModalityInput, embed_inputs, embed_recording,
                                      epoch_probabilities, plan_chunks, plan_windows, prepare_modalities,
                                      stage_recording, token_probabilities)
from sleepfm_engine.inference.heads import stack_tokens
from sleepfm_engine.jobs import TaskState

from inference_helpers import make_release, one_thread, write_night

T5MIN = 38400

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return load_release(make_release(tmp_path_factory.mktemp("rel") / "release"))


def _inputs(minutes: float, spec=(("BAS", 3), ("EKG", 1)), seed=0) -> dict[str, ModalityInput]:
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * 128)
    return {m: ModalityInput(m, [f"{m}{i}" for i in range(c)], rng.standard_normal((c, n)).astype(np.float32))
            for m, c in spec}


def _forward(model, data: np.ndarray):
    with torch.inference_mode():
        x = torch.from_numpy(data)[None]
        return model(x, torch.zeros(1, data.shape[0]))


def _random_embeddings(n_tokens: int, mods=("BAS", "EKG", "RESP"), dim=32, seed=1) -> Embeddings:
    rng = np.random.default_rng(seed)
    return Embeddings(tokens={m: rng.standard_normal((n_tokens, dim)).astype(np.float32) for m in mods},
                      chunks={m: np.zeros((1, dim), np.float32) for m in mods},
                      channels={m: [m] for m in mods}, start=dt.datetime(2024, 1, 1, 22, 0),
                      duration_s=n_tokens * 5.0)


# ---------------------------------------------------------------------------- chunk plan
@pytest.mark.parametrize("n, starts, length, tail", [
    (1, [0], 1, 0), (36, [0], 36, 0), (60, [0], 60, 0), (61, [0, 1], 60, 1),
    (90, [0, 30], 60, 30), (120, [0, 60], 60, 0), (5759, list(range(0, 5700, 60)) + [5699], 60, 59),
])
def test_chunk_plan_covers_every_token_once(n, starts, length, tail):
    plan = plan_chunks(n)
    assert plan.starts.tolist() == starts and plan.length == length and plan.tail == tail
    assert plan.n_tokens == n


def test_chunk_plan_refuses_an_empty_night():
    with pytest.raises(ValueError):
        plan_chunks(0)


# ----------------------------------------------------------------------------- embeddings
def test_embeddings_equal_the_model_on_each_chunk_including_the_partial_last_one(release):
    inputs = _inputs(7.5)
    emb = embed_inputs(inputs, release, device="cpu", batch_size=1)
    assert emb.n_tokens == 90 and emb.n_chunks == 2
    assert emb.chunk_starts_s.tolist() == [0.0, 150.0]
    for m, inp in inputs.items():
        p0, e0 = _forward(release.base, inp.data[:, :T5MIN])
        p1, e1 = _forward(release.base, inp.data[:, -T5MIN:])
        expected = torch.cat([e0[0], e1[0, 30:]]).numpy()   # last chunk: only its new 30 tokens
        np.testing.assert_allclose(emb.tokens[m], expected, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(emb.chunks[m], torch.cat([p0, p1]).numpy(), atol=1e-5, rtol=1e-5)
        assert emb.tokens[m].dtype == np.float32 and emb.tokens[m].shape == (90, 32)


def test_batch_size_does_not_change_the_embeddings(release):
    inputs = _inputs(16)
    a = embed_inputs(inputs, release.base, device="cpu", batch_size=1)
    b = embed_inputs(inputs, release.base, device="cpu", batch_size=64)
    for m in inputs:
        np.testing.assert_allclose(a.tokens[m], b.tokens[m], atol=1e-5)
        np.testing.assert_allclose(a.chunks[m], b.chunks[m], atol=1e-5)


def test_night_shorter_than_five_minutes_is_one_shorter_chunk_without_padding(release):
    inputs = _inputs(3.0)
    emb = embed_inputs(inputs, release, device="cpu")
    assert emb.n_tokens == 36 and emb.n_chunks == 1
    pooled, tokens = _forward(release.base, inputs["BAS"].data)
    np.testing.assert_allclose(emb.tokens["BAS"], tokens[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(emb.chunks["BAS"], pooled.numpy(), atol=1e-5)


def test_recording_embeddings_from_edf_have_only_present_modalities(tmp_path, release):
    path = write_night(tmp_path / "night.edf", 7.5, labels=("C3-M2", "O1-M2", "ECG"))
    emb = embed_recording(path, release, device="cpu")
    assert emb.modalities == ["BAS", "EKG"]          # no RESP/EMG: absent, not zero-filled
    assert emb.channels == {"BAS": ["C3-M2", "O1-M2"], "EKG": ["ECG"]}
    assert {m: a.shape for m, a in emb.tokens.items()} == {"BAS": (90, 32), "EKG": (90, 32)}
    assert emb.start == dt.datetime(2003, 11, 17, 22, 15) and emb.duration_s == 450.0
    assert emb.model_id.endswith("model_base") and len(emb.config_hash) == 16
    assert emb.source == str(path)


def test_prepare_modalities_caps_channels_and_refuses_recordings_without_modalities(tmp_path):
    path = write_night(tmp_path / "many.edf", 1.0, labels=("C3-M2", "C4-M1", "O1-M2", "O2-M1", "F3-M2",
                                                          "F4-M1", "E1-M2", "E2-M2", "Fpz-Cz", "Pz-Oz",
                                                          "Cz-Oz", "ECG"))
    with pytest.warns(RuntimeWarning, match="BAS has 11 channels"):
        inputs = prepare_modalities(path)
    assert inputs["BAS"].data.shape == (10, 60 * 128) and inputs["EKG"].data.shape == (1, 60 * 128)
    assert inputs["BAS"].data.dtype == np.float32
    np.testing.assert_allclose(inputs["BAS"].data.std(axis=1), 1.0, atol=1e-3)   # z-scored
    assert prepare_modalities(path, max_channels=False)["BAS"].data.shape[0] == 11
    bad = write_night(tmp_path / "none.edf", 1.0, labels=("Light", "Position"))
    with pytest.raises(RecordingError, match="no channel maps"):
        prepare_modalities(bad)


def test_overrides_saved_in_the_application_change_the_modalities_inference_uses(tmp_path):
    from sleepfm_engine.sidecars import overrides_target

    path = write_night(tmp_path / "night.edf", 1.0)
    auto = prepare_modalities(path)
    assert auto["RESP"].channels == ["Airflow"] and auto["EMG"].channels == ["Chin1-Chin2"]
    overrides_target(path).write_text('{"Airflow": "EMG"}')
    said = []
    used = prepare_modalities(path, state=TaskState([lambda p: said.append(p.message)]))
    assert "RESP" not in used and used["EMG"].channels == ["Chin1-Chin2", "Airflow"]
    assert any("night.edf.channels.json" in m for m in said)
    # An explicit channel map still wins over the saved file.
    from sleepfm_engine.channels import ChannelMap
    from sleepfm_engine.recording import open_recording
    with open_recording(path) as rec:
        assert prepare_modalities(rec, ChannelMap.from_recording(rec))["RESP"].channels == ["Airflow"]


def test_recording_shorter_than_one_token_is_refused(tmp_path):
    path = write_night(tmp_path / "tiny.edf", 4 / 60, labels=("C3-M2",))
    with pytest.raises(RecordingError, match="less than one 5-s token"):
        prepare_modalities(path)


def test_embedding_reports_progress_and_stops_between_batches(release):
    inputs = _inputs(20)
    seen = []
    state = TaskState([lambda p: seen.append(p.fraction)])
    embed_inputs(inputs, release, device="cpu", batch_size=1, state=state)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)

    calls = []

    def cancel_after_two(p):
        calls.append(p)
        if len(calls) == 4:
            state2.request_interruption()

    state2 = TaskState([cancel_after_two], threading.Event())
    with pytest.raises(JobCancelled):
        embed_inputs(inputs, release, device="cpu", batch_size=1, state=state2)
    assert len(calls) < 2 * len(seen)


def test_a_head_is_refused_where_the_base_model_is_needed(release):
    with pytest.raises(ModelError, match="base model is needed"):
        embed_inputs(_inputs(1), release.staging, device="cpu")


# -------------------------------------------------------------------------------- staging
def test_head_input_puts_present_modalities_first_and_pads_the_rest():
    emb = _random_embeddings(10, mods=("RESP", "BAS"))
    x, mask = stack_tokens(emb, 4)
    assert x.shape == (1, 4, 10, 32) and mask.shape == (1, 4, 10)
    np.testing.assert_array_equal(x[0, 0], emb.tokens["BAS"])      # reference order: BAS, EKG, EMG, RESP
    np.testing.assert_array_equal(x[0, 1], emb.tokens["RESP"])
    assert not mask[0, :2].any() and mask[0, 2:].all() and not x[0, 2:].any()


@pytest.mark.parametrize("n, window, overlap, starts", [
    (400, 512, 128, [0]), (512, 512, 128, [0]), (1000, 512, 128, [0, 384, 488]),
    (1200, 512, 0, [0, 512, 688]),
])
def test_window_plan(n, window, overlap, starts):
    assert plan_windows(n, window, overlap) == starts


def test_stitched_staging_equals_a_single_pass_when_the_night_fits(release):
    emb = _random_embeddings(400)
    probs = token_probabilities(emb, release, device="cpu")
    x, mask = stack_tokens(emb, 4)
    with torch.inference_mode():
        logits, _ = release.staging(torch.from_numpy(x), torch.from_numpy(mask))
    np.testing.assert_allclose(probs, torch.softmax(logits[0], -1).numpy(), atol=1e-6)


def test_staging_beyond_max_seq_length_averages_overlapping_windows(release):
    emb = _random_embeddings(1000)                    # tiny head: max_seq_length 512
    probs = token_probabilities(emb, release, device="cpu")
    assert probs.shape == (1000, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    x, mask = stack_tokens(emb, 4)

    def window(s):
        with torch.inference_mode():
            logits, _ = release.staging(torch.from_numpy(x[..., s:s + 512, :]),
                                        torch.from_numpy(mask[..., s:s + 512]))
        return torch.softmax(logits[0], -1).numpy()

    w0, w1, w2 = window(0), window(384), window(488)
    np.testing.assert_allclose(probs[:384], w0[:384], atol=1e-6)            # only window 0
    np.testing.assert_allclose(probs[400:488], (w0[400:488] + w1[16:104]) / 2, atol=1e-6)
    np.testing.assert_allclose(probs[500:512], (w0[500:512] + w1[116:128] + w2[12:24]) / 3, atol=1e-6)
    np.testing.assert_allclose(probs[896:], w2[408:], atol=1e-6)             # only the last window


def test_epoch_probabilities_average_six_tokens_and_keep_a_partial_last_epoch():
    tok = np.random.default_rng(0).dirichlet(np.ones(5), size=40).astype(np.float32)
    ep = epoch_probabilities(tok)
    assert ep.shape == (7, 5)
    np.testing.assert_allclose(ep[0], tok[:6].mean(0), atol=1e-6)
    np.testing.assert_allclose(ep[6], tok[36:].mean(0), atol=1e-6)


def test_stage_recording_returns_a_30s_hypnogram_aligned_with_the_start(release):
    emb = _random_embeddings(90)
    hyp = stage_recording(emb, release, device="cpu")
    assert hyp.n_epochs == 15 and hyp.epoch_length == 30.0 and hyp.offset == 0.0
    assert hyp.start == emb.start and hyp.scorer == "SleepFM " + release.info["staging"].path.parent.name \
        + "/model_sleep_staging"
    assert hyp.probabilities.shape == (15, 5)
    np.testing.assert_array_equal(hyp.stages, hyp.probabilities.argmax(1))
    tok = token_probabilities(emb, release, device="cpu")
    np.testing.assert_allclose(hyp.probabilities[2], tok[12:18].mean(0), atol=1e-6)


def test_a_model_whose_name_starts_with_sleepfm_is_credited_once_not_as_sleepfm_sleepfm(release):
    import dataclasses

    from sleepfm_engine.inference.handles import resolve_model

    named = dataclasses.replace(resolve_model(release, "staging"),
                                model_id="SleepFM Studio demo staging (synthetic)")
    hyp = stage_recording(_random_embeddings(12), named, device="cpu")
    assert hyp.scorer == "SleepFM Studio demo staging (synthetic)"


def test_window_larger_than_the_head_allows_is_refused(release):
    with pytest.raises(ValueError, match="max_seq_length"):
        token_probabilities(_random_embeddings(20), release, device="cpu", window=600)


def test_folded_tokenizer_equals_the_module_and_other_layouts_fall_back(release):
    from torch import nn

    from sleepfm_engine.inference.base import fast_tokenizer

    tok = release.base.patch_embedding.tokenizer
    x = torch.randn(64, 1, 640)
    with torch.inference_mode():
        np.testing.assert_allclose(fast_tokenizer(tok)(x).numpy(), tok(x).numpy(), atol=1e-5)
    odd = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.ELU) else m for m in tok]).eval()
    assert fast_tokenizer(odd) is odd
    short = nn.Sequential(*list(tok)[:-1]).eval()
    assert fast_tokenizer(short) is short
