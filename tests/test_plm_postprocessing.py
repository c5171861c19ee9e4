"""Periodic limb movements from the event head's predictions, by the AASM series rule: movements
next to a respiratory event (and, for scored events, longer than 10 s) are left out of a series,
on constructed token probabilities and on scored events."""
from __future__ import annotations

import numpy as np

from sleepfm_engine.events import Event, EventSource, EventType
from sleepfm_engine.inference.event_head import PostProcessing, mark_periodic, probabilities_to_events

CLASSES = ["apnea", "hypopnea", "limb_movement"]
PARAMS = {c: PostProcessing(0.5) for c in CLASSES}
SRC = EventSource.manual("test scorer")


def night(lm_tokens, apnea=(), hypopnea=(), n=80):
    """Token probabilities (n, 3): a limb movement at each of ``lm_tokens`` (a token or a
    (first, stop) run), apneas and hypopneas as (first, stop) token runs."""
    probs = np.zeros((n, len(CLASSES)))
    for k, runs in enumerate((apnea, hypopnea)):
        for a, b in runs:
            probs[a:b, k] = 0.9
    for t in lm_tokens:
        a, b = (t, t + 1) if isinstance(t, int) else t
        probs[a:b, 2] = 0.8
    return probs


def periodic_onsets(probs):
    ev = probabilities_to_events(probs, CLASSES, PARAMS, EventSource.detector("sleepfm-head", "1", {}))
    return sorted(e.onset for e in ev.of_type(EventType.periodic_limb_movement))


def test_a_movement_sharing_a_token_with_an_apnea_is_left_out_without_breaking_the_series():
    # five movements 20 s apart; the third lies inside a predicted apnea (tokens 17-19)
    probs = night([10, 14, 18, 22, 26], apnea=[(17, 20)])
    assert periodic_onsets(probs) == [50.0, 70.0, 110.0, 130.0]


def test_a_movement_inside_a_hypopnea_does_not_make_three_movements_a_series():
    probs = night([10, 14, 18, 22], hypopnea=[(13, 16)])
    assert periodic_onsets(probs) == []
    assert periodic_onsets(night([10, 14, 18, 22])) == [50.0, 70.0, 90.0, 110.0]


def test_a_movement_in_the_token_after_an_apnea_still_counts():
    # the apnea ends where the movement's token begins: on a 5-s grid they may be 10 s apart
    probs = night([10, 14, 18, 22], apnea=[(15, 18)])
    assert periodic_onsets(probs) == [50.0, 70.0, 90.0, 110.0]


def test_a_predicted_movement_over_three_tokens_still_counts_since_tokens_cannot_measure_its_length():
    probs = night([10, 14, (18, 21), 24])             # tokens 18-20: 15 s on the grid
    assert periodic_onsets(probs) == [50.0, 70.0, 90.0, 120.0]


def test_a_scored_movement_longer_than_ten_seconds_is_not_part_of_a_series():
    lms = [Event(onset=t, duration=2.0, type=EventType.limb_movement, source=SRC) for t in (0, 20, 40, 60)]
    lms[2] = lms[2].replace(duration=12.0)
    assert all(e.type is EventType.limb_movement for e in mark_periodic(lms))
    lms[2] = lms[2].replace(duration=10.0)
    assert all(e.type is EventType.periodic_limb_movement for e in mark_periodic(lms))


def test_scored_movements_within_half_a_second_of_an_apnea_are_not_periodic():
    lms = [Event(onset=t, duration=2.0, type=EventType.limb_movement, source=SRC) for t in (0, 20, 40, 60, 80)]
    apnea = Event(onset=42.4, duration=15.0, type=EventType.apnea_obstructive, source=SRC)   # 0.4 s after the third
    marked = mark_periodic([*lms, apnea])
    assert [e.type is EventType.periodic_limb_movement for e in marked[:5]] == [True, True, False, True, True]
    later = apnea.replace(onset=42.6)                                                        # 0.6 s after it
    assert all(e.type is EventType.periodic_limb_movement for e in mark_periodic([*lms, later])[:5])


def test_low_confidence_movements_are_events_but_stay_out_of_series_above_the_series_threshold():
    probs = night([10, 14, 18, 22])
    probs[[10, 14], 2] = 0.6
    params = dict(PARAMS, limb_movement=PostProcessing(0.5, series_threshold=0.7))
    ev = probabilities_to_events(probs, CLASSES, params, EventSource.detector("sleepfm-head", "1", {}))
    assert len(ev.of_type(EventType.limb_movement)) == 4
    assert PostProcessing.from_dict(params["limb_movement"].to_dict()) == params["limb_movement"]
    assert PostProcessing.from_dict({"threshold": 0.5, "min_duration_s": 0, "merge_gap_s": 0}).series_threshold is None


def test_the_series_threshold_is_tuned_on_validation_nights_for_the_plms_index_not_for_f1():
    from sleepfm_engine.events import EventSet
    from sleepfm_engine.training.event_metrics import events_report, tune_postprocessing

    n = 720                                            # one hour of N2
    scored = [10, 14, 18, 22, 100, 106, 112]           # a series of four, then three movements
    events = EventSet([Event(onset=t * 5.0 + 1.0, duration=2.0, type=EventType.limb_movement_left, source=SRC)
                       for t in scored])
    probs = np.zeros((n, 1))
    probs[[10, 14, 18, 22], 0] = 0.95
    probs[[100, 106, 112, 118], 0] = 0.6               # the three, found doubtfully, and a false fourth
    nights = [{"id": "n1", "probs": probs, "stages": np.full(n, 2), "events": events}]
    params = tune_postprocessing(nights, ["limb_movement"])
    lm = params["limb_movement"]
    # F1 keeps the doubtful movements (7 of 7 found, 1 false); the series needs more than 0.6
    assert lm.threshold <= 0.6 and lm.series_threshold == 0.65
    report = events_report(nights, ["limb_movement"], params)
    assert report["indices"]["PLMSI"]["predicted"] == report["indices"]["PLMSI"]["scored"] == [4.0]
    assert report["events"]["limb_movement"]["tp"] == 7
