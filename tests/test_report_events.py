"""The report's clinical-event sections and overview: numbers from compute_indices, sections only
when their events or signals exist, each naming its source."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from sleepfm_engine import open_recording
from sleepfm_engine.errors import HypnogramError
from sleepfm_engine.events import Event, EventSet, EventSource, EventType
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.indices import INDEX_DEFINITIONS, compute_indices, format_index
from sleepfm_engine.report import build_report, write_report_pdf
from sleepfm_engine.report.events import read_night_signals
from sleepfm_engine.report.figures import hypnogram_figure

pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) extracts the PDF text")

START = dt.datetime(2024, 2, 3, 23, 0, 0)
HOURS = 1.0
N_EPOCHS = int(HOURS * 120)
SECONDS = N_EPOCHS * 30
MANUAL = EventSource.manual("R. Scorer")


def write_recording(path: Path, *, spo2: bool = True, heart_rate: str | None = "HR",
                    position: bool = True) -> Path:
    """A one-hour EDF+: an EEG, and as asked SpO2 (96 % with three 6-point dips), a heart-rate
    channel (``"HR"`` a 1-Hz rate in bpm, ``"Pulse"`` a 64-Hz waveform) and body position in
    NSRR codes (supine the first half, left the second)."""
    import edfio

    t = np.arange(SECONDS, dtype=np.float64)
    signals = [edfio.EdfSignal(np.random.default_rng(0).normal(0, 20, SECONDS * 64), 64,
                               label="EEG C4-M1", physical_dimension="uV",
                               physical_range=(-500.0, 500.0))]
    if spo2:
        sat = np.full(SECONDS, 96.0)
        for centre in (600, 1800, 3000):
            sat[centre - 20:centre + 20] = 90.0
        signals.append(edfio.EdfSignal(sat, 1, label="SpO2", physical_dimension="%",
                                       physical_range=(0.0, 100.0)))
    if heart_rate == "HR":
        signals.append(edfio.EdfSignal(60 + 5 * np.sin(t / 300.0), 1, label="HR",
                                       physical_dimension="bpm", physical_range=(0.0, 250.0)))
    elif heart_rate == "Pulse":
        signals.append(edfio.EdfSignal(np.sin(np.arange(SECONDS * 64) / 10.0), 64, label="Pulse",
                                       physical_dimension="", physical_range=(-2.0, 2.0)))
    if position:
        pos = np.where(t < SECONDS / 2, 2.0, 1.0)  # NSRR: 2 supine, 1 left
        signals.append(edfio.EdfSignal(pos, 1, label="Position", physical_dimension="",
                                       physical_range=(0.0, 5.0)))
    edf = edfio.Edf(signals, patient=edfio.Patient(sex="F", name="Wilhelmina_Zwanenburg"),
                    recording=edfio.Recording(startdate=START.date()), starttime=START.time(),
                    data_record_duration=1.0)
    edf.write(path)
    return path


def all_n2() -> Hypnogram:
    return Hypnogram(np.full(N_EPOCHS, 2, dtype=np.int8), 30.0, start=START, scorer="R. Scorer")


def scored(source: EventSource = MANUAL) -> EventSet:
    """6 obstructive apneas and 4 hypopneas in an hour of N2 (AHI 10 /h), 3 desaturations of
    6 points, 2 respiratory arousals and 4 PLMs."""
    events = [Event(300.0 * (i + 1), 15.0, EventType.apnea_obstructive, source=source)
              for i in range(6)]
    events += [Event(2100.0 + 300.0 * i, 20.0, EventType.hypopnea, source=source)
               for i in range(4)]
    events += [Event(c - 20.0, 40.0, EventType.desaturation, source=source,
                     attributes={"drop_pct": 6.0, "nadir_pct": 90.0}) for c in (600, 1800, 3000)]
    events += [Event(318.0 + 600.0 * i, 8.0, EventType.arousal_respiratory, source=source)
               for i in range(2)]
    events += [Event(1000.0 + 25.0 * i, 1.0, EventType.periodic_limb_movement, source=source)
               for i in range(4)]
    return EventSet(events, start=START)


def pdf_lines(path) -> list[list[str]]:
    reader = pypdf.PdfReader(str(path))
    return [[ln.strip() for ln in page.extract_text().splitlines() if ln.strip()]
            for page in reader.pages]


def text_of(path) -> str:
    return "\n".join(sum(pdf_lines(path), []))


def cells_after(lines: list[str], label: str, n: int) -> list[str]:
    i = lines.index(label)
    return lines[i + 1:i + 1 + n]


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return write_recording(tmp_path_factory.mktemp("rec") / "night.edf")


@pytest.fixture(scope="module")
def full(recording, tmp_path_factory):
    model = build_report(recording, manual=all_n2(), events=scored())
    pdf = write_report_pdf(model, tmp_path_factory.mktemp("pdf") / "report.pdf")
    return model, pdf


# ------------------------------------------------------------------------------------ numbers
def test_report_prints_the_ahi_of_a_constructed_event_set(full):
    model, pdf = full
    assert model.events.indices["AHI"] == pytest.approx(10.0)
    lines = sum(pdf_lines(pdf), [])
    assert cells_after(lines, INDEX_DEFINITIONS["AHI"].name, 2) == ["/h", "10.0"]
    assert cells_after(lines, INDEX_DEFINITIONS["OAI"].name, 2) == ["/h", "6.0"]
    assert cells_after(lines, INDEX_DEFINITIONS["ODI4"].name, 2) == ["/h", "3.0"]
    assert cells_after(lines, INDEX_DEFINITIONS["PLMSI"].name, 2) == ["/h", "4.0"]
    assert cells_after(lines, INDEX_DEFINITIONS["AHI_severity"].name, 1) == ["mild"]


def test_every_printed_index_is_compute_indices_formatted_by_its_definition(full, recording):
    model, _ = full
    with open_recording(recording) as rec:
        signals = read_night_signals(rec)
        expected = compute_indices(scored(), all_n2().align_to(rec), spo2=signals.spo2,
                                   position=signals.position, heart_rate=signals.heart_rate)
    assert dict(model.events.indices) == dict(expected)
    shown = {key: value for s in model.events.sections for key, _, _, value in s.rows}
    assert shown and all(v == format_index(k, expected[k]) for k, v in shown.items())
    assert all(INDEX_DEFINITIONS[k].section == s.key
               for s in model.events.sections for k, *_ in s.rows)


def test_positional_ahi_uses_the_decoded_position_channel(full):
    model, _ = full
    # Supine the first half hour (5 apneas), left the second (1 apnea, 4 hypopneas).
    assert model.events.indices["AHI_supine"] == pytest.approx(10.0)
    assert model.events.indices["AHI_nonsupine"] == pytest.approx(10.0)
    assert model.events.indices["sleep_supine_h"] == pytest.approx(0.5)


def test_events_on_their_own_clock_are_moved_onto_the_recordings(recording):
    early = EventSet([Event(60.0 + 300.0 * i, 15.0, EventType.apnea_central, source=MANUAL)
                      for i in range(5)], start=START - dt.timedelta(minutes=30))
    model = build_report(recording, manual=all_n2(), events=early)
    # Onsets 60..1260 s from 22:30 all lie before the recording's 23:00 start.
    onsets = sorted(e.onset for e in model.events.events)
    assert onsets == pytest.approx([60.0 + 300.0 * i - 1800.0 for i in range(5)])
    assert model.events.indices["CAI"] == pytest.approx(0.0)
    assert any("began outside sleep" in n for n in model.events.notes)


# ---------------------------------------------------------------------------- presence rules
def test_no_events_and_no_level_signals_give_no_event_sections(tmp_path):
    path = write_recording(tmp_path / "bare.edf", spo2=False, heart_rate=None)
    model = build_report(path, manual=all_n2())
    assert model.events is None
    pdf = write_report_pdf(model, tmp_path / "bare.pdf")
    pages = pdf_lines(pdf)
    assert len(pages) == 2
    text = text_of(pdf)
    for spec in ("Respiratory events", "Oxygen saturation", "Arousals", "Limb movements",
                 "Heart rate", "Overview", "Scored events"):
        assert spec not in text
    assert "Hypnogram" in pages[0]


def test_spo2_and_heart_rate_channels_alone_give_only_their_sections(recording, tmp_path):
    model = build_report(recording, manual=all_n2())
    assert [s.key for s in model.events.sections] == ["oxygen", "cardiac"]
    assert model.events.indices["SpO2_nadir"] == pytest.approx(90.0, abs=0.01)
    assert model.events.indices["HR_max"] == pytest.approx(65.0, abs=0.01)
    text = text_of(write_report_pdf(model, tmp_path / "levels.pdf"))
    assert "Oxygen saturation" in text and "Heart rate" in text
    assert "Respiratory events" not in text and "Arousals" not in text
    assert "Source: channel SpO2" in text and "Source: channel HR" in text


def test_a_pulse_waveform_is_not_read_as_heart_rate(tmp_path):
    path = write_recording(tmp_path / "pulse.edf", heart_rate="Pulse")
    with open_recording(path) as rec:
        signals = read_night_signals(rec)
    assert signals.heart_rate is None
    assert any("Pulse" in n and "not a rate" in n for n in signals.notes)
    model = build_report(path, manual=all_n2())
    assert model.events.section("cardiac") is None


def test_an_spo2_channel_without_a_valid_sample_is_no_data(tmp_path):
    import edfio

    path = tmp_path / "flat.edf"
    edfio.Edf([edfio.EdfSignal(np.zeros(SECONDS), 1, label="SpO2", physical_dimension="%",
                               physical_range=(0.0, 100.0))],
              recording=edfio.Recording(startdate=START.date()), starttime=START.time(),
              data_record_duration=1.0).write(path)
    with open_recording(path) as rec:
        signals = read_night_signals(rec)
    assert signals.spo2 is None and any("no sample in the valid range" in n for n in signals.notes)
    assert build_report(path, manual=all_n2()).events is None


def test_without_a_hypnogram_sections_show_counts_and_say_why_no_index(recording, tmp_path):
    model = build_report(recording, events=scored())
    resp = model.events.section("respiratory")
    assert resp.rows == []
    assert ("Obstructive apnea", "OA", 6) in resp.counts and ("Hypopnea", "H", 4) in resp.counts
    text = text_of(write_report_pdf(model, tmp_path / "nohyp.pdf"))
    assert "No hypnogram: total sleep time is unknown" in text


# ------------------------------------------------------------------------------------ sources
def test_sections_name_a_detector_with_its_version_and_profile(recording, tmp_path):
    source = EventSource.detector("psgscoring", "0.37.0", {"profile": "aasm_v3_rec"})
    model = build_report(recording, manual=all_n2(), events=scored(source))
    assert model.events.section("respiratory").source == "psgscoring 0.37.0, profile aasm_v3_rec"
    assert dict(model.provenance)["Scored events"] == \
        "detector psgscoring 0.37.0, profile aasm_v3_rec"
    text = text_of(write_report_pdf(model, tmp_path / "det.pdf"))
    assert "Source: psgscoring 0.37.0, profile aasm_v3_rec" in text


def test_manual_and_file_sources_are_named_and_hidden_when_deidentified(recording, tmp_path):
    events = scored(EventSource.file("/studies/Zwanenburg_events.tsv")).merge(
        EventSet([Event(3300.0, 12.0, EventType.apnea_mixed, source=MANUAL)], start=START))
    model = build_report(recording, manual=all_n2(), events=events)
    assert model.events.section("respiratory").source == \
        "file Zwanenburg_events.tsv; manual scoring (R. Scorer)"
    assert "Zwanenburg_events.tsv" in dict(model.provenance)["Scored events"]
    hidden = build_report(recording, manual=all_n2(), events=events, deidentify=True)
    text = text_of(write_report_pdf(hidden, tmp_path / "deid.pdf"))
    assert "Zwanenburg" not in text and "R. Scorer" not in text
    assert "manual scoring (manual scorer)" in text


# ------------------------------------------------------------------------------------ overview
def _titles(fig) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.axes]


def test_overview_stacks_hypnogram_spo2_heart_rate_position_and_event_ticks(full):
    model, _ = full
    titles = _titles(hypnogram_figure(model))
    assert [t.split(" \u2014")[0] for t in titles] == [
        "Manual scoring", "SpO2", "Heart rate", "Body position", "Events"]
    fig = hypnogram_figure(model)
    ticks = fig.axes[-1]
    assert [lb.get_text() for lb in ticks.get_yticklabels()] == ["Limb", "Arousal", "Desat.",
                                                                 "Resp."]
    # every event is one tick bar, on the recording's time axis in hours
    bars = sum(len(c.get_paths()) for c in ticks.collections)
    assert bars == len(model.events.events)


def test_overview_without_events_or_signals_is_the_plain_hypnogram(tmp_path):
    path = write_recording(tmp_path / "plain.edf", spo2=False, heart_rate=None)
    model = build_report(path, manual=all_n2())
    assert _titles(hypnogram_figure(model)) == ["Manual scoring \u2014 R. Scorer"]


def test_the_recordings_own_event_annotations_are_reported_unless_events_are_given(tmp_path):
    import edfio

    path = tmp_path / "annotated.edf"
    notes = [edfio.EdfAnnotation(200.0 + 400.0 * i, 14.0, "Obstructive Apnea") for i in range(5)]
    notes.append(edfio.EdfAnnotation(0.0, 0.0, "Lights off"))
    edfio.Edf([edfio.EdfSignal(np.zeros(SECONDS * 4), 4, label="EEG C4-M1",
                               physical_dimension="uV", physical_range=(-500.0, 500.0))],
              recording=edfio.Recording(startdate=START.date()), starttime=START.time(),
              data_record_duration=1.0, annotations=notes).write(path)
    # what the application's export and `sleepfm report` call: no events given
    model = build_report(path, manual=all_n2())
    resp = model.events.section("respiratory")
    assert resp.source == "file annotated.edf"
    assert resp.counts == [("Obstructive apnea", "OA", 5)]
    assert model.events.indices["AHI"] == pytest.approx(5.0)
    assert build_report(path, manual=all_n2(), events=EventSet()).events is None


def test_a_hypnogram_off_the_recording_is_refused_and_gives_no_report(recording):
    elsewhere = Hypnogram(np.full(N_EPOCHS, 2, dtype=np.int8), 30.0,
                          start=START + dt.timedelta(days=2))
    with pytest.raises(HypnogramError, match="does not belong to this recording.*do not overlap"):
        build_report(recording, manual=elsewhere, events=scored())
