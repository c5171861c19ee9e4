"""De-identification: identifying strings never reach an exported file; dates shift when asked."""
from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pytest

from sleepfm_engine import open_recording
from sleepfm_engine.deidentify import (REMOVED, Deidentifier, date_variants,
                                       deidentify_hdf5)
from sleepfm_engine.demographics import age_years
from sleepfm_engine.provenance import Provenance
from sleepfm_engine.report import build_report, write_report_pdf

from edf_factory import Sig, write_edf
from test_report_nights import SECRETS, START, write_night

pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) extracts the PDF text")

#: The original recording date, in the renderings exports use.
START_DATES = ("2023-03-14", "14.03.2023", "14-MAR-2023", "14.03.23")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_night(tmp_path_factory.mktemp("deid") / "Zwanenburg_night.edf", hours=2.0,
                       seed=2)


def leaks(blob: bytes | str, extra: tuple[str, ...] = ()) -> list[str]:
    """Identifying strings found in ``blob`` (case-insensitive, spaces or underscores)."""
    text = blob.decode("latin-1") if isinstance(blob, bytes) else blob
    low = text.lower()
    found = []
    for s in SECRETS + extra:
        variants = {s.lower(), s.lower().replace(" ", "_"), s.lower().replace("_", " ")}
        if any(v in low for v in variants):
            found.append(s)
    return found


def pdf_everything(path) -> str:
    """Every string a PDF holds: extracted text, metadata and decompressed streams."""
    reader = pypdf.PdfReader(str(path))
    parts = [page.extract_text() for page in reader.pages]
    parts += [str(v) for v in (reader.metadata or {}).values()]
    raw = path.read_bytes()
    parts.append(raw.decode("latin-1"))
    # Decompress every Flate stream: text may hide in compressed content.
    pos = 0
    while True:
        i = raw.find(b"stream", pos)
        if i < 0:
            break
        j = raw.find(b"endstream", i)
        body = raw[i + 6:j].lstrip(b"\r\n")
        try:
            parts.append(zlib.decompress(body).decode("latin-1"))
        except zlib.error:
            pass
        pos = j + 9
    return "\n".join(parts)


# --------------------------------------------------------------------------------- primitives
def test_text_scrubs_names_codes_and_birth_dates_case_and_underscore_insensitively(night):
    with open_recording(night.path) as rec:
        deid = Deidentifier.from_recording(rec)
    text = ("Patient WILHELMINA zwanenburg (Wilhelmina_Zwanenburg), MRN-99812345, born "
            "1951-05-02 / 02-MAY-1951, seen by Tech Oyelaran in ward hollyhock")
    out = deid.text(text)
    assert leaks(out) == []
    assert out.count(REMOVED) >= 6
    # words that merely contain a secret are left alone
    assert deid.text("Wilhelminastraat 12") == "Wilhelminastraat 12"
    # the file name becomes the pseudonym
    assert deid.text(f"read {night.path}") == "read deidentified"
    assert deid.file_name(night.path) == "deidentified.edf"


def test_identity_deidentifier_changes_nothing(night):
    deid = Deidentifier.identity()
    assert not deid.active
    assert deid.text("Wilhelmina Zwanenburg") == "Wilhelmina Zwanenburg"
    assert deid.date(START) == START
    assert deid.hypnogram(night.manual) == night.manual


def test_date_shift_moves_dates_hypnograms_and_free_text_dates(night):
    with open_recording(night.path) as rec:
        deid = Deidentifier.from_recording(rec, enabled=False, shift_days=-30)
        info = deid.recording_info(rec.recording_info)
    assert deid.date(START) == START - dt.timedelta(days=30)
    assert info["startdate"] == "12-FEB-2023"
    assert deid.hypnogram(night.manual).start == START - dt.timedelta(days=30)
    assert deid.text("recorded 2023-03-14, 14.03.2023") == "recorded 2023-02-12, 12.02.2023"
    assert deid.value("2023-03-14T22:47:30") == "2023-02-12T22:47:30"
    # not enabled: names stay (a shift alone is not de-identification)
    assert deid.text("Zwanenburg") == "Zwanenburg"


def test_shift_days_must_be_whole_days():
    with pytest.raises(TypeError, match="whole number"):
        Deidentifier(shift_days=1.5)
    with pytest.raises(ValueError, match="200 years"):
        Deidentifier(shift_days=10**6)


def test_patient_and_recording_fields_keep_only_sex(night):
    with open_recording(night.path) as rec:
        deid = Deidentifier.from_recording(rec)
        patient = deid.patient(rec.patient)
        info = deid.recording_info(rec.recording_info)
    assert patient["sex"] == "F"
    assert all(v == "" for k, v in patient.items() if k != "sex")
    assert leaks(repr(info)) == []


def test_hypnogram_copy_names_no_human_scorer_but_keeps_the_model(night):
    with open_recording(night.path) as rec:
        deid = Deidentifier.from_recording(rec, shift_days=7)
    manual = deid.hypnogram(night.manual)
    auto = deid.hypnogram(night.auto)
    assert manual.scorer == "manual scorer" and "Oyelaran" not in manual.scorer
    assert manual.source == "deidentified"
    assert auto.scorer == "SleepFM test-model"
    np.testing.assert_array_equal(manual.stages, night.manual.stages)
    assert manual.start == START + dt.timedelta(days=7)
    assert night.manual.scorer == "Dr. Oyelaran"  # the original is untouched


