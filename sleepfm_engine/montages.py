"""Montages: which rows a trace viewer shows, in which order, with which derivations and scales.

A :class:`Montage` is a named layout of rows by label — recorded channels and derivations
(``"F4-M1"``) alike — in display order, with rows kept but hidden and, optionally, a gain or a
sensitivity per row. :meth:`~sleepfm_engine.display_model.DisplayModel.apply_montage` lays a
recording out by it.

Built-in montages are built for the recording at hand from :data:`BUILTIN_MONTAGES` (a menu
derives from it): :func:`aasm_recommended` finds the AASM manual's recommended signals —
F4-M1, C4-M1, O2-M1 with the backups F3-M2, C3-M2, O1-M2, E1-M2 and E2-M2, chin EMG, ECG, the
leg EMGs, snoring, nasal pressure and oronasal thermal airflow, the thoracic and abdominal
belts, SpO2 and body position — derives the EEG and EOG derivations from referential
electrodes (against M1/M2 or A1/A2) when the recording does not hold them, and says what it
could not find. The user's montages are JSON files in the user data folder
(:class:`MontageStore`), written atomically and never replaced without being asked to.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from .atomic import write_text_atomic
from .channels import MODALITY_PREFIX, ChannelMap
from .detectors.roles import assign_roles
from .display import Derivation, electrode_name
from .errors import MontageError
from .sidecars import user_data_dir

__all__ = ["AASM_SLOTS", "AUTO", "BUILTIN_MONTAGES", "BuiltinMontage", "FORMAT", "Montage",
           "MontageRow", "MontageSlot", "MontageStore", "VERSION", "aasm_recommended",
           "read_montage", "write_montage"]

#: ``"format"`` of a montage file.
FORMAT = "sleepfm-montage"
#: Version of the montage file layout this engine writes.
VERSION = 1
#: A row's sensitivity that says "automatic scale" (not calibrated), as opposed to None
#: ("leave the row's scale as it is").
AUTO = "auto"
#: Subfolder of the user data folder holding the user's montages.
SUBDIR = "montages"
#: Suffix of a montage file.
SUFFIX = ".montage.json"


@dataclass(frozen=True)
class MontageRow:
    """One row of a montage.

    Attributes
    ----------
    label : str
        The row: a recording's channel label, or a derivation's label.
    hidden : bool
        Kept in the layout (its place in the order) but not drawn.
    gain : float or None
        Gain of the automatic scale; None leaves the row's gain as it is.
    sensitivity : float, ``"auto"`` or None
        Display units per mm (calibrated row), :data:`AUTO` for the automatic scale, None to
        leave the row's scale as it is.
    """

    label: str
    hidden: bool = False
    gain: float | None = None
    sensitivity: float | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError("a montage row needs a label")
        if self.gain is not None and not _positive(self.gain):
            raise ValueError(f"row {self.label!r}: gain {self.gain!r} is not a positive number")
        if self.sensitivity is not None and self.sensitivity != AUTO \
                and not _positive(self.sensitivity):
            raise ValueError(f"row {self.label!r}: sensitivity {self.sensitivity!r} is neither a "
                             f"positive number nor {AUTO!r}")

    def to_dict(self) -> dict:
        return {"label": self.label, "hidden": self.hidden, "gain": self.gain,
                "sensitivity": self.sensitivity}


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@dataclass(frozen=True)
class Montage:
    """A named layout of rows (see the module docstring).

    Attributes
    ----------
    name : str
    rows : tuple of MontageRow
        In display order, top first.
    derivations : tuple of Derivation
        Derived rows the montage needs, by the recording labels they subtract.
    """

    name: str
    rows: tuple[MontageRow, ...] = ()
    derivations: tuple[Derivation, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a montage needs a name")
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "derivations", tuple(self.derivations))
        labels = [r.label for r in self.rows]
        twice = sorted({lb for lb in labels if labels.count(lb) > 1})
        if twice:
            raise ValueError(f"montage {self.name!r} lists {', '.join(map(repr, twice))} twice")
        derived = [d.label for d in self.derivations]
        twice = sorted({lb for lb in derived if derived.count(lb) > 1})
        if twice:
            raise ValueError(f"montage {self.name!r} defines derivation "
                             f"{', '.join(map(repr, twice))} twice")

    @property
    def labels(self) -> list[str]:
        """Row labels, top first."""
        return [r.label for r in self.rows]

    @property
    def hidden(self) -> list[str]:
        """Labels of the hidden rows."""
        return [r.label for r in self.rows if r.hidden]

    def to_dict(self) -> dict:
        """The montage as JSON-able data (what a montage file holds)."""
        return {"format": FORMAT, "version": VERSION, "name": self.name,
                "derivations": [d.to_dict() for d in self.derivations],
                "rows": [r.to_dict() for r in self.rows]}

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike | None = None) -> "Montage":
        """The montage :meth:`to_dict` returned.

        Raises
        ------
        MontageError
            Naming ``path`` (when given) and the entry that is wrong.
        """
        if not isinstance(data, Mapping):
            raise MontageError(path, f"not a montage (a JSON object is expected, not "
                                     f"{type(data).__name__})")
        if data.get("format") != FORMAT:
            raise MontageError(path, f"not a montage (format is {data.get('format')!r}, "
                                     f"expected {FORMAT!r})")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
            raise MontageError(path, f"montage version {version!r} is not one this version "
                                     f"reads (up to {VERSION})")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise MontageError(path, "the montage has no name")
        derivations, rows = data.get("derivations", []), data.get("rows")
        if not isinstance(derivations, list):
            raise MontageError(path, "'derivations' must be a list")
        if not isinstance(rows, list):
            raise MontageError(path, "'rows' must be a list")
        try:
            ds = [_derivation(item, k) for k, item in enumerate(derivations)]
            rs = [_row(item, k) for k, item in enumerate(rows)]
            return cls(name, tuple(rs), tuple(ds))
        except ValueError as exc:
            raise MontageError(path, str(exc)) from None


def _derivation(item: Any, k: int) -> Derivation:
    if not isinstance(item, Mapping) or not all(isinstance(item.get(f), str)
                                                for f in ("plus", "minus", "label")):
        raise ValueError(f"derivation {k + 1}: expected plus, minus and label as text")
    return Derivation(item["plus"], item["minus"], item["label"])


def _row(item: Any, k: int) -> MontageRow:
    if not isinstance(item, Mapping) or not isinstance(item.get("label"), str):
        raise ValueError(f"row {k + 1}: expected an object with a label")
    hidden = item.get("hidden", False)
    if not isinstance(hidden, bool):
        raise ValueError(f"row {k + 1}: 'hidden' must be true or false")
    return MontageRow(item["label"], hidden, item.get("gain"), item.get("sensitivity"))


def write_montage(path: str | os.PathLike, montage: Montage) -> Path:
    """Write ``montage`` to ``path`` as JSON, atomically (replacing what is there)."""
    return write_text_atomic(Path(path), json.dumps(montage.to_dict(), indent=2,
                                                   ensure_ascii=False) + "\n")


def read_montage(path: str | os.PathLike) -> Montage:
    """The montage in a file :func:`write_montage` wrote.

    Raises
    ------
    MontageError
        If the file cannot be read or is not a montage; the message names it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MontageError(path, f"cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MontageError(path, f"not JSON ({exc})") from None
    return Montage.from_dict(data, path)


# --------------------------------------------------------------------------------------------
# The AASM recommended montage

class MontageSlot(NamedTuple):
    """One signal of a built-in montage and how a recording's channel is found for it.

    Attributes
    ----------
    name : str
        What the signal is ("F4-M1", "chin EMG"), for the sentences saying what is missing.
    pairs : tuple of (str, str)
        Electrode derivations that fill it, preferred first: a channel recording the pair
        (``"C4-M1"``, ``"EEG C4-A1"``), else one derived from the two referential electrodes.
    roles : tuple of str
        Event-detector roles (:data:`sleepfm_engine.detectors.roles.ROLES`) whose channel
        fills it when no pair does.
    required : bool
        Whether a recording without it is told so (an airflow channel of unnamed sensor is
        shown where there is one, but no recording lacks it).
    """

    name: str
    pairs: tuple[tuple[str, str], ...] = ()
    roles: tuple[str, ...] = ()
    required: bool = True


#: The AASM recommended signals in montage order, top to bottom.
AASM_SLOTS: tuple[MontageSlot, ...] = (
    MontageSlot("F4-M1", (("F4", "M1"),)),
    MontageSlot("C4-M1", (("C4", "M1"),)),
    MontageSlot("O2-M1", (("O2", "M1"),)),
    MontageSlot("F3-M2 (backup)", (("F3", "M2"),)),
    MontageSlot("C3-M2 (backup)", (("C3", "M2"),)),
    MontageSlot("O1-M2 (backup)", (("O1", "M2"),)),
    MontageSlot("E1-M2", (("E1", "M2"),)),
    MontageSlot("E2-M2", (("E2", "M2"), ("E2", "M1"))),
    MontageSlot("chin EMG", (("Chin1", "Chin2"), ("Chin1", "ChinZ"), ("Chin2", "ChinZ")),
                ("emg",)),
    MontageSlot("ECG", (), ("ecg",)),
    MontageSlot("left leg EMG", (), ("leg_l",)),
    MontageSlot("right leg EMG", (), ("leg_r",)),
    MontageSlot("snoring", (), ("snore",)),
    MontageSlot("nasal pressure", (), ("flow_pressure",)),
    MontageSlot("oronasal thermal airflow", (), ("flow_thermistor",)),
    MontageSlot("airflow of an unnamed sensor", (), ("flow",), required=False),
    MontageSlot("thoracic effort", (), ("thorax",)),
    MontageSlot("abdominal effort", (), ("abdomen",)),
    MontageSlot("SpO2", (), ("spo2",)),
    MontageSlot("body position", (), ("position",)),
)

# Mastoid and earlobe references are the same site for a montage (M1/A1, M2/A2).
_CANONICAL = {"A1": "M1", "A2": "M2"}
_PAIR_SPLIT = re.compile(r"[\s\-:/]+")


def _canonical(electrode: str) -> str:
    up = electrode.upper()
    return _CANONICAL.get(up, up)


def _pair_of(label: str) -> tuple[str, str] | None:
    """The two electrodes a bipolar channel records (``"EEG C4-A1"`` -> ``("C4", "M1")``)."""
    text = MODALITY_PREFIX.sub("", label.strip())
    parts = [p for p in _PAIR_SPLIT.split(text) if p]
    if len(parts) != 2:
        return None
    names = [electrode_name(p) for p in parts]
    if names[0] is None or names[1] is None:
        return None
    return _canonical(names[0]), _canonical(names[1])


def aasm_recommended(rec: Any, channel_map: ChannelMap | None = None
                     ) -> tuple[Montage, list[str]]:
    """The AASM recommended montage of what ``rec`` holds, and what it could not find.

    Parameters
    ----------
    rec : Recording
        Its channels (label, original label, transducer, rate, unit) are looked at.
    channel_map : ChannelMap, optional
        The recording's modalities (with the user's reassignments), used to find the sensors;
        built automatically when omitted.

    Returns
    -------
    (Montage, list of str)
        The montage named "AASM recommended", rows in :data:`AASM_SLOTS` order (each a
        recording channel or a derivation it defines, e.g. ``"F4-M1"`` from ``F4`` and ``M1``,
        named with the reference the file uses: ``"F4-A1"`` from ``F4`` and ``A1``), no
        scales (the rows keep theirs); and one sentence per signal not found.
    """
    channels = list(rec.channels)
    recorded: dict[tuple[str, str], str] = {}
    electrodes: dict[str, Any] = {}
    for c in channels:
        name = c.original_label or c.label
        pair = _pair_of(c.label) or _pair_of(name)
        if pair is not None:
            recorded.setdefault(pair, c.label)
            continue
        single = electrode_name(c.label)
        if single is not None:
            electrodes.setdefault(_canonical(single), c)
    labels = {c.label for c in channels}
    roles = assign_roles(rec, channel_map)
    # Channels taken by a slot are not offered to a later one.
    taken: set[str] = set()
    rows: list[MontageRow] = []
    derivations: list[Derivation] = []
    missing: list[str] = []
    for slot in AASM_SLOTS:
        label = _fill_from_pairs(slot, recorded, electrodes, labels, taken, derivations)
        if label is None:
            label = next((lb for r in slot.roles for lb in roles.get(r, ()) if lb not in taken),
                         None)
        if label is None:
            if slot.required:
                missing.append(_missing_sentence(slot))
            continue
        taken.add(label)
        rows.append(MontageRow(label))
    return Montage("AASM recommended", tuple(rows), tuple(derivations)), missing


def _fill_from_pairs(slot: MontageSlot, recorded: Mapping[tuple[str, str], str],
                     electrodes: Mapping[str, Any], labels: set[str], taken: set[str],
                     derivations: list[Derivation]) -> str | None:
    """The row filling ``slot`` from a recorded pair or a new derivation, or None."""
    for plus, minus in slot.pairs:
        label = recorded.get((_canonical(plus), _canonical(minus)))
        if label is not None and label not in taken:
            return label
    for plus, minus in slot.pairs:
        p, m = electrodes.get(_canonical(plus)), electrodes.get(_canonical(minus))
        if p is None or m is None or abs(p.rate - m.rate) > 1e-9 or p.unit != m.unit:
            continue
        # Named with the reference the file spells (A1 stays A1), as suggest_derivations does.
        shown_minus = electrode_name(m.label) or minus
        label = f"{plus}-{shown_minus}"
        if label in taken or label in labels:
            continue
        derivations.append(Derivation(p.label, m.label, label))
        return label
    return None


def _missing_sentence(slot: MontageSlot) -> str:
    if slot.pairs:
        plus, minus = slot.pairs[0]
        alias = {"M1": " (or A1)", "M2": " (or A2)"}.get(minus, "")
        return (f"no {slot.name}: the recording has no {plus}-{minus} channel, nor {plus} and "
                f"{minus}{alias} recorded at one rate to derive it from"
                + ("" if not slot.roles else ", nor another channel recognised as one"))
    return f"no {slot.name}: no channel was recognised as one"


class BuiltinMontage(NamedTuple):
    """A montage built for each recording (see :data:`BUILTIN_MONTAGES`).

    Attributes
    ----------
    name : str
        Menu text.
    description : str
        What it shows (a tooltip).
    build : callable
        ``build(rec, channel_map) -> (Montage, list of sentences saying what is missing)``.
    """

    name: str
    description: str
    build: Callable[[Any, ChannelMap | None], tuple[Montage, list[str]]]


#: Built-in montages by name; a menu lists them in this order.
BUILTIN_MONTAGES: dict[str, BuiltinMontage] = {m.name: m for m in (
    BuiltinMontage("AASM recommended",
                   "F4-M1, C4-M1, O2-M1 (backups F3-M2, C3-M2, O1-M2), E1-M2, E2-M2, chin EMG, "
                   "ECG, leg EMGs, snoring, nasal pressure, thermal airflow, belts, SpO2, "
                   "position; derivations made from referential electrodes",
                   aasm_recommended),
)}


# --------------------------------------------------------------------------------------------
# The user's montages

def _file_stem(name: str) -> str:
    """A file name for a montage name: its letters and digits, lower case, dashes between."""
    stem = re.sub(r"[^0-9a-z]+", "-", name.casefold()).strip("-")
    return stem[:80] or "montage"


class MontageStore:
    """The user's montages: one JSON file each in a folder.

    Parameters
    ----------
    folder : path, optional
        Where the files are (default ``<user data>/montages``, see
        :func:`sleepfm_engine.sidecars.user_data_dir`).
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else user_data_dir() / SUBDIR

    def path_for(self, name: str) -> Path:
        """The file a montage called ``name`` is kept in."""
        return self.folder / f"{_file_stem(name)}{SUFFIX}"

    def scan(self) -> tuple[list[Montage], list[MontageError]]:
        """Every montage saved, by name, and one error per file that cannot be read."""
        montages: list[Montage] = []
        problems: list[MontageError] = []
        if not self.folder.is_dir():
            return montages, problems
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            try:
                montages.append(read_montage(path))
            except MontageError as exc:
                problems.append(exc)
        montages.sort(key=lambda m: m.name.casefold())
        return montages, problems

    def names(self) -> list[str]:
        """Names of the readable montages."""
        return [m.name for m in self.scan()[0]]

    def exists(self, name: str) -> bool:
        """Whether saving ``name`` would replace a file (its own, or one of the same file name)."""
        return self.path_for(name).exists()

    def load(self, name: str) -> Montage:
        """The montage called ``name``.

        Raises
        ------
        MontageError
            If there is none, or its file cannot be read.
        """
        path = self.path_for(name)
        if not path.exists():
            raise MontageError(path, f"no montage called {name!r} is saved")
        montage = read_montage(path)
        if montage.name != name:
            raise MontageError(path, f"holds montage {montage.name!r}, not {name!r}")
        return montage

    def save(self, montage: Montage, *, overwrite: bool = False) -> Path:
        """Keep ``montage`` under its name, atomically.

        Raises
        ------
        MontageError
            If a montage file of that name exists and ``overwrite`` is False (the caller asks
            the user first), or it cannot be written.
        """
        path = self.path_for(montage.name)
        if path.exists() and not overwrite:
            try:
                other = read_montage(path).name
            except MontageError:
                other = None
            what = (f"montage {other!r} is already saved there" if other is not None
                    else "a file that is not a readable montage is there")
            raise MontageError(path, f"not saved: {what}; replace it or choose another name")
        try:
            return write_montage(path, montage)
        except OSError as exc:
            raise MontageError(path, f"cannot be written ({exc})") from None

    def delete(self, name: str) -> None:
        """Remove the montage called ``name``.

        Raises
        ------
        MontageError
            If none is saved under that name.
        """
        path = self.path_for(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise MontageError(path, f"no montage called {name!r} is saved") from None
        except OSError as exc:
            raise MontageError(path, f"cannot be removed ({exc})") from None
