"""Scored-event files: every reader on a fixture in its vendor layout (written here from the
layouts in event-files.md), every writer read back (exactly for the engine's own JSON, on what
each format declares it keeps for vendor formats), stages and events from the same file, and
any text given to a parser read or refused with a typed error."""
from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import EventsError, HypnogramError, NoStagesError
from sleepfm_engine.events import (EVENT_TYPES, Event, EventSet, EventSource, EventType,
                                   RejectedCandidate, describe_label, is_stage_label)
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
    written = write_events(events, tmp_path / "again.xml", "profusion")
    again = read_events(written)
    assert again.file_format == "profusion-xml"
    assert [(e.onset, e.duration, e.type, e.channels, e.label, dict(e.attributes)) for e in again] == \
        [(e.onset, e.duration, e.type, e.channels, e.label, dict(e.attributes)) for e in events]
    with pytest.raises(NoStagesError):  # events written alone: no stages to pair as a hypnogram
        read_hypnogram(written)


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
    assert {"edf", "nsrr-xml", "profusion-xml", "events-json"} <= set(event_write_formats())
    assert "yasa-events" in event_read_formats() and "yasa-events" not in event_write_formats()
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


# -- tabular vendor files --------------------------------------------------------------------
MNE_CSV = ("onset,duration,description,ch_names\n"
           "2024-03-01 22:30:00.000000,30.0,Sleep stage W,\n"
           "2024-03-01 22:30:30.000000,30.0,Sleep stage N2,\n"
           "2024-03-01 22:30:42.500000,11.0,Obstructive Apnea,Flow:Thor\n"
           '2024-03-01 22:31:00.000000,3.0,"Arousal, (Resp)",C3\n'
           "2024-03-01 22:31:05.000000,0.0,Tech note: patient snoring,\n")


def test_mne_csv_clock_onsets_count_from_the_recording_start_when_given(tmp_path):
    path = tmp_path / "night_annotations.csv"
    path.write_text(MNE_CSV)
    assert detect_events_format(path) == "mne-csv"
    events = read_events(path)  # no start given: from the first onset, as MNE reads it
    assert events.start == dt.datetime(2024, 3, 1, 22, 30)
    got = [(e.onset, e.duration, e.type, e.channels, e.label) for e in events]
    assert got == [(42.5, 11.0, T.apnea_obstructive, ("Flow", "Thor"), "Obstructive Apnea"),
                   (60.0, 3.0, T.arousal_respiratory, ("C3",), "Arousal, (Resp)"),
                   (65.0, 0.0, T.note, (), "Tech note: patient snoring")]
    earlier = read_events(path, start=dt.datetime(2024, 3, 1, 22, 29, 30))
    assert [e.onset for e in earlier] == [72.5, 90.0, 95.0]
    assert earlier.start == dt.datetime(2024, 3, 1, 22, 29, 30)
    hyp = read_hypnogram(path)
    assert list(hyp.stages) == [0, 2] and hyp.start == dt.datetime(2024, 3, 1, 22, 30)


def test_mne_reads_our_mne_csv_and_we_read_what_mne_saves(tmp_path):
    mne = pytest.importorskip("mne")
    events = EventSet([Event(12.25, 10.0, T.apnea_obstructive, ("Flow",), label="Obstructive apnea"),
                       Event(40.0, 3.5, T.arousal, ("C3", "C4")),
                       Event(50.0, 0.0, T.lights_on)], start=dt.datetime(2024, 3, 1, 22, 0))
    ours = write_events(events, tmp_path / "ours.csv")
    assert get_format(detect_events_format(ours)).name == "mne-csv"
    annot = mne.read_annotations(ours)
    assert list(annot.description) == ["Obstructive apnea", "Arousal", "Lights on"]
    assert [tuple(c) for c in annot.ch_names] == [("Flow",), ("C3", "C4"), ()]
    assert list(annot.duration) == [10.0, 3.5, 0.0]
    saved = tmp_path / "theirs.csv"
    events.to_mne_annotations().save(saved)
    back = read_events(saved, start=events.start)
    assert [(e.onset, e.duration, e.type, e.channels) for e in back] == \
        [(e.onset, e.duration, e.type, e.channels) for e in events]


def test_mne_csv_without_an_origin_is_seconds_from_the_epoch(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("onset,duration,description\n1970-01-01 00:00:05.250000,2.0,Hypopnea\n")
    events = read_events(path)
    assert [(e.onset, e.type) for e in events] == [(5.25, T.hypopnea)] and events.start is None


def test_edfbrowser_csv_seconds_missing_durations_and_stage_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Onset,Duration,Annotation\n+0.0000000,30,Sleep stage W\n"
                    "30.0000000,30,Sleep stage N1\n12.5000000,11.2,Hypopnea\n"
                    "20.0000000,,Lights Off\n25,4,Limb Movement (Right)\n")
    assert detect_events_format(path) == "edfbrowser-csv"
    events = read_events(path)
    assert [(e.onset, e.duration, e.type) for e in events] == [
        (12.5, 11.2, T.hypopnea), (20.0, 0.0, T.lights_off), (25.0, 4.0, T.limb_movement_right)]
    assert events.of_type(T.lights_off)[0].attributes == {DURATION_MISSING: True}
    assert list(read_hypnogram(path).stages) == [0, 1]


