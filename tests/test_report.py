"""Sleep study reports: the model's numbers are the engine's, and the PDF prints them."""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from sleepfm_engine import open_recording
from sleepfm_engine.hypnogram import STAGE_LONG_NAMES, STAGES, Hypnogram
from sleepfm_engine.provenance import Provenance
from sleepfm_engine.report import (MISSING, ReportModel, build_report, format_statistic,
                                   risk_rows, transition_matrix, write_report_pdf)
from sleepfm_engine.report.model import SUMMARY_KEYS, statistic_label

from test_report_nights import START, write_night

pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) extracts the PDF text")

RISK = [("327.3", "Obstructive sleep apnea", 1.25), ("401.1", "Essential hypertension", 0.52),
        ("250.2", "Type 2 diabetes", -0.10), ("296.2", "Major depressive disorder", 0.31)]
PROVENANCE = Provenance("0.1.0", model_id="release/model_base", model_folder="/models/sleepfm-release",
                        config_hashes=(("base", "0123456789abcdef"),), device="cpu",
                        precision="fp32")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_night(tmp_path_factory.mktemp("night") / "night.edf", hours=8.0, seed=1)


@pytest.fixture(scope="module")
def full_report(night, tmp_path_factory):
    """A report with manual and automatic hypnograms, risk and provenance, as model and PDF."""
    with open_recording(night.path) as rec:
        model = build_report(rec, manual=night.manual, auto=night.auto, risk=RISK,
                             provenance=PROVENANCE)
    pdf = tmp_path_factory.mktemp("pdf") / "report.pdf"
    write_report_pdf(model, pdf)
    return model, pdf


def pdf_lines(path) -> list[list[str]]:
    """Text lines of every page (pypdf puts every table cell on its own line)."""
    reader = pypdf.PdfReader(str(path))
    return [[ln.strip() for ln in page.extract_text().splitlines() if ln.strip()]
            for page in reader.pages]


def cells_after(lines: list[str], label: str, n: int) -> list[str]:
    """The ``n`` text cells printed right after the first cell equal to ``label``."""
    i = lines.index(label)
    return lines[i + 1:i + 1 + n]


# ------------------------------------------------------------------------------- formatting
def test_format_statistic_prints_one_decimal_integers_and_a_dash_for_undefined():
    assert format_statistic("TST", 412.5) == "412.5"
    assert format_statistic("SE", 85.9375) == "85.9"
    assert format_statistic("SE", 85.96) == "86.0"
    assert format_statistic("awakenings", 7) == "7"
    assert format_statistic("stage_shifts", 0) == "0"
    assert format_statistic("REM_latency", None) == MISSING
    assert format_statistic("N1_pct", float("nan")) == MISSING


def test_transition_matrix_counts_changes_between_scored_epochs_like_stage_shifts():
    hyp = Hypnogram([0, 0, 1, 2, -1, 2, 3, -2, 2, 4, 0], 30.0)
    m = transition_matrix(hyp)
    expected = np.zeros((5, 5), dtype=int)
    expected[0, 0] = 1; expected[0, 1] = 1; expected[1, 2] = 1; expected[2, 2] = 1
    expected[2, 3] = 1; expected[3, 2] = 1; expected[2, 4] = 1; expected[4, 0] = 1
    np.testing.assert_array_equal(m, expected)
    off = m.sum() - np.trace(m)
    assert off == hyp.statistics()["stage_shifts"] == 6


def test_risk_rows_sorts_by_score_and_keeps_the_top_ten():
    rows, name = risk_rows(RISK)
    assert [r.phecode for r in rows] == ["327.3", "401.1", "296.2", "250.2"]
    assert name == "log hazard ratio"
    many = {f"phenotype {i}": float(i) for i in range(30)}
    rows, _ = risk_rows(many)
    assert len(rows) == 10 and rows[0].phenotype == "phenotype 29"
    dict_rows, _ = risk_rows([{"phecode": "1", "phenotype": "a", "log_hazard": 0.5}])
    assert dict_rows[0].score == 0.5
    with pytest.raises(ValueError, match="no score"):
        risk_rows([{"phecode": "1", "phenotype": "a"}])


def test_build_report_refuses_a_hypnogram_that_is_not_a_hypnogram(night):
    with pytest.raises(TypeError, match="manual must be a Hypnogram"):
        build_report(night.path, manual=[0, 1, 2])


