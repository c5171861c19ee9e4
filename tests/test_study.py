"""The study document without a window: open, session, results, events, close."""
from __future__ import annotations

import numpy as np
import pytest

from edf_factory import Sig, write_edf
from sleepfm_engine.channels import ChannelMap
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.provenance import Provenance
from sleepfm_engine.events import Event, EventSet
from sleepfm_engine.recording import open_recording
from sleepfm_engine.scoring import ScoringSession
from sleepfm_engine.study import PairedScoring, Study, StudyEvent

RATE = 32


@pytest.fixture
def rec(tmp_path):
    rng = np.random.default_rng(0)
    n = 300 * RATE
    sigs = [Sig("C4-M1", RATE, rng.integers(-2000, 2000, n)),
            Sig("ECG", RATE, rng.integers(-2000, 2000, n)),
            Sig("SpO2", 1, rng.integers(930, 990, 300), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    return open_recording(write_edf(tmp_path / "night.edf", sigs))


@pytest.fixture
def study(rec):
    s = Study()
    s.open(rec, ChannelMap.from_recording(rec, overrides={"ECG": "other"}))
    yield s
    if s.session is not None:
        s.session.close()
    s.close()


def _heard(study: Study) -> list[StudyEvent]:
    seen: list[StudyEvent] = []
    study.add_listener(seen.append)
    return seen


def test_opening_shows_the_recording_in_its_display_model_with_the_channel_map(study, rec):
    assert study.is_open and study.recording is rec
    assert study.display.rec is rec
    # The user's override reaches the display's grouping.
    assert study.display.row("ECG").modality == "other"
    with pytest.raises(RuntimeError, match="still open"):
        study.open(rec, study.channel_map)


def test_a_session_brings_its_automatic_hypnogram_of_unknown_provenance(study, rec):
    auto = Hypnogram(np.array([2] * 10), 30.0)
    session = ScoringSession.for_recording(rec, auto=auto, load_saved=False)
    paired = PairedScoring(None, None, "paired hypnogram unreadable: bad line 3")
    study.set_auto(Hypnogram(np.array([0] * 10), 30.0), Provenance.imported("hypnogram", "x.csv"))
    study.set_session(session, paired)
    assert study.paired is paired
    assert study.auto_hypnogram is session.auto and study.auto_provenance is None
    assert study.scored_manual() is None
    stages, epoch_length, offset = study.overview_stages()
    # Nothing scored by hand yet: the overview shows the automatic staging.
    assert (stages == 2).all() and epoch_length == 30.0 and offset == 0.0
    session.score(0, "N3")
    assert study.scored_manual().stages[0] == 3
    assert study.overview_stages()[0][0] == 3


def test_results_are_kept_with_their_provenance_and_announced(study, tmp_path):
    seen = _heard(study)
    prov = Provenance.imported("hypnogram", tmp_path / "auto.csv")
    hyp = Hypnogram(np.array([0, 1, 2]), 30.0)
    study.set_auto(hyp, prov)
    study.set_risk({"stroke": 0.1}, None)
    study.set_embeddings(str(tmp_path / "night.embeddings.hdf5"))
    study.set_demographics(61, "F")
    assert study.auto_hypnogram is hyp and study.auto_provenance is prov
    assert study.risk == {"stroke": 0.1}
    assert study.embeddings == tmp_path / "night.embeddings.hdf5"
    assert (study.age, study.sex) == (61.0, "F")
    assert [e.kind for e in seen] == ["auto", "risk", "embeddings", "demographics"]


def test_events_of_a_source_are_replaced_and_shown_by_onset(study):
    study.set_events([Event(50.0, 1.0, "arousal", id="b"), Event(10.0, 1.0, "arousal", id="a")],
                     "file")
    study.set_events(EventSet([Event(20.0, 0.0, "note", id="x")]), "marks.csv")
    assert [(e.id, s) for e, s in study.events] == [
        ("a", "file"), ("x", "marks.csv"), ("b", "file")]
    study.set_events([Event(5.0, 0.0, "note", id="y")], "marks.csv")
    assert [e.id for e, _ in study.events] == ["y", "a", "b"]
    # The display model draws the same layers.
    assert list(study.display.event_layers) == ["file", "marks.csv"]
    assert [e.id for e in study.display.event_layers["marks.csv"]] == ["y"]
    # An empty set removes its layer.
    study.set_events([], "marks.csv")
    assert list(study.layers) == ["file"]


def test_closing_forgets_everything_and_closes_the_recording(rec, monkeypatch):
    closed = []
    close = rec.close
    monkeypatch.setattr(rec, "close", lambda: (closed.append(True), close()))
    study = Study()
    study.open(rec, ChannelMap.from_recording(rec))
    study.set_events([Event(1.0, 1.0, "arousal")], "file")
    study.set_risk({"x": 1}, None)
    seen = _heard(study)
    study.close()
    assert not study.is_open and study.channel_map is None and study.risk is None
    assert study.events == [] and study.display.rec is None and study.display.rows == []
    assert seen == [StudyEvent("closed")]
    assert closed == [True]
    # The same document opens the next night.
    study.open(rec, ChannelMap.from_recording(rec))
    assert study.display.rows