def test_bids_events_tsv_trial_type_value_and_na(tmp_path):
    path = tmp_path / "sub-01_task-sleep_events.tsv"
    path.write_text("onset\tduration\ttrial_type\tvalue\tchannel\n"
                    "0\t30\tSleep stage W\tn/a\tn/a\n"
                    "5.5\tn/a\tn/a\tCentral Apnea\tAirflow\n"
                    "7\t2\tLM\tn/a\tn/a\n"
                    "9\t1\tn/a\tn/a\tn/a\n")
    assert detect_events_format(path) == "bids-tsv"
    events = read_events(path)
    assert [(e.onset, e.duration, e.type, e.channels, e.label) for e in events] == [
        (5.5, 0.0, T.apnea_central, ("Airflow",), "Central Apnea"),
        (7.0, 2.0, T.limb_movement, (), "LM"),
        (9.0, 1.0, T.note, (), "")]  # no label at all: still an event, never dropped
    assert events.of_type(T.apnea_central)[0].attributes == {DURATION_MISSING: True}
    assert list(read_hypnogram(path).stages) == [0]


def test_a_csv_hypnogram_with_a_tsv_suffix_is_not_taken_for_bids_events(tmp_path):
    path = tmp_path / "night.tsv"
    path.write_text("onset\tduration\tstage\n0\t30\tW\n30\t30\tN2\n")
    assert list(read_hypnogram(path).stages) == [0, 2]
    with pytest.raises(EventsError, match="hypnogram file"):
        read_events(path)


def test_yasa_detection_summaries_keep_channel_stage_and_measures(tmp_path):
    spindles = tmp_path / "spindles.csv"
    spindles.write_text(",Start,Peak,End,Duration,Amplitude,Frequency,Oscillations,Stage,Channel,"
                        "IdxChannel\n0,100.5,101.0,101.5,1.0,50.2,13.1,12,2,C3,0\n"
                        "1,200.25,200.5,201.0,0.75,41.0,12.4,9,3,C4,1\n")
    events = read_events(spindles)
    assert events.file_format == "yasa-events"
    assert [(e.onset, e.duration, e.type, e.channels, e.label) for e in events] == [
        (100.5, 1.0, T.note, ("C3",), "Spindle"), (200.25, 0.75, T.note, ("C4",), "Spindle")]
    assert dict(events.events[0].attributes) == {"Peak": 101.0, "Amplitude": 50.2,
                                                 "Frequency": 13.1, "Oscillations": 12, "Stage": 2}
    labelled = tmp_path / "events.csv"
    labelled.write_text("Start,End,Description,Channel\n10,25,Obstructive apnea,Flow\n")
    assert [(e.onset, e.duration, e.type) for e in read_events(labelled)] == \
        [(10.0, 15.0, T.apnea_obstructive)]
    backwards = tmp_path / "bad.csv"
    backwards.write_text("Start,End,Channel\n10,5,C3\n")
    with pytest.raises(EventsError, match=r"line 2: End 5 is before Start 10"):
        read_events(backwards)


# -- writers: vendor formats read back what they declare they keep ---------------------------
VENDOR_LABELS = ["Obstructive Apnea", "Obstructive apnea|Obstructive Apnea", "Central Apnea",
                 "Hypopnea", "Unsure|Unsure", "SpO2 desaturation", "SpO2 artifact", "Arousal ()",
                 "Arousal (ASDA)", "Arousal (Resp)", "Limb Movement (Left)", "PLM (Left)", "LM",
                 "Lights Off", "Lights on", "Position change", "Sleep stage N2", "Bathroom break",
                 "Bradycardia", ""]
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ()-/.,"
_NAMES = st.text(_SAFE, min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def vendor_event_sets(draw, keeps: frozenset[str]) -> EventSet:
    """Event sets holding only what a vendor format can hold; its onsets are distinct (EDF+
    joins annotations of one onset, text and duration that differ only in their channel)."""
    onsets = draw(st.lists(st.integers(0, 36_000_000), max_size=10, unique=True))
    events = []
    for ms in onsets:
        kind = draw(st.sampled_from(list(EventType)))
        label = draw(st.one_of(st.sampled_from(VENDOR_LABELS), _NAMES))
        most = 3 if "channels" in keeps else 1
        channels = tuple(draw(st.lists(_NAMES, max_size=most, unique=True)))
        attributes = {}
        if kind == T.desaturation and draw(st.booleans()):
            attributes = {"nadir_pct": draw(st.integers(600, 990)) / 10,
                          "baseline_pct": draw(st.integers(900, 1000)) / 10}
        events.append(Event(ms / 1000, draw(st.integers(0, 120_000)) / 1000, kind, channels,
                            label=label, attributes=attributes))
    start = None
    if draw(st.booleans()):
        start = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2080, 12, 31))).replace(microsecond=0)
    return EventSet(events, start=start)


