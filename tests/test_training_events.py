"""The events training task: per-token targets, post-processing, event-level and night-level
metrics on constructed predictions (hand-computed), and a tiny head trained on generated nights."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training_helpers import TINY_HEAD, make_base
from training_helpers import write_night as write_tiny_night

from sleepfm_engine.events import Event, EventSet, EventSource, EventType
from sleepfm_engine.inference.event_head import (PostProcessing, class_runs, mark_periodic,
                                                 probabilities_to_events)
from sleepfm_engine.models import event_bce_loss
from sleepfm_engine.training.event_labels import MASKED, classes_present, token_targets
from sleepfm_engine.training.event_metrics import (events_report, icc_a1, match_events, prf,
                                                   severity_agreement, tune_postprocessing)

SRC = EventSource.manual("test scorer")


def _ev(onset, duration, t=EventType.apnea_obstructive):
    return Event(onset=onset, duration=duration, type=t, source=SRC)


# --------------------------------------------------------------------------------- targets
def test_token_targets_mark_covered_tokens_short_events_and_mask_wake():
    stages = np.array([2, 2, 2, 2, 0, 2, 2, -1])  # token 4 wake, token 7 unscored
    events = EventSet([_ev(5.0, 10.0),                               # tokens 1, 2
                       _ev(17.0, 1.0, EventType.limb_movement_left),  # midpoint in token 3
                       _ev(21.0, 8.0, EventType.arousal_spontaneous)])  # tokens 4 (wake), 5 (4 s)
    y = token_targets(events, stages, ["apnea", "limb_movement", "arousal"])
    assert y[:, 0].tolist() == [0, 1, 1, 0, MASKED, 0, 0, MASKED]
    assert y[:, 1].tolist() == [0, 0, 0, 1, MASKED, 0, 0, MASKED]
    assert y[:, 2].tolist() == [0, 0, 0, 0, MASKED, 1, 0, MASKED]


def test_classes_present_lists_only_classes_the_nights_scored_in_head_order():
    sets = [EventSet([_ev(0, 10, EventType.desaturation)]),
            EventSet([_ev(0, 10, EventType.hypopnea_central), _ev(30, 0, EventType.position_change)])]
    assert classes_present(sets) == ["hypopnea", "desaturation"]


def test_masked_tokens_add_nothing_to_the_loss():
    logits = torch.tensor([[[2.0], [-1.0], [5.0]]])
    targets = torch.tensor([[[1], [0], [MASKED]]], dtype=torch.int8)
    other = logits.clone()
    other[0, 2, 0] = -50.0  # the masked token's logit changes: the loss must not
    loss = event_bce_loss(logits, targets)
    assert torch.isclose(loss, event_bce_loss(other, targets))
    expected = (torch.nn.functional.softplus(torch.tensor(-2.0)) + torch.nn.functional.softplus(torch.tensor(-1.0))) / 2
    assert torch.isclose(loss, expected)


# -------------------------------------------------------------------------- post-processing
def test_class_runs_threshold_merge_gap_minimum_duration_and_peak_confidence():
    p = np.array([0.1, 0.6, 0.9, 0.2, 0.7, 0.1, 0.1, 0.1, 0.8, 0.1])
    assert class_runs(p, PostProcessing(0.5)) == [(1, 3, 0.9), (4, 5, 0.7), (8, 9, 0.8)]
    # a 5-s gap joins tokens 1-2 and 4; a 15-s gap does not reach token 8
    assert class_runs(p, PostProcessing(0.5, merge_gap_s=5.0)) == [(1, 5, 0.9), (8, 9, 0.8)]
    assert class_runs(p, PostProcessing(0.5, min_duration_s=10.0)) == [(1, 3, 0.9)]
    valid = np.ones(10, bool)
    valid[2] = False
    assert class_runs(p, PostProcessing(0.5), valid) == [(1, 2, 0.6), (4, 5, 0.7), (8, 9, 0.8)]


def test_predicted_events_carry_their_probability_and_limb_series_become_periodic():
    probs = np.zeros((40, 2))
    probs[3:5, 0] = [0.55, 0.95]                 # one apnea, 10 s
    for t in (10, 14, 18, 22):                   # four limb movements, 20 s apart
        probs[t, 1] = 0.8
    probs[39, 1] = 0.9                           # an isolated one, 85 s later: still in range
    ev = probabilities_to_events(probs, ["apnea", "limb_movement"],
                                 {"apnea": PostProcessing(0.5), "limb_movement": PostProcessing(0.5)},
                                 EventSource.detector("sleepfm-head", "1", {}))
    apnea = ev.of_type(EventType.apnea_unclassified)
    assert [(e.onset, e.duration, e.confidence) for e in apnea] == [(15.0, 10.0, 0.95)]
    assert len(ev.of_type(EventType.periodic_limb_movement)) == 5
    assert not ev.of_type(EventType.limb_movement)


def test_mark_periodic_needs_four_movements_in_range():
    lms = [Event(onset=t, duration=2.0, type=EventType.limb_movement, source=SRC) for t in (0, 20, 40)]
    assert all(e.type is EventType.limb_movement for e in mark_periodic(lms))
    lms.append(Event(onset=160, duration=2.0, type=EventType.limb_movement, source=SRC))  # 120 s: breaks
    assert all(e.type is EventType.limb_movement for e in mark_periodic(lms))
    lms.insert(3, Event(onset=60, duration=2.0, type=EventType.limb_movement, source=SRC))  # 100 s before 160
    types = [e.type for e in sorted(mark_periodic(lms), key=lambda e: e.onset)]
    assert types == [EventType.periodic_limb_movement] * 4 + [EventType.limb_movement]


# -------------------------------------------------------------------------------- matching
def test_events_match_at_half_of_the_shorter_event_one_to_one():
    ref = [(10.0, 20.0), (30.0, 34.0)]
    # 5 s of a 10-s scored event: 50 % -> match; 1.9 s of the 4-s one: 47.5 % -> none
    assert match_events([(15.0, 25.0), (32.1, 40.0)], ref) == [(0, 0)]
    # a long prediction covering both scored events matches only one of them
    assert match_events([(0.0, 40.0)], ref) == [(0, 0)]
    # the better-overlapping prediction wins the scored event
    assert match_events([(14.0, 24.0), (10.0, 20.0)], ref) == [(1, 0)]
    assert match_events([], ref) == [] and match_events([(0.0, 5.0)], []) == []


def test_precision_recall_f1_by_hand():
    assert prf(2, 4, 5) == {"precision": 0.5, "recall": 0.4, "f1": 4 / 9, "tp": 2, "n_predicted": 4,
                            "n_scored": 5}
    assert prf(0, 0, 0)["f1"] is None and prf(0, 3, 0)["f1"] == 0.0 and prf(0, 3, 0)["recall"] is None


def test_icc_and_severity_agreement_by_hand():
    assert icc_a1([1, 2, 3], [2, 3, 4]) == pytest.approx(2 / 3)   # constant bias of 1
    assert icc_a1([1, 5, 9], [1, 5, 9]) == pytest.approx(1.0)
    assert icc_a1([3], [3]) is None
    sev = severity_agreement([3.0, 10.0, 20.0, 40.0, None], [4.0, 16.0, 20.0, 31.0, 5.0])
    assert sev["agreement"] == 0.75 and sev["n_nights"] == 4
    assert sev["confusion_matrix"][2] == [0, 1, 1, 0]   # scored moderate: one mild, one moderate


def _night(n_tokens=720):
    """An hour of N2 (720 tokens): four scored apneas, and probabilities hitting two of them,
    half of a third, and one false alarm."""
    stages = np.full(n_tokens, 2)
    events = EventSet([_ev(100.0, 20.0), _ev(500.0, 20.0), _ev(1000.0, 20.0), _ev(2000.0, 20.0)])
    probs = np.zeros((n_tokens, 1))
    probs[20:24, 0] = 0.9          # 100-120 s: exact
    probs[101:104, 0] = 0.8        # 505-520 s: 15 of 20 s
    probs[202:203, 0] = 0.7        # 1010-1015 s: 5 of the 20 s but the whole of its 5 s -> match
    probs[300:302, 0] = 0.6        # 1500-1510 s: nothing scored
    return {"id": "n1", "probs": probs, "stages": stages, "events": events}


def test_events_report_on_constructed_predictions_by_hand():
    report = events_report([_night()], ["apnea"], {"apnea": PostProcessing(0.5)})
    a = report["events"]["apnea"]
    assert (a["tp"], a["n_predicted"], a["n_scored"]) == (3, 4, 4)
    assert a["precision"] == a["recall"] == a["f1"] == 0.75
    assert report["macro_f1"] == 0.75 == report["score"]
    # one hour of sleep: AHI 4 /h both ways (scored 4, predicted 4)
    assert report["indices"]["AHI"]["predicted"] == [4.0] and report["indices"]["AHI"]["scored"] == [4.0]
    assert report["severity"]["agreement"] == 1.0   # both "normal"
    stricter = events_report([_night()], ["apnea"], {"apnea": PostProcessing(0.75)})
    assert stricter["events"]["apnea"]["tp"] == 2 and stricter["indices"]["AHI"]["predicted"] == [2.0]


def test_derived_indices_report_their_icc_error_and_bias_and_say_they_come_from_the_events():
    from sleepfm_engine.training.events import EventsTask

    exact = _night()
    missed = _night()
    missed["id"] = "n2"
    missed["probs"] = np.zeros_like(missed["probs"])
    missed["probs"][300:302, 0] = 0.6        # only the false alarm: AHI 1 /h against 4 /h scored
    report = events_report([exact, missed], ["apnea"], {"apnea": PostProcessing(0.5)})
    ahi = report["indices"]["AHI"]
    assert ahi["predicted"] == [4.0, 1.0] and ahi["scored"] == [4.0, 4.0] and ahi["n_nights"] == 2
    assert ahi["mae"] == 1.5 and ahi["bias"] == -1.5
    assert ahi["icc"] == pytest.approx(icc_a1([4.0, 1.0], [4.0, 4.0]))
    assert "derived from the predicted events" in report["indices_source"]
    summary = EventsTask.metrics_summary(report)
    assert summary["index_error"]["AHI"] == {"icc": ahi["icc"], "mae": 1.5, "bias": -1.5}
    lines = "\n".join(EventsTask.metrics_lines(report))
    assert "derived from the predicted events" in lines and "bias -1.50 /h" in lines


def test_tuning_picks_the_settings_with_the_best_event_f1():
    night = _night()
    best = tune_postprocessing([night], ["apnea"], grid=((0.5, 0.65, 0.75), (0.0, 10.0), (0.0,)))
    # 0.65 drops the false alarm (0.6) and keeps the three hits: F1 = 6/7, the best
    assert best["apnea"] == PostProcessing(0.65, 0.0, 0.0)


# ------------------------------------------------------------------ a tiny head on generated nights
@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from sleepfm_engine.synthetic import Severity, make_night, write_night

    root = tmp_path_factory.mktemp("events")
    data = root / "data"
    data.mkdir()
    for i, ahi in enumerate((40, 25, 60, 15)):
        write_night(make_night(0.35, seed=i, montage="minimal", severity=Severity(ahi=ahi, plmi=30)),
                    data / f"night{i}.edf")
    write_tiny_night(data, "plain", minutes=10, seed=9)  # a hypnogram, no events file, no annotations
    return {"root": root, "data": data, "base": make_base(root / "base"), "cache": root / "cache"}


@pytest.mark.usefixtures("one_torch_thread")
def test_a_tiny_event_head_trains_saves_its_postprocessing_and_evaluates(cohort, tmp_path, capsys):
    from sleepfm_engine.checkpoints import load_config, load_metadata, load_release
    from sleepfm_engine.cli import main
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.cohort import discover_cohort
    from sleepfm_engine.training.config import FinetuneConfig

    found = discover_cohort(cohort["data"], "events")
    assert [r.id for r in found.records] == ["night0", "night1", "night2", "night3"]
    assert [(s.path.name, s.reason.split(" (")[0]) for s in found.skipped] == [("plain.edf", "no scored events")]
    assert found.records[0].events.name == "night0.events.json" and found.records[0].note == ""

    out = tmp_path / "out"
    cfg = FinetuneConfig(task="events", output=str(out), data=str(cohort["data"]), base=str(cohort["base"]),
                         epochs=2, batch_size=2, lr=3e-3, head=dict(TINY_HEAD), cache_dir=str(cohort["cache"]),
                         fractions=[0.5, 0.25, 0.25], log_every=1, device="cpu", plots=False,
                         event_classes=["apnea", "hypopnea", "desaturation"])
    result = run_finetune(cfg)
    assert result.best_epoch >= 1 and len(result.history) == 2
    release = load_release(out)
    assert release.kinds == ["base", "events"]
    assert load_config(out / "model_events")["event_classes"] == ["apnea", "hypopnea", "desaturation"]
    meta = load_metadata(out / "model_events")
    assert set(meta["postprocessing"]) == {"apnea", "hypopnea", "desaturation"}
    assert meta["event_types"]["apnea"]["output"] == "apnea_unclassified"
    assert meta["postprocessing"] == result.validation["postprocessing"]
    assert meta["metrics"]["validation"]["macro_f1"] == result.validation["macro_f1"]
    saved = json.loads((out / "training" / "metrics.json").read_text())
    assert set(saved["test"]["events"]) == {"apnea", "hypopnea", "desaturation"}
    # the test nights are scored with the validation's settings, not tuned on themselves
    assert saved["test"]["postprocessing"] == meta["postprocessing"]

    rc = main(["evaluate", "--data", str(cohort["data"]), "--model", str(out), "--cache-dir", str(cohort["cache"]),
               "--device", "cpu", "-o", str(tmp_path / "eval")])
    text = capsys.readouterr().out
    assert rc == 0 and "events model" in text and "apnea" in text and "AHI" in text
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert m["kind"] == "events" and m["n_recordings"] == 4 and m["postprocessing"] == meta["postprocessing"]
    assert m["postprocessing_source"] == "saved with the model"
    assert (tmp_path / "eval" / "event_f1.png").is_file() and (tmp_path / "eval" / "indices.png").is_file()

    # beside a staging head, --task picks the event head
    from sleepfm_engine.checkpoints import build_model, save_model
    from sleepfm_engine.training.staging import staging_config

    staging = staging_config(16, dict(TINY_HEAD))
    save_model(build_model(staging), staging, out / "model_sleep_staging")
    rc = main(["evaluate", "--data", str(cohort["data"]), "--model", str(out), "--cache-dir", str(cohort["cache"]),
               "--device", "cpu", "--task", "events", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["kind"] == "events"


@pytest.mark.usefixtures("one_torch_thread")
def test_an_unfrozen_base_changes_with_the_event_head_and_a_frozen_one_stays_identical(cohort, tmp_path):
    from sleepfm_engine.checkpoints import load_config, load_metadata, load_model
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    def train(name, **kw):
        out = tmp_path / name
        run_finetune(FinetuneConfig(task="events", output=str(out), data=str(cohort["data"]),
                                    base=str(cohort["base"]), epochs=1, batch_size=2, lr=3e-3,
                                    head=dict(TINY_HEAD), cache_dir=str(cohort["cache"]),
                                    fractions=[0.5, 0.25, 0.25], device="cpu", plots=False,
                                    event_classes=["apnea", "desaturation"], **kw))
        return out

    before = load_model(cohort["base"]).state_dict()
    frozen = load_model(train("frozen") / "model_base").state_dict()
    assert frozen.keys() == before.keys() and all(torch.equal(before[k], frozen[k]) for k in before)

    out = train("unfrozen", unfreeze_base=True, window_chunks=1, base_lr_scale=1.0)
    after = load_model(out / "model_base").state_dict()
    changed = [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[k])]
    assert changed
    # the 5-min pooling gets no gradient from 5-s tokens: it stays as it was
    assert not [k for k in changed if k.startswith("temporal_pooling.")]
    assert load_config(out / "model_events")["event_classes"] == ["apnea", "desaturation"]
    assert "end to end with the event head" in load_metadata(out / "model_base")["provenance"]["note"]
    assert set(load_metadata(out / "model_events")["postprocessing"]) == {"apnea", "desaturation"}


def test_the_end_to_end_options_reach_an_events_config(monkeypatch, tmp_path):
    from sleepfm_engine.cli import main

    seen = []

    class Done:
        status, best_epoch, output, models, validation, test = "completed", 1, tmp_path, {}, {}, {}

    monkeypatch.setattr("sleepfm_engine.training.api.run_finetune",
                        lambda config, state, callbacks: seen.append(config) or Done())
    assert main(["finetune", "events", "--data", "d", "--base", "b", "-o", str(tmp_path), "-q",
                 "--unfreeze-base", "--window-chunks", "3", "--base-lr-scale", "0.5"]) == 0
    assert (seen[0].task, seen[0].unfreeze_base, seen[0].window_chunks, seen[0].base_lr_scale) == \
        ("events", True, 3, 0.5)


def test_an_unknown_or_absent_event_class_is_a_one_line_error(cohort, tmp_path, capsys):
    from sleepfm_engine.cli import main

    args = ["finetune", "events", "--data", str(cohort["data"]), "--base", str(cohort["base"]),
            "--cache-dir", str(cohort["cache"]), "--device", "cpu", "--epochs", "1", "-q",
            "--head-params", json.dumps(TINY_HEAD)]
    assert main(args + ["-o", str(tmp_path / "a"), "--event-classes", "snoring"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: unknown event class 'snoring'; classes: apnea, hypopnea, arousal, limb_movement, desaturation"]


# ------------------------------------------------------------------------------- properties

_interval = st.tuples(st.floats(0, 500, allow_nan=False), st.floats(0, 60, allow_nan=False)).map(
    lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_interval, max_size=12), st.lists(_interval, max_size=12))
def test_matches_are_one_to_one_and_each_shares_half_of_the_shorter_event(pred, ref):
    pairs = match_events(pred, ref)
    assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs) <= min(len(pred), len(ref))
    for i, j in pairs:
        (a, b), (c, d) = pred[i], ref[j]
        shorter = min(b - a, d - c)
        assert min(b, d) - max(a, c) >= 0.5 * shorter - 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=60),
       st.sampled_from([0.3, 0.5, 0.8]), st.sampled_from([0.0, 10.0]), st.sampled_from([0.0, 5.0, 10.0]))
def test_runs_hold_only_tokens_above_threshold_at_their_ends_and_never_overlap(probs, thr, min_dur, gap):
    p = np.array(probs)
    runs = class_runs(p, PostProcessing(thr, min_dur, gap))
    for (a, b, conf), nxt in zip(runs, runs[1:] + [None]):
        assert p[a] >= thr and p[b - 1] >= thr and (b - a) * 5.0 >= min_dur
        assert conf == p[a:b].max()
        if nxt is not None:
            assert (nxt[0] - b) * 5.0 > gap


@pytest.mark.usefixtures("one_torch_thread")
def test_a_cohort_scoring_only_some_event_types_trains_only_those(cohort, tmp_path):
    import shutil

    from sleepfm_engine.checkpoints import load_config
    from sleepfm_engine.formats import read_events, write_events
    from sleepfm_engine.training.api import run_finetune
    from sleepfm_engine.training.config import FinetuneConfig

    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        for suffix in (".edf", ".hypnogram.csv"):
            shutil.copy(cohort["data"] / f"night{i}{suffix}", data / f"night{i}{suffix}")
        scored = read_events(cohort["data"] / f"night{i}.events.json")
        kept = EventSet([e for e in scored if e.type in (EventType.arousal_spontaneous, EventType.desaturation)],
                        start=scored.start)
        write_events(kept, data / f"night{i}.events.json")
    out = tmp_path / "out"
    result = run_finetune(FinetuneConfig(task="events", output=str(out), data=str(data), base=str(cohort["base"]),
                                         epochs=1, batch_size=2, head=dict(TINY_HEAD), cache_dir=str(cohort["cache"]),
                                         fractions=[0.5, 0.25, 0.25], device="cpu", plots=False))
    assert load_config(out / "model_events")["event_classes"] == ["arousal", "desaturation"]
    assert set(result.validation["events"]) == {"arousal", "desaturation"}
    assert set(result.validation["indices"]) == {"ArI", "arousal_per_h", "desaturation_per_h"}


def test_the_event_classes_option_names_exactly_the_head_classes():
    from sleepfm_engine.event_classes import EVENT_CLASSES
    from sleepfm_engine.training_tasks import get_task

    option = next(o for o in get_task("events").options if o.dest == "event_classes")
    listed = option.kwargs["help"].split(": ", 1)[1].split(" (")[0].split()
    assert listed == list(EVENT_CLASSES)


def test_events_are_found_in_any_events_format_by_name_else_in_the_recordings_annotations(cohort, tmp_path):
    import shutil

    from sleepfm_engine.formats import read_events, write_events
    from sleepfm_engine.recording import open_recording
    from sleepfm_engine.training.event_labels import find_events_file, read_night_events

    edf = tmp_path / "night0.edf"
    shutil.copy(cohort["data"] / "night0.edf", edf)
    shutil.copy(cohort["data"] / "night0.hypnogram.csv", tmp_path / "night0.hypnogram.csv")
    truth = read_events(cohort["data"] / "night0.events.json")
    with open_recording(edf) as rec:
        # no events file: the EDF+ event annotations the synthetic night carries
        assert find_events_file(edf, [tmp_path], rec) == (edf, "")
        from_edf = read_night_events(edf, rec)
        write_events(truth, tmp_path / "night0.annotations.csv", "mne-csv")
        assert find_events_file(edf, [tmp_path], rec) == (tmp_path / "night0.annotations.csv", "")
        from_csv = read_night_events(tmp_path / "night0.annotations.csv", rec)
    for found in (from_edf, from_csv):
        assert sorted((round(e.onset, 2), e.type) for e in found if e.type in {
            EventType.apnea_obstructive, EventType.hypopnea, EventType.desaturation}) == sorted(
            (round(e.onset, 2), e.type) for e in truth if e.type in {
                EventType.apnea_obstructive, EventType.hypopnea, EventType.desaturation})
