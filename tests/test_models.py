"""The SleepFM architectures and losses reproduce the reference (golden file) and keep its semantics."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sleepfm_engine.checkpoints import load_model
from sleepfm_engine.models import (AttentionPooling, PositionalEncoding, SetTransformer,
                                   SleepEventLSTMClassifier, Tokenizer, contrastive_loss,
                                   cox_ph_loss, staging_cross_entropy)

TOL = dict(atol=1e-4, rtol=1e-4)


GOLDEN = Path(__file__).parent / "data" / "golden_tiny"


@pytest.fixture(scope="module")
def golden():
    return torch.load(GOLDEN / "golden_io.pt", weights_only=True)


@pytest.fixture(scope="module")
def tiny():
    """The three golden models, loaded through the public loader as a user would."""
    root = GOLDEN
    return {k: load_model(root / f"model_{k}") for k in ("base", "sleep_staging", "diagnosis")}


# ------------------------------------------------------------------------------ golden numerics
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_base_reproduces_golden_pooled_and_token_embeddings(golden, tiny, grad):
    g = golden["base"]
    with torch.set_grad_enabled(grad):
        pooled, embedding = tiny["base"](g["x"], g["mask"])
    assert pooled.shape == (2, 32) and embedding.shape == (2, 24, 32)
    torch.testing.assert_close(pooled, g["pooled"], **TOL)
    torch.testing.assert_close(embedding, g["embedding"], **TOL)


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_staging_head_reproduces_golden_logits_and_temporal_mask(golden, tiny, grad):
    g = golden["staging"]
    with torch.set_grad_enabled(grad):
        logits, mask_temporal = tiny["sleep_staging"](g["x"], g["mask"])
    torch.testing.assert_close(logits, g["logits"], **TOL)
    torch.testing.assert_close(mask_temporal, g["mask_temporal"], atol=0, rtol=0)


def test_staging_head_gives_the_same_logits_for_bool_and_float_masks(golden, tiny):
    g = golden["staging"]
    with torch.no_grad():
        a, _ = tiny["sleep_staging"](g["x"], g["mask"])
        b, _ = tiny["sleep_staging"](g["x"], g["mask"].bool())
    torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_diagnosis_head_reproduces_golden_hazards(golden, tiny, grad):
    g = golden["diagnosis"]
    with torch.set_grad_enabled(grad):
        hazards = tiny["diagnosis"](g["x"], g["mask"], g["demo"])
    torch.testing.assert_close(hazards, g["hazards"], **TOL)


def test_coxph_loss_matches_golden(golden):
    g = golden["coxph"]
    torch.testing.assert_close(cox_ph_loss(g["hazards"], g["event_times"], g["is_event"]), g["loss"], **TOL)


def test_staging_cross_entropy_matches_golden(golden):
    g = golden["staging_ce"]
    torch.testing.assert_close(staging_cross_entropy(g["logits"], g["targets"], g["mask"]), g["loss"], **TOL)


@pytest.mark.parametrize("mode", ["leave_one_out", "pairwise"])
def test_contrastive_losses_match_golden_sum_and_per_sample(golden, mode):
    g = golden[f"contrastive_{mode}"]
    total = contrastive_loss(g["embeddings"], g["temperature"], mode=mode, reduction="sum")
    mean = contrastive_loss(list(g["embeddings"]), g["temperature"], mode=mode)
    torch.testing.assert_close(total, g["loss_sum_over_batch"], **TOL)
    torch.testing.assert_close(mean, g["loss_per_sample"], **TOL)


# ------------------------------------------------------------------------------ loss semantics
def test_staging_cross_entropy_ignores_unscored_tokens_by_default_and_can_train_them_as_wake(golden):
    g = golden["staging_ce"]
    targets = g["targets"].clone()
    targets[0, :10] = -1
    ignored = staging_cross_entropy(g["logits"], targets, g["mask"])
    keep = ~g["mask"].bool()
    keep[0, :10] = False
    manual = torch.nn.functional.cross_entropy(
        g["logits"][keep], targets[keep], weight=torch.tensor([1.0, 4, 2, 4, 3]), reduction="sum") / keep.sum()
    torch.testing.assert_close(ignored, manual)
    as_wake = staging_cross_entropy(g["logits"], targets, g["mask"], unscored="wake")
    wake_targets = targets.clamp(min=0)
    torch.testing.assert_close(as_wake, staging_cross_entropy(g["logits"], wake_targets, g["mask"]))
    assert not torch.isclose(ignored, as_wake)


def test_staging_cross_entropy_rejects_out_of_range_targets():
    with pytest.raises(ValueError, match="targets"):
        staging_cross_entropy(torch.zeros(1, 3, 5), torch.tensor([[0, 5, 1]]))


def test_staging_cross_entropy_of_an_all_padded_batch_is_zero_and_differentiable():
    logits = torch.randn(1, 4, 5, requires_grad=True)
    loss = staging_cross_entropy(logits, torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_coxph_label_without_events_contributes_zero():
    hazards = torch.randn(6, 1)
    loss = cox_ph_loss(hazards, torch.arange(6.0)[:, None], torch.zeros(6, 1))
    assert loss.item() == 0.0


def test_contrastive_temperature_is_clamped_at_zero():
    emb = torch.nn.functional.normalize(torch.randn(3, 5, 8), dim=-1)
    assert torch.equal(contrastive_loss(emb, -2.0), contrastive_loss(emb, 0.0))
    assert not torch.equal(contrastive_loss(emb, 0.5), contrastive_loss(emb, 0.0))


def test_contrastive_loss_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        contrastive_loss(torch.zeros(2, 3, 4), 0.0, mode="triplet")


# ---------------------------------------------------------------------------- model semantics
def test_tokenizer_turns_each_640_sample_patch_into_one_token():
    tok = Tokenizer(640, 16).eval()
    out = tok(torch.randn(2, 3, 640 * 4))
    assert out.shape == (2, 3, 4, 16)
    with pytest.raises(ValueError, match="640-sample"):
        tok(torch.randn(1, 1, 1000))


def test_attention_pooling_with_one_channel_is_the_identity_not_the_transformer():
    pool = AttentionPooling(8, num_heads=2).eval()
    x = torch.randn(5, 1, 8)
    assert torch.equal(pool(x, torch.zeros(5, 1)), x[:, 0])


def test_attention_pooling_ignores_padded_entries():
    pool = AttentionPooling(8, num_heads=2).eval()
    x = torch.randn(3, 4, 8)
    mask = torch.tensor([[0, 0, 1, 1]] * 3, dtype=torch.bool)
    y = x.clone()
    y[:, 2:] = 1000.0
    torch.testing.assert_close(pool(x, mask), pool(y, mask))


def test_positional_encoding_refuses_sequences_longer_than_its_table():
    pe = PositionalEncoding(10, 8)
    assert pe(torch.zeros(1, 10, 8)).shape == (1, 10, 8)
    with pytest.raises(ValueError, match="max_seq_length"):
        pe(torch.zeros(1, 11, 8))


def test_set_transformer_is_invariant_to_channel_order_and_padded_channel_content():
    torch.manual_seed(0)
    model = SetTransformer(1, 640, 16, 2, 1, pooling_head=2, dropout=0.0).eval()
    x = torch.randn(1, 3, 640 * 3)
    mask = torch.tensor([[0.0, 0.0, 1.0]])
    with torch.no_grad():
        pooled, emb = model(x, mask)
        swapped = model(x[:, [1, 0, 2]], mask)
        junk = x.clone()
        junk[:, 2] = 50.0
        padded_junk = model(junk, mask)
    torch.testing.assert_close(swapped[0], pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_junk[1], emb, atol=1e-5, rtol=1e-5)


def test_set_transformer_rejects_a_mask_of_the_wrong_shape():
    model = SetTransformer(1, 640, 16, 2, 1, pooling_head=2).eval()
    with pytest.raises(ValueError, match="mask shape"):
        model(torch.randn(1, 2, 640), torch.zeros(1, 3))


def test_staging_head_outputs_one_logit_row_per_token_and_rejects_a_bad_mask():
    head = SleepEventLSTMClassifier(16, 2, 1, 5, pooling_head=2, max_seq_length=64).eval()
    logits, mt = head(torch.randn(2, 4, 30, 16), torch.zeros(2, 4, 30))
    assert logits.shape == (2, 30, 5) and mt.shape == (2, 30)
    with pytest.raises(ValueError, match="mask shape"):
        head(torch.randn(2, 4, 30, 16), torch.zeros(2, 4, 29))


def test_diagnosis_head_explains_a_sample_whose_first_channel_is_all_padding(tiny):
    x = torch.randn(1, 4, 10, 32)
    mask = torch.zeros(1, 4, 10)
    mask[:, 0] = 1
    with pytest.raises(ValueError, match="channel 0"):
        tiny["diagnosis"](x, mask, torch.zeros(1, 2))


def test_diagnosis_head_ignores_tokens_past_each_samples_length(tiny):
    torch.manual_seed(1)
    x = torch.randn(2, 2, 12, 32)
    mask = torch.zeros(2, 2, 12)
    mask[1, :, 8:] = 1
    demo = torch.randn(2, 2)
    with torch.no_grad():
        full = tiny["diagnosis"](x, mask, demo)
        x2 = x.clone()
        x2[1, :, 8:] = 99.0
        again = tiny["diagnosis"](x2, mask, demo)
        alone = tiny["diagnosis"](x[1:, :, :8], mask[1:, :, :8], demo[1:])
    torch.testing.assert_close(full, again)
    torch.testing.assert_close(full[1:], alone, atol=1e-5, rtol=1e-5)