def _kept(e: Event, keeps: frozenset[str]) -> tuple:
    """What of ``e`` a format declaring ``keeps`` gives back."""
    out = [e.onset, e.duration, e.type]
    if "label" in keeps:
        out.append(file_label(e))
    if "channels" in keeps:
        out.append(e.channels)
    elif "channel" in keeps:
        out.append(e.channels[:1])
    if "spo2" in keeps:
        out.append({k: e.attributes.get(k) for k in ("nadir_pct", "baseline_pct")})
    return tuple(out)


def _kept_read(e: Event, keeps: frozenset[str]) -> tuple:
    out = list(_kept(e, keeps))
    if "label" in keeps:
        out[3] = e.label
    return tuple(out)


VENDOR_WRITERS = [f for f in event_write_formats() if f != "events-json"]


@pytest.mark.parametrize("fmt", VENDOR_WRITERS)
def test_every_vendor_writer_reads_back_what_its_format_keeps(fmt):
    entry = get_format(fmt)
    suffix = entry.event_save_suffix or entry.suffixes[0]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"night{suffix}"

        @SETTINGS
        @given(events=vendor_event_sets(entry.event_keeps))
        def check(events):
            write_events(events, path, fmt)
            back = read_events(path, fmt, start=events.start)
            assert back.file_format == fmt
            assert sorted(_kept_read(e, entry.event_keeps) for e in back) == \
                sorted(_kept(e, entry.event_keeps) for e in events)
            if "start" in entry.event_keeps:
                assert back.start == events.start

        check()


def test_every_type_is_written_under_a_label_that_reads_back_as_that_type():
    for kind, info in EVENT_TYPES.items():
        label = file_label(Event(0, 1, kind, label="Sleep stage N2"))
        assert describe_label(label).type == kind and not is_stage_label(label)
        assert label in (info.label, f"{info.label} event")


def test_writers_refuse_what_their_format_cannot_hold_naming_the_file(tmp_path):
    at_sign = EventSet([Event(0, 1, T.note, label="a@@b")])
    with pytest.raises(EventsError, match=r"night\.edf.*cannot be an EDF\+ annotation"):
        write_events(at_sign, tmp_path / "night.edf")
    control = EventSet([Event(0, 1, T.note, label="bell\x07")])
    with pytest.raises(EventsError, match=r"night\.xml.*cannot be written to XML"):
        write_events(control, tmp_path / "night.xml")
    assert not (tmp_path / "night.edf").exists() and not (tmp_path / "night.xml").exists()
    with pytest.raises(ValueError, match="cannot write events in format 'yasa-events'"):
        write_events(EventSet(), tmp_path / "p.csv", "yasa-events")


# -- parsers: any text is read or refused with a typed error ----------------------------------
FIXTURES = {"nsrr-xml": NSRR, "profusion-xml": PROFUSION, "mne-csv": MNE_CSV,
            "edfbrowser-csv": "Onset,Duration,Annotation\n0,30,Sleep stage W\n12.5,,Hypopnea\n",
            "bids-tsv": "onset\tduration\ttrial_type\n0\t30\tHypopnea\n5\tn/a\tLM\n",
            "yasa-events": "Start,End,Duration,Channel,Stage\n1,2,1,C3,2\n",
            "events-json": '{"format": "sleepfm-studio events", "format_version": 1, "start": null, '
                           '"events": [{"onset": 1, "duration": 2, "type": "arousal"}], "rejected": []}'}


@st.composite
def mutated(draw, text: str) -> str:
    """``text`` with one slice replaced by arbitrary text."""
    i = draw(st.integers(0, len(text)))
    j = draw(st.integers(i, min(len(text), i + 40)))
    return text[:i] + draw(st.text(max_size=30)) + text[j:]


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_any_text_given_to_an_events_parser_is_read_or_refused_with_an_events_error(fmt):
    entry = get_format(fmt)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{entry.suffixes[0]}"

        @SETTINGS
        @given(text=st.one_of(st.text(max_size=200), mutated(FIXTURES[fmt])))
        def check(text):
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            for read in (lambda: entry.read_events(path, None), lambda: read_events(path)):
                try:
                    result = read()
                except EventsError as exc:
                    assert str(path) in str(exc)
                else:
                    assert isinstance(result, EventSet)

        check()


