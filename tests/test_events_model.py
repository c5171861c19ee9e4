"""The event model: sources, events, rejected candidates and the queryable EventSet."""
from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import EventsError
from sleepfm_engine.events import (Event, EventSet, EventSource, EventType, RejectedCandidate)

T = EventType
SCORER = EventSource.manual("JD")


def ev(onset, duration, t=T.hypopnea, **kw):
    return Event(onset, duration, t, source=kw.pop("source", SCORER), **kw)


# -- EventSource -----------------------------------------------------------------------------
def test_source_constructors_set_kind_and_round_trip_through_dict():
    det = EventSource.detector("psgscoring", "0.37", {"profile": "aasm_v3_rec", "thr": [3, 4]})
    assert det.kind == "detector" and det.settings["thr"] == (3, 4)
    assert EventSource.from_dict(json.loads(json.dumps(det.to_dict()))) == det
    assert EventSource.file("/x/night.xml") == EventSource("file", "/x/night.xml")
    assert EventSource.manual("JD").kind == "manual"
    assert hash(det) == hash(EventSource.from_dict(det.to_dict()))


def test_source_with_an_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        EventSource("guess", "x")


# -- Event -----------------------------------------------------------------------------------
def test_event_has_defaults_an_end_and_a_fresh_id():
    a = Event(10.0, 12.5, "apnea_obstructive")
    b = Event(10.0, 12.5, T.apnea_obstructive)
    assert a.type is T.apnea_obstructive and a.end == 22.5
    assert a.id and a.id != b.id and a.channels == () and a.confidence is None
    assert a.source.kind == "manual"


@pytest.mark.parametrize("kwargs, match", [
    ({"onset": math.nan}, "onset"), ({"onset": math.inf}, "onset"),
    ({"duration": -1.0}, "duration"), ({"duration": math.nan}, "duration"),
    ({"confidence": 1.5}, "confidence"), ({"confidence": -0.1}, "confidence"),
    ({"type": "Obstructive apnea"}, "event type"),
    ({"attributes": {"drop_pct": math.nan}}, "JSON"),
    ({"attributes": {"x": object()}}, "JSON"),
])
def test_invalid_events_raise_value_error_naming_the_field(kwargs, match):
    fields = {"onset": 1.0, "duration": 2.0, "type": T.hypopnea, **kwargs}
    with pytest.raises(ValueError, match=match):
        Event(**fields)


def test_event_attributes_are_frozen_json_and_numpy_scalars_become_python():
    e = ev(1, 2, T.desaturation, attributes={"drop_pct": np.float64(4.5), "n": np.int64(3),
                                             "criteria": ["drop", "duration"]})
    assert e.attributes == {"drop_pct": 4.5, "n": 3, "criteria": ("drop", "duration")}
    assert type(e.attributes["n"]) is int
    with pytest.raises(TypeError):
        e.attributes["drop_pct"] = 3  # type: ignore[index]
    assert hash(e) == hash(Event.from_dict(e.to_dict()))


def test_event_replace_keeps_the_id_and_dict_round_trip_is_identical():
    e = ev(5, 10, T.apnea_central, channels=("Airflow",), confidence=0.8, label="Central Apnea",
           attributes={"rule": "AASM 1A"}, source=EventSource.detector("d", "1", {"a": 1}))
    moved = e.replace(onset=7.0)
    assert moved.id == e.id and moved.onset == 7.0 and e.onset == 5.0
    assert Event.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    assert Event("3", 1, T.note, channels="C3").channels == ("C3",)


def test_event_from_label_types_it_keeps_the_text_and_merges_label_attributes():
    e = Event.from_label(5, 2, "Periodic leg movement - left|PLM (Left)", channels=("LLeg",),
                         source=EventSource.file("a.xml"), attributes={"series": 3})
    assert e.type is T.periodic_limb_movement and e.label.startswith("Periodic leg")
    assert e.attributes == {"side": "left", "series": 3} and e.channels == ("LLeg",)
    unknown = Event.from_label(1, 0, "Impedance check")
    assert unknown.type is T.note and unknown.label == "Impedance check"


def test_rejected_candidate_round_trips_through_dict():
    r = RejectedCandidate(ev(1, 12, T.apnea_obstructive), "flow variability during event")
    assert RejectedCandidate.from_dict(json.loads(json.dumps(r.to_dict()))) == r


