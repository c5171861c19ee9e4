"""Hypnogram file formats: each format read from a file written here, errors naming the line,
round trips of every export, atomic writes."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from sleepfm_engine import HypnogramError, read_hypnogram, write_hypnogram
from sleepfm_engine.formats import detect_format
from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED, Hypnogram

START = dt.datetime(2021, 2, 3, 22, 10, 5)


def _edf(path: Path, annotations, signals=(), start=START):
    import edfio

    sigs = [edfio.EdfSignal(np.zeros(int(rate * seconds)), sampling_frequency=rate, label=label)
            for label, rate, seconds in signals]
    edf = edfio.Edf(sigs, recording=edfio.Recording(startdate=start.date()),
                    starttime=start.time(),
                    annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations])
    edf.write(path)
    return path


def _line_of(message: str) -> int:
    m = re.search(r"line (\d+)", message)
    assert m, f"no line number in {message!r}"
    return int(m.group(1))


# -- EDF+ --------------------------------------------------------------------------------------
def test_sleep_edf_hypnogram_file(tmp_path):
    path = _edf(tmp_path / "SC4001EC-Hypnogram.edf", [
        (0, 60, "Sleep stage W"), (60, 30, "Sleep stage 1"), (90, 90, "Sleep stage 2"),
        (180, 30, "Sleep stage 3"), (210, 30, "Sleep stage 4"), (240, 60, "Sleep stage R"),
        (300, 30, "Movement time"), (330, 30, "Sleep stage ?"),
    ])
    assert detect_format(path) == "edf"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 30 and hyp.offset == 0 and hyp.start == START
    assert hyp.stage_names() == ["W", "W", "N1", "N2", "N2", "N2", "N3", "N3", "R", "R", "A", "?"]
    assert hyp.file_format == "edf" and hyp.source == str(path)


def test_stage_annotations_inside_a_psg_are_found_among_other_events(tmp_path):
    path = _edf(tmp_path / "psg.edf", [
        (0.0, None, "Lights off"), (30, 30, "W"), (60, 30, "Sleep stage N1"), (75, 10, "Arousal"),
        (90, 60, "Stage 2"), (100, 12, "Obstructive Apnea"), (150, 30, "REM"), (160, 3, "A"),
    ], signals=[("EEG Fpz-Cz", 100, 200)])
    hyp = read_hypnogram(path)
    assert hyp.offset == 30
    assert hyp.stage_names() == ["W", "N1", "N2", "N2", "R"]


def test_edf_stage_annotations_without_durations_last_until_the_next(tmp_path):
    path = _edf(tmp_path / "marks.edf", [(0, None, "Sleep stage W"), (60, None, "Sleep stage 2"),
                                         (90, None, "Sleep stage R")], signals=[("EEG", 10, 150)])
    assert read_hypnogram(path).stage_names() == ["W", "W", "N2", "R"]


def test_edf_without_stage_annotations_says_so(tmp_path):
    path = _edf(tmp_path / "events.edf", [(5, 1, "Arousal")], signals=[("EEG", 10, 30)])
    with pytest.raises(HypnogramError, match="no sleep-stage annotations.*'Arousal'") as err:
        read_hypnogram(path)
    assert str(path) in str(err.value)


def test_edf_suffix_without_an_edf_header_is_rejected(tmp_path):
    path = tmp_path / "fake.edf"
    path.write_text("0,30,W\n")
    with pytest.raises(HypnogramError, match="no EDF header"):
        read_hypnogram(path)


def test_edf_round_trip_keeps_stages_offset_start_and_scorer(tmp_path):
    hyp = Hypnogram(["W", "N1", "N2", "N2", "N3", "R", "?", "A", "W"], 30, START, offset=60,
                    scorer="Dr Jane Doe")
    path = write_hypnogram(hyp, tmp_path / "out-Hypnogram.edf", "edf")
    back = read_hypnogram(path)
    assert back.stages.tolist() == hyp.stages.tolist()
    assert back.offset == 60 and back.start == START and back.epoch_length == 30
    assert back.scorer == "Dr Jane Doe"
    # the file is readable by another EDF+ reader too
    import edfio
    texts = [a.text for a in edfio.read_edf(path).annotations]
    assert texts[:3] == ["Sleep stage W", "Sleep stage N1", "Sleep stage N2"]
    assert len(texts) == 8  # runs: N2 N2 is one annotation


def test_edf_round_trip_without_a_start_time_stays_without_one(tmp_path):
    hyp = Hypnogram([0, 2, 2, 4], 30)
    back = read_hypnogram(write_hypnogram(hyp, tmp_path / "h.edf", "edf"))
    assert back.start is None and back.stages.tolist() == [0, 2, 2, 4]


# -- NSRR XML ----------------------------------------------------------------------------------
NSRR = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<PSGAnnotation>
<SoftwareVersion>Compumedics</SoftwareVersion>
<EpochLength>30</EpochLength>
<ScoredEvents>
<ScoredEvent>
<EventType/>
<EventConcept>Recording Start Time</EventConcept>
<Start>0</Start>
<Duration>32400.0</Duration>
<ClockTime>00.00.00 22.15.00</ClockTime>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Wake|0</EventConcept>
<Start>0</Start>
<Duration>90.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Stage 1 sleep|1</EventConcept>
<Start>90.0</Start>
<Duration>30.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Respiratory|Respiratory</EventType>
<EventConcept>Obstructive apnea|Obstructive Apnea</EventConcept>
<Start>100.2</Start>
<Duration>14.1</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Stage 2 sleep|2</EventConcept>
<Start>120.0</Start>
<Duration>120.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Stage 3 sleep|3</EventConcept>
<Start>240.0</Start>
<Duration>30.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Stage 4 sleep|4</EventConcept>
<Start>270.0</Start>
<Duration>60.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>REM sleep|5</EventConcept>
<Start>330.0</Start>
<Duration>60.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Movement|6</EventConcept>
<Start>390.0</Start>
<Duration>30.0</Duration>
</ScoredEvent>
<ScoredEvent>
<EventType>Stages|Stages</EventType>
<EventConcept>Unscored|9</EventConcept>
<Start>420.0</Start>
<Duration>30.0</Duration>
</ScoredEvent>
</ScoredEvents>
</PSGAnnotation>
"""


