"""Scored-event files: every reader on a fixture in its vendor layout (written here from the
layouts in event-files.md), every writer read back (exactly for the engine's own JSON, on what
each format declares it keeps for vendor formats), stages and events from the same file, and
any text given to a parser read or refused with a typed error."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import EventsError, HypnogramError, NoStagesError
from sleepfm_engine.events import (EVENT_TYPES, Event, EventSet, EventSource, EventType,
                                   RejectedCandidate, describe_label)
from sleepfm_engine.formats import (detect_events_format, event_format_for_path,
                                    event_read_formats, event_write_formats, events_dialog_filter,
                                    get_format, read_events, read_hypnogram, write_events)
from sleepfm_engine.formats._event_rows import DURATION_MISSING, file_label
from sleepfm_engine.formats.discover import find_paired_hypnogram
from sleepfm_engine.formats.profusion_xml import read_position_table

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
T = EventType

NSRR = """<?xml version="1.0" encoding="UTF-8"?>
<PSGAnnotation><SoftwareVersion>Compumedics</SoftwareVersion><EpochLength>30</EpochLength>
<ScoredEvents>
 <ScoredEvent><EventType/><EventConcept>Recording Start Time</EventConcept><Start>0</Start>
  <Duration>32400.0</Duration><ClockTime>00.00.00 22.14.05</ClockTime></ScoredEvent>
 <ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept>
  <Start>0.0</Start><Duration>60.0</Duration></ScoredEvent>
 <ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 2 sleep|2</EventConcept>
  <Start>60.0</Start><Duration>90.0</Duration></ScoredEvent>
 <ScoredEvent><EventType>Respiratory|Respiratory</EventType>
  <EventConcept>Obstructive apnea|Obstructive Apnea</EventConcept>
  <Start>4021.2</Start><Duration>17.4</Duration><SignalLocation>Airflow</SignalLocation></ScoredEvent>
 <ScoredEvent><EventType>Respiratory|Respiratory</EventType>
  <EventConcept>Hypopnea|Hypopnea</EventConcept><Start>4102.0</Start><Duration>21.0</Duration>
  <SignalLocation>ABDO RES</SignalLocation></ScoredEvent>
 <ScoredEvent><EventType>Respiratory|Respiratory</EventType>
  <EventConcept>SpO2 desaturation|SpO2 desaturation</EventConcept><Start>4040.5</Start>
  <Duration>24.0</Duration><SignalLocation>SaO2</SignalLocation>
  <SpO2Nadir>86.0</SpO2Nadir><SpO2Baseline>95.0</SpO2Baseline></ScoredEvent>
 <ScoredEvent><EventType>Arousals|Arousals</EventType>
  <EventConcept>Arousal|Arousal ()</EventConcept><Start>4120.0</Start><Duration>6.0</Duration>
  <SignalLocation>C3</SignalLocation></ScoredEvent>
 <ScoredEvent><EventType>Limb Movement|Limb Movement</EventType>
  <EventConcept>Limb movement - left|Limb Movement (Left)</EventConcept><Start>5203.5</Start>
  <Duration>2.5</Duration><SignalLocation>Left Leg</SignalLocation></ScoredEvent>
 <ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Central apnea|Central Apnea</EventConcept>
  <Start>6000</Start><Duration>12</Duration></ScoredEvent>
 <ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Unsure|Unsure</EventConcept>
  <Start>6100</Start><Duration>15</Duration></ScoredEvent>
 <ScoredEvent><EventType>Limb Movement|Limb Movement</EventType>
  <EventConcept>Periodic leg movement - left|PLM (Left)</EventConcept><Start>6200</Start><Duration>1.5</Duration></ScoredEvent>
 <ScoredEvent><EventType>Arousals|Arousals</EventType>
  <EventConcept>Arousal resulting from respiratory effort|Arousal (ASDA)</EventConcept>
  <Start>6300</Start><Duration>4</Duration></ScoredEvent>
 <ScoredEvent><EventType>Technician Notes|Technician Notes</EventType>
  <EventConcept>Patient asked for water</EventConcept><Start>7000</Start></ScoredEvent>
