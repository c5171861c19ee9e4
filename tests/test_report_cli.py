"""``sleepfm report``: one PDF per recording, cohort summary.csv, overwrite refusal."""
from __future__ import annotations

import csv
import datetime as dt

import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.formats import read_hypnogram, write_hypnogram
from sleepfm_engine.report import format_statistic
from sleepfm_engine.report.discover import candidate_hypnograms, find_manual_hypnogram
from sleepfm_engine.report.model import statistic_label, summary_columns

from test_report_nights import SECRETS, write_night

pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) extracts the PDF text")


def pdf_text(path) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(str(path)).pages)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A folder of three recordings: a synthetic night with its CSV sidecar, one of our nights
    with its hypnogram as an EDF+ ``-Hypnogram`` file, and one without any hypnogram."""
    from sleepfm_engine.synthetic import make_night, write_night as write_synthetic

    folder = tmp_path_factory.mktemp("cohort")
    synthetic = write_synthetic(make_night(hours=1.0, seed=5, montage="minimal"),
                                folder / "syn5.edf")
    ours = write_night(folder / "pt2-PSG.edf", hours=1.5, seed=3)
    write_hypnogram(ours.manual, folder / "pt2-Hypnogram.edf", fmt="edf")
    write_night(folder / "zz-nohyp.edf", hours=0.5, seed=4)
    return folder, synthetic, ours


def test_hypnograms_pair_with_recordings_by_name(tmp_path):
    names = ["night.edf", "night.hypnogram.csv", "other.csv", "SC4001E0-PSG.edf",
             "SC4001EC-Hypnogram.edf", "excerpt1.edf", "Hypnogram_excerpt1.txt", "hypothesis.csv",
             "night2.edf"]
    for n in names:
        (tmp_path / n).write_text("x")
    assert [p.name for p in candidate_hypnograms(tmp_path / "night.edf")] == ["night.hypnogram.csv"]
    assert [p.name for p in candidate_hypnograms(tmp_path / "SC4001E0-PSG.edf")] == \
        ["SC4001EC-Hypnogram.edf"]
    assert [p.name for p in candidate_hypnograms(tmp_path / "excerpt1.edf")] == \
        ["Hypnogram_excerpt1.txt"]
    assert candidate_hypnograms(tmp_path / "night2.edf") == []


def test_single_report_writes_a_pdf_with_the_sidecar_hypnogram_statistics(cohort, tmp_path,
                                                                          capsys):
    folder, synthetic, _ = cohort
    out = tmp_path / "syn.pdf"
    assert main(["report", str(synthetic), "-o", str(out)]) == 0
    assert "syn5.hypnogram.csv" in capsys.readouterr().out
    hyp = read_hypnogram(folder / "syn5.hypnogram.csv", epoch_length=30)
    stats = hyp.statistics()
    text = pdf_text(out)
    lines = [ln.strip() for ln in text.splitlines()]
    i = lines.index(statistic_label("TST"))
    assert lines[i + 1:i + 3] == ["min", format_statistic("TST", stats["TST"])]
    i = lines.index(statistic_label("SE"))
    assert lines[i + 1:i + 3] == ["%", format_statistic("SE", stats["SE"])]


def test_report_refuses_to_overwrite_without_the_flag(cohort, tmp_path, capsys):
    _, synthetic, _ = cohort
    out = tmp_path / "r.pdf"
    out.write_bytes(b"keep me")
    assert main(["report", str(synthetic), "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["report", str(synthetic), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes().startswith(b"%PDF")


def test_report_output_must_be_a_pdf(cohort, tmp_path, capsys):
    _, synthetic, _ = cohort
    assert main(["report", str(synthetic), "-o", str(tmp_path / "r.txt")]) == 1
    assert ".pdf" in capsys.readouterr().err


def test_cohort_writes_one_pdf_per_recording_and_a_summary_of_every_statistic(cohort, tmp_path):
    folder, synthetic, ours = cohort
    out = tmp_path / "reports"
    assert main(["report", str(folder), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pt2-PSG.pdf", "summary.csv", "syn5.pdf",
                                                     "zz-nohyp.pdf"]
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == summary_columns()
    by_name = {r["recording"]: r for r in rows}
    assert by_name["zz-nohyp.edf"]["hypnogram"] == "none"
    expected = {
        "syn5.edf": read_hypnogram(folder / "syn5.hypnogram.csv", epoch_length=30).statistics(),
        "pt2-PSG.edf": ours.manual.statistics(),
    }
    for name, stats in expected.items():
        row = by_name[name]
        assert row["hypnogram"] == "manual"
        for key, value in stats.items():
            if value is None:
                assert row[key] == "", (name, key)
            else:
                assert float(row[key]) == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
    text = pdf_text(out / "pt2-PSG.pdf")
    assert format_statistic("WASO", ours.manual.statistics()["WASO"]) in text


def test_cohort_refuses_to_overwrite_an_existing_summary(cohort, tmp_path, capsys):
    folder, _, _ = cohort
    out = tmp_path / "reports"
    out.mkdir()
    (out / "summary.csv").write_text("old")
    assert main(["report", str(folder), "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv"]


def test_deidentified_cohort_uses_pseudonyms_everywhere(cohort, tmp_path, capsys):
    folder, _, _ = cohort
    out = tmp_path / "shared"
    assert main(["report", str(folder), "-o", str(out), "--deidentify", "--shift-days",
                 "100"]) == 0
    printed = capsys.readouterr().out
    assert "subject-001.pdf  <- pt2-PSG.edf" in printed  # the key stays on the terminal
    names = sorted(p.name for p in out.iterdir())
    assert names == ["subject-001.pdf", "subject-002.pdf", "subject-003.pdf", "summary.csv"]
    summary = (out / "summary.csv").read_text()
    for secret in SECRETS + ("pt2", "syn5", "nohyp", "Oyelaran", "2023-03-14"):
        assert secret.lower() not in summary.lower(), secret
    for pdf in out.glob("*.pdf"):
        text = pdf_text(pdf).lower()
        for secret in SECRETS + ("pt2-psg", "syn5", "Synthetic Sleeper"):
            assert secret.lower() not in text, (pdf.name, secret)
    assert "2023-06-22" in summary  # 2023-03-14 + 100 days


def test_missing_input_is_an_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.edf"), "-o", str(tmp_path / "r.pdf")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_find_manual_hypnogram_reads_stage_annotations_inside_the_recording(cohort):
    _, synthetic, _ = cohort
    sidecar = synthetic.with_name("syn5.hypnogram.csv")
    hyp, where = find_manual_hypnogram(synthetic, folders=[synthetic.parent / "nowhere"])
    assert where == synthetic
    assert hyp == read_hypnogram(synthetic, epoch_length=30)
    assert hyp.stages.tolist() == read_hypnogram(sidecar, epoch_length=30).stages.tolist()


def test_model_option_stages_scores_risk_and_prints_provenance(data_dir, tmp_path):
    """End to end through sleepfm_engine.inference with the tiny golden release: the stats
    export and the report of the same night print the same automatic statistics."""
    from sleepfm_engine.checkpoints import config_hash
    from sleepfm_engine.report.model import SUMMARY_KEYS

    release = data_dir / "golden_tiny"
    night = write_night(tmp_path / "short.edf", hours=10 / 60, seed=2)
    stats_json = tmp_path / "auto.json"
    assert main(["export", "stats", str(night.path), "--model", str(release), "--device", "cpu",
                 "-o", str(stats_json)]) == 0
    import json

    data = json.loads(stats_json.read_text())
    auto = data["hypnograms"]["auto"]
    assert auto["n_epochs"] == 20 and auto["scorer"].startswith("SleepFM")
    out = tmp_path / "short.pdf"
    with pytest.warns(RuntimeWarning, match="label mapping"):  # the tiny head has 7 outputs
        assert main(["report", str(night.path), "-o", str(out), "--model", str(release),
                     "--age", "55", "--sex", "F", "--device", "cpu", "--no-hypnogram"]) == 0
    lines = [ln.strip() for ln in pdf_text(out).splitlines()]
    for key in SUMMARY_KEYS:
        i = lines.index(statistic_label(key))
        assert format_statistic(key, auto["statistics"][key]) in lines[i + 1:i + 3], key
    text = "\n".join(lines)
    assert "RESEARCH USE ONLY" in text and "age 55 years; sex F" in text
    assert config_hash(release / "model_base") in text
    assert lines[lines.index("Parameter") + 2] == "SleepFM"  # the statistics column
    assert "Device" in lines and "cpu" in lines[lines.index("Device") + 1]


def test_report_uses_lights_annotations_and_accepts_clock_times(tmp_path, capsys):
    from test_report_nights import START

    night = write_night(tmp_path / "lit.edf", hours=2.0, seed=8,
                        annotations=((600.0, 0.0, "Lights off"), (6600.0, 0.0, "Lights on")))
    write_hypnogram(night.manual, tmp_path / "lit.hypnogram.csv")
    out = tmp_path / "out"
    assert main(["report", str(tmp_path), "-o", str(out)]) == 0
    with open(out / "summary.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    lights = night.manual.statistics(lights_off=START + dt.timedelta(seconds=600),
                                     lights_on=START + dt.timedelta(seconds=6600))
    assert float(row["TIB"]) == lights["TIB"] == 100.0
    assert float(row["TST"]) == pytest.approx(lights["TST"])
    pdf = tmp_path / "flags.pdf"
    assert main(["report", str(night.path), "-o", str(pdf), "--lights-off", "23:00",
                 "--lights-on", "00:30"]) == 0
    assert "Lights off\n23:00:00" in pdf_text(pdf)
    assert main(["report", str(night.path), "-o", str(pdf), "--overwrite",
                 "--lights-off", "25:00"]) == 1
    assert "not a clock time" in capsys.readouterr().err
