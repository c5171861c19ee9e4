"""Clinical indices on constructed event sets, against values computed by hand."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sleepfm_engine.events import Event, EventSet, EventSource, EventType
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.indices import (INDEX_DEFINITIONS, IndexTable, SampledSignal, ahi_severity,
                                    compute_indices, format_index)
from sleepfm_engine.position import BodyPosition

T = EventType
SRC = EventSource.manual("RPSGT")


def ev(onset, t, duration=10.0, **attributes):
    return Event(onset, duration, t, source=SRC, attributes=attributes)


@pytest.fixture
def night():
    """30-s epochs: W 0-60 s, N2 60-3660 s (1 h), R 3660-4860 s (1/3 h), W 4860-4920 s.

    TST = 4/3 h, so one event in sleep is 0.75 /h.
    """
    stages = [0] * 2 + [2] * 120 + [4] * 40 + [0] * 2
    return Hypnogram(stages, 30.0)


@pytest.fixture
def events():
    return EventSet([
        # respiratory: 8 apneas/hypopneas in sleep (5 in N2, 3 in R), 1 in wake
        ev(100, T.apnea_obstructive), ev(200, T.apnea_obstructive), ev(2500, T.apnea_obstructive),
        ev(300, T.apnea_central), ev(4000, T.apnea_mixed), ev(4100, T.apnea_unclassified),
        ev(500, T.hypopnea), ev(4200, T.hypopnea_obstructive),
        ev(10, T.hypopnea),
        ev(700, T.rera),
        # desaturations: drops 3.5, 4.0, 95-90=5 count; one without a drop; one in wake
        ev(110, T.desaturation, drop_pct=3.5), ev(210, T.desaturation, drop_pct=4.0),
        ev(310, T.desaturation, baseline_pct=95.0, nadir_pct=90.0), ev(4010, T.desaturation),
        ev(20, T.desaturation, drop_pct=6.0),
        # arousals: 4 in sleep, 1 in wake
        ev(115, T.arousal_respiratory, 5), ev(1000, T.arousal_spontaneous, 5),
        ev(1992.3, T.arousal_limb, 4), ev(4300, T.arousal, 6), ev(4870, T.arousal, 5),
        # PLMS: 4 in sleep (1990 and 4299 with an arousal, 4306.5 exactly 0.5 s after one),
        # one in wake
        ev(1990, T.periodic_limb_movement, 2), ev(2030, T.periodic_limb_movement, 2),
        ev(4299, T.periodic_limb_movement, 2), ev(4306.5, T.periodic_limb_movement, 1),
        ev(30, T.periodic_limb_movement, 2),
        # not counted anywhere
        ev(3500, T.spo2_artefact), ev(800, T.note), ev(900, T.limb_movement_left, 2),
    ])


def test_respiratory_indices_match_hand_counts(night, events):
    ix = compute_indices(events, night)
    assert ix["TST_h"] == pytest.approx(4 / 3)
    assert ix["NREM_h"] == pytest.approx(1.0) and ix["REM_h"] == pytest.approx(1 / 3)
    assert ix["n_apneas"] == 6 and ix["n_hypopneas"] == 2 and ix["n_reras"] == 1
    assert ix["AHI"] == pytest.approx(8 * 0.75)
    assert ix["AHI_NREM"] == pytest.approx(5.0)
    assert ix["AHI_REM"] == pytest.approx(9.0)
    assert ix["AI"] == pytest.approx(6 * 0.75)
    assert ix["OAI"] == pytest.approx(3 * 0.75)
    assert ix["CAI"] == pytest.approx(0.75) and ix["MAI"] == pytest.approx(0.75)
    assert ix["HI"] == pytest.approx(2 * 0.75)
    assert ix["RDI"] == pytest.approx(9 * 0.75)
    assert ix["AHI_severity"] == "mild"
    assert any("1 apneas/hypopneas began outside sleep" in n for n in ix.notes)
    assert ix.sources == ("manual: RPSGT",)


def test_odi_counts_desaturations_in_sleep_by_drop(night, events):
    known = EventSet([e for e in events if not (e.type is T.desaturation and e.onset == 4010)])
    ix = compute_indices(known, night)
    assert ix["n_desaturations_3"] == 3 and ix["n_desaturations_4"] == 2
    assert ix["ODI3"] == pytest.approx(3 * 0.75) and ix["ODI4"] == pytest.approx(1.5)
    assert any("1 desaturations began outside sleep" in n for n in ix.notes)


def test_odi_is_not_given_when_a_desaturation_in_sleep_has_no_drop_and_no_spo2(night, events):
    ix = compute_indices(events, night)
    assert ix["ODI3"] is None and ix["ODI4"] is None and ix["n_desaturations_3"] is None
    assert any("1 desaturations in sleep have no drop" in n and "ODI is not given" in n
               for n in ix.notes)


def test_odi_measures_a_missing_drop_on_the_spo2_signal(night, events):
    spo2 = np.full(4920, 96.0)   # 1 Hz
    spo2[4020:4040] = 91.5       # the desaturation at 4010 (10 s) reaches its nadir 10 s after
    ix = compute_indices(events, night, spo2=(spo2, 1.0))
    assert ix["n_desaturations_3"] == 4 and ix["n_desaturations_4"] == 3
    assert ix["ODI4"] == pytest.approx(3 * 0.75)
    assert any("measured on the SpO2 signal" in n for n in ix.notes)


def test_arousal_and_plms_indices_follow_the_association_rule(night, events):
    ix = compute_indices(events, night)
    assert ix["n_arousals"] == 4 and ix["ArI"] == pytest.approx(3.0)
    for key in ("ArI_respiratory", "ArI_limb", "ArI_spontaneous"):
        assert ix[key] == pytest.approx(0.75)
    assert ix["n_plms"] == 4 and ix["PLMSI"] == pytest.approx(3.0)
    assert ix["PLMS_ArI"] == pytest.approx(2 * 0.75)


def test_positional_ahi_uses_time_in_each_position_during_sleep(night, events):
    raw = np.full(4920, 9.0)   # 1 Hz; 9 is no NSRR code: unknown
    raw[:2000] = 2              # supine
    raw[2000:4000] = 1          # left
    ix = compute_indices(events, night, position=BodyPosition.decode(raw, 1.0, "nsrr"))
    assert ix["sleep_supine_h"] == pytest.approx(1940 / 3600)
    assert ix["sleep_nonsupine_h"] == pytest.approx(2000 / 3600)
    assert ix["AHI_supine"] == pytest.approx(4 / (1940 / 3600))
    assert ix["AHI_nonsupine"] == pytest.approx(1 / (2000 / 3600))
    assert any("860 s" in n or "14 min" in n for n in ix.notes)
    assert any("3 apneas/hypopneas in sleep began at an unknown body position" in n
               for n in ix.notes)


def test_a_real_zero_is_zero_but_no_time_in_a_position_is_none(night):
    ix = compute_indices(EventSet([ev(100, T.apnea_central)]), night,
                         position=BodyPosition(np.zeros(4920), 1.0))  # code 0: supine throughout
    assert ix["AHI_supine"] == pytest.approx(1 / (4800 / 3600))
    assert ix["sleep_nonsupine_h"] == 0.0 and ix["AHI_nonsupine"] is None
    assert ix["ODI3"] == 0.0 and ix["PLMSI"] == 0.0
    assert ix["SpO2_mean"] is None and ix["HR_mean"] is None  # no signal, no number


def test_spo2_statistics_exclude_wake_out_of_range_values_and_artefact_events(night, events):
    spo2 = np.full(4920, 95.0)
    spo2[:60] = 70.0            # wake: never counted
    spo2[1000:1060] = 89.0
    spo2[1060:1070] = 87.0
    spo2[1100:1105] = 0.0       # sensor off
    spo2[3000:3005] = 101.0     # impossible
    spo2[3500:3510] = 80.0      # inside the SpO2-artefact event at 3500-3510
    ix = compute_indices(events, night, spo2=(spo2, 1.0))
    valid = 4800 - 20
    assert ix["SpO2_nadir"] == 87.0 and ix["SpO2_baseline"] == 95.0
    assert ix["SpO2_mean"] == pytest.approx((95 * (valid - 70) + 89 * 60 + 87 * 10) / valid)
    assert ix["T90_min"] == pytest.approx(70 / 60) and ix["T90_pct"] == pytest.approx(7000 / valid)
    assert ix["T88_min"] == pytest.approx(10 / 60) and ix["T88_pct"] == pytest.approx(1000 / valid)
    assert ix["SpO2_artefact_pct"] == pytest.approx(100 * 20 / 4800)
    assert any("20 of 4800 SpO2 samples" in n for n in ix.notes)


def test_spo2_at_another_rate_and_onset_counts_time_not_samples(night):
    spo2 = np.full(2 * 4800, 95.0)       # 2 Hz from the start of sleep (60 s)
    spo2[100:160] = 85.0                 # 30 s below 90 and 88
    ix = compute_indices(EventSet(), night, spo2=SampledSignal(spo2, 2.0, 60.0))
    assert ix["T90_min"] == pytest.approx(0.5) and ix["T88_min"] == pytest.approx(0.5)
    assert ix["SpO2_artefact_pct"] == 0.0


def test_heart_rate_statistics_cover_sleep_and_drop_implausible_values(night):
    hr = np.full(4920, 60.0)
    hr[:60] = 130.0             # wake
    hr[500], hr[501] = 300.0, np.nan
    hr[600], hr[700] = 45.0, 90.0
    ix = compute_indices(EventSet(), night, heart_rate=(hr, 1.0))
    assert ix["HR_min"] == 45.0 and ix["HR_max"] == 90.0
    assert ix["HR_mean"] == pytest.approx((4796 * 60 + 135) / 4798)
    assert any("2 heart-rate samples" in n for n in ix.notes)


def test_without_sleep_every_per_hour_index_is_none_never_zero(events):
    awake = Hypnogram([0] * 100 + [-1] * 20, 30.0)
    ix = compute_indices(events, awake, spo2=(np.full(3600, 95.0), 1.0),
                         heart_rate=(np.full(3600, 60.0), 1.0))
    per_hour = [k for k, d in INDEX_DEFINITIONS.items() if d.unit == "/h"]
    assert per_hour and all(ix[k] is None for k in per_hour)
    assert ix["TST_h"] == 0.0 and ix["AHI_severity"] is None and ix["n_apneas"] == 0
    assert ix["SpO2_mean"] is None and ix["HR_mean"] is None
    assert any("no sleep epoch" in n for n in ix.notes)


def test_without_a_hypnogram_nothing_is_computed(events):
    ix = compute_indices(events, None)
    assert all(v is None for v in ix.values())
    assert any("no hypnogram" in n for n in ix.notes)


def test_hypnogram_offset_places_epochs_on_the_recording_time_line():
    hyp = Hypnogram([2] * 120, 30.0, offset=100.0)    # sleep 100-3700 s
    es = EventSet([ev(50, T.apnea_obstructive), ev(100, T.apnea_obstructive),
                   ev(3699.9, T.hypopnea), ev(3700, T.hypopnea)])
    ix = compute_indices(es, hyp)
    assert ix["n_apneas"] == 1 and ix["n_hypopneas"] == 1 and ix["AHI"] == pytest.approx(2.0)


def test_rejected_candidates_never_count(night):
    from sleepfm_engine.events import RejectedCandidate

    es = EventSet([ev(100, T.hypopnea)],
                  rejected=[RejectedCandidate(ev(200, T.apnea_obstructive), "flow variability")])
    assert compute_indices(es, night)["n_apneas"] == 0


@pytest.mark.parametrize("ahi, category", [
    (0.0, "normal"), (4.99, "normal"), (5.0, "mild"), (14.9, "mild"), (15.0, "moderate"),
    (29.99, "moderate"), (30.0, "severe"), (120.0, "severe"), (None, None), (math.nan, None)])
def test_severity_follows_the_aasm_thresholds(ahi, category):
    assert ahi_severity(ahi) == category


def test_raw_position_values_must_be_decoded_with_an_explicit_table(night):
    with pytest.raises(TypeError, match="BodyPosition.decode"):
        compute_indices(EventSet(), night, position=(np.zeros(10), 1.0))
    with pytest.raises(ValueError, match="rate"):
        compute_indices(EventSet(), night, spo2=(np.zeros(10), 0.0))


def test_definitions_table_is_complete_and_says_what_counts():
    sections = {"sleep", "respiratory", "oxygen", "arousal", "limb", "cardiac"}
    for key, d in INDEX_DEFINITIONS.items():
        assert d.key == key and d.name and len(d.definition) > 20
        assert d.unit in {"/h", "%", "min", "h", "bpm", "count", ""} and d.section in sections
    for key in ("AHI", "OAI", "CAI", "MAI", "HI", "RDI", "ODI3", "ArI", "PLMSI"):
        text = INDEX_DEFINITIONS[key].definition
        assert "onset falls in a sleep epoch" in text
        assert "TST" in text
    assert "< 50 %" in INDEX_DEFINITIONS["SpO2_baseline"].definition


def test_index_table_is_a_mapping_with_a_dataframe_and_json_form(night, events):
    ix = compute_indices(events, night)
    assert isinstance(ix, IndexTable) and list(ix) == list(INDEX_DEFINITIONS)
    df = ix.to_dataframe()
    assert list(df.columns) == ["key", "name", "value", "unit", "section", "definition"]
    assert list(df["key"]) == list(INDEX_DEFINITIONS)
    assert df.set_index("key").loc["AHI", "value"] == pytest.approx(6.0)
    back = json.loads(json.dumps(ix.to_dict()))
    assert back["values"]["AHI_severity"] == "mild" and back["notes"] == list(ix.notes)
    assert ix.format("AHI", with_unit=True) == "6.0/h" and ix.format("SpO2_mean") == "\u2014"
    assert format_index("n_apneas", 6, with_unit=True) == "6"
    with pytest.raises(KeyError):
        IndexTable({"not_an_index": 1})
