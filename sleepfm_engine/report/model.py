"""The report model: everything a sleep study report shows, computed once, display-ready.

:func:`build_report` turns a recording, its hypnograms (manual and/or automatic), an optional
risk table and model provenance into a :class:`ReportModel`. The PDF writer
(:mod:`sleepfm_engine.report.pdf`), the cohort summary and the GUI all read the same model, so a
number printed anywhere is the number the engine computed, formatted by :func:`format_statistic`.
"""
from __future__ import annotations

import datetime as _dt
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..alignment import fit_to_recording, hypnogram_fit
from ..contract import MAX_CHANNELS, MODALITIES, MODALITY_DESCRIPTIONS, OTHER
from ..deidentify import AGE_TOP_CODE, Deidentifier
from ..demographics import header_demographics
from ..hypnogram import SCORED_CODES, STAGE_LONG_NAMES, STAGES, Hypnogram
from ..provenance import Provenance
from ..sleep_stats import (MISSING, STATISTICS_DEFINITIONS, STATISTICS_LABELS, format_statistic,
                           no_data_epochs)
from .events import (DEFAULT_POSITION_TABLE, EventsReport, build_events_report,
                     read_night_signals, recording_events, result_source)
from .trust import TrustSection, build_trust_section, read_staged_ood

#: Keys of the summary statistics table, in print order.
SUMMARY_KEYS: tuple[str, ...] = ("TIB", "TST", "SPT", "SE", "SOL", "WASO", "REM_latency",
                                 "wake_after_final_awakening", "awakenings", "stage_shifts")
#: Abbreviations printed after a statistic's label.
ABBREVIATIONS: dict[str, str] = {"TIB": "TIB", "TST": "TST", "SPT": "SPT", "SE": "SE",
                                 "SOL": "SOL", "WASO": "WASO"}
#: Hypnogram roles in display order, with their column titles.
ROLES: dict[str, str] = {"manual": "Manual", "auto": "SleepFM"}
#: How many phenotypes the risk section lists.
TOP_PHENOTYPES = 10
_SEX = {"F": "Female", "M": "Male"}


# ----------------------------------------------------------------------------------- formatting
def statistic_unit(key: str) -> str:
    """Unit of a statistic (``"min"``, ``"%"``, ``"count"``...) as the engine defines it."""
    return STATISTICS_DEFINITIONS[key][0]


def statistic_label(key: str) -> str:
    """Display label of a statistic, with its AASM abbreviation when it has one."""
    label = STATISTICS_LABELS[key]
    abbr = ABBREVIATIONS.get(key)
    return f"{label} ({abbr})" if abbr else label


def format_ratio(value: float | None, digits: int = 2) -> str:
    """A ratio in [0, 1] (kappa, accuracy, F1) with ``digits`` decimals; em dash when undefined."""
    if value is None or not np.isfinite(value):
        return MISSING
    return f"{float(value):.{digits}f}"


def format_duration(seconds: float) -> str:
    """``"7 h 58 min"`` (minutes rounded); ``"45 min"`` under an hour."""
    minutes = int(round(float(seconds) / 60.0))
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def format_datetime(value: _dt.datetime | None) -> str:
    """``"2003-11-17 22:15:00"``; em dash when unknown."""
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------------- transitions
def lights_epochs(hyp: Hypnogram, lights_off: Any = None, lights_on: Any = None
                  ) -> tuple[int, int]:
    """Epoch range ``[first, stop)`` between lights off and on, as the engine's statistics
    round them (nearest epoch boundary); the whole hypnogram by default."""
    def index(t: Any, default: int) -> int:
        if t is None:
            return default
        if isinstance(t, _dt.datetime):
            if hyp.start is None:
                raise ValueError("lights times as clock times need a hypnogram with a start time")
            rel = (t - hyp.start).total_seconds() - hyp.offset
        else:
            rel = float(t) - hyp.offset
        return int(min(hyp.n_epochs, max(0, round(rel / hyp.epoch_length))))

    return index(lights_off, 0), index(lights_on, hyp.n_epochs)