</ScoredEvents></PSGAnnotation>
"""

PROFUSION = """<?xml version="1.0" encoding="UTF-8"?>
<CMPStudyConfig><EpochLength>30</EpochLength>
<StepChannels><StepChannel><Input>POSITION</Input>
 <Labels><Label>RIGHT</Label><Label>LEFT</Label><Label>BACK</Label><Label>FRONT</Label></Labels>
</StepChannel></StepChannels>
<ScoredEvents>
 <ScoredEvent><Name>Obstructive Apnea</Name><Start>3905.1</Start><Duration>14.2</Duration>
  <Input>THOR RES</Input></ScoredEvent>
 <ScoredEvent><Name>Hypopnea</Name><Start>3990</Start><Duration>18</Duration><Input>ABDO RES</Input></ScoredEvent>
 <ScoredEvent><Name>SpO2 desaturation</Name><Start>3931</Start><Duration>20</Duration><Input>SaO2</Input>
  <LowestSpO2>87</LowestSpO2><Desaturation>5</Desaturation></ScoredEvent>
 <ScoredEvent><Name>Arousal ()</Name><Start>4011</Start><Duration>5</Duration><Input>EEG</Input></ScoredEvent>
 <ScoredEvent><Name>SpO2 artifact</Name><Start>1215</Start><Duration>6</Duration><Input>SaO2</Input></ScoredEvent>
 <ScoredEvent><Name>Mystery marker</Name><Start>100</Start><Duration>0</Duration><Input>EEG</Input></ScoredEvent>