# -- EventSet basics -------------------------------------------------------------------------
def test_event_set_keeps_events_ordered_by_onset_then_id():
    es = EventSet([ev(30, 1, id="b"), ev(10, 1, id="z"), ev(30, 1, id="a"), ev(20, 1, id="m")])
    assert [e.id for e in es] == ["z", "m", "a", "b"]
    assert len(es) == 4 and "a" in es and "q" not in es and es.get("q") is None
    assert es["m"].onset == 20


def test_adding_a_duplicate_id_is_an_error_and_extend_is_all_or_nothing():
    es = EventSet([ev(1, 1, id="x")])
    with pytest.raises(ValueError, match="'x'"):
        es.add(ev(2, 1, id="x"))
    with pytest.raises(ValueError, match="'y'"):
        es.extend([ev(3, 1, id="y"), ev(4, 1, id="y")])
    assert [e.id for e in es] == ["x"]


def test_remove_and_update_return_the_old_event_so_changes_can_be_undone():
    original = ev(100, 10, T.hypopnea, id="h1")
    es = EventSet([original, ev(50, 10, id="h0")])
    before = es.copy()
    old = es.update("h1", type=T.apnea_obstructive, onset=40.0)
    assert old == original
    assert es["h1"].type is T.apnea_obstructive and [e.id for e in es] == ["h1", "h0"]
    es.update("h1", **{"type": old.type, "onset": old.onset})
    assert es == before
    removed = es.remove("h0")
    assert "h0" not in es and es.overlapping(0, 1000) == [original]
    es.add(removed)
    assert es == before
    with pytest.raises(KeyError, match="nope"):
        es.remove("nope")
    with pytest.raises(KeyError):
        es.update("nope", onset=1)


def test_update_with_invalid_changes_leaves_the_set_unchanged():
    es = EventSet([ev(1, 1, id="a"), ev(2, 1, id="b")])
    before = es.copy()
    with pytest.raises(ValueError):
        es.update("a", duration=-3)
    with pytest.raises(ValueError, match="'b'"):
        es.update("a", id="b")
    assert es == before


def test_type_family_and_counts_queries():
    es = EventSet([ev(1, 10, T.apnea_obstructive), ev(20, 10, T.apnea_obstructive),
                   ev(40, 15, T.hypopnea), ev(45, 20, T.desaturation), ev(60, 5, T.arousal)])
    assert es.counts() == {T.apnea_obstructive: 2, T.hypopnea: 1, T.desaturation: 1,
                           T.arousal: 1}
    assert list(es.counts()) == [T.apnea_obstructive, T.hypopnea, T.arousal, T.desaturation]
    assert [e.onset for e in es.of_type(T.hypopnea, "arousal")] == [40, 60]
    assert [e.onset for e in es.of_family("oxygen", "arousal")] == [45, 60]


def test_overlap_is_half_open_and_zero_duration_events_are_instants():
    es = EventSet([ev(10, 5, id="a"), ev(20, 0, T.lights_off, id="z")])

    def ids(a, b, **kw):
        return [e.id for e in es.overlapping(a, b, **kw)]

    assert ids(0, 10) == [] and ids(15, 20) == [] and ids(14.9, 16) == ["a"]
    assert ids(20, 21) == ["z"] and ids(19, 20) == []
    assert ids(12, 12) == ["a"] and ids(10, 10) == ["a"] and ids(15, 15) == []
    assert ids(20, 20) == ["z"]
    assert ids(0, 100, types=[T.lights_off]) == ["z"]
    with pytest.raises(ValueError, match="start <= stop"):
        es.overlapping(5, 1)


def test_long_events_are_found_by_queries_far_from_their_onset():
    es = EventSet([ev(0, 30000, T.artefact, id="long")] + [ev(100 + i, 1) for i in range(50)])
    assert [e.id for e in es.overlapping(29000, 29001)] == ["long"]
    es.remove("long")
    assert es.overlapping(29000, 29001) == []


def test_removing_the_longest_event_narrows_later_queries_correctly():
    es = EventSet([ev(0, 500, id="big"), ev(1000, 2, id="small")])
    assert [e.id for e in es.overlapping(400, 401)] == ["big"]
    es.remove("big")
    assert es.overlapping(400, 401) == [] and [e.id for e in es.overlapping(1001, 1001)] == ["small"]