def transition_matrix(hyp: Hypnogram, lights_off: Any = None, lights_on: Any = None) -> np.ndarray:
    """Counts of stage changes between consecutive scored epochs (rows from, columns to).

    Unscored and artefact epochs are skipped, as for the engine's ``stage_shifts``, so the
    off-diagonal sum equals ``hyp.statistics(lights_off, lights_on)["stage_shifts"]``; the
    diagonal counts epochs followed by the same stage.

    Parameters
    ----------
    hyp : Hypnogram
    lights_off, lights_on : float or datetime, optional
        As for :meth:`Hypnogram.statistics`: only epochs between them count.

    Returns
    -------
    numpy.ndarray of int64, shape (5, 5), in :data:`~sleepfm_engine.hypnogram.STAGES` order.
    """
    first, stop = lights_epochs(hyp, lights_off, lights_on)
    window = hyp.stages[first:stop]
    codes = window[np.isin(window, SCORED_CODES)].astype(np.int64)
    k = len(STAGES)
    if codes.size < 2:
        return np.zeros((k, k), dtype=np.int64)
    return np.bincount(codes[:-1] * k + codes[1:], minlength=k * k).reshape(k, k)


# -------------------------------------------------------------------------------------- risk
@dataclass(frozen=True)
class RiskRow:
    """One phenotype of the risk section."""

    phecode: str
    phenotype: str
    score: float


def risk_rows(risk: Any, top: int | None = TOP_PHENOTYPES) -> tuple[list[RiskRow], str]:
    """The ``top`` phenotypes of a risk result (all with ``top=None``), highest score first,
    and the score's name. The report and the application's risk table both read risk this way.

    Parameters
    ----------
    risk : RiskTable, mapping or sequence
        A :class:`sleepfm_engine.inference.RiskTable` (rows with ``phecode``, ``phenotype``
        and a score such as ``log_hazard``), a mapping ``{phenotype: score}``, or a sequence of
        ``(phecode, phenotype, score)`` tuples or of dicts with those keys.
    """
    score_name = str(getattr(risk, "score_name", "") or "log hazard ratio")
    rows: list[RiskRow] = []
    items: Iterable[Any]
    if hasattr(risk, "to_records"):
        items = risk.to_records()
    elif hasattr(risk, "rows"):
        items = risk.rows() if callable(risk.rows) else risk.rows
    elif isinstance(risk, Mapping):
        items = [("", k, v) for k, v in risk.items()]
    else:
        items = risk
    for item in items:
        if isinstance(item, Mapping):
            score = next((item[k] for k in ("score", "log_hazard", "hazard", "risk")
                          if k in item), None)
            if score is None:
                raise ValueError(f"risk row {dict(item)!r} has no score/log_hazard value")
            rows.append(RiskRow(str(item.get("phecode", "")), str(item.get("phenotype", "")),
                                float(score)))
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            rows.append(RiskRow(str(item[0]), str(item[1]), float(item[2])))
        else:
            phecode = getattr(item, "phecode", None)
            score = next((getattr(item, k) for k in ("score", "log_hazard", "hazard", "risk")
                          if hasattr(item, k)), None)
            if phecode is None or score is None:
                raise TypeError(f"cannot read a risk row from {type(item).__name__}")
            rows.append(RiskRow(str(phecode), str(getattr(item, "phenotype", "")), float(score)))
    rows = [r for r in rows if np.isfinite(r.score)]
    rows.sort(key=lambda r: r.score, reverse=True)
    return (rows if top is None else rows[:top]), score_name


