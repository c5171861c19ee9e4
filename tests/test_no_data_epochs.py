"""No data, no stage: gaps of an EDF+D file are "no data" tokens and epochs, never staged; a
model whose outputs are not finite writes no hypnogram; a short last epoch is not staged."""
from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest
import torch

from sleepfm_engine.checkpoints import load_model, load_release
from sleepfm_engine.errors import ModelError
from sleepfm_engine.hypnogram import UNSCORED
from sleepfm_engine.inference import Embeddings, embed_recording, stage_recording
from sleepfm_engine.inference.inputs import prepare_modalities
from sleepfm_engine.inference.staging import epoch_probabilities
from sleepfm_engine.preprocessing import no_data_windows, preprocess_signal
from sleepfm_engine.recording import open_recording

from edf_factory import Sig, tal_record, write_edf
from inference_helpers import TINY, make_release, one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return load_release(make_release(tmp_path_factory.mktemp("rel") / "release"))


def _embeddings(n_tokens: int, no_data=None, dim=32) -> Embeddings:
    rng = np.random.default_rng(3)
    mods = ("BAS", "EKG")
    return Embeddings(tokens={m: rng.standard_normal((n_tokens, dim)).astype(np.float32) for m in mods},
                      chunks={m: np.zeros((1, dim), np.float32) for m in mods},
                      channels={m: [m] for m in mods}, start=dt.datetime(2024, 1, 1, 22, 0),
                      duration_s=n_tokens * 5.0, no_data=no_data)


def _discontinuous(path, seconds_with_data: list[range], rate=128):
    """An EDF+D of 1-s records at the given seconds (gaps between the ranges)."""
    onsets = [s for r in seconds_with_data for s in r]
    rng = np.random.default_rng(0)
    n = len(onsets)
    sigs = [Sig(label, rate, rng.integers(-3000, 3000, rate * n)) for label in ("C3-M2", "ECG")]
    return write_edf(path, sigs, reserved="EDF+D", annotation_records=[tal_record(s) for s in onsets])


def test_gaps_of_an_edf_plus_d_file_are_listed():
    assert no_data_windows([(12.0, 30.0)], 5.0, 10).tolist() == [
        False, False, True, True, True, True, False, False, False, False]


def test_recording_gaps_are_the_spans_between_its_records(tmp_path):
    rec = open_recording(_discontinuous(tmp_path / "d.edf", [range(0, 60), range(120, 180)]))
    assert rec.gaps == [(60.0, 120.0)]
    assert np.isnan(rec.read_channel("C3-M2", 70, 80)).all()


def test_gap_filled_samples_do_not_shrink_the_z_score():
    rng = np.random.default_rng(1)
    real = rng.standard_normal(128 * 60)
    x = np.concatenate([real, np.full(128 * 240, np.nan)])
    with pytest.warns(UserWarning, match="filled"):
        out = preprocess_signal(x, 128.0)
    assert out[:128 * 60].std() == pytest.approx(1.0, rel=1e-3)


def test_prepared_modalities_flag_the_tokens_of_a_gap(tmp_path):
    path = _discontinuous(tmp_path / "d.edf", [range(0, 60), range(122, 300)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = prepare_modalities(open_recording(path))
    flags = next(iter(inputs.values())).no_data
    assert np.flatnonzero(flags).tolist() == list(range(12, 25))  # 60..125 s touch the gap


def test_epochs_of_a_gap_are_unscored_never_staged(tmp_path, release):
    path = _discontinuous(tmp_path / "d.edf", [range(0, 60), range(150, 300)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = embed_recording(path, release, device="cpu")
        hyp = stage_recording(emb, release, device="cpu")
    assert emb.no_data[12:30].all() and not emb.no_data[:12].any()
    names = hyp.stage_names()
    assert names[2:5] == ["?", "?", "?"]                       # 60..150 s: no data
    assert all(n != "?" for n in names[:2] + names[5:])
    assert np.isnan(hyp.probabilities[2:5]).all()
    stats = hyp.statistics()
    assert stats["TST"] <= (hyp.n_epochs - 3) * 0.5


def test_no_data_flags_survive_the_embedding_file(tmp_path):
    flags = np.zeros(40, dtype=bool)
    flags[[3, 17, 18]] = True
    emb = _embeddings(40, flags)
    back = Embeddings.from_hdf5(emb.to_hdf5(tmp_path / "e.hdf5"))
    assert np.array_equal(back.no_data, flags)


def test_epoch_probabilities_leave_out_tokens_without_data():
    tok = np.tile(np.eye(5, dtype=np.float32)[[0]], (12, 1))
    tok[6:9] = np.eye(5, dtype=np.float32)[2]
    no_data = np.zeros(12, dtype=bool)
    no_data[6:9] = True
    ep = epoch_probabilities(tok, no_data=no_data)
    assert ep[1].tolist() == [1, 0, 0, 0, 0]
    no_data[6:12] = True
    assert np.isnan(epoch_probabilities(tok, no_data=no_data)[1]).all()


def test_a_last_piece_shorter_than_half_an_epoch_is_unscored_with_a_warning(release):
    with pytest.warns(RuntimeWarning, match="last epoch holds only 5 s"):
        hyp = stage_recording(_embeddings(61), release, device="cpu")
    assert hyp.n_epochs == 11 and hyp.stages[-1] == UNSCORED
    assert (hyp.stages[:-1] != UNSCORED).all()


def test_non_finite_weights_are_refused_at_load_naming_the_key(tmp_path):
    import shutil

    folder = shutil.copytree(TINY / "model_sleep_staging", tmp_path / "staging")
    state = torch.load(folder / "best.pth", weights_only=True)
    key = next(k for k, v in state.items() if k.endswith("fc.bias"))
    state[key][0] = float("inf")
    torch.save(state, folder / "best.pth")
    with pytest.raises(ModelError, match=r"non-finite values in fc\.bias"):
        load_model(folder)


def test_non_finite_model_outputs_write_no_hypnogram(release):
    head = release.staging
    saved = {k: v.clone() for k, v in head.state_dict().items()}
    try:
        with torch.no_grad():
            next(p for n, p in head.named_parameters() if n.endswith("fc.bias"))[0] = float("nan")
        with pytest.raises(ModelError, match="non-finite probabilities.*no hypnogram"):
            stage_recording(_embeddings(60), head, device="cpu")
    finally:
        head.load_state_dict(saved)