def test_nsrr_xml_with_multi_epoch_durations(tmp_path):
    path = tmp_path / "shhs1-200001-nsrr.xml"
    path.write_text(NSRR)
    assert detect_format(path) == "nsrr-xml"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 30 and hyp.offset == 0
    assert hyp.stage_names() == ["W"] * 3 + ["N1"] + ["N2"] * 4 + ["N3"] * 3 + ["R"] * 2 + ["A", "?"]


def test_nsrr_unknown_stage_concept_names_its_line(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(NSRR.replace("REM sleep|5", "Stage 7 sleep|7"))
    with pytest.raises(HypnogramError, match="unknown sleep-stage concept") as err:
        read_hypnogram(path)
    expected = NSRR.splitlines().index("<EventConcept>REM sleep|5</EventConcept>") + 1
    assert _line_of(str(err.value)) == expected
    assert str(path) in str(err.value)


def test_nsrr_bad_start_names_its_line(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(NSRR.replace("<Start>120.0</Start>", "<Start>two</Start>"))
    with pytest.raises(HypnogramError, match="Start 'two' is not a number") as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == NSRR.splitlines().index("<Start>120.0</Start>") + 1


def test_broken_xml_names_its_line(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text(NSRR.replace("<Duration>30.0</Duration>", "<Duration>30.0</Duratio>", 1))
    with pytest.raises(HypnogramError, match="not well-formed XML") as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == NSRR.splitlines().index("<Duration>30.0</Duration>") + 1


def test_xml_of_another_kind_is_rejected(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<?xml version='1.0'?>\n<Something/>\n")
    with pytest.raises(HypnogramError, match="root <Something> is in no known format.*nsrr-xml, "
                                             "profusion-xml"):
        read_hypnogram(path)


# -- Profusion XML -----------------------------------------------------------------------------
PROFUSION = """<?xml version="1.0" encoding="utf-8"?>
<CMPStudyConfig>
<EpochLength>30</EpochLength>
<ScoredEvents></ScoredEvents>
<SleepStages>
<SleepStage>0</SleepStage>
<SleepStage>1</SleepStage>
<SleepStage>2</SleepStage>
<SleepStage>3</SleepStage>
<SleepStage>4</SleepStage>
<SleepStage>5</SleepStage>
<SleepStage>9</SleepStage>
</SleepStages>
</CMPStudyConfig>
"""


def test_profusion_xml(tmp_path):
    path = tmp_path / "study-profusion.xml"
    path.write_text(PROFUSION)
    assert detect_format(path) == "profusion-xml"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 30
    assert hyp.stage_names() == ["W", "N1", "N2", "N3", "N3", "R", "?"]


def test_profusion_unknown_value_names_its_line(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(PROFUSION.replace("<SleepStage>5</SleepStage>", "<SleepStage>7</SleepStage>"))
    with pytest.raises(HypnogramError, match="7 is not a Profusion sleep stage") as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == PROFUSION.splitlines().index("<SleepStage>5</SleepStage>") + 1


# -- DREAMS text -------------------------------------------------------------------------------
def test_dreams_text_keeps_5s_epochs_and_resamples_to_30s(tmp_path):
    path = tmp_path / "Hypnogram_excerptX.txt"
    values = [5] * 6 + [3] * 6 + [2] * 6 + [1] * 3 + [0] * 3 + [4] * 6 + [-1] * 6
    path.write_text("[Hypnogram]\n" + "\n".join(map(str, values)) + "\n")
    assert detect_format(path) == "dreams"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 5 and hyp.n_epochs == 36
    assert hyp.stage_names()[:12] == ["W"] * 6 + ["N1"] * 6
    assert hyp.stage_names()[18:24] == ["N3"] * 6
    assert hyp.resample(30).stage_names() == ["W", "N1", "N2", "N3", "R", "?"]
    assert read_hypnogram(path, epoch_length=30).stage_names() == ["W", "N1", "N2", "N3", "R", "?"]


@pytest.mark.parametrize("body, line, match", [
    ("5\n5\nx\n5\n", 4, "not a DREAMS stage value"),
    ("5\n7\n", 3, "7 is not a DREAMS stage value"),
    ("5\n\n5\n", 3, "empty line"),
])
def test_dreams_malformed_lines_are_named(tmp_path, body, line, match):
    path = tmp_path / "Hypnogram_bad.txt"
    path.write_text("[Hypnogram]\n" + body)
    with pytest.raises(HypnogramError, match=match) as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == line


# -- sleepfm-clinical CSV ----------------------------------------------------------------------
def test_sleepfm_csv_unknown_is_unscored_never_wake(tmp_path):
    path = tmp_path / "labels.csv"
    rows = ["Start,Stop,StageName,StageNumber,EmbeddingNumber"]
    names = ["Unknown", "Unknown", "Wake", "Stage 1", "Stage 2", "Stage 3", "REM"]
    numbers = [-1, -1, 0, 1, 2, 3, 4]
    for k, (n, s) in enumerate(zip(names, numbers)):
        rows.append(f"{5 * k},{5 * k + 5},{n},{s},{k}")
    path.write_text("\n".join(rows) + "\n")
    assert detect_format(path) == "sleepfm"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 5 and hyp.offset == 0
    assert hyp.stages.tolist() == [UNSCORED, UNSCORED, 0, 1, 2, 3, 4]


def test_sleepfm_csv_without_embedding_number(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("Start,Stop,StageName,StageNumber\n0,5,REM,4\n5,10,Wake,0\n")
    assert read_hypnogram(path).stage_names() == ["R", "W"]


@pytest.mark.parametrize("row, match", [
    ("10,15,Wake,2,2", "contradicts"),
    ("10,15,Stage 9,9,2", "StageNumber 9"),
    ("10,10,Wake,0,2", "Stop"),
    ("10,15,Wake", "columns"),
])
def test_sleepfm_csv_malformed_lines_are_named(tmp_path, row, match):
    path = tmp_path / "labels.csv"
    path.write_text("Start,Stop,StageName,StageNumber,EmbeddingNumber\n0,5,Wake,0,0\n5,10,Wake,0,1\n"
                    + row + "\n")
    with pytest.raises(HypnogramError, match=match) as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == 4


def test_sleepfm_export_round_trip_on_tokens_from_the_recording_start(tmp_path):
    hyp = Hypnogram(["W", "N2", "R", "A"], 30, offset=30)
    path = write_hypnogram(hyp, tmp_path / "tokens.csv", "sleepfm")
    lines = path.read_text().splitlines()
    assert lines[0] == "Start,Stop,StageName,StageNumber,EmbeddingNumber"
    assert len(lines) == 1 + 30  # 150 s of tokens from t = 0
    assert lines[1] == "0,5,Unknown,-1,0"
    assert lines[7] == "30,35,Wake,0,6"
    assert lines[-1] == "145,150,Unknown,-1,29"  # artefact is written as Unknown
    back = read_hypnogram(path)
    assert back.epoch_length == 5 and back.n_epochs == 30
    back30 = back.resample(30)
    assert back30.stages.tolist() == [UNSCORED, 0, 2, 4, UNSCORED]


def test_sleepfm_export_reproduces_the_reference_example(tmp_path, data_dir):
    # sleepfm-clinical's example label file (MIT, licence beside it in tests/data/reference/)
    example = data_dir / "reference" / "example_staging_labels.csv"
    hyp = read_hypnogram(example)
    out = write_hypnogram(hyp, tmp_path / "again.csv", "sleepfm")
    assert out.read_text() == example.read_text()


# -- YASA integers -----------------------------------------------------------------------------
def test_yasa_integers_use_yasas_convention_and_the_given_epoch_length(tmp_path):
    path = tmp_path / "hypno.txt"
    path.write_text("0\n1\n2\n3\n4\n-1\n-2\n")
    assert detect_format(path) == "yasa"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 30
    assert hyp.stages.tolist() == [0, 1, 2, 3, 4, ARTEFACT, UNSCORED]
    assert read_hypnogram(path, epoch_length=20).epoch_length == 20


def test_yasa_stage_names_per_line(tmp_path):
    path = tmp_path / "hypno.txt"
    path.write_text("WAKE\nN1\nN2\nREM\nART\nUNS\n")
    assert read_hypnogram(path).stage_names() == ["W", "N1", "N2", "R", "A", "?"]


@pytest.mark.parametrize("body, line, match", [
    ("0\n1\n7\n", 3, "7 is not a YASA stage code"),
    ("0\nN2\nsnore\n", 3, "neither a YASA stage code"),
    ("0\n\n2\n", 2, "empty line"),
])
def test_yasa_malformed_lines_are_named(tmp_path, body, line, match):
    path = tmp_path / "hypno.txt"
    path.write_text(body)
    with pytest.raises(HypnogramError, match=match) as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == line


def test_yasa_round_trip(tmp_path):
    hyp = Hypnogram([0, 1, 2, 3, 4, -1, -2], 30)
    path = write_hypnogram(hyp, tmp_path / "h.txt", "yasa")
    assert path.read_text().split() == ["0", "1", "2", "3", "4", "-2", "-1"]
    assert read_hypnogram(path).stages.tolist() == hyp.stages.tolist()


# -- plain CSV ---------------------------------------------------------------------------------
def test_plain_csv_with_names_numbers_and_multi_epoch_rows(tmp_path):
    path = tmp_path / "stages.csv"
    path.write_text("onset,duration,stage\n0,60,Wake\n60,30,N1\n90,90,2\n180,30,REM\n210,30,?\n")
    assert detect_format(path) == "csv"
    hyp = read_hypnogram(path)
    assert hyp.stage_names() == ["W", "W", "N1", "N2", "N2", "N2", "R", "?"]


def test_plain_csv_columns_in_any_order_semicolons_and_no_header(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("Stage;Onset;Duration\nW;30;30\nR;60;30\n")
    hyp = read_hypnogram(a)
    assert hyp.offset == 30 and hyp.stage_names() == ["W", "R"]
    b = tmp_path / "b.csv"
    b.write_text("0,30,N3\n30,30,W\n")
    assert read_hypnogram(b).stage_names() == ["N3", "W"]


@pytest.mark.parametrize("row, match", [
    ("60,30,Snoring", "unknown stage 'Snoring'"),
    ("sixty,30,W", "onset 'sixty' is not a number"),
    ("60,-30,W", "duration must be positive"),
    ("60,30", "columns"),
])
def test_plain_csv_malformed_lines_are_named(tmp_path, row, match):
    path = tmp_path / "stages.csv"
    path.write_text("onset,duration,stage\n0,30,W\n30,30,N1\n" + row + "\n")
    with pytest.raises(HypnogramError, match=match) as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == 4
    assert str(path) in str(err.value)


def test_plain_csv_incomplete_probability_columns_are_rejected(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("onset,duration,stage,p_W,p_N1\n0,30,W,0.9,0.1\n")
    with pytest.raises(HypnogramError, match="probability columns incomplete") as err:
        read_hypnogram(path)
    assert _line_of(str(err.value)) == 1


def test_csv_round_trip_keeps_probabilities_start_scorer_and_offset(tmp_path):
    probs = np.array([[0.8, 0.1, 0.05, 0.03, 0.02], [0.1, 0.2, 0.6, 0.05, 0.05],
                      [np.nan] * 5, [0.0, 0.0, 0.1, 0.1, 0.8]], dtype=np.float32)
    hyp = Hypnogram(["W", "N2", "?", "R"], 30, START, offset=90, scorer="SleepFM staging",
                    probabilities=probs)
    path = write_hypnogram(hyp, tmp_path / "pred.csv", "csv")
    text = path.read_text()
    assert "onset,duration,stage,p_W,p_N1,p_N2,p_N3,p_R" in text
    assert "90,30,W,0.8,0.1,0.05,0.03,0.02" in text
    back = read_hypnogram(path)
    assert back == hyp


def test_csv_round_trip_of_5s_epochs(tmp_path):
    hyp = Hypnogram([0, 0, 1, 2, 2, 4, -2], 5)
    back = read_hypnogram(write_hypnogram(hyp, tmp_path / "five.csv"))
    assert back.epoch_length == 5 and back.stages.tolist() == hyp.stages.tolist()


# -- detection, writing ------------------------------------------------------------------------
@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("hello world, this is not\n", "unrecognised hypnogram format"),
])
def test_unrecognised_or_empty_files(tmp_path, content, match):
    path = tmp_path / "x.txt"
    path.write_text(content)
    with pytest.raises(HypnogramError, match=match):
        read_hypnogram(path)


def test_missing_file(tmp_path):
    with pytest.raises(HypnogramError, match="no such file"):
        read_hypnogram(tmp_path / "nope.csv")


def test_unknown_write_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="cannot write hypnogram format"):
        write_hypnogram(Hypnogram([0]), tmp_path / "x.xml", "nsrr-xml")


def test_writes_are_atomic_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "h.edf"
    write_hypnogram(Hypnogram([0, 2]), target, "edf")
    before = target.read_bytes()
    with pytest.raises(ValueError, match="1970"):
        write_hypnogram(Hypnogram([0, 2], start=dt.datetime(1970, 1, 1)), target, "edf")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["h.edf"]  # no temporary file left behind


def test_an_empty_hypnogram_is_not_written(tmp_path):
    with pytest.raises(ValueError, match="no epochs"):
        write_hypnogram(Hypnogram([]), tmp_path / "empty.csv")
    assert not (tmp_path / "empty.csv").exists()
