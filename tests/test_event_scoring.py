"""Scored events in the engine without Qt: where each event and its label go on a page, the
scored stages shown on the page, event edits with undo/redo, autosave and recovery, the event
keys, and accepting automatic events."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edf_factory import Sig, write_edf
from sleepfm_engine.channels import ChannelMap
from sleepfm_engine.display_model import DisplayModel
from sleepfm_engine.event_keys import EventKeyMap
from sleepfm_engine.events import Event, EventSet, EventSource, EventType
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.recording import open_recording
from sleepfm_engine.scoring import ScoringSession
from sleepfm_engine.study import Study

RATE = 32


@pytest.fixture
def rec(tmp_path):
    """5 minutes: C4-M1, chin, airflow, thoracic effort and a 1-Hz SpO2."""
    rng = np.random.default_rng(0)
    seconds = 300
    n = seconds * RATE
    sigs = [Sig("C4-M1", RATE, rng.integers(-2000, 2000, n)),
            Sig("Chin1-Chin2", RATE, rng.integers(-2000, 2000, n)),
            Sig("Airflow", RATE, rng.integers(-2000, 2000, n)),
            Sig("Thor", RATE, rng.integers(-2000, 2000, n)),
            Sig("SpO2", 1, rng.integers(930, 990, seconds), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    r = open_recording(write_edf(tmp_path / "psg.edf", sigs))
    yield r
    r.close()


@pytest.fixture
def model(rec):
    m = DisplayModel()
    m.set_recording(rec)
    return m


def _row(model: DisplayModel, key: str) -> int:
    return [r.key for r in model.visible_rows].index(key)


# ------------------------------------------------------------------ events on the page
def test_an_event_is_drawn_on_the_rows_it_was_scored_on_and_without_channels_across_the_page(
        model):
    apnea = Event(5.0, 12.0, "apnea_obstructive", channels=("Airflow", "thor"), id="oa")
    lights = Event(2.0, 0.0, "lights_off", id="off")
    lost = Event(8.0, 3.0, "desaturation", channels=("SaO2-not-here",), id="d")
    model.set_event_layers({"file": EventSet([apnea, lights, lost])})
    marks = {m.event.id: m for m in model.event_marks(label_width=2.0, lanes=1)}
    assert marks["oa"].rows == (_row(model, "Airflow"), _row(model, "Thor"))
    assert marks["off"].rows == () and marks["d"].rows == ()
    assert (marks["oa"].code, marks["oa"].colour) == ("OA", "#B2182B")
    # Spans are clipped to the window.
    model.go_to(10.0)
    m = model.event_marks(2.0, 1)[0]
    assert (m.event.id, m.x0, m.x1) == ("oa", 10.0, 17.0)


def test_hidden_types_and_layers_are_not_drawn(model):
    model.set_event_layers({"file": EventSet([Event(1.0, 5.0, "arousal", id="a")]),
                            "psgscoring": EventSet([Event(2.0, 5.0, "hypopnea", id="h")])})
    assert [e.id for _, e in model.visible_events()] == ["a", "h"]
    model.set_hidden_types([EventType.arousal])
    assert [e.id for _, e in model.visible_events()] == ["h"]
    model.set_hidden_layers(["psgscoring"])
    assert model.visible_events() == [] and model.event_onsets().size == 0


# set_event_layers replaces every event each example, so sharing the model is safe.
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 29), st.floats(0, 20), st.sampled_from(
    ["Airflow", "Thor", "", "SpO2"])), max_size=40), st.floats(0.1, 8.0), st.integers(0, 3))
def test_labels_in_one_row_never_overlap(model, spans, width, lanes):
    events = [Event(t, d, "hypopnea", channels=(c,) if c else (), id=f"e{i}")
              for i, (t, d, c) in enumerate(spans)]
    model.set_event_layers({"x": EventSet(events)})
    placed: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for m in model.event_marks(width, lanes, band_lanes=lanes):
        if m.lane is None:
            continue
        assert 0 <= m.lane < lanes
        home = m.label_row if m.label_row is not None else -1
        assert home == (m.rows[0] if (m.rows and lanes) else -1)
        box = (m.x0, m.x0 + width)
        for a, b in placed.get((home, m.lane), []):
            assert box[0] >= b - 1e-9 or box[1] <= a + 1e-9
        placed.setdefault((home, m.lane), []).append(box)
    # With enough lanes every label finds room.
    if lanes == 3 and len(events) <= 3:
        assert all(m.lane is not None for m in model.event_marks(width, 3))


def test_the_event_under_the_pointer_is_the_shortest_on_that_row(model):
    model.set_event_layers({"x": EventSet([
        Event(0.0, 20.0, "apnea_obstructive", channels=("Airflow",), id="long"),
        Event(4.0, 3.0, "hypopnea", channels=("Airflow",), id="short"),
        Event(4.0, 3.0, "arousal", channels=("C4-M1",), id="eeg")])})
    assert model.event_at(5.0, _row(model, "Airflow"))[1].id == "short"
    assert model.event_at(15.0, _row(model, "Airflow"))[1].id == "long"
    assert model.event_at(15.0, _row(model, "Thor")) is None


def test_a_dragged_span_is_kept_inside_the_recording_and_ordered(model):
    seen = []
    model.add_listener(lambda ev: seen.append(ev.kind))
    model.set_span(12.0, -3.0, "Airflow")
    assert model.span == (0.0, 12.0, "Airflow") and seen == ["span"]
    model.set_span(5.0, 5.0)
    assert model.span is None
    with pytest.raises(KeyError):
        model.set_span(1.0, 2.0, "nope")


def test_the_page_shows_the_scored_stages_of_the_current_epoch_not_a_file_note(rec):
    study = Study()
    study.open(rec, ChannelMap.from_recording(rec))
    session = ScoringSession.for_recording(rec, autosave=False, load_saved=False)
    probs = np.full((session.n_epochs, 5), 0.05)
    probs[:, 2] = 0.8
    session.set_auto(Hypnogram(np.full(session.n_epochs, 2, dtype=np.int8), probabilities=probs))
    study.set_session(session)
    seen = []
    study.display.add_listener(lambda ev: seen.append(ev.kind))
    assert study.display.stage_caption() == "Manual ? · Automatic N2 80%"
    session.score(0, "R")
    assert "stages" in seen
    assert study.display.stage_caption() == "Manual R · Automatic N2 80%"
    study.display.go_to_epoch(1)
    assert study.display.stage_caption().startswith("Manual ?")
    study.close()
    assert study.display.stage_caption() == ""


# ------------------------------------------------------------------ event keys
def test_event_keys_default_to_the_usual_letters_and_round_trip():
    keys = EventKeyMap()
    assert keys.type_for("o") == EventType.apnea_obstructive
    assert [keys.type_for(k).value for k in "CMHADLX"] == [
        "apnea_central", "apnea_mixed", "hypopnea", "arousal", "desaturation",
        "limb_movement", "artefact"]
    assert keys.type_for("Q") is None and keys.type_for("") is None
    keys.bind("shift+r", "rera")
    keys.unbind("X")
    assert keys.type_for("Shift+R") == EventType.rera and keys.type_for("X") is None
    assert EventKeyMap.from_dict(keys.to_dict()) == keys
    with pytest.raises(ValueError):
        keys.bind("Y", "not a type")


# ------------------------------------------------------------------ editing events
@pytest.fixture
def session(rec, tmp_path):
    s = ScoringSession.for_recording(rec, scorer="J. Doe", autosave_delay=3600,
                                     load_saved=False)
    yield s
    s.close(keep_autosave=False)


def test_event_edits_are_undone_and_redone_with_the_stage_edits(session):
    seen = []
    session.add_listener(seen.append)
    session.score(0, "N2")
    e = session.create_event(40.0, 12.0, "apnea_obstructive", ["Airflow"])
    assert e.source == EventSource.manual("J. Doe") and session.events[e.id] == e
    assert (seen[-1].kind, seen[-1].start, seen[-1].stop) == ("events", 1, 2)
    old = session.update_event(e.id, type="apnea_central", duration=15.0)
    assert old == e
    assert session.events[e.id].type == EventType.apnea_central
    session.remove_event(e.id)
    assert len(session.events) == 0 and session.is_modified
    assert session.undo_label == "Delete apnea central"
    session.undo()
    assert session.events[e.id].duration == 15.0
    session.undo()
    assert session.events[e.id] == e
    session.undo()
    assert len(session.events) == 0
    session.undo()  # the stage
    assert session.stage(0) == -1 and not session.is_modified
    for _ in range(4):
        session.redo()
    assert session.stage(0) == 2 and len(session.events) == 0
    extra = session.create_event(1.0, 1.0, "arousal")
    with pytest.raises(ValueError):
        session.update_event(extra.id, duration=-1)
    assert session.events[extra.id] == extra
    with pytest.raises(KeyError):
        session.remove_event("nope")


def test_scored_events_are_saved_and_read_back_identically(session, rec):
    a = session.create_event(3.5, 10.25, "hypopnea", ["Airflow", "Thor"])
    session.accept_events([Event(60.0, 20.0, "desaturation", ("SpO2",),
                                 EventSource.detector("psgscoring", "0.37", {"profile": "x"}),
                                 confidence=0.75, attributes={"rule": "3 % drop"}, id="det1")])
    path = session.save()
    assert not session.is_modified
    back = ScoringSession.for_recording(rec, autosave=False)
    assert back.events == session.events
    assert back.events["det1"].attributes["accepted_by"] == "J. Doe"
    assert back.events[a.id] == a and path.exists()


def test_unsaved_events_are_recovered_after_a_crash(session, rec):
    from sleepfm_engine.scoring_store import find_recovery

    session.save()
    e = session.create_event(100.0, 3.0, "arousal", ["C4-M1"])
    session.flush_autosave()
    info = find_recovery(rec.path)
    assert info is not None and info.n_changed == 0 and info.n_events_changed == 1
    assert "1 event(s)" in info.describe()
    recovered = ScoringSession.for_recording(rec, recover=info, autosave=False)
    assert recovered.events[e.id] == e and recovered.is_modified


def test_accepting_keeps_the_detector_source_and_a_rerun_never_touches_scored_events(rec):
    study = Study()
    study.open(rec, ChannelMap.from_recording(rec))
    session = ScoringSession.for_recording(rec, autosave=False, load_saved=False, scorer="R")
    study.set_session(session)
    det = EventSource.detector("psgscoring", "0.37")
    auto = [Event(10.0, 12.0, "apnea_obstructive", source=det, confidence=0.9, id="a1"),
            Event(50.0, 12.0, "hypopnea", source=det, confidence=0.4, id="a2")]
    manual = session.create_event(20.0, 5.0, "arousal")
    study.set_events(EventSet(auto), "psgscoring")
    assert study.next_event(0.0, unreviewed=True)[0].id == "a1"
    assert session.accept_events([auto[0]]) == 1
    assert session.accept_events([auto[0]]) == 0  # already scored
    # Accepted once, shown once (as scored); the next unreviewed one is a2.
    assert [(e.id, s) for e, s in study.events] == [("a1", "scoring"), (manual.id, "scoring"),
                                                    ("a2", "psgscoring")]
    assert study.next_event(0.0, unreviewed=True)[0].id == "a2"
    assert study.next_event(10.0, kind=EventType.hypopnea)[0].id == "a2"
    assert study.next_event(50.0, -1)[0].id == manual.id
    # A new detector run replaces its own layer only.
    study.set_events(EventSet([Event(70.0, 10.0, "hypopnea", source=det, id="b1")]),
                     "psgscoring")
    assert {e.id for e in session.events} == {"a1", manual.id}
    with pytest.raises(ValueError, match="scoring session"):
        study.set_events([], "scoring")
    study.close()


def test_the_selected_events_label_is_the_one_that_finds_room(model):
    model.set_event_layers({"x": EventSet([Event(5.0, 20.0, "arousal", id="ar"),
                                           Event(5.5, 10.0, "apnea_obstructive", id="oa")])})
    lanes = {m.event.id: m.lane for m in model.event_marks(2.0, 1)}
    assert lanes == {"ar": 0, "oa": None}
    model.select_event("oa")
    lanes = {m.event.id: m.lane for m in model.event_marks(2.0, 1)}
    assert lanes == {"ar": None, "oa": 0}
