"""De-identification of everything the engine exports: reports, hypnograms, tables, HDF5 files.

A :class:`Deidentifier` is built from a recording (:meth:`Deidentifier.from_recording`). It knows
the recording's identifying strings (patient name and code, birth date, free-text subfields,
administration code, technician, the file name) and, when asked, a whole-day shift applied to
every date. Exporters pass their strings, dates, hypnograms and HDF5 attributes through it.

What is removed when ``enabled``:

- patient name, patient code (hospital number), birth date, patient free text;
- recording administration code, technician, equipment and free text;
- the recording's file name and folder, and those of its hypnogram files (replaced by the
  pseudonym; :func:`sleepfm_engine.report.build_report` adds the hypnogram paths);
- the name of a human scorer (an automatic scorer's model name is kept).

What is kept: sex, age in whole years (top-coded at 90, as HIPAA Safe Harbor asks), time of day,
durations, channel labels, statistics. Dates are shifted by ``shift_days`` whole days when that is
non-zero (with or without ``enabled``); every date moves by the same amount, so intervals stay
true. Without a shift dates are kept, which the caller must judge for its use.

Free text that still passes through (labels, scorer names, attribute values) is scrubbed: every
occurrence of an identifying string, case-insensitive and on word boundaries, with ``_`` and
spaces treated alike, becomes :data:`REMOVED`; an original date becomes its shifted rendering.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .demographics import header_demographics, parse_edf_date

#: What a removed identifying string is replaced by.
REMOVED = "[removed]"
#: Ages at or above this are reported as "90+" (HIPAA Safe Harbor).
AGE_TOP_CODE = 90
#: The default pseudonym of a de-identified recording.
DEFAULT_PSEUDONYM = "deidentified"
#: Scorer prefix of automatic hypnograms; such scorer names are kept.
AUTOMATIC_SCORER_PREFIX = "SleepFM"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Tokens of free-text header fields that identify nobody (EDF+ keywords and placeholders).
_HARMLESS = frozenset({"x", "startdate", "m", "f", "male", "female", "man", "woman", "-"})
_DATE_TOKEN = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$|^(\d{4})-(\d{2})-(\d{2})$")
_MIN_SECRET = 3
_FILE_TIME_KEY = re.compile(r"created|generated|modified", re.IGNORECASE)


def date_variants(day: _dt.date) -> list[str]:
    """Renderings of ``day`` found in headers, tables and reports (EDF+, EDF, ISO, European)."""
    d, m, y = day.day, day.month, day.year
    return [f"{d:02d}-{_MONTHS[m - 1]}-{y:04d}", f"{d:02d}.{m:02d}.{y % 100:02d}",
            f"{d:02d}.{m:02d}.{y:04d}", f"{y:04d}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y:04d}",
            f"{y:04d}{m:02d}{d:02d}", f"{day:%d %b %Y}", f"{day:%d %B %Y}"]


def _token_date(token: str) -> _dt.date | None:
    """A day-first (``28/03/1957``, ``28.03.1957``) or ISO date written in free text."""
    m = _DATE_TOKEN.match(token)
    if not m:
        return None
    try:
        if m.group(1):
            return _dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        return _dt.date(int(m.group(4)), int(m.group(5)), int(m.group(6)))
    except ValueError:
        return None


def _pattern(secret: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[\s_]+", secret.strip()) if p]
    return r"(?<![A-Za-z0-9])" + r"[\s_]+".join(parts) + r"(?![A-Za-z0-9])"


@dataclass
class Deidentifier:
    """Removes identifying strings and shifts dates in what is exported.

    Parameters
    ----------
    enabled : bool
        Remove identifiers. False gives an identity transform (apart from ``shift_days``).
    shift_days : int
        Whole days added to every date (0: dates kept).
    pseudonym : str
        What the recording is called instead of its file name and patient name.
    secrets : iterable of str
        Identifying strings to scrub from free text (see :meth:`from_recording`).
    paths : iterable of str
        File names/paths of the recording, replaced by the pseudonym.
    dates : iterable of datetime.date
        Dates whose renderings in free text are replaced by shifted ones (or removed).
    """

    enabled: bool = True
    shift_days: int = 0
    pseudonym: str = DEFAULT_PSEUDONYM
    secrets: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    dates: tuple[_dt.date, ...] = ()
    _regex: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.shift_days, bool) or int(self.shift_days) != self.shift_days:
            raise TypeError(f"shift_days must be a whole number of days, got {self.shift_days!r}")
        self.shift_days = int(self.shift_days)
        if abs(self.shift_days) > 365 * 200:
            raise ValueError(f"shift_days {self.shift_days} is more than 200 years")
        self.pseudonym = str(self.pseudonym).strip() or DEFAULT_PSEUDONYM
        self.secrets = tuple(dict.fromkeys(s.strip() for s in self.secrets
                                           if len(s.strip()) >= _MIN_SECRET))
        self.paths = tuple(dict.fromkeys(str(p) for p in self.paths if len(str(p)) >= _MIN_SECRET))
        self.dates = tuple(dict.fromkeys(self.dates))

    # ---------------------------------------------------------------------------- construction
    @classmethod
    def identity(cls) -> "Deidentifier":
        """A de-identifier that changes nothing."""
        return cls(enabled=False)

    @classmethod
    def from_recording(cls, rec: Any, *, enabled: bool = True, shift_days: int = 0,
                       pseudonym: str | None = None) -> "Deidentifier":
        """Collect the identifying strings of a recording.

        Parameters
        ----------
        rec : Recording
            Anything with ``path``, ``patient``, ``recording_info`` and ``start`` as
            :class:`sleepfm_engine.recording.Recording` has them.
        enabled, shift_days, pseudonym
            See the class.
        """
        patient = dict(getattr(rec, "patient", {}) or {})
        info = dict(getattr(rec, "recording_info", {}) or {})
        secrets: list[str] = []
        for key in ("name", "code", "birthdate", "additional"):
            value = str(patient.get(key) or "")
            secrets.append(value)
            if key in ("name", "additional"):
                secrets.extend(re.split(r"[\s_,;]+", value))
        raw = str(patient.get("raw") or "")
        secrets.append(raw)
        # A plain-EDF patient field is free text: any word of it may identify the patient.
        tokens = [t.strip(",;:()[]") for t in raw.split()]
        secrets.extend(t for t in tokens if t.lower() not in _HARMLESS)
        for token in tokens:
            day = _token_date(token)
            if day is not None:
                secrets.extend(date_variants(day))
        for key in ("admin_code", "technician", "equipment", "additional"):
            value = str(info.get(key) or "")
            secrets.append(value)
            if key in ("technician", "additional"):
                secrets.extend(re.split(r"[\s_,;]+", value))
        rec_raw = str(info.get("raw") or "")
        if not rec_raw.startswith("Startdate"):
            secrets.append(rec_raw)
        dates: list[_dt.date] = []
        birth = header_demographics(rec).birthdate
        if birth is not None:
            secrets.extend(date_variants(birth))
        start = getattr(rec, "start", None)
        if isinstance(start, _dt.datetime):
            dates.append(start.date())
        paths: list[str] = []
        path = getattr(rec, "path", None)
        if path is not None:
            path = Path(path)
            paths.extend([str(path), str(path.resolve()), path.name, path.stem])
        return cls(enabled=enabled, shift_days=shift_days,
                   pseudonym=pseudonym or DEFAULT_PSEUDONYM,
                   secrets=tuple(s for s in secrets if s.lower() not in _HARMLESS),
                   paths=tuple(paths), dates=tuple(dates))

    def extended(self, other: "Deidentifier") -> "Deidentifier":
        """This de-identifier with ``other``'s identifying strings, paths and dates added
        (e.g. those of a hypnogram file's own EDF header)."""
        return Deidentifier(enabled=self.enabled, shift_days=self.shift_days,
                            pseudonym=self.pseudonym, secrets=self.secrets + other.secrets,
                            paths=self.paths + other.paths, dates=self.dates + other.dates)

    # ---------------------------------------------------------------------------- primitives
    @property
    def active(self) -> bool:
        """True when anything is changed (identifiers removed or dates shifted)."""
        return self.enabled or self.shift_days != 0

    def _rules(self) -> list[tuple["re.Pattern[str]", str]]:
        if self._regex is None:
            table: list[tuple[str, str]] = []
            if self.enabled:
                # Longest first, so a full path is replaced before its file name.
                table += [(p, self.pseudonym) for p in sorted(self.paths, key=len, reverse=True)]
                table += [(s, REMOVED) for s in sorted(self.secrets, key=len, reverse=True)]
            if self.shift_days:
                for day in self.dates:
                    new = day + _dt.timedelta(days=self.shift_days)
                    table += list(zip(date_variants(day), date_variants(new)))
            self._regex = [(re.compile(re.escape(k) if ("/" in k or "\\" in k) else _pattern(k),
                                       re.IGNORECASE), v) for k, v in table if k]
        return self._regex

    def text(self, value: Any) -> str:
        """``value`` as text with every identifying string removed and dates shifted."""
        text = "" if value is None else str(value)
        if not self.active or not text:
            return text
        for rule, replacement in self._rules():
            text = rule.sub(replacement, text)
        return text

    def date(self, value: _dt.datetime | _dt.date | None):
        """``value`` shifted by ``shift_days`` (None stays None)."""
        if value is None or not self.shift_days:
            return value
        return value + _dt.timedelta(days=self.shift_days)

    def file_name(self, path: str | Path | None, suffix: str | None = None) -> str:
        """The name to show or write for a recording file: the pseudonym when enabled."""
        if path is None:
            return ""
        path = Path(path)
        if not self.enabled:
            return path.name
        return self.pseudonym + (path.suffix if suffix is None else suffix)

    def scorer(self, name: str) -> str:
        """A scorer name: a human scorer is not named when enabled; a model's name is kept."""
        name = str(name or "")
        if not self.enabled or not name:
            return name
        if name.startswith(AUTOMATIC_SCORER_PREFIX):
            return self.text(name)
        return "manual scorer"

    # ---------------------------------------------------------------------------- structures
    def patient(self, patient: Mapping[str, Any]) -> dict:
        """EDF+ patient subfields with everything but ``sex`` emptied when enabled."""
        out = {k: str(v or "") for k, v in dict(patient).items()}
        if not self.enabled:
            return out
        return {"code": "", "sex": out.get("sex", ""), "birthdate": "", "name": "",
                "additional": "", "raw": ""}

    def recording_info(self, info: Mapping[str, Any]) -> dict:
        """EDF+ recording subfields: start date shifted; codes, technician, equipment and free
        text emptied when enabled."""
        out = {k: str(v or "") for k, v in dict(info).items()}
        day = parse_edf_date(out.get("startdate", ""))
        if day is not None and self.shift_days:
            out["startdate"] = date_variants(self.date(day))[0]
        if self.enabled:
            for key in ("admin_code", "technician", "equipment", "additional"):
                out[key] = ""
            out["raw"] = ""
        elif self.shift_days:
            out["raw"] = self.text(out.get("raw", ""))
        return out

    def hypnogram(self, hyp: Any, automatic: bool | None = None) -> Any:
        """A copy of a :class:`~sleepfm_engine.hypnogram.Hypnogram` safe to export.

        ``start`` is shifted; ``source`` becomes the pseudonym; a human ``scorer`` is not named.
        ``automatic`` says whether a model scored it (default: the scorer starts with
        ``SleepFM``).
        """
        out = hyp.copy()
        if not self.active:
            return out
        out.start = self.date(hyp.start)
        if self.enabled:
            out.source = self.pseudonym if hyp.source else ""
            is_auto = (automatic if automatic is not None
                       else str(hyp.scorer).startswith(AUTOMATIC_SCORER_PREFIX))
            out.scorer = self.text(hyp.scorer) if is_auto else self.scorer(hyp.scorer)
        return out

    def value(self, value: Any) -> Any:
        """Any exported value: strings scrubbed (ISO date-times shifted), dates shifted,
        containers processed element by element, numbers unchanged."""
        if isinstance(value, _dt.datetime) or isinstance(value, _dt.date):
            return self.date(value)
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value

    def _string(self, value: str) -> str:
        if self.shift_days and 10 <= len(value) <= 40 and value[:4].isdigit():
            try:
                parsed = _dt.datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None:
                shifted = self.date(parsed)
                return shifted.isoformat() if "T" in value or len(value) > 10 else shifted.date().isoformat()
        return self.text(value)

    def mapping(self, attrs: Mapping[str, Any]) -> dict:
        """A mapping (HDF5 attributes, JSON metadata) with every value passed through
        :meth:`value`."""
        return {k: self.value(v) for k, v in attrs.items()}


def deidentify_hdf5(path: str | Path, deid: Deidentifier) -> int:
    """Rewrite, in place, every string attribute of an HDF5 file (root, groups, datasets).

    Strings are scrubbed and ISO date-times shifted (:meth:`Deidentifier.value`), except that
    timestamps of the file itself (keys naming ``created``, ``generated``, ``modified``) are not
    shifted: they date the export, not the patient. Numeric attributes are left alone. Apply it to a temporary copy and rename it into place (see
    :func:`sleepfm_engine.atomic.atomic_path`) for an atomic export. When anything changed the
    file is then rewritten afresh (:func:`_repack_hdf5`): an attribute rewritten in place
    leaves its old bytes in the file's free space, where anyone reading the bytes finds them.

    Returns
    -------
    int
        Number of attributes changed.
    """
    import h5py
    import numpy as np

    changed = 0

    def fix(obj) -> None:
        nonlocal changed
        for key in list(obj.attrs.keys()):
            value = obj.attrs[key]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                new = deid.text(value) if _FILE_TIME_KEY.search(key) else deid.value(value)
                if new != value:
                    obj.attrs[key] = new
                    changed += 1
            elif isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
                items = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                         for v in value.ravel().tolist()]
                new_items = [deid.value(v) for v in items]
                if new_items != items:
                    obj.attrs[key] = np.array(new_items, dtype=h5py.string_dtype()).reshape(value.shape)
                    changed += 1

    if not deid.active:
        return 0
    with h5py.File(path, "r+") as f:
        fix(f)
        f.visititems(lambda _name, obj: fix(obj))
    if changed:
        _repack_hdf5(Path(path))
    return changed


def _repack_hdf5(path: Path) -> None:
    """Copy every object and attribute of an HDF5 file into a new file that replaces it, so no
    freed space keeps old contents."""
    import os

    import h5py

    fresh = path.with_name(path.name + ".repack")
    try:
        with h5py.File(path, "r") as src, h5py.File(fresh, "w") as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            for name in src:
                src.copy(src[name], dst, name=name)
        os.replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)

