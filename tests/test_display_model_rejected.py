"""Display model: the candidates a detector rejected, drawn on their rows on demand."""
from __future__ import annotations

import numpy as np
import pytest

from sleepfm_engine.display_model import DisplayModel
from sleepfm_engine.events import Event, EventSet, EventSource, RejectedCandidate
from test_display_model import rec  # noqa: F401 - the 10-minute recording fixture

SOURCE = EventSource.detector("psgscoring", "0.37.0", {})


def _rejected(i: int, onset: float, duration: float = 12.0, kind: str = "hypopnea",
              channels=("Airflow",), reason: str = "flow reduced only 20 %"):
    e = Event(onset, duration, kind, channels=channels, source=SOURCE, id=f"r{i}")
    return RejectedCandidate(e, reason)


@pytest.fixture
def model(rec):  # noqa: F811
    m = DisplayModel()
    m.set_recording(rec)
    return m


def test_rejected_candidates_are_drawn_only_when_asked(model):
    layer = EventSet(rejected=[_rejected(0, 5.0)])
    model.set_event_layers({"psgscoring": layer})
    seen = []
    model.add_listener(seen.append)
    assert not model.show_rejected and model.rejected_marks() == []
    model.set_show_rejected(True)
    assert [ev.kind for ev in seen] == ["events"]
    mark, = model.rejected_marks()
    assert mark.candidate is layer.rejected[0] and mark.layer == "psgscoring"
    assert mark.text == "rejected: flow reduced only 20 %"
    assert (mark.x0, mark.x1) == (5.0, 17.0)
    assert mark.rows == model.event_rows(layer.rejected[0].event) and len(mark.rows) == 1
    # they are not events: never selected, listed or counted as scored
    assert model.visible_events() == [] and model.event_at(10.0, mark.rows[0]) is None
    model.set_show_rejected(False)
    assert model.rejected_marks() == []


def test_rejected_candidates_follow_the_window_and_the_filters(model):
    rng = np.random.default_rng(2)
    onsets = np.sort(rng.uniform(0, model.duration - 40, 3000))
    cands = [_rejected(i, float(t), kind="apnea_obstructive" if i % 2 else "hypopnea")
             for i, t in enumerate(onsets)]
    cands.append(_rejected(9999, 0.0, duration=200.0, channels=("Nowhere",)))
    model.set_event_layers({"psgscoring": EventSet(rejected=cands)})
    model.set_show_rejected(True)
    ids = lambda: [m.candidate.event.id for m in model.rejected_marks()]  # noqa: E731
    model.page(3)  # 90-120 s: the long candidate started before the page and still runs
    want = ["r9999"] + [f"r{i}" for i in np.flatnonzero((onsets + 12.0 > 90.0) & (onsets < 120.0))]
    assert sorted(ids()) == sorted(want) and len(want) > 5
    long_mark = next(m for m in model.rejected_marks() if m.candidate.event.id == "r9999")
    assert long_mark.rows == () and (long_mark.x0, long_mark.x1) == (90.0, 120.0)
    model.set_hidden_types(["apnea_obstructive"])
    assert all(m.candidate.event.type.value == "hypopnea" for m in model.rejected_marks()
               if m.candidate.event.id != "r9999")
    model.set_hidden_layers(["psgscoring"])
    assert model.rejected_marks() == []


def test_candidates_added_to_a_layer_are_seen_on_the_next_page(model):
    layer = EventSet(rejected=[_rejected(0, 5.0)])
    model.set_event_layers({"psgscoring": layer})
    model.set_show_rejected(True)
    assert len(model.rejected_marks()) == 1
    layer.rejected.append(_rejected(1, 20.0))
    assert [m.candidate.event.id for m in model.rejected_marks()] == ["r0", "r1"]
    layer.rejected.clear()
    assert model.rejected_marks() == []