def test_merge_keeps_both_sets_events_and_refuses_conflicting_ids():
    a = EventSet([ev(1, 1, id="x"), ev(2, 1, id="y")])
    b = EventSet([a["y"], ev(3, 1, id="w")],
                 rejected=[RejectedCandidate(ev(9, 10, id="r"), "too short")])
    merged = a.merge(b)
    assert [e.id for e in merged] == ["x", "y", "w"] and len(merged.rejected) == 1
    assert len(a) == 2  # the originals are untouched
    with pytest.raises(ValueError, match="'x'"):
        a.merge(EventSet([ev(5, 1, id="x")]))
    start = dt.datetime(2024, 1, 1, 22)
    with pytest.raises(ValueError, match="starting"):
        EventSet(start=start).merge(EventSet(start=start + dt.timedelta(hours=1)))


def test_copy_is_independent_and_equality_compares_events_rejected_and_start():
    es = EventSet([ev(1, 1, id="x")], rejected=[RejectedCandidate(ev(2, 1, id="r"), "why")])
    other = es.copy()
    other.add(ev(3, 1, id="y"))
    assert len(es) == 1 and es != other
    assert es == es.copy()
    assert es != EventSet([ev(1, 1, id="x")])
    assert es.copy() != EventSet(es, rejected=es.rejected, start=dt.datetime(2020, 1, 1))
    es.clear()
    assert len(es) == 0 and es.rejected == [] and es.overlapping(0, 10) == []


def test_dict_round_trip_keeps_start_rejected_and_every_field():
    start = dt.datetime(2024, 3, 1, 22, 14, 5)
    es = EventSet([ev(1, 10, T.apnea_mixed, channels=("Flow", "Thor"), confidence=0.5,
                      attributes={"rule": "1A", "criteria": {"drop": 92.0}})],
                  start=start, rejected=[RejectedCandidate(ev(30, 8), "under 10 s")],
                  source="night.xml", file_format="nsrr_xml")
    back = EventSet.from_dict(json.loads(json.dumps(es.to_dict())))
    assert back == es and back.start == start and back.source == "night.xml"


def test_from_dict_names_the_bad_event():
    with pytest.raises(EventsError, match="row 1.*duration"):
        EventSet.from_dict({"events": [ev(1, 1).to_dict(), {"onset": 1, "type": "rera"}]})


# -- DataFrame and MNE -----------------------------------------------------------------------
def test_dataframe_has_the_contract_columns_and_round_trips_including_rejected():
    es = EventSet([ev(1.25, 10, T.apnea_obstructive, channels=("Airflow",), confidence=0.9,
                      label="Obstructive Apnea", attributes={"rule": "1A"}),
                   ev(30, 0, T.lights_on)],
                  start=dt.datetime(2024, 3, 1, 22), rejected=[RejectedCandidate(ev(50, 8), "short")])
    df = es.to_dataframe()
    assert list(df.columns) == ["onset", "duration", "type", "channels", "source", "confidence",
                                "label", "id", "attributes"]
    assert list(df["type"]) == ["apnea_obstructive", "lights_on"]
    assert json.loads(df["attributes"][0]) == {"rule": "1A"} and math.isnan(df["confidence"][1])
    assert EventSet.from_dataframe(df) == EventSet(es, start=es.start)
    full = es.to_dataframe(rejected=True)
    assert list(full["rejected"].isna()) == [True, True, False] and full["rejected"][2] == "short"
    assert EventSet.from_dataframe(full) == es


def test_dataframe_without_type_or_id_columns_maps_labels_and_makes_ids():
    import pandas as pd

    df = pd.DataFrame({"onset": [3.0, 1.0], "duration": [12.0, 6.0],
                       "label": ["Obstructive Apnea", "Arousal ()"], "channels": ["Flow", ""]})
    es = EventSet.from_dataframe(df, source=EventSource.file("x.csv"))
    assert [e.type for e in es] == [T.arousal, T.apnea_obstructive]
    assert [e.label for e in es] == ["Arousal ()", "Obstructive Apnea"]
    assert es.events[1].channels == ("Flow",) and es.events[0].source.kind == "file"
    assert len({e.id for e in es}) == 2


def test_dataframe_with_missing_columns_or_bad_rows_gives_a_typed_error_naming_the_row():
    import pandas as pd

    with pytest.raises(EventsError, match="no column duration"):
        EventSet.from_dataframe(pd.DataFrame({"onset": [1.0], "type": ["rera"]}), path="e.csv")
    bad = pd.DataFrame({"onset": [1.0, 2.0], "duration": [1.0, -5.0], "type": ["rera", "rera"]})
    with pytest.raises(EventsError, match=r"e\.csv, row 1: duration"):
        EventSet.from_dataframe(bad, path="e.csv")