def test_age_is_whole_years_and_top_coded_at_90(tmp_path):
    assert age_years(dt.date(1951, 5, 2), dt.date(2023, 5, 1)) == 71
    assert age_years(dt.date(1951, 5, 2), dt.date(2023, 5, 2)) == 72
    assert age_years(None, dt.date(2023, 5, 2)) is None
    old = write_night(tmp_path / "old.edf", hours=0.5, seed=1,
                      start=dt.datetime(2045, 6, 1, 22, 0))  # born 1951: 94 years old
    model = build_report(old.path, deidentify=True)
    assert dict(model.patient)["Age at recording"] == "90+ years"
    assert dict(build_report(old.path).patient)["Age at recording"] == "94 years"


def test_date_variants_cover_edf_iso_and_european_renderings():
    v = date_variants(dt.date(2023, 3, 14))
    for s in ("14-MAR-2023", "14.03.23", "2023-03-14", "14.03.2023", "14/03/2023"):
        assert s in v


# ----------------------------------------------------------------------------------- outputs
def test_deidentified_report_pdf_holds_no_identifying_string(night, tmp_path):
    model = build_report(night.path, manual=night.manual, auto=night.auto, deidentify=True,
                         shift_days=12, provenance=Provenance("0.1.0", model_folder="/models/release"))
    pdf = write_report_pdf(model, tmp_path / "report.pdf")
    everything = pdf_everything(pdf)
    assert leaks(everything, extra=("Zwanenburg_night", "Dr. Oyelaran") + START_DATES) == []
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages)
    assert "DE-IDENTIFIED" in text
    assert "2023-03-26 22:47:30 (shifted +12 d)" in text
    assert "deidentified.edf" in text and "Female" in text
    assert "SleepFM test-model" in text  # a model's name is no identifier


def test_hypnogram_files_and_folders_named_after_the_patient_are_not_shown(tmp_path):
    from sleepfm_engine.errors import HypnogramError
    from sleepfm_engine.formats import read_hypnogram, write_hypnogram

    folder = tmp_path / "Zwanenburg_W"
    folder.mkdir()
    n = write_night(folder / "psg.edf", hours=1.0, seed=3)
    write_hypnogram(n.manual, folder / "MRN-99812345_scoring.csv")
    manual = read_hypnogram(folder / "MRN-99812345_scoring.csv")
    model = build_report(n.path, manual=manual, auto=n.auto, deidentify=True)
    assert model.hypnograms["manual"].source == "deidentified"
    assert all("Zwanenburg" not in w for w in model.warnings)
    pdf = write_report_pdf(model, tmp_path / "r.pdf")
    assert leaks(pdf_everything(pdf), extra=("Zwanenburg_W", str(folder), "scoring.csv")) == []
    # Scored on another night: refused, naming the file (to the user, never in a report).
    late = n.manual.copy()
    late.start = START + dt.timedelta(days=2)
    write_hypnogram(late, folder / "MRN-99812345_scoring.csv")
    with pytest.raises(HypnogramError, match="does not belong to this recording"):
        build_report(n.path, manual=read_hypnogram(folder / "MRN-99812345_scoring.csv"), auto=n.auto,
                     deidentify=True)


def test_identified_report_does_show_the_patient(night, tmp_path):
    # The leak search above must be able to fail: the same report, not de-identified, leaks.
    model = build_report(night.path, manual=night.manual)
    pdf = write_report_pdf(model, tmp_path / "report.pdf")
    found = leaks(pdf_everything(pdf))
    assert "Zwanenburg" in found and "MRN-99812345" in found and "1951-05-02" in found


def test_plain_edf_free_text_patient_field_is_removed_word_by_word(tmp_path):
    sig = Sig("EEG Fpz-Cz", 10, np.zeros(10 * 60, dtype=int))
    path = write_edf(tmp_path / "plain.edf", [sig],
                     patient="Vandersloot, Hendrika 28/03/1957 case-4471",
                     recording="Recorded at Sint-Elisabeth by Jansen")
    model = build_report(path, deidentify=True)
    pdf = write_report_pdf(model, tmp_path / "plain.pdf")
    text = pdf_everything(pdf)
    for secret in ("Vandersloot", "Hendrika", "28/03/1957", "1957-03-28", "case-4471",
                   "Sint-Elisabeth", "Jansen"):
        assert secret.lower() not in text.lower(), secret
    identified = build_report(path)
    assert dict(identified.patient)["Patient field"].startswith("Vandersloot")


def test_hdf5_attributes_are_scrubbed_and_dates_shifted(night, tmp_path):
    h5py = pytest.importorskip("h5py")
    from sleepfm_engine.preprocessing import preprocess_to_hdf5

    out = preprocess_to_hdf5(open_recording(night.path), tmp_path / "night.hdf5",
                             channels=["EEG C3-M2"])
    with h5py.File(out, "a") as f:  # exporters may add free text of their own
        f.attrs["note"] = "patient Wilhelmina Zwanenburg MRN-99812345"
        f["EEG C3-M2"].attrs["recorded_by"] = np.array(["Tech_Oyelaran", "x"], dtype=object)

    def all_attrs() -> str:
        parts = []
        with h5py.File(out, "r") as f:
            objs = [f]
            f.visititems(lambda _n, o: objs.append(o))
            for o in objs:
                parts += [f"{k}={v!r}" for k, v in o.attrs.items()]
        return "\n".join(parts)

    before = all_attrs()
    assert leaks(before, extra=("Zwanenburg_night", "2023-03-14"))  # the test can fail
    with open_recording(night.path) as rec:
        deid = Deidentifier.from_recording(rec, shift_days=-3)
    assert deidentify_hdf5(out, deid) >= 3
    after = all_attrs()
    assert leaks(after, extra=("Zwanenburg_night", "2023-03-14")) == []
    with h5py.File(out, "r") as f:
        assert f.attrs["source_start"] == "2023-03-11T22:47:30"
        assert f.attrs["source_file"] == "deidentified"
        assert f.attrs["sampling_rate_hz"] == 128  # numbers untouched
