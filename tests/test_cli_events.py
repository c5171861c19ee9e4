"""``sleepfm events detect|stats|convert`` and ``sleepfm report --events`` on a generated night:
the numbers are the engine's, files read back, bad input gives one ``error:`` line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.events import Event, EventSet, EventSource, EventType
from sleepfm_engine.formats import read_events, read_hypnogram, write_events
from sleepfm_engine.indices import compute_indices, format_index
from sleepfm_engine.recording import open_recording
from sleepfm_engine.report.events import read_night_signals

pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) extracts the PDF text")


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    """A 30-min generated night with scored ground truth (AHI 30, PLMI 20) as EDF+ event
    annotations, SpO2 and position channels, and its hypnogram beside it."""
    from sleepfm_engine.synthetic import make_night, write_night
    from sleepfm_engine.synthetic.severity import Severity

    folder = tmp_path_factory.mktemp("night")
    return write_night(make_night(hours=0.5, seed=4, severity=Severity(ahi=30, plmi=20)),
                       folder / "night.edf")


@pytest.fixture(scope="module")
def hypnogram_file(night) -> Path:
    return night.with_name("night.hypnogram.csv")


@pytest.fixture(scope="module")
def detected(night, tmp_path_factory):
    """``sleepfm events detect`` run once: (exit code, its stdout, the output file)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("detect") / "night.events.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["events", "detect", str(night), "-o", str(out), "--profile", "aasm_v3_rec"])
    return rc, buf.getvalue(), out


