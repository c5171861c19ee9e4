"""A training cohort: recordings in a folder, their labels, and a subject-level split.

A cohort folder holds recordings (EDF/EDF+/BDF) and, for supervised tasks, label files matched
by file name: ``night1.edf`` takes ``night1.hypnogram.csv``, ``night1.xml``, ``night1-nsrr.xml``,
``Hypnogram_night1.txt``... (any format :func:`sleepfm_engine.read_hypnogram` reads); an EDF+
without such a file may carry its own stage annotations. Disease labels come from
``is_event.csv`` and ``time_to_event.csv`` (``Study ID`` + one column per phecode) and
demographics from ``demographics.csv`` (``Study ID,age,gender``); the study ID is the
recording's file stem.

Everything found and everything skipped is listed with the reason, so a user sees why a night
did not take part.
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..atomic import write_text_atomic
from ..contract import CHUNK_SECONDS, MODALITIES, TOKEN_SECONDS
from ..errors import HypnogramError, RecordingError
from ..jobs import TaskState
from ..training_tasks import TrainingTask, get_task

#: Side files of a cohort folder that are never label files of a recording.
DEMOGRAPHICS_FILE = "demographics.csv"
EVENTS_FILE = "is_event.csv"
TIMES_FILE = "time_to_event.csv"
SUBJECTS_FILE = "subjects.csv"
_SIDE_FILES = {DEMOGRAPHICS_FILE, EVENTS_FILE, TIMES_FILE, SUBJECTS_FILE, "split.json",
               "cohort.json", "channel_map.json"}
_SEPARATORS = ".-_ "
#: Words that make a candidate label file preferred over another for the same recording.
_PREFERRED = ("hypnogram", "stage", "staging", "nsrr", "profusion", "scoring")
#: Small counts as words, for skip reasons ("only one modality").
_WORDS = ("no", "one", "two", "three", "four", "five")
#: Default subject-level split fractions (train, validation, test).
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


@dataclass
class CohortRecord:
    """One usable recording.

    Attributes
    ----------
    id : str
        Study ID: the file stem (the path relative to the cohort folder when stems repeat).
    recording : Path
    labels : Path or None
        The label file (the recording itself for an EDF+ with stage annotations).
    events : Path or None
        The scored-events file, for tasks whose labels are events (the recording itself for an
        EDF+ with event annotations).
    subject : str
        Who was recorded (EDF patient code, ``subjects.csv``, or the study ID).
    modalities : dict
        Modality → channel labels used (capped as the released base model is).
    duration_s : float
    n_chunks : int
        Whole 5-min chunks (the trailing part is not used, as in the reference).
    note : str
        Anything worth knowing (e.g. other candidate label files).
    """

    id: str
    recording: Path
    labels: Path | None
    subject: str
    modalities: dict[str, list[str]]
    duration_s: float
    n_chunks: int
    note: str = ""
    events: Path | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "recording": str(self.recording),
                "labels": None if self.labels is None else str(self.labels),
                "events": None if self.events is None else str(self.events),
                "subject": self.subject, "modalities": self.modalities,
                "duration_s": self.duration_s, "n_chunks": self.n_chunks, "note": self.note}


@dataclass
class Skipped:
    """A file that does not take part, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict:
        return {"path": str(self.path), "reason": self.reason}


@dataclass
class SurvivalLabels:
    """Disease labels: event indicator and time to event or censoring, per study and phecode."""

    phecodes: list[str]
    is_event: dict[str, np.ndarray]
    time_to_event: dict[str, np.ndarray]


