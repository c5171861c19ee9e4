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
        home = m.rows[0] if m.rows else -1
        box = (m.x0, m.x0 + max(width, m.x1 - m.x0))
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
