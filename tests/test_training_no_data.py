"""No data, no label: the gap tokens of an EDF+D file reach training only masked (-1), never as
a stage or a negative, and the training cache keeps which tokens have no data."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from edf_factory import Sig, tal_record, write_edf
from inference_helpers import one_thread
from training_helpers import make_base

from sleepfm_engine.checkpoints import load_model
from sleepfm_engine.contract import TOKENS_PER_CHUNK
from sleepfm_engine.recording import open_recording
from sleepfm_engine.training import cache as cache_mod
from sleepfm_engine.training.cohort import discover_cohort, token_labels
from sleepfm_engine.training.event_labels import token_targets

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

#: Seconds with data: 0-300 and 420-600 s, a 2-minute gap (tokens 60..83) between.
_WITH_DATA = [range(0, 300), range(420, 600)]
_GAP_TOKENS = list(range(60, 84))


def _night_with_gap(folder):
    """An EDF+D of 1-s records with a gap, and a hypnogram scoring every epoch N2."""
    folder.mkdir(parents=True, exist_ok=True)
    onsets = [s for r in _WITH_DATA for s in r]
    rng = np.random.default_rng(0)
    sigs = [Sig(label, 128, rng.integers(-3000, 3000, 128 * len(onsets)))
            for label in ("C3-M2", "ECG", "Chin1-Chin2", "Airflow")]
    path = write_edf(folder / "gap.edf", sigs, reserved="EDF+D",
                     annotation_records=[tal_record(s) for s in onsets])
    rows = ["onset,duration,stage"] + [f"{i * 30},30,N2" for i in range(20)]
    (folder / "gap.hypnogram.csv").write_text("\n".join(rows) + "\n")
    return path


def test_gap_tokens_get_no_stage_label_even_where_the_hypnogram_scores_them(tmp_path):
    path = _night_with_gap(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_recording(path) as rec:
            tok = token_labels(tmp_path / "gap.hypnogram.csv", rec, 2 * TOKENS_PER_CHUNK)
    assert np.flatnonzero(tok == -1).tolist() == _GAP_TOKENS
    assert np.all(tok[tok != -1] == 2)


def test_gap_tokens_are_masked_for_event_targets_never_negatives(tmp_path):
    from sleepfm_engine.events.model import EventSet

    path = _night_with_gap(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_recording(path) as rec:
            tok = token_labels(tmp_path / "gap.hypnogram.csv", rec, 2 * TOKENS_PER_CHUNK)
    targets = token_targets(EventSet([]), tok, ["apnea"])
    assert np.all(targets[_GAP_TOKENS] == -1)
    assert np.all(targets[:60] == 0)


def test_training_cache_entry_keeps_the_no_data_tokens_and_embeds_them_as_no_data(tmp_path, monkeypatch):
    _night_with_gap(tmp_path / "c")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = discover_cohort(tmp_path / "c", "staging").records[0]
        entry = cache_mod.prepare_record(cache_mod.TrainingCache(tmp_path / "cache"), record)
    assert entry.no_data.shape == (entry.n_chunks * TOKENS_PER_CHUNK,)
    assert np.flatnonzero(entry.no_data).tolist() == _GAP_TOKENS
    again = cache_mod.PreparedRecord.open(entry.path)   # read back identically
    np.testing.assert_array_equal(again.no_data, entry.no_data)

    import sleepfm_engine.inference as inference

    seen = []
    real = inference.embed_inputs
    monkeypatch.setattr(inference, "embed_inputs",
                        lambda inputs, *a, **k: seen.append({m: i.no_data for m, i in inputs.items()})
                        or real(inputs, *a, **k))
    base = load_model(make_base(tmp_path / "base"))
    cache_mod.embed_prepared(again, base, torch.device("cpu"))
    assert seen and all(np.flatnonzero(f).tolist() == _GAP_TOKENS for f in seen[0].values())


def test_the_partial_last_epoch_is_masked_when_the_tokens_reach_it(tmp_path):
    rng = np.random.default_rng(1)
    path = write_edf(tmp_path / "short.edf", [Sig("C3-M2", 128, rng.integers(-3000, 3000, 128 * 615))])
    rows = ["onset,duration,stage"] + [f"{i * 30},30,N2" for i in range(21)]
    (tmp_path / "short.hypnogram.csv").write_text("\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_recording(path) as rec:
            tok = token_labels(tmp_path / "short.hypnogram.csv", rec, 123)
    assert np.all(tok[:120] == 2) and np.all(tok[120:] == -1)
