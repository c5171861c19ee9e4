"""The SleepFM event head as a detector: a release's model_events/ scores a recording's events in
its sleep epochs with the saved post-processing, through the API and ``sleepfm events detect``."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from training_helpers import TINY_HEAD, make_base, stages_for, write_night

from sleepfm_engine.checkpoints import build_model, save_model
from sleepfm_engine.events import EventType
from sleepfm_engine.training.events import events_head_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MINUTES = 10


def _release(folder, classes, bias, threshold=0.5):
    """A release whose head gives every token the probability sigmoid(bias[k]) for class k."""
    base = make_base(folder / "model_base")
    cfg = events_head_config(16, classes, dict(TINY_HEAD))
    head = build_model(cfg)
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    meta = {"event_classes": classes,
            "postprocessing": {c: {"threshold": threshold, "min_duration_s": 0.0, "merge_gap_s": 0.0}
                               for c in classes}}
    save_model(head, cfg, folder / "model_events", meta)
    return base.parent


def _sleep_runs(seed):
    """(onset, duration) of each run of sleep epochs of the tiny night's hypnogram."""
    stages = stages_for(seed, MINUTES * 2)
    runs, start = [], None
    for i, s in enumerate(list(stages) + [0]):
        if s != 0 and start is None:
            start = i
        elif s == 0 and start is not None:
            runs.append((start * 30.0, (i - start) * 30.0))
            start = None
    return runs


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    return write_night(root / "data", "night", minutes=MINUTES, seed=3)


def test_the_head_scores_events_in_sleep_epochs_with_its_probability(night, tmp_path):
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.formats import read_hypnogram
    from sleepfm_engine.recording import open_recording

    release = _release(tmp_path / "rel", ["apnea", "desaturation"], [4.0, -4.0])
    det = get_detector("sleepfm-head")
    with open_recording(night) as rec:
        result = det.detect(rec, read_hypnogram(night.with_name("night.hypnogram.csv")), model=release,
                            device="cpu")
    events = sorted(result.events, key=lambda e: e.onset)
    assert [(e.onset, e.duration) for e in events] == _sleep_runs(3)
    assert all(e.type is EventType.apnea_unclassified for e in events)
    assert all(e.confidence == pytest.approx(1 / (1 + np.exp(-4.0)), abs=1e-5) for e in events)
    assert all(e.source.kind == "detector" and e.source.name == "sleepfm-head" for e in events)
    assert set(result.not_scored) == {"hypopneas", "arousals", "limb_movements"}
    sleep_h = sum(d for _, d in _sleep_runs(3)) / 3600
    assert result.summary["AI"] == pytest.approx(len(events) / sleep_h)
    assert result.provenance["event_classes"] == ["apnea", "desaturation"] and not result.fallbacks
    # what the detector scored is written and read back identically
    from sleepfm_engine.formats import read_events, write_events

    back = read_events(write_events(result.events, tmp_path / "head.events.json"))
    assert back == result.events and [e.source for e in back] == [e.source for e in result.events]


def test_without_a_hypnogram_or_staging_head_the_whole_night_is_scored_and_said(night, tmp_path):
    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.recording import open_recording

    release = _release(tmp_path / "rel", ["arousal"], [4.0])
    with open_recording(night) as rec:
        result = get_detector("sleepfm-head").detect(rec, None, model=release, device="cpu")
    assert [(e.onset, e.duration) for e in result.events] == [(0.0, MINUTES * 60.0)]
    assert result.fallbacks and "whole recording" in result.fallbacks[0]
    assert result.summary == {"ArI": None}


def test_cli_detect_with_model_uses_the_head_and_writes_events_read_back_equal(night, tmp_path, capsys):
    from sleepfm_engine.cli import main
    from sleepfm_engine.formats import read_events

    release = _release(tmp_path / "rel", ["apnea"], [4.0])
    out = tmp_path / "night.events.json"
    assert main(["events", "detect", str(night), "--model", str(release), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sleepfm-head" in text and "not scored: hypopneas" in text
    back = read_events(out)
    assert len(back) == len(_sleep_runs(3)) and all(e.confidence is not None for e in back)


def test_cli_detect_refuses_a_model_for_a_rule_based_detector_and_a_release_without_a_head(night, tmp_path, capsys):
    from sleepfm_engine.cli import main

    release = _release(tmp_path / "rel", ["apnea"], [4.0])
    args = ["events", "detect", str(night), "-o", str(tmp_path / "x.events.json")]
    assert main(args + ["--detector", "psgscoring", "--model", str(release)]) == 1
    assert capsys.readouterr().err.strip() == "error: detector psgscoring takes no --model"
    shutil.rmtree(release / "model_events")
    assert main(args + ["--model", str(release)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "holds no event head" in err[0]
    assert main(args + ["--detector", "sleepfm-head"]) == 1
    assert "needs a release with an event head" in capsys.readouterr().err