def test_mne_annotations_carry_onsets_durations_channels_and_mappable_descriptions():
    start = dt.datetime(2024, 3, 1, 22, 0, 0)
    es = EventSet([ev(10, 12, T.apnea_obstructive, channels=("Airflow",), label="OA"),
                   ev(40, 3, T.arousal_respiratory, label="Obstructive apnea")], start=start)
    ann = es.to_mne_annotations()
    assert list(ann.onset) == [10, 40] and list(ann.duration) == [12, 3]
    # the first keeps its original text; the second's label no longer says its type
    assert list(ann.description) == ["OA", "Respiratory arousal"]
    assert ann.ch_names[0] == ("Airflow",) and ann.ch_names[1] == ()
    assert ann.orig_time == start.replace(tzinfo=dt.timezone.utc)


# -- property-based ---------------------------------------------------------------------------
_times = st.floats(min_value=0, max_value=3000, allow_nan=False, allow_infinity=False)
_durations = st.one_of(st.just(0.0), st.floats(min_value=0, max_value=2000, allow_nan=False))
_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                          st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
_sources = st.one_of(
    st.builds(EventSource.manual, st.text(max_size=6)),
    st.builds(EventSource.file, st.text(max_size=10)),
    st.builds(EventSource.detector, st.text(max_size=6), st.text(max_size=4),
              st.dictionaries(st.text(max_size=4), _json_scalars, max_size=2)))
_events = st.builds(
    Event, _times, _durations, st.sampled_from(list(EventType)),
    channels=st.lists(st.text(max_size=6), max_size=2).map(tuple), source=_sources,
    confidence=st.one_of(st.none(), st.floats(0, 1)),
    attributes=st.dictionaries(st.text(max_size=6),
                               st.one_of(_json_scalars, st.lists(_json_scalars, max_size=2)),
                               max_size=3),
    label=st.text(max_size=12))
_event_lists = st.lists(_events, max_size=40, unique_by=lambda e: e.id)


def _brute_force(events, start, stop):
    out = []
    for e in events:
        if start == stop:
            hit = e.onset <= start < e.onset + e.duration or (e.duration == 0 and e.onset == start)
        elif e.duration == 0:
            hit = start <= e.onset < stop
        else:
            hit = e.onset < stop and e.onset + e.duration > start
        if hit:
            out.append(e)
    return sorted(out, key=lambda e: (e.onset, e.id))


@settings(max_examples=150, deadline=None)
@given(_event_lists, _times, st.floats(min_value=0, max_value=1500), st.data())
def test_overlap_queries_equal_brute_force_after_additions_and_removals(events, start, width, data):
    es = EventSet(events)
    assert es.overlapping(start, start + width) == _brute_force(events, start, start + width)
    assert es.overlapping(start, start) == _brute_force(events, start, start)
    gone = data.draw(st.sets(st.sampled_from([e.id for e in events]) if events else st.nothing()))
    for i in gone:
        es.remove(i)
    kept = [e for e in events if e.id not in gone]
    assert es.overlapping(start, start + width) == _brute_force(kept, start, start + width)
    assert list(es) == sorted(kept, key=lambda e: (e.onset, e.id))


@settings(max_examples=100, deadline=None)
@given(_event_lists, st.data())
def test_add_remove_update_round_trip_restores_the_set(events, data):
    es = EventSet(events)
    before = es.copy()
    for e in events:
        assert es.add(es.remove(e.id)) == e.id
    assert es == before
    if events:
        target = data.draw(st.sampled_from(events))
        new_onset = data.draw(_times)
        new_duration = data.draw(_durations)
        old = es.update(target.id, onset=new_onset, duration=new_duration)
        assert old == target and es[target.id].onset == new_onset
        es.update(target.id, onset=old.onset, duration=old.duration)
    assert es == before


@settings(max_examples=100, deadline=None)
@given(_event_lists, st.lists(st.tuples(_events, st.text(max_size=10)), max_size=3))
def test_dataframe_and_dict_round_trips_are_identical(events, rejected):
    es = EventSet(events, rejected=[RejectedCandidate(e, r) for e, r in rejected],
                  start=dt.datetime(2024, 1, 2, 21, 30))
    assert EventSet.from_dataframe(es.to_dataframe(rejected=True)) == es
    assert EventSet.from_dict(json.loads(json.dumps(es.to_dict()))) == es
