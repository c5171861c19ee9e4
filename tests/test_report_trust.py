"""The report's "Signal quality and model fit" section: channel findings and the automatic
staging's fit to its training data appear, in the model and the PDF, only when there is
something to say."""
from __future__ import annotations

import re

import numpy as np
import pypdf
import pytest

from edf_factory import Sig, write_edf
from sleepfm_engine import open_recording
from sleepfm_engine.cli import main
from sleepfm_engine.formats import read_hypnogram, write_hypnogram
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.ood import OODResult, write_ood_file
from sleepfm_engine.report import build_report, write_report_pdf
from sleepfm_engine.report.trust import FLAGGED_SENTENCE, TITLE, staged_ood_file

from test_quality import RATE, SECONDS, digital, eeg_like
from test_report_nights import write_night

N_EPOCHS = SECONDS // 30


def night(tmp_path, flat: bool):
    """Ten 30-s epochs of two EEG derivations; with ``flat``, O1-M2 is a constant 3 µV."""
    second = (np.full(SECONDS * RATE, 30, dtype=np.int64) if flat
              else digital(eeg_like(seed=2)))
    return write_edf(tmp_path / "night.edf", [Sig("C4-M1", RATE, digital(eeg_like(seed=1))),
                                              Sig("O1-M2", RATE, second)])


def stages() -> Hypnogram:
    return Hypnogram([0, 1, 2, 2, 3, 3, 2, 4, 4, 0], 30.0)


def flagged_ood() -> OODResult:
    marked = np.array([True] * 8 + [False] * 2)
    return OODResult(np.where(marked, 3.0, 0.5), marked, np.zeros(N_EPOCHS, bool),
                     ("BAS",) * N_EPOCHS, checked=("BAS",))


def clean_ood() -> OODResult:
    return OODResult(np.full(N_EPOCHS, 0.5), np.zeros(N_EPOCHS, bool), np.zeros(N_EPOCHS, bool),
                     ("BAS",) * N_EPOCHS, checked=("BAS",))


def report_text(model, path) -> str:
    write_report_pdf(model, path)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(path)).pages)
    # Paragraphs wrap: compare with whitespace collapsed.
    return re.sub(r"\s+", " ", text)


def test_a_flat_channels_finding_is_printed_in_the_pdf_with_its_reason(tmp_path):
    with open_recording(night(tmp_path, flat=True)) as rec:
        model = build_report(rec, manual=stages())
    assert model.trust is not None and not model.trust.verdict
    (row,) = model.trust.quality
    assert row.channel == "O1-M2" and row.severity == "error" and row.excluded
    text = report_text(model, tmp_path / "r.pdf")
    assert TITLE in text
    assert "O1-M2" in text and "flat or disconnected: peak-to-peak 0 µV" in text
    assert "error (left out)" in text
    assert FLAGGED_SENTENCE not in text


def test_a_flagged_night_of_automatic_staging_says_review_every_epoch_with_its_reasons(tmp_path):
    with open_recording(night(tmp_path, flat=False)) as rec:
        model = build_report(rec, auto=stages(), ood=flagged_ood())
    assert model.trust is not None and model.trust.flagged and model.trust.quality == ()
    text = report_text(model, tmp_path / "r.pdf")
    assert FLAGGED_SENTENCE + "." in text
    assert "the night is unlike the training data" in text
    assert "8 of 10 30-s epochs (80 %) lie outside the range of the model's training data" in text


def test_a_clean_night_without_automatic_staging_has_no_such_section(tmp_path):
    with open_recording(night(tmp_path, flat=False)) as rec:
        model = build_report(rec, manual=stages(), ood=flagged_ood())
    # The OOD record belongs to automatic staging: without it, it is not the night's verdict.
    assert model.trust is None
    text = report_text(model, tmp_path / "r.pdf")
    assert TITLE not in text and FLAGGED_SENTENCE not in text


def test_automatic_staging_like_its_training_data_on_clean_channels_adds_no_section(tmp_path):
    with open_recording(night(tmp_path, flat=False)) as rec:
        model = build_report(rec, auto=stages(), ood=clean_ood())
    assert model.trust is None


def test_checks_the_model_does_not_allow_are_said_to_be_not_available(tmp_path):
    ood = OODResult.not_available(N_EPOCHS, ["out-of-distribution check (no training statistics)"])
    with open_recording(night(tmp_path, flat=False)) as rec:
        model = build_report(rec, auto=stages(), ood=ood)
    assert model.trust is not None and not model.trust.flagged
    text = report_text(model, tmp_path / "r.pdf")
    assert "the night is not checked" in text
    assert "not available: out-of-distribution check (no training statistics)" in text
    assert FLAGGED_SENTENCE not in text


def test_the_ood_record_staged_beside_an_automatic_hypnogram_is_read_by_default(tmp_path):
    path = night(tmp_path, flat=False)
    hyp_file = write_hypnogram(stages(), tmp_path / "night.auto-hypnogram.csv")
    record = staged_ood_file(str(hyp_file))
    assert record == tmp_path / "night.ood.json"
    write_ood_file(record, flagged_ood(), model="demo")
    with open_recording(path) as rec:
        model = build_report(rec, auto=read_hypnogram(hyp_file))
    assert model.trust is not None and model.trust.flagged
    assert model.trust.headline == FLAGGED_SENTENCE


def test_sleepfm_report_with_a_model_prints_which_model_checks_are_not_available(data_dir, tmp_path):
    """End to end with the tiny golden release, whose metadata holds no training statistics."""
    rec = write_night(tmp_path / "short.edf", hours=10 / 60, seed=2)
    out = tmp_path / "short.pdf"
    with pytest.warns(RuntimeWarning, match="not available: out-of-distribution check"):
        assert main(["report", str(rec.path), "-o", str(out), "--model",
                     str(data_dir / "golden_tiny"), "--device", "cpu", "--no-hypnogram"]) == 0
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in pypdf.PdfReader(str(out)).pages))
    assert TITLE in text and "the night is not checked" in text
    assert ("not available: out-of-distribution check (the model's metadata holds no training "
            "statistics)") in text