# ---------------------------------------------------------------------------------- model
def test_model_statistics_are_the_engines_for_each_hypnogram(full_report, night):
    model, _ = full_report
    assert model.roles == ["manual", "auto"]
    assert model.statistics["manual"] == night.manual.statistics()
    assert model.statistics["auto"] == night.auto.statistics()
    assert model.agreement == night.manual.agreement(night.auto)
    for role, hyp in (("manual", night.manual), ("auto", night.auto)):
        np.testing.assert_array_equal(model.transitions[role], transition_matrix(hyp))


def test_model_shows_recording_fields_and_montage(full_report, night):
    model, _ = full_report
    fields = dict(model.recording)
    assert fields["Start"] == "2023-03-14 22:47:30"
    assert fields["Duration"] == "8 h 00 min (480.0 min)"
    assert fields["File"] == "night.edf"
    patient = dict(model.patient)
    assert patient["Name"] == "Wilhelmina Zwanenburg"
    assert patient["Age at recording"] == "71 years"
    montage = {m[0]: (m[2], m[3]) for m in model.montage}
    assert montage["BAS"][0] == ["EEG C3-M2", "EEG C4-M1", "EOG E1-M2"]
    assert montage["EKG"][0] == ["ECG II"]
    assert montage["other"] == ([], ["Pos"])


# ------------------------------------------------------------------------------------ PDF
def test_pdf_prints_every_summary_statistic_as_the_engine_computed_it(full_report, night):
    model, pdf = full_report
    lines = pdf_lines(pdf)[0]
    manual, auto = night.manual.statistics(), night.auto.statistics()
    for key in SUMMARY_KEYS:
        unit = model.summary_rows()[SUMMARY_KEYS.index(key)][2]
        cells = cells_after(lines, statistic_label(key), 3 if unit else 2)
        expected = ([unit] if unit else []) + [format_statistic(key, manual[key]),
                                               format_statistic(key, auto[key])]
        assert cells == expected, key


def test_pdf_prints_minutes_and_percent_of_tst_per_stage(full_report, night):
    _, pdf = full_report
    lines = pdf_lines(pdf)[0]
    stats = [night.manual.statistics(), night.auto.statistics()]
    start = lines.index("% TST")  # the stage table's header ends here
    body = lines[start + 1:]
    for name in STAGES:
        expected = []
        for s in stats:
            expected += [format_statistic(f"{name}_min", s[f"{name}_min"]),
                         MISSING if name == "W" else format_statistic(f"{name}_pct", s[f"{name}_pct"])]
        assert cells_after(body, STAGE_LONG_NAMES[name], 4) == expected, name
    # the generated night has artefact and unscored epochs: their rows are printed too
    assert cells_after(body, "Artefact", 4)[0] == format_statistic(
        "artefact_min", stats[0]["artefact_min"])


def test_pdf_prints_transitions_agreement_risk_and_provenance(full_report, night):
    model, pdf = full_report
    pages = pdf_lines(pdf)
    assert len(pages) == 2
    p2 = pages[1]
    agr = night.manual.agreement(night.auto)
    summary = next(ln for ln in p2 if ln.startswith("Cohen's kappa"))
    assert f"Cohen's kappa {agr['kappa']:.2f}" in summary
    assert f"accuracy {100 * agr['accuracy']:.1f} %" in summary
    assert f"epochs compared {agr['n_compared']}" in summary
    cm = agr["confusion_matrix"]
    i = p2.index("Manual ↓  SleepFM →")
    rows = p2[p2.index("F1", i) + 1:]  # after the header row
    for r, name in enumerate(STAGES):
        cells = cells_after(rows, STAGE_LONG_NAMES[name], 6)
        assert cells == [str(v) for v in cm[r]] + [str(sum(cm[r]))], name
    shifts = night.manual.statistics()["stage_shifts"]
    assert f"Stage shifts: {shifts}" in p2
    tm = transition_matrix(night.manual)
    t = p2.index("From ↓  to →")
    assert cells_after(p2[p2.index("REM", t) + 1:], "N2", 5) == [str(v) if j != 2 else "·"
                                              for j, v in enumerate(tm[2])]
    text = "\n".join(p2)
    assert "RESEARCH USE ONLY" in text and "uncalibrated" in text
    ranked = [ln for ln in p2 if ln in {r[1] for r in RISK}]
    assert ranked == ["Obstructive sleep apnea", "Essential hypertension",
                      "Major depressive disorder", "Type 2 diabetes"]
    assert "-0.100" in p2 and "1.250" in p2
    assert cells_after(p2, "Config hash", 1) == ["base 0123456789abcdef"]
    assert cells_after(p2, "Model folder", 1) == ["/models/sleepfm-release"]
    assert any(ln.startswith("SleepFM Studio 0.") for ln in p2)  # engine version