@dataclass
class Cohort:
    """Recordings of a cohort folder, what was skipped and the side tables.

    Attributes
    ----------
    root : Path
    task : str
    records : list of CohortRecord
    skipped : list of Skipped
    demographics : dict or None
        Study ID → (age in years, sex 1 = male / 0 = female).
    survival : SurvivalLabels or None
    channel_overrides : dict or None
        ``{label: modality}`` applied to every recording.
    """

    root: Path
    task: str
    records: list[CohortRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    demographics: dict[str, tuple[float, int]] | None = None
    survival: SurvivalLabels | None = None
    channel_overrides: dict[str, str] | None = None

    def by_id(self, study_id: str) -> CohortRecord:
        for r in self.records:
            if r.id == study_id:
                return r
        raise KeyError(study_id)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def modality_counts(self) -> dict[str, int]:
        """How many recordings have each modality."""
        return {m: sum(1 for r in self.records if r.modalities.get(m)) for m in MODALITIES}

    def to_dict(self) -> dict:
        return {
            "root": str(self.root), "task": self.task,
            "n_records": len(self.records), "n_skipped": len(self.skipped),
            "n_subjects": len({r.subject for r in self.records}),
            "hours": round(sum(r.duration_s for r in self.records) / 3600.0, 3),
            "modality_counts": self.modality_counts(),
            "phecodes": None if self.survival is None else self.survival.phecodes,
            "has_demographics": self.demographics is not None,
            "channel_overrides": self.channel_overrides,
            "records": [r.to_dict() for r in self.records],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    def summary(self) -> dict:
        """The data summary saved in model metadata (no per-file listing)."""
        d = self.to_dict()
        d.pop("records")
        d.pop("skipped")
        return d

    def write_listing(self, path: str | Path) -> Path:
        """Write the found/skipped listing as JSON, atomically."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def describe(self) -> str:
        """A few lines for a terminal."""
        lines = [f"{len(self.records)} recordings usable for {self.task} "
                 f"({self.to_dict()['hours']:.1f} h, {len({r.subject for r in self.records})} subjects); "
                 f"{len(self.skipped)} skipped"]
        counts = self.modality_counts()
        lines.append("modalities: " + ", ".join(f"{m} {counts[m]}" for m in MODALITIES))
        for s in self.skipped[:20]:
            lines.append(f"  skipped {s.path.name}: {s.reason}")
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more (see the cohort listing)")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ label matching
def _is_label_name(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in ("hypnogram", "annotation", "nsrr", "profusion", "scoring"))


def label_candidates(recording: Path, folders: Iterable[Path]) -> list[Path]:
    """Files that may hold the labels of ``recording``, best first.

    A candidate's name is the recording's stem followed by a separator (``.-_`` or space) or a
    label suffix, or ``Hypnogram_<stem>``. Names holding "hypnogram", "stage", "nsrr"... come
    first, then shorter names.
    """
    from ..formats import hypnogram_suffixes
    from ..formats.discover import AUTOMATIC_HYPNOGRAM_SUFFIX
    from ..recording import RECORDING_SUFFIXES

    stem = recording.stem.lower()
    label_suffixes = hypnogram_suffixes()  # every readable format's, from the format registry
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if not p.is_file() or p.resolve() == recording.resolve():
                continue
            name = p.name.lower()
            if (name in _SIDE_FILES or not name.endswith(label_suffixes)
                    or name.endswith(AUTOMATIC_HYPNOGRAM_SUFFIX)):  # a model's, not labels
                continue
            bare = name[: -len(p.suffix)] if p.suffix else name
            ok = (bare == stem or (name.startswith(stem) and len(name) > len(stem)
                                   and name[len(stem)] in _SEPARATORS)
                  or bare in (f"hypnogram_{stem}", f"hypnogram-{stem}"))
            if ok and (p.suffix.lower() not in RECORDING_SUFFIXES or _is_label_name(name)):
                found.append(p)

    def rank(p: Path) -> tuple:
        low = p.name.lower()
        return (0 if any(w in low for w in _PREFERRED) else 1, len(p.name), p.name)

    return sorted(dict.fromkeys(found), key=rank)


def _recording_files(root: Path) -> list[Path]:
    from ..recording import iter_recordings

    # An EDF named like a hypnogram holds annotations only: it is a label file, not a night.
    return [p for p in iter_recordings([root]) if not _is_label_name(p.name)
            and not any(part.startswith(".") for part in p.relative_to(root).parts)]


# ----------------------------------------------------------------------------------- side files
def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    header = [c.strip() for c in rows[0]]
    return header, [[c.strip() for c in r] for r in rows[1:]]


def _id_column(header: list[str], path: Path) -> int:
    for i, h in enumerate(header):
        if h.lower().replace("_", " ") in ("study id", "studyid", "id", "subject id"):
            return i
    raise ValueError(f"{path}: no 'Study ID' column (header: {', '.join(header)})")


_SEX = {"m": 1, "male": 1, "1": 1, "man": 1, "f": 0, "female": 0, "0": 0, "woman": 0, "w": 0}


def read_demographics(path: str | Path) -> dict[str, tuple[float, int]]:
    """Read ``Study ID,age,gender`` (gender M/F, male/female or 1/0; 1 = male).

    Raises
    ------
    ValueError
        Naming the file and line of a missing column, a bad age or an unknown sex.
    """
    path = Path(path)
    header, rows = _read_csv(path)
    low = [h.lower() for h in header]
    i_id = _id_column(header, path)
    try:
        i_age = low.index("age")
    except ValueError:
        raise ValueError(f"{path}: no 'age' column") from None
    i_sex = next((low.index(k) for k in ("gender", "sex") if k in low), None)
    if i_sex is None:
        raise ValueError(f"{path}: no 'gender' (or 'sex') column")
    out: dict[str, tuple[float, int]] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) <= max(i_id, i_age, i_sex):
            raise ValueError(f"{path}, line {line}: too few columns")
        try:
            age = float(row[i_age])
        except ValueError:
            raise ValueError(f"{path}, line {line}: age {row[i_age]!r} is not a number") from None
        sex = _SEX.get(row[i_sex].strip().lower())
        if sex is None:
            raise ValueError(f"{path}, line {line}: gender {row[i_sex]!r} is not M/F, male/female or 1/0")
        if not math.isfinite(age):
            raise ValueError(f"{path}, line {line}: age is not finite")
        out[row[i_id]] = (age, sex)
    return out


def _read_matrix(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    header, rows = _read_csv(path)
    i_id = _id_column(header, path)
    cols = [h for i, h in enumerate(header) if i != i_id]
    if not cols:
        raise ValueError(f"{path}: no label columns beside 'Study ID'")
    out: dict[str, np.ndarray] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} cells, header has {len(header)}")
        vals = [c for i, c in enumerate(row) if i != i_id]
        try:
            out[row[i_id]] = np.array([float(v) if v != "" else np.nan for v in vals], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{path}, line {line}: {exc}") from None
    return cols, out


def read_survival(events: str | Path, times: str | Path) -> SurvivalLabels:
    """Read ``is_event.csv`` and ``time_to_event.csv`` (same phecode columns, in any row order).

    Raises
    ------
    ValueError
        When the columns differ, an event flag is not 0/1, or a time is negative.
    """
    events, times = Path(events), Path(times)
    codes_e, ev = _read_matrix(events)
    codes_t, tt = _read_matrix(times)
    if codes_e != codes_t:
        raise ValueError(f"{events} and {times} must have the same phecode columns in the same order")
    for sid, row in ev.items():
        finite = row[np.isfinite(row)]
        if not np.all(np.isin(finite, (0.0, 1.0))):
            raise ValueError(f"{events}: study {sid!r} has event flags other than 0/1")
    for sid, row in tt.items():
        if np.any(row[np.isfinite(row)] < 0):
            raise ValueError(f"{times}: study {sid!r} has a negative time")
    return SurvivalLabels(codes_e, ev, tt)


def read_subjects(path: str | Path) -> dict[str, str]:
    """Read ``Study ID,subject`` (several nights of one person share the subject)."""
    path = Path(path)
    header, rows = _read_csv(path)
    i_id = _id_column(header, path)
    low = [h.lower() for h in header]
    i_sub = next((i for i, h in enumerate(low) if i != i_id and ("subject" in h or h == "patient")), None)
    if i_sub is None:
        raise ValueError(f"{path}: no 'subject' column")
    return {row[i_id]: row[i_sub] for row in rows if len(row) > max(i_id, i_sub)}


# ----------------------------------------------------------------------------------- discovery
def _modalities(rec, overrides: Mapping[str, str] | None) -> dict[str, list[str]]:
    from ..channels import ChannelMap

    cmap = ChannelMap.from_recording(rec)
    for label, modality in (overrides or {}).items():
        if label in cmap:
            cmap.override(label, modality)
    return {m: cmap.channels_for(m, cap=True) for m in MODALITIES if cmap.channels_for(m)}


def _check_stage_labels(path: Path, rec) -> str | None:
    """Read a label file; return why it cannot be used, or None."""
    from ..formats import read_hypnogram

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hyp = read_hypnogram(path)
            aligned = hyp.align_to(rec)
    except (HypnogramError, ValueError, OSError) as exc:
        return f"labels unreadable ({exc})"
    if not np.any(aligned.stages >= 0):
        return f"labels {path.name} hold no scored epoch over the recording"
    return None


def discover_cohort(data_dir: str | Path, task: str = "staging", *,
                    channel_overrides: Mapping[str, str] | str | Path | None = None,
                    labels_dir: str | Path | None = None,
                    demographics: str | Path | None = None,
                    events: str | Path | None = None, times: str | Path | None = None,
                    subjects: str | Path | None = None,
                    state: TaskState | None = None) -> Cohort:
    """Find the recordings of a cohort folder that can take part in ``task``.

    Parameters
    ----------
    data_dir : path
        The cohort folder (searched recursively; hidden folders skipped).
    task : str
        A registered training task (:mod:`sleepfm_engine.training_tasks`); its ``labels`` and
        ``min_modalities`` say what a recording needs: staging a hypnogram per recording,
        events a hypnogram and a scored-events file (any format
        :func:`sleepfm_engine.formats.read_events` reads, matched by name, else the
        recording's own event annotations), diagnosis survival labels (and demographics when
        given), pretraining at least two modalities.
    channel_overrides : mapping or JSON path, optional
        ``{label: modality}`` applied to every recording that has the label.
    labels_dir : path, optional
        Another folder to look for label files in (by the same name rules).
    demographics, events, times, subjects : path, optional
        Side tables; default to ``demographics.csv``, ``is_event.csv``, ``time_to_event.csv``
        and ``subjects.csv`` in ``data_dir`` when present.
    state : TaskState, optional
        Progress per file; cancellation between files.

    Returns
    -------
    Cohort

    Raises
    ------
    ValueError
        If the folder does not exist, the task is unknown, a side table is malformed or a
        diagnosis cohort has no survival labels.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ValueError(f"{root}: no such cohort folder")
    spec = get_task(task)
    overrides = _load_overrides(channel_overrides)
    side = {name: (Path(given) if given else (root / default if (root / default).is_file() else None))
            for name, given, default in (("demographics", demographics, DEMOGRAPHICS_FILE),
                                         ("events", events, EVENTS_FILE), ("times", times, TIMES_FILE),
                                         ("subjects", subjects, SUBJECTS_FILE))}
    cohort = Cohort(root=root.resolve(), task=spec.name, channel_overrides=overrides or None)
    if side["demographics"] is not None:
        cohort.demographics = read_demographics(side["demographics"])
    if spec.labels == "survival":
        if side["events"] is None or side["times"] is None:
            raise ValueError(f"{root}: a {spec.name} cohort needs {EVENTS_FILE} and {TIMES_FILE} "
                             "(Study ID + one column per phecode)")
        cohort.survival = read_survival(side["events"], side["times"])
    subject_table = read_subjects(side["subjects"]) if side["subjects"] is not None else {}

    files = _recording_files(root)
    stems = [p.stem for p in files]
    codes: dict[Path, str] = {}
    for i, path in enumerate(files):
        if state is not None:
            state.check_cancelled()
            state.set_status(f"reading {path.name}")
            state.set_progress(i / max(1, len(files)))
        study_id = path.stem if stems.count(path.stem) == 1 else \
            path.relative_to(root).with_suffix("").as_posix()
        record, reason, code = _examine(path, study_id, spec, cohort, overrides, labels_dir, root)
        if record is None:
            cohort.skipped.append(Skipped(path, reason))
        else:
            cohort.records.append(record)
            codes[path] = code
    _assign_subjects(cohort, codes, subject_table)
    if spec.labels == "survival" and not cohort.records:
        warnings.warn(f"{root}: no recording matched a Study ID of the survival labels", stacklevel=2)
    if state is not None:
        state.set_progress(1.0)
    return cohort


def _load_overrides(channel_overrides) -> dict[str, str]:
    if channel_overrides is None:
        return {}
    if isinstance(channel_overrides, (str, Path)):
        from ..channels import read_overrides

        return dict(read_overrides(channel_overrides))
    return dict(channel_overrides)


def _examine(path: Path, study_id: str, spec: TrainingTask, cohort: Cohort, overrides, labels_dir, root):
    from ..recording import open_recording

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = open_recording(path)
    except RecordingError as exc:
        return None, f"unreadable ({exc.problem})", ""
    with rec:
        if rec.duration < CHUNK_SECONDS:
            return None, (f"shorter than one {CHUNK_SECONDS // 60}-min chunk "
                          f"({rec.duration:.0f} s)"), ""
        mods = _modalities(rec, overrides)
        if not mods:
            return None, "no usable modality (no channel maps to BAS, RESP, EKG or EMG)", ""
        if len(mods) < spec.min_modalities:
            return None, (f"only {_WORDS[len(mods)]} modalit{'y' if len(mods) == 1 else 'ies'} "
                          f"({', '.join(mods)}); {spec.name} needs at least "
                          f"{_WORDS[spec.min_modalities]}"), ""
        labels, note, events = None, "", None
        # Events are learnt in sleep only: an events cohort needs the hypnogram too.
        if spec.labels in ("hypnogram", "events"):
            folders = [path.parent] + ([Path(labels_dir)] if labels_dir else [])
            cands = label_candidates(path, folders)
            if not cands and any("sleep stage" in a.description.lower() for a in rec.annotations[:5000]):
                cands = [path]
            if not cands:
                return None, "no labels (no hypnogram file matched by name)", ""
            labels = cands[0]
            problem = _check_stage_labels(labels, rec)
            if problem:
                return None, problem, ""
            if len(cands) > 1:
                note = "other label files not used: " + ", ".join(c.name for c in cands[1:])
        if spec.labels == "events":
            from .event_labels import find_events_file

            events, problem = find_events_file(path, [path.parent] + ([Path(labels_dir)] if labels_dir else []),
                                               rec)
            if events is None:
                return None, problem, ""
            # The events file chosen is not a hypnogram left unused.
            unused = [c for c in cands[1:] if c != events]
            note = ("other label files not used: " + ", ".join(c.name for c in unused)) if unused else ""
        if spec.labels == "survival":
            surv = cohort.survival
            if study_id not in surv.is_event or study_id not in surv.time_to_event:
                return None, f"no survival labels (Study ID {study_id!r} not in the event tables)", ""
            if cohort.demographics is not None and study_id not in cohort.demographics:
                return None, f"no demographics (Study ID {study_id!r} not in the demographics table)", ""
        code = str(rec.patient.get("code", "") or "").strip()
        record = CohortRecord(study_id, path, labels, study_id, mods, float(rec.duration),
                              int(rec.duration // CHUNK_SECONDS), note, events)
        return record, "", code


def _assign_subjects(cohort: Cohort, codes: dict[Path, str], table: Mapping[str, str]) -> None:
    """Subject of each record: subjects.csv, else an informative EDF patient code, else the ID."""
    usable = [c for c in codes.values() if c and c.lower() not in ("x", "unknown", "anonymous", "0")]
    # Anonymised files often share one code: then it says nothing about who was recorded.
    shared = len(cohort.records) >= 4 and usable and \
        max(usable.count(c) for c in set(usable)) > len(cohort.records) / 2
    for r in cohort.records:
        code = codes.get(r.recording, "")
        if r.id in table:
            r.subject = table[r.id]
        elif code and code in usable and not shared:
            r.subject = code
        else:
            r.subject = r.id


# --------------------------------------------------------------------------------------- split
def make_split(cohort: Cohort, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
               seed: int = 0) -> dict:
    """A seeded subject-level train/validation/test split (all nights of a subject together).

    Parameters
    ----------
    cohort : Cohort
    fractions : (train, validation, test)
        Non-negative, summing to 1. A non-zero share gets at least one subject when there are
        enough subjects (three or more).
    seed : int

    Returns
    -------
    dict
        ``{"seed", "fractions", "train", "validation", "test", "subjects"}``; the three lists
        hold study IDs; ``subjects`` maps each study ID to its subject.
    """
    f = [float(x) for x in fractions]
    if len(f) != 3 or any(x < 0 or not math.isfinite(x) for x in f) or abs(sum(f) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    subjects = sorted({r.subject for r in cohort.records})
    rng = np.random.default_rng(seed)
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    n = len(order)
    n_test = int(round(f[2] * n))
    n_val = int(round(f[1] * n))
    if n >= 3:
        n_test = max(n_test, 1 if f[2] > 0 else 0)
        n_val = max(n_val, 1 if f[1] > 0 else 0)
    n_test = min(n_test, n)
    n_val = min(n_val, n - n_test)
    test_s, val_s = set(order[:n_test]), set(order[n_test:n_test + n_val])
    split: dict[str, Any] = {"seed": int(seed), "fractions": f, "train": [], "validation": [],
                             "test": [], "subjects": {}}
    for r in cohort.records:
        part = "test" if r.subject in test_s else "validation" if r.subject in val_s else "train"
        split[part].append(r.id)
        split["subjects"][r.id] = r.subject
    return split


def write_split(split: Mapping, path: str | Path) -> Path:
    """Save a split as JSON, atomically."""
    return write_text_atomic(path, json.dumps(split, indent=2) + "\n")


def load_split(path: str | Path, cohort: Cohort) -> dict:
    """Read a split JSON (this format, or the reference's lists of file paths).

    Entries are matched to study IDs by ID or by file stem. Entries the cohort lacks are
    dropped with a warning; a subject in two parts is an error (it would leak).

    Raises
    ------
    ValueError
        If the file is not a JSON object with a ``train`` list, or a subject spans two parts.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the split ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("train"), list):
        raise ValueError(f"{path}: a split is a JSON object with 'train', 'validation' and 'test' lists")
    ids = set(cohort.ids)
    by_stem = {Path(i).name: i for i in ids}
    out: dict[str, Any] = {"seed": data.get("seed"), "fractions": data.get("fractions"),
                           "train": [], "validation": [], "test": [], "subjects": {}, "source": str(path)}
    missing = []
    for part, alias in (("train", "train"), ("validation", "val"), ("test", "test")):
        for entry in data.get(part, data.get(alias, [])) or []:
            key = str(entry)
            sid = key if key in ids else by_stem.get(Path(key).stem) or by_stem.get(Path(key).name)
            if sid is None:
                missing.append(key)
            else:
                out[part].append(sid)
    if missing:
        warnings.warn(f"{path}: {len(missing)} split entries are not in the cohort and were dropped "
                      f"(e.g. {missing[0]!r})", stacklevel=2)
    subj = {r.id: r.subject for r in cohort.records}
    seen: dict[str, str] = {}
    for part in ("train", "validation", "test"):
        for sid in out[part]:
            s = subj[sid]
            if seen.setdefault(s, part) != part:
                raise ValueError(f"{path}: subject {s!r} is in both {seen[s]} and {part}; "
                                 "a subject-level split keeps a subject's nights together")
            out["subjects"][sid] = s
    return out


# ------------------------------------------------------------------------------------- labels
def token_labels(label_path: str | Path, recording, n_tokens: int) -> np.ndarray:
    """Stage code of each 5-s token from the recording start (-1 where unscored or artefact).

    The hypnogram is placed on the recording's time line (start times, offsets) and each token
    takes the stage covering most of it. Artefact/movement epochs become -1: they are left
    out of the loss and the metrics, never trained as Wake. Tokens that touch a gap of the
    recording (no data, see :func:`sleepfm_engine.preprocessing.no_data_windows`) are -1 too,
    whatever the hypnogram says: their samples were filled in, so they are neither a stage
    nor a negative for any target.
    """
    from ..formats import read_hypnogram
    from ..preprocessing import no_data_windows

    hyp = read_hypnogram(label_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aligned = hyp.align_to(recording)
    tokens = aligned.regrid(float(TOKEN_SECONDS), 0.0, int(n_tokens)).stages.astype(np.int8)
    tokens[tokens < 0] = -1
    tokens[no_data_windows(recording.gaps, float(TOKEN_SECONDS), len(tokens))] = -1
    return tokens