def test_any_bytes_named_edf_are_read_or_refused_with_an_events_error():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.edf"
        base = _write_edf(Path(folder) / "base.edf", [(1.0, 2.0, "Hypopnea")]).read_bytes()

        @SETTINGS
        @given(i=st.integers(0, len(base) - 1), chunk=st.binary(max_size=16))
        def check(i, chunk):
            path.write_bytes(base[:i] + chunk + base[i + len(chunk):])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a damaged header field is read with a warning
                try:
                    assert isinstance(read_events(path), EventSet)
                except EventsError as exc:
                    assert str(path) in str(exc)

        check()


def test_malformed_content_names_file_and_line(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(NSRR.replace("<Start>4102.0</Start>", "<Start>soon</Start>"))
    with pytest.raises(EventsError, match=r"n\.xml, line \d+: Start 'soon' is not a number"):
        read_events(path)
    bids = tmp_path / "e.tsv"
    bids.write_text("onset\tduration\ttrial_type\n1\t2\tHypopnea\n3\t-1\tLM\n")
    with pytest.raises(EventsError, match=r"e\.tsv, line 3: negative duration"):
        read_events(bids)
    with pytest.raises(EventsError, match="no such file"):
        read_events(tmp_path / "absent.csv")
    with pytest.raises(HypnogramError):  # EventsError and HypnogramError are both SleepFM errors
        read_hypnogram(bids)


def test_discovery_pairs_an_events_table_only_when_it_has_stage_rows(tmp_path):
    rec = tmp_path / "night.edf"
    rec.write_bytes(b"")
    write_events(EventSet([Event(5.0, 10.0, T.apnea_obstructive)]), tmp_path / "night.events.json")
    table = tmp_path / "night_annotations.csv"
    table.write_text("onset,duration,description\n1970-01-01 00:00:05.000000,10.0,Hypopnea\n")
    assert find_paired_hypnogram(rec) == (None, None)  # neither file holds stages
    table.write_text("onset,duration,description\n1970-01-01 00:00:00.000000,30.0,Sleep stage W\n"
                     "1970-01-01 00:00:05.000000,10.0,Hypopnea\n")
    hyp, found = find_paired_hypnogram(rec)
    assert found == table and list(hyp.stages) == [0]
    assert [e.type for e in read_events(table)] == [T.hypopnea]


STAGE_TABLES = {
    "mne-csv": MNE_CSV,
    "edfbrowser-csv": "Onset,Duration,Annotation\n0,30,Sleep stage W\n30,30,Sleep stage N2\n40,,Hypopnea\n",
    "bids-tsv": "onset\tduration\ttrial_type\n0\t30\tSleep stage W\n30\tn/a\tSleep stage R\n31\t2\tLM\n"}


@pytest.mark.parametrize("fmt", sorted(STAGE_TABLES))
def test_any_text_given_to_an_events_tables_stage_reader_is_read_or_refused_with_a_hypnogram_error(fmt):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.txt"

        @SETTINGS
        @given(text=st.one_of(st.text(max_size=200), mutated(STAGE_TABLES[fmt])))
        def check(text):
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # re-epoching and overlap warnings are fine here
                try:
                    hyp = read_hypnogram(path, fmt=fmt)
                except HypnogramError as exc:
                    assert str(path) in str(exc)
                    return
            assert hyp.n_epochs > 0 and hyp.file_format == fmt

        check()


@pytest.mark.parametrize("fmt", VENDOR_WRITERS)
def test_any_label_and_channel_text_is_written_back_exactly_or_refused(fmt):
    entry = get_format(fmt)
    most = 3 if "channels" in entry.event_keeps else 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"night{entry.event_save_suffix or entry.suffixes[0]}"

        @SETTINGS
        @given(label=st.text(max_size=15),
               channels=st.lists(st.text(min_size=1, max_size=6), max_size=most, unique=True))
        def check(label, channels):
            event = Event(1.5, 2.0, T.note, tuple(channels), label=label)
            try:
                write_events(EventSet([event]), path, fmt)
            except EventsError as exc:
                assert str(path) in str(exc)
                return
            (back,) = read_events(path, fmt).events
            assert back.type == T.note and back.label == file_label(event)
            if entry.event_keeps & {"channels", "channel"}:
                assert back.channels == event.channels

        check()


def test_xml_declaring_an_unknown_encoding_is_refused_by_both_readers(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(NSRR.replace('encoding="UTF-8"', 'encoding="TF-8"'))
    with pytest.raises(EventsError, match="unknown encoding"):
        read_events(path)
    with pytest.raises(HypnogramError, match="unknown encoding"):
        read_hypnogram(path)