def test_pdf_footer_has_generation_time_and_page_numbers(full_report):
    model, pdf = full_report
    pages = pdf_lines(pdf)
    stamp = f"Generated {model.generated_at:%Y-%m-%d %H:%M}"
    for n, lines in enumerate(pages, 1):
        text = "\n".join(lines)
        assert stamp in text
        assert f"Page {n} of {len(pages)}" in text


def _fonts(reader) -> dict[str, object]:
    found = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            found[str(font["/BaseFont"])] = font
    return found


def test_pdf_fonts_are_embedded_truetype_and_no_base14_font_is_used(full_report):
    _, pdf = full_report
    fonts = _fonts(pypdf.PdfReader(str(pdf)))
    assert fonts, "no fonts found"
    for name, font in fonts.items():
        assert "Helvetica" not in name and "Times" not in name and "Courier" not in name
        assert "DejaVuSans" in name
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f"{name} is not embedded"
        assert len(descriptor["/FontFile2"].get_object().get_data()) > 1000


def test_pdf_has_an_a4_or_letter_page_and_metadata_without_patient(night, tmp_path):
    model = build_report(night.path, manual=night.manual)
    a4 = write_report_pdf(model, tmp_path / "a4.pdf")
    letter = write_report_pdf(model, tmp_path / "letter.pdf", paper="Letter")
    box = pypdf.PdfReader(str(a4)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    box = pypdf.PdfReader(str(letter)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    meta = pypdf.PdfReader(str(a4)).metadata
    assert meta.title == "Sleep study report"
    with pytest.raises(ValueError, match="paper must be"):
        write_report_pdf(model, tmp_path / "x.pdf", paper="A3")


def test_manual_only_report_has_no_agreement_or_risk_section(night, tmp_path):
    model = build_report(night.path, manual=night.manual)
    assert model.agreement is None and model.risk is None
    pdf = write_report_pdf(model, tmp_path / "manual.pdf")
    pages = pdf_lines(pdf)
    assert len(pages) <= 2
    text = "\n".join(sum(pages, []))
    assert "Manual versus automatic" not in text and "RESEARCH USE ONLY" not in text
    lines = pages[0]
    s = night.manual.statistics()
    assert cells_after(lines, statistic_label("TST"), 2) == ["min", format_statistic("TST", s["TST"])]


def test_report_without_hypnogram_still_describes_the_recording(night, tmp_path):
    model = build_report(night.path)
    pdf = write_report_pdf(model, tmp_path / "bare.pdf")
    text = "\n".join(sum(pdf_lines(pdf), []))
    assert "No hypnogram" in text and "EEG C3-M2" in text
    assert model.summary_record()[0]["hypnogram"] == "none"


def test_report_from_hypnograms_alone_uses_their_time_line(night):
    model = build_report(None, manual=night.manual, auto=night.auto)
    assert model.recording_start == night.manual.start
    assert model.statistics["auto"] == night.auto.statistics()
    assert model.agreement["kappa"] == pytest.approx(night.manual.agreement(night.auto)["kappa"])
    assert model.patient == [] and model.montage == []


def test_agreement_is_computed_on_the_manual_epochs_when_grids_differ(night):
    # A manual hypnogram scored from 15 s into the recording: SleepFM's epochs are regridded
    # onto the scorer's, never the other way round.
    manual = night.manual.copy()
    manual.offset = 15.0
    model = build_report(night.path, manual=manual, auto=night.auto)
    m = manual.align_to(open_recording(night.path))
    assert model.agreement["n_compared"] + model.agreement["n_excluded"] == m.n_epochs


def test_write_report_pdf_is_atomic_and_leaves_the_old_file_on_failure(night, tmp_path,
                                                                       monkeypatch):
    from sleepfm_engine.report import pdf as pdf_module

    target = tmp_path / "report.pdf"
    target.write_bytes(b"old report")
    model = build_report(night.path, manual=night.manual)

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pdf_module, "build_story", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report_pdf(model, target)
    assert target.read_bytes() == b"old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_write_report_pdf_refuses_something_that_is_not_a_model(tmp_path):
    with pytest.raises(TypeError, match="ReportModel"):
        write_report_pdf({"title": "x"}, tmp_path / "x.pdf")


def test_report_model_generation_time_is_settable_for_reproducible_reports(night):
    when = dt.datetime(2024, 1, 2, 3, 4, 5)
    model = build_report(night.path, manual=night.manual, now=when)
    assert isinstance(model, ReportModel) and model.generated_at == when


def test_short_excerpt_figure_ticks_every_five_minutes(tmp_path):
    from sleepfm_engine.report.figures import hypnogram_figure

    night = write_night(tmp_path / "short.edf", hours=0.5, seed=4)
    model = build_report(night.path, manual=night.manual)
    fig = hypnogram_figure(model)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[:3] == ["22:50", "22:55", "23:00"]
    assert all(re.fullmatch(r"\d\d:\d\d", x) for x in labels)


# --------------------------------------------------------------------------------- lights
def test_lights_off_and_on_bound_the_statistics_and_transitions(night, tmp_path):
    off = START + dt.timedelta(minutes=30)
    on = START + dt.timedelta(hours=7)
    model = build_report(night.path, manual=night.manual, auto=night.auto,
                         lights_off=30 * 60.0, lights_on=on)
    expected = night.manual.statistics(lights_off=off, lights_on=on)
    assert model.statistics["manual"] == expected
    assert expected["TIB"] == 390.0
    assert model.statistics["auto"] == night.auto.statistics(lights_off=off, lights_on=on)
    m = model.transitions["manual"]
    assert m.sum() - np.trace(m) == expected["stage_shifts"]
    assert (model.lights_off, model.lights_on) == (off, on)
    lines = pdf_lines(write_report_pdf(model, tmp_path / "lights.pdf"))[0]
    assert cells_after(lines, "Lights off", 1) == ["23:17:30"]
    assert cells_after(lines, "Lights on", 1) == ["05:47:30"]
    assert cells_after(lines, statistic_label("TIB"), 3) == ["min", "390.0", "390.0"]
    assert "Dashed lines: lights off 23:17, lights on 05:47." in lines


def test_lights_on_before_lights_off_is_refused(night):
    with pytest.raises(ValueError, match="before lights off"):
        build_report(night.path, manual=night.manual, lights_off=7200.0, lights_on=3600.0)


def test_lights_in_seconds_apply_to_a_hypnogram_without_start_time(night):
    bare = night.manual.copy()
    bare.start = None
    model = build_report(night.path, manual=bare, lights_off=600.0)
    assert model.statistics["manual"] == bare.statistics(lights_off=600.0)


def test_lights_annotations_are_found_in_the_recording(tmp_path):
    from sleepfm_engine.report.discover import find_lights

    n = write_night(tmp_path / "lights.edf", hours=1.0, annotations=(
        (60.0, 0.0, "Lights calibration"), (90.0, 0.0, "LIGHTS_OFF"), (100.0, 0.0, "Lights on"),
        (3300.0, 0.0, "lights on")))
    with open_recording(n.path) as rec:
        assert find_lights(rec) == (90.0, 3300.0)


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_fullest_report_stays_on_two_pages_with_statistics_on_page_one(night, tmp_path, paper):
    risk = {f"phenotype {i}": float(i) for i in range(40)}
    model = build_report(night.path, manual=night.manual, auto=night.auto, risk=risk,
                         provenance=PROVENANCE, lights_off=600.0, lights_on=7 * 3600.0)
    model.warnings += [f"header fault number {i}, explained at some length for the reader"
                       for i in range(8)]
    pages = pdf_lines(write_report_pdf(model, tmp_path / "full.pdf", paper=paper))
    assert len(pages) == 2
    assert statistic_label("stage_shifts") in pages[0] and "Sleep statistics (AASM)" in pages[0]
    assert "Interpreted by" in pages[1] and "phenotype 30" in pages[1]
    assert "(4 more warnings not shown)" in pages[1]
