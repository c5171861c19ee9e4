"""Age and sex of the person recorded: the one reader of them (no Qt, no torch).

The recording header, de-identification, the report, the disease-risk head and the
application's risk tab all read age and sex here, so they never disagree. Sex is ``"M"``,
``"F"`` or ``""`` (unknown); age is whole years at the recording start, or None when the header
gives no usable birth date.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_AGE_YEARS", "EDF_SEX_CODES", "Demographics", "parse_sex", "parse_edf_date",
           "age_years", "header_demographics"]

#: Oldest age accepted, in years (older is taken as a wrong birth date, not a person).
MAX_AGE_YEARS = 130
#: What the EDF+ patient field writes for sex (``X``: not known).
EDF_SEX_CODES = ("M", "F", "X")
#: Date layouts of birth dates in headers: EDF+ ``dd-MMM-yyyy``, ISO, and the day-first
#: forms plain-EDF writers use.
_DATE_FORMATS = ("%d-%b-%Y", "%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")
_MALE = {"m", "male", "man", "1"}
_FEMALE = {"f", "female", "woman", "0"}


def parse_sex(sex: str | int | float) -> str:
    """``"M"`` or ``"F"`` from common spellings (M/F, male/female, 1/0).

    Raises
    ------
    TypeError
        For a bool (``True`` is not a sex).
    ValueError
        For anything else that is not one of the spellings.
    """
    if isinstance(sex, bool):
        raise TypeError("sex must be 'M'/'F' (or male/female, 1/0), not a bool")
    key = str(int(sex)) if isinstance(sex, (int, float)) and float(sex).is_integer() else str(sex)
    key = key.strip().lower()
    if key in _MALE:
        return "M"
    if key in _FEMALE:
        return "F"
    raise ValueError(f"sex must be M or F (male/female, 1/0), not {sex!r}")


def parse_edf_date(text: str) -> _dt.date | None:
    """A date written ``dd-MMM-yyyy`` (EDF+), ``yyyy-mm-dd``, ``dd.mm.yyyy`` or ``dd/mm/yyyy``;
    None for anything else."""
    text = str(text).strip()
    for fmt in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(text.title() if "%b" in fmt else text, fmt).date()
        except ValueError:
            continue
    return None


def age_years(birth: _dt.date | None, on: _dt.date | _dt.datetime | None) -> int | None:
    """Age in whole years on a date; None if either date is unknown or the age is not within
    0..:data:`MAX_AGE_YEARS`."""
    if birth is None or on is None:
        return None
    if isinstance(on, _dt.datetime):
        on = on.date()
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return years if 0 <= years <= MAX_AGE_YEARS else None


@dataclass(frozen=True)
class Demographics:
    """What a header says about the person recorded.

    Attributes
    ----------
    sex : str
        ``"M"``, ``"F"`` or ``""`` when not given.
    birthdate : datetime.date or None
    age : int or None
        Whole years at the recording start.
    """

    sex: str = ""
    birthdate: _dt.date | None = None
    age: int | None = None


def header_demographics(rec: Any) -> Demographics:
    """Sex, birth date and age at the recording from a recording's patient field.

    Parameters
    ----------
    rec : Recording
        Anything with ``patient`` (the parsed patient field, see
        :class:`~sleepfm_engine.recording.Recording`) and ``start``.

    Returns
    -------
    Demographics
        Empty where the field is free text (plain EDF without EDF+ subfields): a word in free
        text is not taken as a sex or a birth date.
    """
    patient = dict(getattr(rec, "patient", {}) or {})
    structured = "+" in str(getattr(rec, "format", "")) or bool(patient.get("subfields"))
    if not structured:
        return Demographics()
    code = str(patient.get("sex") or "").strip().upper()
    # EDF+ writes M, F or X (unknown); nothing else is read as a sex.
    sex = code if code in ("M", "F") else ""
    birth = parse_edf_date(str(patient.get("birthdate") or ""))
    return Demographics(sex=sex, birthdate=birth, age=age_years(birth, getattr(rec, "start", None)))