</ScoredEvents>
<SleepStages><SleepStage>0</SleepStage><SleepStage>0</SleepStage><SleepStage>2</SleepStage></SleepStages>
</CMPStudyConfig>
"""

EDF_ANNOTATIONS = [(0.0, 30.0, "Sleep stage W"), (30.0, 30.0, "Sleep stage N2"),
                   (60.0, 30.0, "Sleep stage N2"), (12.5, 11.0, "Obstructive Apnea"),
                   (40.0, 15.0, "Hypopnea"), (41.0, 9.0, "Apnea obstructive"),
                   (50.0, 3.0, "Arousal (Resp)"), (55.0, 1.5, "Limb Movement (Left)"),
                   (56.0, 1.0, "LM"), (58.0, 20.0, "SpO2 desat"), (2.0, None, "Lights Off"),
                   (70.0, 4.0, "Central Apnea@@Airflow"), (80.0, 2.0, "Bathroom break")]


def _signature(e: Event) -> tuple:
    return (e.onset, e.duration, e.type, e.channels, dict(e.attributes), e.label)


def _by_onset(events: EventSet) -> list[Event]:
    return sorted(events, key=lambda e: (e.onset, e.label))


def _write_edf(path: Path, annotations, *, signals: bool = True) -> Path:
    import edfio

    sigs = [edfio.EdfSignal(np.zeros(90 * 8), 8, label="EEG C3-M2", physical_range=(-500, 500))] \
        if signals else []
    timing = {"data_record_duration": 1.0} if signals else {}
    edf = edfio.Edf(sigs, recording=edfio.Recording(startdate=dt.date(2024, 3, 1)),
                    starttime=dt.time(22, 30, 0), **timing,
                    annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations])
    edf.write(path)
    return path


# -- vendor fixtures: what each reader makes of them ---------------------------------------------
def test_nsrr_xml_events_are_typed_with_channels_and_spo2_attributes(tmp_path):
    path = tmp_path / "shhs1-200001-nsrr.xml"
    path.write_text(NSRR)
    events = read_events(path)
    assert detect_events_format(path) == "nsrr-xml" and events.file_format == "nsrr-xml"
    got = [(e.onset, e.duration, e.type, e.channels) for e in events]
    assert got == [
        (4021.2, 17.4, T.apnea_obstructive, ("Airflow",)),
        (4040.5, 24.0, T.desaturation, ("SaO2",)),
        (4102.0, 21.0, T.hypopnea, ("ABDO RES",)),
        (4120.0, 6.0, T.arousal, ("C3",)),
        (5203.5, 2.5, T.limb_movement_left, ("Left Leg",)),
        (6000.0, 12.0, T.apnea_central, ()),
        (6100.0, 15.0, T.hypopnea, ()),
        (6200.0, 1.5, T.periodic_limb_movement, ()),
        (6300.0, 4.0, T.arousal_respiratory, ()),
        (7000.0, 0.0, T.note, ())]
    desat = events.of_type(T.desaturation)[0]
    assert dict(desat.attributes) == {"nadir_pct": 86.0, "baseline_pct": 95.0, "drop_pct": 9.0}
    assert events.of_type(T.periodic_limb_movement)[0].attributes["side"] == "left"
    note = events.of_type(T.note)[0]
    assert note.label == "Patient asked for water" and note.attributes[DURATION_MISSING] is True
    assert all(e.source == EventSource.file(path) for e in events)
    assert events.start is None  # the start entry's date is 00.00.00 (de-identified)


def test_nsrr_xml_still_gives_its_hypnogram_to_read_hypnogram(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(NSRR)
    hyp = read_hypnogram(path)
    assert list(hyp.stages) == [0, 0, 2, 2, 2]


def test_nsrr_clock_time_with_a_date_is_the_event_sets_start(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(NSRR.replace("00.00.00 22.14.05", "03.04.24 22.14.05"))
    assert read_events(path).start == dt.datetime(2024, 4, 3, 22, 14, 5)


def test_profusion_xml_events_position_coding_and_hypnogram(tmp_path):
    path = tmp_path / "study-profusion.xml"
    path.write_text(PROFUSION)
    events = read_events(path)
    assert [(e.onset, e.duration, e.type, e.channels) for e in events] == [
        (100.0, 0.0, T.note, ("EEG",)),
        (1215.0, 6.0, T.spo2_artefact, ("SaO2",)),
        (3905.1, 14.2, T.apnea_obstructive, ("THOR RES",)),
        (3931.0, 20.0, T.desaturation, ("SaO2",)),
        (3990.0, 18.0, T.hypopnea, ("ABDO RES",)),
        (4011.0, 5.0, T.arousal, ("EEG",))]
    assert dict(events.of_type(T.desaturation)[0].attributes) == {"nadir_pct": 87.0, "drop_pct": 5.0}
    assert events.of_type(T.note)[0].label == "Mystery marker"
    table = read_position_table(path)
    assert table is not None and dict(table.codes) == {0: "right", 1: "left", 2: "supine",
                                                        3: "prone"}
    assert list(read_hypnogram(path).stages) == [0, 0, 2]


def test_edf_plus_events_inside_a_recording_leave_stages_to_the_hypnogram(tmp_path):
    path = _write_edf(tmp_path / "night.edf", EDF_ANNOTATIONS)
    events = read_events(path)
    got = [(e.onset, e.duration, e.type, e.channels, e.label) for e in events]
    assert got == [
        (2.0, 0.0, T.lights_off, (), "Lights Off"),
        (12.5, 11.0, T.apnea_obstructive, (), "Obstructive Apnea"),
        (40.0, 15.0, T.hypopnea, (), "Hypopnea"),
        (41.0, 9.0, T.apnea_obstructive, (), "Apnea obstructive"),
        (50.0, 3.0, T.arousal_respiratory, (), "Arousal (Resp)"),
        (55.0, 1.5, T.limb_movement_left, (), "Limb Movement (Left)"),
        (56.0, 1.0, T.limb_movement, (), "LM"),
        (58.0, 20.0, T.desaturation, (), "SpO2 desat"),
        (70.0, 4.0, T.apnea_central, ("Airflow",), "Central Apnea"),
        (80.0, 2.0, T.note, (), "Bathroom break")]
    assert events[events.of_type(T.lights_off)[0].id].attributes == {DURATION_MISSING: True}
    assert events.start == dt.datetime(2024, 3, 1, 22, 30)
    assert list(read_hypnogram(path).stages) == [0, 2, 2]


def test_annotation_only_edf_plus_without_stages_is_events_not_a_hypnogram(tmp_path):
    path = _write_edf(tmp_path / "night-annotations.edf",
                      [(5.0, 10.0, "Obstructive apnea"), (30.0, 3.0, "Arousal")], signals=False)
    assert [e.type for e in read_events(path)] == [T.apnea_obstructive, T.arousal]
    with pytest.raises(NoStagesError, match="no sleep-stage annotations"):
        read_hypnogram(path)


# -- the engine's own file ---------------------------------------------------------------------
_TEXT = st.text(max_size=20)
_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                          st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


@st.composite
def any_event(draw, onset=None) -> Event:
    """Any valid event: every field drawn, the lossless file must keep them all."""
    source = draw(st.sampled_from([
        EventSource.manual(draw(_TEXT)), EventSource.file(draw(_TEXT)),
        EventSource.detector(draw(_TEXT), draw(_TEXT),
                             draw(st.dictionaries(st.text(max_size=6), _JSON_SCALARS, max_size=3)))]))
    return Event(draw(st.floats(-1e5, 1e6, allow_nan=False)) if onset is None else onset,
                 draw(st.floats(0, 1e4, allow_nan=False)), draw(st.sampled_from(list(EventType))),
                 tuple(draw(st.lists(_TEXT, max_size=3))), source,
                 draw(st.one_of(st.none(), st.floats(0, 1))),
                 draw(st.dictionaries(st.text(max_size=8), st.one_of(
                     _JSON_SCALARS, st.lists(_JSON_SCALARS, max_size=3)), max_size=4)),
                 draw(_TEXT), id=draw(st.text(min_size=1, max_size=14)))


@st.composite
def any_event_set(draw) -> EventSet:
    events = draw(st.lists(any_event(), max_size=12, unique_by=lambda e: e.id))
    rejected = [RejectedCandidate(e, draw(_TEXT)) for e in draw(st.lists(any_event(), max_size=3))]
    start = draw(st.one_of(st.none(), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1))))
    return EventSet(events, start=start, rejected=rejected)


def test_the_engines_json_reads_back_exactly_what_it_wrote():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "night.events.json"

        @SETTINGS
        @given(events=any_event_set())
        def check(events):
            write_events(events, path)
            back = read_events(path)
            assert back == events
            assert [e.source for e in back] == [e.source for e in events]
            assert back.file_format == "events-json"

        check()


def test_a_name_picks_the_events_format_and_the_json_is_refused_as_a_hypnogram(tmp_path):
    assert event_format_for_path("night.events.json").name == "events-json"
    assert event_format_for_path("night.edf").name == "edf"
    assert event_format_for_path("night.xml").name == "nsrr-xml"
    assert event_format_for_path("night.dat") is None
    path = write_events(EventSet([Event(1.0, 2.0, T.arousal)]), tmp_path / "night.events.json")
    with pytest.raises(NoStagesError, match="holds scored events"):
        read_hypnogram(path)
    with pytest.raises(ValueError, match="no events format is picked"):
        write_events(EventSet(), tmp_path / "night.dat")


def test_event_format_lists_and_dialog_filters_derive_from_the_registry():
    assert {"edf", "nsrr-xml", "profusion-xml", "events-json"} <= set(event_read_formats())
    assert {"edf", "nsrr-xml", "events-json"} <= set(event_write_formats())
    assert "profusion-xml" not in event_write_formats()
    read = events_dialog_filter("read").split(";;")
    assert read[0].startswith("Scored events (") and "*.xml" in read[0] and read[-1] == "All files (*)"
    write = events_dialog_filter("write").split(";;")
    assert any(w.endswith("(*.json)") for w in write) and any(w.endswith("(*.edf)") for w in write)
    with pytest.raises(ValueError):
        events_dialog_filter("append")


def test_a_hypnogram_file_is_refused_as_events_naming_it(tmp_path):
    path = tmp_path / "night.csv"
    path.write_text("onset,duration,stage\n0,30,W\n30,30,N2\n")
    with pytest.raises(EventsError, match="is a hypnogram file .* holds no scored events"):
        read_events(path)


def test_discovery_passes_over_an_events_file_without_stages(tmp_path):
    rec = tmp_path / "night.edf"
    rec.write_bytes(b"")  # discovery reads only names here
    _write_edf(tmp_path / "night-annotations.edf", [(5.0, 10.0, "Obstructive apnea")], signals=False)
    assert find_paired_hypnogram(rec) == (None, None)
    _write_edf(tmp_path / "night-hypnogram.edf", [(0.0, 30.0, "Sleep stage W")], signals=False)
    hyp, found = find_paired_hypnogram(rec)
    assert found.name == "night-hypnogram.edf" and list(hyp.stages) == [0]