def _error_line(capsys) -> str:
    """The one ``error:`` line the command printed (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def _line(out: str, first: str) -> list[str]:
    """The words of the printed line whose first word is ``first``."""
    (words,) = [ln.split() for ln in out.splitlines() if ln.split()[:1] == [first]]
    return words


def constructed(start) -> EventSet:
    """4 obstructive apneas and 2 hypopneas in the first 10 minutes."""
    src = EventSource.manual("T. Echnologist")
    evs = [Event(60.0 + 90.0 * i, 12.0, EventType.apnea_obstructive, source=src) for i in range(4)]
    evs += [Event(500.0 + 40.0 * i, 15.0, EventType.hypopnea, source=src) for i in range(2)]
    return EventSet(evs, start=start)


# ------------------------------------------------------------------------------------ detect
def test_detect_writes_psgscoring_events_that_read_back_with_source_and_profile(detected, night):
    rc, stdout, out = detected
    assert rc == 0, stdout
    assert "hypnogram from" in stdout and "night.hypnogram.csv" in stdout
    events = read_events(out)
    assert len(events) > 0
    (source,) = events.sources
    assert source.kind == "detector" and source.name == "psgscoring"
    assert source.settings["profile"] == "aasm_v3_rec"
    assert f"wrote {out}: {len(events)} events by psgscoring " in stdout
    assert "(aasm_v3_rec)" in stdout
    # the stats of the written file are compute_indices of what was written
    hyp = read_hypnogram(night.with_name("night.hypnogram.csv"))
    assert events.counts()  # something was scored on a night with AHI 30
    table = compute_indices(events, hyp)
    assert table["AHI"] is not None


def test_detect_refuses_an_unknown_profile_and_lists_the_detectors_own(night, tmp_path, capsys):
    rc = main(["events", "detect", str(night), "-o", str(tmp_path / "x.events.json"),
               "--profile", "no_such_profile"])
    assert rc == 1
    line = _error_line(capsys)
    assert "unknown profile 'no_such_profile'" in line and "aasm_v3_rec" in line
    assert not (tmp_path / "x.events.json").exists()


def test_detect_refuses_to_overwrite_before_scoring(night, tmp_path, capsys):
    out = tmp_path / "kept.events.json"
    out.write_text("mine")
    assert main(["events", "detect", str(night), "-o", str(out)]) == 1
    assert "exists (use --overwrite" in _error_line(capsys)
    assert out.read_text() == "mine"


@pytest.mark.parametrize("args, message", [
    (["missing.edf", "-o", "{tmp}/a.events.json"], "no such file"),
    (["{night}", "-o", "{tmp}/a.unknownsuffix"], "no events format is picked by this name"),
    (["{night}", "-o", "{tmp}/a.events.json", "--hypnogram", "{tmp}/none.csv",
      "--no-hypnogram"], "not both"),
])
def test_detect_bad_input_gives_one_error_line(night, tmp_path, capsys, args, message):
    argv = [a.format(tmp=tmp_path, night=night) for a in args]
    assert main(["events", "detect", *argv]) == 1
    assert message in _error_line(capsys)


def test_detect_on_a_recording_with_nothing_to_score_says_why(tmp_path, capsys):
    import edfio
    import numpy as np

    path = tmp_path / "eeg.edf"
    edfio.Edf([edfio.EdfSignal(np.zeros(600 * 64), 64, label="EEG C4-M1",
                               physical_dimension="uV", physical_range=(-500.0, 500.0))],
              data_record_duration=1.0).write(path)
    assert main(["events", "detect", str(path), "-o", str(tmp_path / "e.events.json"),
                 "--no-hypnogram"]) == 1
    assert "psgscoring: nothing to score" in _error_line(capsys)


# ------------------------------------------------------------------------------------ stats
def test_stats_of_an_events_file_prints_compute_indices_with_units(night, hypnogram_file,
                                                                    tmp_path, capsys):
    hyp = read_hypnogram(hypnogram_file)
    path = write_events(constructed(hyp.start), tmp_path / "scored.events.json")
    assert main(["events", "stats", str(path), "--hypnogram", str(hypnogram_file)]) == 0
    out = capsys.readouterr().out
    expected = compute_indices(read_events(path), hyp)
    assert _line(out, "AHI")[:2] == ["AHI", format_index("AHI", expected["AHI"], with_unit=True)]
    assert _line(out, "T90_min")[:3] == ["T90_min", "n/a", "Time"]  # no SpO2 in an events file
    assert "manual scoring (T. Echnologist)" in out
    assert _line(out, "apnea_obstructive")[:2] == ["apnea_obstructive", "4"]


def test_stats_json_is_machine_readable_and_equals_compute_indices(night, hypnogram_file,
                                                                   tmp_path, capsys):
    hyp = read_hypnogram(hypnogram_file)
    path = write_events(constructed(hyp.start), tmp_path / "scored.events.json")
    assert main(["events", "stats", str(path), "--hypnogram", str(hypnogram_file),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = compute_indices(read_events(path), hyp)
    assert data["indices"] == json.loads(json.dumps(dict(expected)))
    assert data["counts"] == {"apnea_obstructive": 4, "hypopnea": 2}
    assert data["units"]["AHI"] == "/h"


def test_stats_of_a_recording_reads_its_annotations_hypnogram_and_spo2(night, hypnogram_file,
                                                                       capsys):
    assert main(["events", "stats", str(night), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    events = read_events(night)
    with open_recording(night) as rec:
        signals = read_night_signals(rec)
        hyp = read_hypnogram(hypnogram_file).align_to(rec)
    expected = compute_indices(events, hyp, spo2=signals.spo2, position=signals.position)
    assert data["hypnogram"] == str(hypnogram_file)
    assert data["signals"] == {"spo2": "SpO2", "position": "Position"}
    assert data["indices"]["AHI"] == pytest.approx(expected["AHI"])
    assert data["indices"]["SpO2_nadir"] == pytest.approx(expected["SpO2_nadir"])
    assert data["indices"]["AHI_supine"] == pytest.approx(expected["AHI_supine"])


def test_stats_without_a_hypnogram_prints_counts_and_no_per_hour_index(tmp_path, capsys):
    path = write_events(constructed(None), tmp_path / "bare.events.json")
    assert main(["events", "stats", str(path)]) == 0
    out = capsys.readouterr().out
    assert "none: per-hour indices need one" in out
    assert _line(out, "AHI")[1] == "n/a"


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "absent.json", "no such file"),
    (lambda d: d, "is a folder"),
    (lambda d: (d / "junk.txt").write_text("\x00\x01garbage\x02") and d / "junk.txt", "junk.txt"),
])
def test_stats_bad_input_gives_one_error_line(tmp_path, capsys, make, message):
    assert main(["events", "stats", str(make(tmp_path))]) == 1
    assert message in _error_line(capsys)


def test_stats_with_a_missing_hypnogram_file_is_an_error(tmp_path, capsys):
    path = write_events(constructed(None), tmp_path / "e.events.json")
    assert main(["events", "stats", str(path), "--hypnogram", str(tmp_path / "no.csv")]) == 1
    assert "no.csv" in _error_line(capsys)


# ------------------------------------------------------------------------------------ convert
def _content(events: EventSet) -> list[tuple]:
    """What a file holds of each event, sorted (events at one onset are ordered by their ids,
    which each read of an EDF+ draws afresh)."""
    return sorted((e.onset, e.type.value, e.duration, e.label, e.channels) for e in events)


def test_convert_writes_what_reads_back_identically_in_the_engines_json(night, tmp_path, capsys):
    out = tmp_path / "night.events.json"
    assert main(["events", "convert", str(night), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    # each read of an EDF+ gives its events fresh ids: compare what the annotations hold
    assert _content(read_events(out)) == _content(read_events(night))
    again = tmp_path / "again.events.json"
    assert main(["events", "convert", str(out), "-o", str(again)]) == 0
    assert read_events(again) == read_events(out)


def test_convert_with_a_format_flag_writes_that_format(night, tmp_path, capsys):
    from sleepfm_engine.formats import detect_events_format, event_write_formats

    fmt = next(f for f in event_write_formats() if f not in ("json", "edf"))
    out = tmp_path / "events.out"
    assert main(["events", "convert", str(night), "-o", str(out), "-f", fmt]) == 0
    assert detect_events_format(out) == fmt
    assert [c[:3] for c in _content(read_events(out))] == \
        [c[:3] for c in _content(read_events(night))]


def test_convert_refuses_overwrite_its_input_and_an_unknown_format(night, tmp_path, capsys):
    out = tmp_path / "x.events.json"
    out.write_text("keep")
    assert main(["events", "convert", str(night), "-o", str(out)]) == 1
    assert "exists (use --overwrite" in _error_line(capsys)
    assert out.read_text() == "keep"
    assert main(["events", "convert", str(night), "-o", str(night), "--overwrite"]) == 1
    assert "replace its own input" in _error_line(capsys)
    with pytest.raises(SystemExit) as exc:
        main(["events", "convert", str(night), "-o", str(out), "-f", "nope"])
    assert exc.value.code == 2
    assert "unknown events format 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ report
def test_report_uses_an_events_file_and_names_it(night, hypnogram_file, tmp_path, capsys):
    hyp = read_hypnogram(hypnogram_file)
    events = write_events(constructed(hyp.start), tmp_path / "scored.events.json")
    pdf = tmp_path / "r.pdf"
    assert main(["report", str(night), "--events", str(events), "-o", str(pdf)]) == 0
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages)
    expected = compute_indices(read_events(events), hyp)
    assert f"Apnea-hypopnea index\n/h\n{format_index('AHI', expected['AHI'])}" in text
    assert "Source: manual scoring (T. Echnologist)" in text


def test_report_without_events_file_uses_the_recordings_annotations(night, tmp_path):
    pdf = tmp_path / "own.pdf"
    assert main(["report", str(night), "-o", str(pdf)]) == 0
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages)
    assert "Respiratory events" in text and "Source: file night.edf" in text


def test_report_events_flag_bad_input_gives_one_error_line(night, tmp_path, capsys):
    assert main(["report", str(night), "--events", str(tmp_path / "none.json"),
                 "-o", str(tmp_path / "r.pdf")]) == 1
    assert "no such events file" in _error_line(capsys)
    assert main(["report", str(night.parent), "--events", str(night),
                 "-o", str(tmp_path / "out")]) == 1
    assert "not of a folder" in _error_line(capsys)


def test_stats_of_a_recording_without_event_annotations_says_nothing_was_scored(tmp_path, capsys):
    import edfio
    import numpy as np

    path = tmp_path / "plain.edf"
    edfio.Edf([edfio.EdfSignal(np.zeros(600 * 4), 4, label="EEG C4-M1", physical_dimension="uV",
                               physical_range=(-500.0, 500.0))], data_record_duration=1.0).write(path)
    assert main(["events", "stats", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {} and data["hypnogram"] is None
    assert data["notes"][0].startswith("plain.edf holds no scored events")
