"""Body position: vendor code tables and decoding of a position channel.

A PSG's position channel holds small integer codes whose meaning depends on the system that
recorded it. A :class:`PositionTable` maps those codes to the positions of :data:`POSITIONS`;
tables live in a registry (:func:`position_table`, :func:`register_position_table`) so that a
clinic can add or override one, and :func:`table_from_labels` builds one from the labels a
file lists in code order (Compumedics Profusion's ``StepChannel`` ``Labels``). Decoding never
guesses: a value no table entry matches is :data:`UNKNOWN_POSITION`, and counts as such.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

#: Body positions, in code order (code = index).
POSITIONS: tuple[str, ...] = ("supine", "left", "right", "prone", "upright")
#: Code of a sample whose position is unknown (no table entry, NaN, off-code value).
UNKNOWN_POSITION: int = -1
#: Name of each code, unknown included.
POSITION_CODES: Mapping[str, int] = MappingProxyType(
    {**{p: i for i, p in enumerate(POSITIONS)}, "unknown": UNKNOWN_POSITION})
#: Positions that count as "non-supine" for positional indices: every known position but supine.
NON_SUPINE: tuple[str, ...] = ("left", "right", "prone", "upright")


@dataclass(frozen=True)
class PositionTable:
    """How one system codes body position.

    Parameters
    ----------
    name : str
        Registry key (``"nsrr"``).
    codes : Mapping[int, str]
        Raw channel value -> position name (one of :data:`POSITIONS`, or ``"unknown"``).
    description : str
        Which systems write it, and where the table comes from.
    tolerance : float
        A raw value within this of a code decodes as that code (channels stored as physical
        values are scaled back with rounding error).
    """

    name: str
    codes: Mapping[int, str]
    description: str = ""
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        codes = {}
        for raw, pos in dict(self.codes).items():
            if pos not in POSITION_CODES:
                raise ValueError(f"position table {self.name!r}: {pos!r} is not a position "
                                 f"(valid: {', '.join(POSITION_CODES)})")
            if float(raw) != int(raw):
                raise ValueError(f"position table {self.name!r}: code {raw!r} is not a whole number")
            codes[int(raw)] = pos
        if not 0 <= float(self.tolerance) < 0.5:
            raise ValueError(f"position table {self.name!r}: tolerance must be in [0, 0.5)")
        object.__setattr__(self, "codes", MappingProxyType(codes))


_TABLES: dict[str, PositionTable] = {}


def register_position_table(table: PositionTable, *, replace: bool = False) -> PositionTable:
    """Add ``table`` to the registry under ``table.name``.

    Raises
    ------
    ValueError
        If the name is taken and ``replace`` is False.
    """
    if table.name in _TABLES and not replace:
        raise ValueError(f"a position table named {table.name!r} exists; pass replace=True to "
                         "override it")
    _TABLES[table.name] = table
    return table


def position_table(name: str) -> PositionTable:
    """The registered table ``name``.

    Raises
    ------
    KeyError
        If no table has that name (the message lists the registered ones).
    """
    try:
        return _TABLES[name]
    except KeyError:
        raise KeyError(f"no position table {name!r} (registered: {', '.join(sorted(_TABLES))})") from None


def position_tables() -> dict[str, PositionTable]:
    """Every registered table, by name."""
    return dict(_TABLES)


register_position_table(PositionTable(
    "nsrr", {0: "right", 1: "left", 2: "supine", 3: "prone", 4: "upright"},
    "Compumedics (Profusion, NSRR cohorts scored with it): 0 right, 1 left, 2 supine (back), "
    "3 prone (front), 4 upright -- Profusion's StepChannel labels RIGHT LEFT BACK FRONT in code "
    "order"))
register_position_table(PositionTable(
    "psgscoring", {0: "prone", 1: "left", 2: "supine", 3: "right", 4: "upright"},
    "psgscoring's own position codes (ancillary.analyze_position): 0 prone, 1 left, 2 supine, "
    "3 right, 4 upright"))

# Words a file may use for a position, normalised to lower case.
_LABEL_WORDS: dict[str, str] = {
    "supine": "supine", "back": "supine", "dorsal": "supine", "s": "supine",
    "left": "left", "l": "left", "left side": "left", "lateral left": "left",
    "right": "right", "r": "right", "right side": "right", "lateral right": "right",
    "prone": "prone", "front": "prone", "stomach": "prone", "ventral": "prone", "p": "prone",
    "upright": "upright", "up": "upright", "sitting": "upright", "standing": "upright",
    "u": "upright",
    "unknown": "unknown", "?": "unknown", "": "unknown", "n/a": "unknown", "none": "unknown",
}


def table_from_labels(name: str, labels: Sequence[str], *, first_code: int = 0,
                      description: str = "") -> PositionTable:
    """A table from position labels listed in code order (Profusion ``StepChannel`` labels).

    Parameters
    ----------
    name : str
        Name of the new table (not registered; pass it to :func:`register_position_table` to).
    labels : sequence of str
        One label per code, from ``first_code`` on: ``["RIGHT", "LEFT", "BACK", "FRONT"]``.
    first_code : int
        Code of the first label.

    Raises
    ------
    ValueError
        If a label names no known position (the message names it).
    """
    codes = {}
    for i, label in enumerate(labels):
        key = re.sub(r"\s+", " ", str(label).strip().lower())
        if key not in _LABEL_WORDS:
            raise ValueError(f"position label {label!r} (code {first_code + i}) names no known "
                             f"position (known words: {', '.join(sorted(w for w in _LABEL_WORDS if w))})")
        codes[first_code + i] = _LABEL_WORDS[key]
    return PositionTable(name, codes, description or f"from labels {list(labels)}")


def decode_position(values: Any, table: PositionTable | str = "nsrr") -> np.ndarray:
    """Position code (index into :data:`POSITIONS`, or :data:`UNKNOWN_POSITION`) per sample.

    Parameters
    ----------
    values : array-like of float
        The position channel's samples.
    table : PositionTable or str
        A table or a registered table's name.

    Returns
    -------
    numpy.ndarray of int8
    """
    tab = position_table(table) if isinstance(table, str) else table
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"position values must be one-dimensional, got shape {v.shape}")
    nearest = np.round(v)
    with np.errstate(invalid="ignore"):  # inf - inf: non-finite values are unknown anyway
        ok = np.isfinite(v) & (np.abs(v - nearest) <= tab.tolerance)
    out = np.full(v.shape, UNKNOWN_POSITION, dtype=np.int8)
    for raw, pos in tab.codes.items():
        out[ok & (nearest == raw)] = POSITION_CODES[pos]
    return out


@dataclass(frozen=True, eq=False)
class BodyPosition:
    """A decoded position channel: one position code per sample.

    Parameters
    ----------
    codes : array-like of int
        Codes of :data:`POSITION_CODES` per sample.
    rate : float
        Samples per second.
    onset : float
        Seconds from the recording start to the first sample.
    table : str
        Name of the table it was decoded with (provenance).
    """

    codes: np.ndarray
    rate: float
    onset: float = 0.0
    table: str = ""

    def __post_init__(self) -> None:
        codes = np.array(self.codes, dtype=np.int8)
        if codes.ndim != 1:
            raise ValueError(f"position codes must be one-dimensional, got shape {codes.shape}")
        bad = set(np.unique(codes).tolist()) - set(POSITION_CODES.values())
        if bad:
            raise ValueError(f"invalid position codes {sorted(bad)}")
        codes.flags.writeable = False
        object.__setattr__(self, "codes", codes)
        rate = float(self.rate)
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"position rate must be a positive number of Hz, got {self.rate!r}")
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "onset", float(self.onset))

    @classmethod
    def decode(cls, values: Any, rate: float, table: PositionTable | str = "nsrr",
               onset: float = 0.0) -> "BodyPosition":
        """Decode a raw position channel with ``table`` (see :func:`decode_position`)."""
        name = table if isinstance(table, str) else table.name
        return cls(decode_position(values, table), rate, onset, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BodyPosition):
            return NotImplemented
        return (np.array_equal(self.codes, other.codes) and self.rate == other.rate
                and self.onset == other.onset and self.table == other.table)

    __hash__ = None  # compared by value, holds an array

    @property
    def times(self) -> np.ndarray:
        """Time of each sample, seconds from the recording start."""
        return self.onset + np.arange(self.codes.shape[0]) / self.rate

    def at(self, times: Iterable[float] | float) -> np.ndarray:
        """Position code at each time (the sample covering it); unknown outside the channel."""
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        idx = np.floor((t - self.onset) * self.rate + 1e-9)
        inside = np.isfinite(idx) & (idx >= 0) & (idx < self.codes.shape[0])
        out = np.full(t.shape, UNKNOWN_POSITION, dtype=np.int8)
        out[inside] = self.codes[idx[inside].astype(np.int64)]
        return out

    def names(self) -> list[str]:
        """Position name per sample."""
        inverse = {v: k for k, v in POSITION_CODES.items()}
        return [inverse[int(c)] for c in self.codes]

    def seconds_in(self) -> dict[str, float]:
        """Seconds spent in each position (unknown included), over the whole channel."""
        counts = np.bincount(self.codes.astype(np.int64) - UNKNOWN_POSITION,
                             minlength=len(POSITIONS) + 1)
        return {name: float(counts[code - UNKNOWN_POSITION]) / self.rate
                for name, code in POSITION_CODES.items()}
