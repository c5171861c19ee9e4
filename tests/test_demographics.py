"""One reader of age and sex: the header, the report, de-identification and risk agree."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, strategies as st

from sleepfm_engine import open_recording
from sleepfm_engine.deidentify import REMOVED, Deidentifier
from sleepfm_engine.demographics import (MAX_AGE_YEARS, Demographics, age_years, header_demographics,
                                         parse_edf_date, parse_sex)
from sleepfm_engine.inference.risk import parse_sex as risk_parse_sex
from sleepfm_engine.report import build_report

from edf_factory import Sig, write_edf

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _night(path, patient, plus=True):
    rng = np.random.default_rng(0)
    return write_edf(path, [Sig("C4-M1", 128, rng.integers(-2000, 2000, 128 * 4))],
                     patient=patient, reserved="EDF+C" if plus else "")


@given(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)))
def test_every_birth_date_layout_a_header_uses_reads_back_as_the_same_day(day):
    renderings = [f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}",
                  f"{day.day:02d}-{_MONTHS[day.month - 1].lower()}-{day.year}",
                  day.isoformat(), f"{day:%d.%m.%Y}", f"{day:%d/%m/%Y}"]
    assert {parse_edf_date(text) for text in renderings} == {day}


@given(st.text(max_size=30))
def test_any_text_is_a_date_or_none_never_an_exception(text):
    assert parse_edf_date(text) is None or isinstance(parse_edf_date(text), dt.date)


def _add_years(day, n):
    try:
        return day.replace(year=day.year + n)
    except ValueError:  # 29 February in a common year: the birthday falls on 1 March
        return dt.date(day.year + n, 3, 1)


@given(st.dates(dt.date(1800, 1, 1), dt.date(2100, 1, 1)), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)))
def test_age_is_whole_years_within_the_plausible_range_or_none(birth, on):
    age = age_years(birth, on)
    if age is None:
        assert on < birth or _add_years(birth, MAX_AGE_YEARS + 1) <= on
    else:
        assert 0 <= age <= MAX_AGE_YEARS
        assert _add_years(birth, age) <= on < _add_years(birth, age + 1)


@given(st.sampled_from(["M", "m", "male", "Male", "man", "1", 1, 1.0, "F", "f", "female", "woman", "0", 0]))
def test_sex_spellings_read_as_m_or_f_and_risk_uses_the_same_reader(spelling):
    assert parse_sex(spelling) in ("M", "F") and risk_parse_sex is parse_sex


@given(st.text(max_size=10).filter(lambda s: s.strip().lower() not in
                                   {"m", "male", "man", "1", "f", "female", "woman", "0"}))
def test_anything_else_is_not_a_sex(text):
    with pytest.raises(ValueError, match="sex must be M or F"):
        parse_sex(text)


def test_the_header_the_report_and_deidentification_read_the_same_person(tmp_path):
    path = _night(tmp_path / "n.edf", "MCH-0234567 F 02-MAY-1951 Haagse_Harry")
    with open_recording(path) as rec:
        person = rec.demographics
        assert person == header_demographics(rec) == Demographics("F", dt.date(1951, 5, 2), 52)
        patient = dict(build_report(rec).patient)
        assert patient["Age at recording"] == "52 years" and patient["Sex"] == "Female"
        assert patient["Date of birth"] == "1951-05-02"
        assert REMOVED in Deidentifier.from_recording(rec).text("born 02.05.1951")


def test_a_free_text_patient_field_gives_no_age_or_sex(tmp_path):
    path = _night(tmp_path / "free.edf", "excerpt3, female 48y 02-MAY-1951", plus=False)
    with open_recording(path) as rec:
        assert rec.demographics == Demographics()
        assert dict(build_report(rec).patient)["Sex"] == "\u2014"


def test_an_impossible_birth_date_gives_no_age(tmp_path):
    path = _night(tmp_path / "old.edf", "X M 02-MAY-1751 X")
    with open_recording(path) as rec:
        assert rec.demographics == Demographics("M", dt.date(1751, 5, 2), None)