# -------------------------------------------------------------------------------------- model
@dataclass
class ReportModel:
    """What a report shows. Strings are display-ready (already de-identified when asked).

    Attributes
    ----------
    title : str
    generated_at : datetime.datetime
        Local time the model was built.
    deidentified : bool
    shift_days : int
        Days every date was shifted by (0: dates as recorded).
    recording_name : str
        File name of the recording (the pseudonym when de-identified).
    patient : list of (label, value)
    recording : list of (label, value)
    montage : list of (modality, description, channels used, channels not used)
    recording_start : datetime.datetime or None
        Shown start (shifted when asked).
    recording_duration : float
        Seconds.
    lights_off, lights_on : datetime.datetime or None
        Clock times (shifted like the start) bounding the statistics, when given.
    hypnograms : dict
        ``"manual"`` and/or ``"auto"`` -> :class:`Hypnogram` (de-identified copies), exactly the
        hypnograms the statistics were computed from.
    scorers : dict
        Role -> scorer shown.
    statistics : dict
        Role -> ``Hypnogram.statistics()``.
    transitions : dict
        Role -> :func:`transition_matrix`.
    agreement : dict or None
        ``manual.agreement(auto)`` on the shared epochs (manual = reference, rows).
    risk : list of RiskRow or None
    risk_score_name : str
    risk_inputs : str
        What the diagnosis head was given (age, sex, hours read), when the risk table says.
    provenance : list of (label, value)
    events : EventsReport or None
        Respiratory, oxygen, arousal, limb-movement and heart-rate sections and the overview's
        signals (:mod:`sleepfm_engine.report.events`); None when the night has neither such
        events nor SpO2 or heart-rate signals.
    trust : TrustSection or None
        Signal quality findings and, for automatic staging, the model-fit verdict
        (:mod:`sleepfm_engine.report.trust`); None when there is nothing to say.
    notes : list of str
        Definitions and caveats printed at the end.
    warnings : list of str
        Problems met while building the report (also raised as warnings).
    """

    title: str
    generated_at: _dt.datetime
    deidentified: bool
    shift_days: int
    recording_name: str
    patient: list[tuple[str, str]]
    recording: list[tuple[str, str]]
    montage: list[tuple[str, str, list[str], list[str]]]
    recording_start: _dt.datetime | None
    recording_duration: float
    lights_off: _dt.datetime | None = None
    lights_on: _dt.datetime | None = None
    hypnograms: dict[str, Hypnogram] = field(default_factory=dict)
    scorers: dict[str, str] = field(default_factory=dict)
    statistics: dict[str, dict] = field(default_factory=dict)
    transitions: dict[str, np.ndarray] = field(default_factory=dict)
    agreement: dict | None = None
    risk: list[RiskRow] | None = None
    risk_score_name: str = ""
    risk_inputs: str = ""
    provenance: list[tuple[str, str]] = field(default_factory=list)
    events: EventsReport | None = None
    trust: TrustSection | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def roles(self) -> list[str]:
        """Hypnogram roles present, manual first."""
        return [r for r in ROLES if r in self.hypnograms]

    def summary_rows(self) -> list[tuple[str, str, str, list[str]]]:
        """(key, label, unit, formatted value per role) of the summary statistics table."""
        return [(k, statistic_label(k), _unit_text(k),
                 [format_statistic(k, self.statistics[r][k]) for r in self.roles])
                for k in SUMMARY_KEYS]

    def stage_rows(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(stage name, long name, [(minutes, % TST) per role]) of the stage table.

        Unscored and artefact rows appear only when some hypnogram has such time.
        """
        out = []
        for name in STAGES:
            cells = []
            for r in self.roles:
                s = self.statistics[r]
                pct = s.get(f"{name}_pct")
                cells.append((format_statistic(f"{name}_min", s[f"{name}_min"]),
                              MISSING if name == "W" else format_statistic(f"{name}_pct", pct)))
            out.append((name, STAGE_LONG_NAMES[name], cells))
        for key, name in (("unscored_min", "?"), ("artefact_min", "A")):
            if any(self.statistics[r][key] for r in self.roles):
                out.append((name, STAGE_LONG_NAMES[name],
                            [(format_statistic(key, self.statistics[r][key]), MISSING)
                             for r in self.roles]))
        return out

    def summary_record(self) -> list[dict[str, Any]]:
        """Rows of a cohort ``summary.csv``: one per hypnogram role, every statistic unrounded
        (one row with hypnogram ``"none"`` and no statistics when there is no hypnogram)."""
        rows = []
        if not self.roles:
            return [{"recording": self.recording_name,
                     "start": "" if self.recording_start is None else self.recording_start.isoformat(),
                     "duration_min": self.recording_duration / 60.0, "hypnogram": "none",
                     "scorer": ""}]
        for role in self.roles:
            row: dict[str, Any] = {
                "recording": self.recording_name,
                "start": "" if self.recording_start is None else self.recording_start.isoformat(),
                "duration_min": self.recording_duration / 60.0,
                "hypnogram": role,
                "scorer": self.hypnograms[role].scorer,
            }
            row.update(self.statistics[role])
            agr = self.agreement if role == "auto" and self.agreement else {}
            row["kappa_vs_manual"] = agr.get("kappa")
            row["accuracy_vs_manual"] = agr.get("accuracy")
            rows.append(row)
        return rows


def summary_columns() -> list[str]:
    """Column names of the cohort ``summary.csv``, in order."""
    return (["recording", "start", "duration_min", "hypnogram", "scorer"]
            + list(STATISTICS_DEFINITIONS) + ["kappa_vs_manual", "accuracy_vs_manual"])


def _unit_text(key: str) -> str:
    unit = statistic_unit(key)
    return "" if unit == "count" else unit


# -------------------------------------------------------------------------------------- build
def _open(recording: Any):
    from ..recording import Recording, open_recording

    if isinstance(recording, (str, os.PathLike)):
        return open_recording(recording), True
    if not isinstance(recording, Recording) and not hasattr(recording, "channels"):
        raise TypeError(f"recording must be a Recording or a path, got {type(recording).__name__}")
    return recording, False


def _edf_text(value: Any) -> str:
    """An EDF+ free-text subfield for display: EDF+ writes spaces as underscores."""
    return str(value).replace("_", " ")


def _is_edf_plus(rec: Any) -> bool:
    """Whether the header's patient field holds EDF+ subfields (code sex birthdate name...).

    EDF+ files always do; many plain EDF writers use them too, which the reader recognises
    (``patient["subfields"]``). Otherwise the field is free text.
    """
    if "+" in str(getattr(rec, "format", "")):
        return True
    return bool(dict(getattr(rec, "patient", {}) or {}).get("subfields"))


def _patient_fields(rec: Any, deid: Deidentifier) -> list[tuple[str, str]]:
    patient = dict(getattr(rec, "patient", {}) or {})
    plus = _is_edf_plus(rec)
    person = header_demographics(rec)
    birth, age = person.birthdate, person.age
    if age is not None and deid.enabled and age >= AGE_TOP_CODE:
        age_text = f"{AGE_TOP_CODE}+ years"
    else:
        age_text = MISSING if age is None else f"{age} years"
    sex = _SEX.get(person.sex, MISSING)
    if deid.enabled:
        return [("Subject", deid.pseudonym), ("Sex", sex), ("Age at recording", age_text),
                ("Identifiers", "removed (de-identified report)")]
    if not plus:
        # A plain EDF patient field is free text: show it as written.
        return [("Patient field", str(patient.get("raw") or MISSING)), ("Sex", sex),
                ("Age at recording", age_text)]
    fields = [("Name", str(patient.get("name") or MISSING)),
              ("Patient ID", str(patient.get("code") or MISSING)),
              ("Sex", sex),
              ("Date of birth", MISSING if birth is None else birth.isoformat()),
              ("Age at recording", age_text)]
    if patient.get("additional"):
        fields.append(("Patient notes", _edf_text(patient["additional"])))
    return fields


def _recording_fields(rec: Any, deid: Deidentifier, start: _dt.datetime | None,
                      duration: float) -> list[tuple[str, str]]:
    info = dict(getattr(rec, "recording_info", {}) or {})
    end = None if start is None else start + _dt.timedelta(seconds=duration)
    start_text = format_datetime(start)
    if deid.shift_days:
        start_text += f" (shifted {deid.shift_days:+d} d)"
    fields = [("Start", start_text), ("End", format_datetime(end)),
              ("Duration", f"{format_duration(duration)} ({duration / 60:.1f} min)"),
              ("File", deid.file_name(getattr(rec, "path", None)) or MISSING),
              ("Format", f"{getattr(rec, 'format', '') or MISSING}, "
                         f"{len(getattr(rec, 'channels', []))} signals")]
    if not deid.enabled and not str(info.get("raw") or "").startswith("Startdate ") and info.get("raw"):
        fields.append(("Recording field", str(info["raw"])))
    elif not deid.enabled:
        for key, label in (("equipment", "Equipment"), ("technician", "Technician"),
                           ("admin_code", "Study code")):
            if info.get(key):
                fields.append((label, _edf_text(info[key]) if key != "admin_code" else str(info[key])))
    return fields


def _montage(rec: Any, channel_map: Any, deid: Deidentifier
             ) -> list[tuple[str, str, list[str], list[str]]]:
    from ..inference.inputs import saved_channel_map

    # The montage shown is the one inference used: the user's saved assignments included.
    cmap = channel_map if channel_map is not None else saved_channel_map(rec)
    out = []
    for modality in (*MODALITIES, OTHER):
        labels = [deid.text(x) for x in cmap.channels_for(modality)]
        used = labels[:MAX_CHANNELS[modality]] if modality in MAX_CHANNELS else []
        unused = labels[len(used):]
        if labels or modality != OTHER:
            out.append((modality, MODALITY_DESCRIPTIONS[modality], used, unused))
    return out


def _provenance(provenance: Provenance | None) -> list[tuple[str, str]]:
    """The provenance rows printed; without a record, the engine version that built the report."""
    from .. import __version__

    if provenance is None:
        provenance = Provenance(__version__)
    if not isinstance(provenance, Provenance):
        raise TypeError(f"provenance must be a Provenance or None, got {type(provenance).__name__}")
    return [(label, MISSING if value in (None, "") else str(value))
            for label, value in provenance.report_fields()]


def _clock(t: Any, start: _dt.datetime | None) -> _dt.datetime | None:
    """A lights time as a clock time (None when unknown or not given)."""
    if t is None or isinstance(t, _dt.datetime):
        return t
    return None if start is None else start + _dt.timedelta(seconds=float(t))


def _in_frame(t: Any, hyp: Hypnogram, rec_start: _dt.datetime | None) -> Any:
    """A lights time in the form :meth:`Hypnogram.statistics` can place on ``hyp``.

    Seconds count from the recording start; a hypnogram with its own start gets a clock time,
    one without gets seconds (its time origin is the recording start).
    """
    if t is None:
        return None
    if isinstance(t, _dt.datetime):
        if hyp.start is not None:
            return t
        if rec_start is None:
            raise ValueError("lights times as clock times need a recording or hypnogram start")
        return (t - rec_start).total_seconds()
    if hyp.start is not None and rec_start is not None:
        return rec_start + _dt.timedelta(seconds=float(t))
    return float(t)


class _HypnogramOnly:
    """Stands in for a recording when only hypnograms are known: their start and extent."""

    def __init__(self, manual: Hypnogram | None, auto: Hypnogram | None):
        hyps = [h for h in (manual, auto) if h is not None]
        self.start = next((h.start for h in hyps if h.start is not None), None)
        self.duration = max((h.offset + h.duration for h in hyps), default=0.0)
        # Name the statistics after the hypnogram file when there is one.
        sources = [Path(h.source) for h in hyps if h.source and Path(h.source).is_file()]
        self.path = sources[0] if sources else None
        self.patient: dict = {}
        self.recording_info: dict = {}


def _check_hypnogram(hyp: Any, role: str) -> None:
    if hyp is not None and not isinstance(hyp, Hypnogram):
        raise TypeError(f"{role} must be a Hypnogram or None, got {type(hyp).__name__}")


def _agreement(rec: Any, manual: Hypnogram, auto: Hypnogram) -> dict:
    if rec is None:
        # No recording: the manual hypnogram's own time line is the frame.
        rec = _HypnogramOnly(manual, None)
    m = manual.align_to(rec)
    a = auto.align_to(rec)
    if (m.epoch_length != a.epoch_length or m.offset != a.offset or m.n_epochs != a.n_epochs):
        # Compare on the manual scorer's epochs: the reference grid.
        a = a.regrid(m.epoch_length, m.offset, m.n_epochs)
    return m.agreement(a)


def build_report(recording: Any, manual: Hypnogram | None = None, auto: Hypnogram | None = None,
                 risk: Any = None, provenance: Provenance | None = None,
                 deidentify: bool = False, shift_days: int = 0, *, channel_map: Any = None,
                 lights_off: float | _dt.datetime | None = None,
                 lights_on: float | _dt.datetime | None = None,
                 pseudonym: str | None = None, title: str = "Sleep study report",
                 now: _dt.datetime | None = None, events: Any = None,
                 position_table: str = DEFAULT_POSITION_TABLE, quality: Any = None,
                 ood: Any = None, event_provenance: Any = None) -> ReportModel:
    """Compute everything a sleep study report shows.

    Parameters
    ----------
    recording : Recording, path or None
        The recording (its header is all that is read). None for hypnograms alone (statistics
        exports): no patient, recording or montage fields.
    manual, auto : Hypnogram, optional
        The manual scoring and the automatic (SleepFM) staging. Statistics are computed on each
        as given (its own scored period); agreement on the epochs both cover.
    risk : RiskTable, optional
        Output of :func:`sleepfm_engine.inference.risk_recording` (see :func:`risk_rows`).
    provenance : Provenance, optional
        Where the automatic results came from (see :mod:`sleepfm_engine.provenance`); the
        engine version is printed without one.
    deidentify : bool
        Remove identifiers (see :mod:`sleepfm_engine.deidentify`).
    shift_days : int
        Shift every date by this many days.
    channel_map : ChannelMap, optional
        The montage as the user set it (default: classified automatically).
    lights_off, lights_on : float or datetime, optional
        Seconds from the recording start, or clock times. Statistics and transitions then count
        only the epochs between them (TIB = lights off to lights on); the figure marks them.
    pseudonym : str, optional
        Name of the subject when de-identified.
    title : str
    now : datetime, optional
        Generation time (default: now).
    events : EventSet, optional
        Scored events (manual, from a file, from a detector), onsets from the recording start
        (or from the set's own ``start``). By default the recording's own EDF+ event
        annotations; an empty set reports none. Their sections, and the SpO2 and heart-rate
        sections of the recording's level channels, are in :attr:`ReportModel.events`.
    position_table : str
        Registered position code table decoding the recording's position channel.
    quality : QualityReport, optional
        The recording's signal quality (default: :func:`sleepfm_engine.quality.assess_recording`
        on the montage shown).
    ood : OODResult, optional
        The automatic staging against its model's training data (``NightResult.ood``). By
        default the ``<name>.ood.json`` staged beside an automatic hypnogram file, if any.
        Ignored without ``auto``. Both fill :attr:`ReportModel.trust`, with the disease
        head's verdict that ``risk`` carries (``RiskTable.ood``).
    event_provenance : mapping, optional
        Detector name (or events file name) -> the :class:`Provenance` of the detector run
        that scored ``events`` (the application's ``Study.layer_provenance``). By default the
        record written beside the events file ``events`` was read from
        (:func:`sleepfm_engine.detection_provenance.read_events_provenance`), if any. A model
        detector's verdict on the night is printed beside its events' source and, when
        flagged or not checked, in :attr:`ReportModel.trust`.

    Returns
    -------
    ReportModel

    Raises
    ------
    TypeError
        If a hypnogram is not a :class:`Hypnogram`.
    """
    _check_hypnogram(manual, "manual")
    _check_hypnogram(auto, "auto")
    if recording is None:
        rec, opened = _HypnogramOnly(manual, auto), False
    else:
        rec, opened = _open(recording)
    try:
        deid = Deidentifier.from_recording(rec, enabled=bool(deidentify), shift_days=shift_days,
                                           pseudonym=pseudonym)
        # Hypnogram files and the folders holding them may be named after the patient too.
        sources = [Path(h.source) for h in (manual, auto)
                   if h is not None and h.source and Path(h.source).exists()]
        rec_path = getattr(rec, "path", None)
        folders = [p.resolve().parent for p in sources]
        if rec_path:
            folders.append(Path(rec_path).resolve().parent)
        # Absolute paths only: a bare folder name such as "data" must not scrub the word.
        deid = deid.extended(Deidentifier(paths=tuple(
            [str(p) for p in sources] + [str(p.resolve()) for p in sources]
            + [str(f) for f in folders if f.parent != f])))
        start = deid.date(getattr(rec, "start", None))
        duration = float(getattr(rec, "duration", 0.0))
        model = ReportModel(
            title=title, generated_at=(now or _dt.datetime.now()).replace(microsecond=0),
            deidentified=deid.enabled, shift_days=deid.shift_days,
            recording_name=deid.file_name(getattr(rec, "path", None)) or MISSING,
            patient=_patient_fields(rec, deid) if recording is not None else [],
            recording=_recording_fields(rec, deid, start, duration) if recording is not None else [],
            montage=_montage(rec, channel_map, deid) if recording is not None else [],
            recording_start=start, recording_duration=duration,
            provenance=[(k, deid.text(v)) for k, v in _provenance(provenance)])
        rec_start = getattr(rec, "start", None)
        off_clock = _clock(lights_off, rec_start)
        on_clock = _clock(lights_on, rec_start)
        if off_clock is not None and on_clock is not None and on_clock < off_clock:
            raise ValueError(f"lights on ({on_clock}) comes before lights off ({off_clock})")
        model.lights_off, model.lights_on = deid.date(off_clock), deid.date(on_clock)
        if model.recording and (off_clock is not None or on_clock is not None):
            model.recording[2:2] = [
                ("Lights off", MISSING if off_clock is None else f"{off_clock:%H:%M:%S}"),
                ("Lights on", MISSING if on_clock is None else f"{on_clock:%H:%M:%S}")]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for role, hyp in (("manual", manual), ("auto", auto)):
                if hyp is None:
                    continue
                if recording is not None:
                    # Never statistics over time the recording does not have.
                    hyp = fit_to_recording(hyp, rec)
                    manual, auto = (hyp, auto) if role == "manual" else (manual, hyp)
                shown = deid.hypnogram(hyp, automatic=role == "auto")
                model.hypnograms[role] = shown
                model.scorers[role] = shown.scorer or ("manual scorer" if role == "manual"
                                                       else "SleepFM")
                off = _in_frame(lights_off, hyp, rec_start)
                on = _in_frame(lights_on, hyp, rec_start)
                # Gaps of the recording are no recording time: never in TRT, SE or a stage.
                gaps = (None if recording is None else
                        no_data_epochs(rec.gaps, hyp.epoch_length, hyp.n_epochs,
                                       hypnogram_fit(hyp, rec).first_s))
                model.statistics[role] = hyp.statistics(lights_off=off, lights_on=on, no_data=gaps)
                model.transitions[role] = transition_matrix(hyp, off, on)
            if manual is not None and auto is not None:
                model.agreement = _agreement(rec if recording is not None else None, manual, auto)
            signals = (read_night_signals(rec, channel_map, position_table)
                       if recording is not None else None)
            if event_provenance is None:
                event_provenance = _events_file_records(events)
            if events is None and recording is not None:
                events = recording_events(rec)
            model.events = build_events_report(rec, events, model_hypnograms(manual, auto),
                                               signals, deid, event_provenance)
            if quality is None and recording is not None:
                from ..inference.inputs import saved_channel_map
                from ..quality import assess_recording

                quality = assess_recording(rec, channel_map if channel_map is not None
                                           else saved_channel_map(rec))
            if auto is not None and ood is None:
                ood = read_staged_ood(auto.source)
            model.trust = build_trust_section(quality, ood if auto is not None else None, deid,
                                              getattr(risk, "ood", None),
                                              model.events.fits if model.events is not None else ())
        for w in caught:
            message = deid.text(str(w.message))
            model.warnings.append(message)
            warnings.warn(message, w.category, stacklevel=2)
        if risk is not None:
            model.risk, model.risk_score_name = risk_rows(risk)
            model.risk_inputs = _risk_inputs(risk, deid)
        credit = None if model.events is None else result_source(model.events.events.sources, deid)
        if credit is not None:
            from .. import __version__

            with_events = (provenance or Provenance(__version__)).with_source("events", credit)
            model.provenance = [(k, deid.text(v)) for k, v in _provenance(with_events)]
        model.notes = _notes(model)
        return model
    finally:
        if opened:
            rec.close()


def _events_file_records(events: Any) -> dict[str, Provenance]:
    """The detector records written beside the file ``events`` was read from (its ``source``
    names it); empty when the events came from no file or no record lies beside it."""
    from ..detection_provenance import detector_records, read_events_provenance

    source = getattr(events, "source", None)
    if not source or not Path(str(source)).is_file():
        return {}
    return detector_records(read_events_provenance(source), source)


def model_hypnograms(manual: Hypnogram | None, auto: Hypnogram | None) -> dict[str, Hypnogram]:
    """Role -> hypnogram of those given (the events' denominators come from the first)."""
    return {r: h for r, h in (("manual", manual), ("auto", auto)) if h is not None}


def _risk_inputs(risk: Any, deid: Deidentifier) -> str:
    """One line on what the diagnosis head read: age, sex, model, hours of the night."""
    parts = []
    age = getattr(risk, "age", None)
    if isinstance(age, (int, float)) and np.isfinite(age):
        shown = f"{AGE_TOP_CODE}+" if deid.enabled and age >= AGE_TOP_CODE else f"{age:g}"
        parts.append(f"age {shown} years")
    sex = str(getattr(risk, "sex", "") or "")
    if sex:
        parts.append(f"sex {sex}")
    tokens = getattr(risk, "n_tokens_used", 0) or 0
    if tokens:
        from ..contract import TOKEN_SECONDS

        hours = tokens * TOKEN_SECONDS / 3600.0
        parts.append(f"{hours:.1f} h of the night read"
                     + (" (the night was longer: truncated)" if getattr(risk, "truncated", False)
                        else ""))
    model_id = str(getattr(risk, "model_id", "") or "")
    if model_id:
        chash = str(getattr(risk, "config_hash", "") or "")
        parts.append(f"model {model_id}" + (f" ({chash})" if chash else ""))
    return deid.text("; ".join(parts))


def _notes(model: ReportModel) -> list[str]:
    if model.lights_off is not None or model.lights_on is not None:
        period = ("Time in bed (TIB) runs from lights off to lights on (the whole hypnogram where "
                  "one of them is not given); epochs outside it are not counted.")
    else:
        period = ("No lights-off/lights-on markers were given: time in bed (TIB) is the whole "
                  "scored period of each hypnogram.")
    notes = [
        "Statistics follow the AASM Scoring Manual terms. " + period + " SE = 100 \u00d7 TST / TIB. "
        "WASO counts wake between sleep onset and the end of the last sleep epoch; wake after the "
        "final awakening is listed apart. Stage percentages are of TST.",
    ]
    if any(model.statistics[r]["unscored_min"] or model.statistics[r]["artefact_min"]
           for r in model.roles):
        notes.append("Unscored and artefact epochs count in TIB (lowering SE) but never as sleep "
                     "or as wake.")
    if "auto" in model.hypnograms:
        notes.append("Automatic staging by SleepFM must be reviewed by a qualified scorer before "
                     "clinical use.")
    if model.agreement:
        notes.append("Agreement compares the two hypnograms epoch by epoch on the manual scorer's "
                     "epochs; epochs unscored or artefact in either are left out.")
    if model.deidentified:
        notes.append("De-identified: patient name, identifiers, birth date, file name and free-text "
                     "fields removed"
                     + (f"; dates shifted by {model.shift_days:+d} days." if model.shift_days
                        else "; dates are not shifted."))
    elif model.shift_days:
        notes.append(f"Dates shifted by {model.shift_days:+d} days.")
    return notes
