"""Hypnograms: the stage vocabulary, its colours, and the :class:`Hypnogram` type.

The vocabulary is SleepFM's: five scored stages with codes 0..4 (``W N1 N2 N3 R``), identical to
the staging head's classes, plus two codes for epochs that carry no stage: :data:`UNSCORED`
(``"?"``, never scored or unknown) and :data:`ARTEFACT` (``"A"``, movement time or artefact).
Stage names, spellings found in files and display colours are defined here and nowhere else.

A hypnogram is a run of equally long epochs. ``onsets`` are seconds from the hypnogram's time
origin, which is the start of the recording it was scored on (``start`` is that origin's clock
time when known); epoch 0 begins ``offset`` seconds after it.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from .contract import EPOCH_SECONDS
from .interop import mne_date, optional_import

#: The scored stages, in code order (code = index). Identical to SleepFM's staging classes.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "R")
#: Code of an epoch that was not scored (or whose stage is unknown).
UNSCORED: int = -1
#: Code of an epoch scored as movement time or artefact.
ARTEFACT: int = -2
#: Name of every code, scored or not.
STAGE_CODES: dict[str, int] = {**{s: i for i, s in enumerate(STAGES)}, "?": UNSCORED, "A": ARTEFACT}
#: Inverse of :data:`STAGE_CODES`.
CODE_NAMES: dict[int, str] = {v: k for k, v in STAGE_CODES.items()}
#: Codes of the scored stages (W included) and of sleep (W excluded).
SCORED_CODES: tuple[int, ...] = tuple(range(len(STAGES)))
SLEEP_CODES: tuple[int, ...] = (1, 2, 3, 4)
#: Long names for displays and reports.
STAGE_LONG_NAMES: dict[str, str] = {
    "W": "Wake", "N1": "N1", "N2": "N2", "N3": "N3", "R": "REM",
    "?": "Unscored", "A": "Artefact",
}
#: The one place for stage colours (hex RGB), used by the GUI, figures and reports.
STAGE_COLORS: dict[str, str] = {
    "W": "#F2B134",   # amber: awake
    "N1": "#8EC9E8",  # light blue
    "N2": "#3A87C8",  # blue
    "N3": "#1C2F7A",  # deep blue: deep sleep
    "R": "#D62728",   # red: REM
    "?": "#BDBDBD",   # light grey: unscored
    "A": "#7F7F7F",   # grey: artefact / movement
}
#: Order of the stages on a hypnogram plot, top to bottom (clinical convention: W on top, then
#: R, then deepening NREM).
PLOT_ORDER: tuple[str, ...] = ("W", "R", "N1", "N2", "N3")

# Spellings found in files, normalised by _normalise_label (lower case, single spaces).
_SPELLINGS: dict[int, tuple[str, ...]] = {
    0: ("w", "wake", "awake", "wk", "stage w", "stage wake", "sleep stage w", "sleep stage wake",
        "stage 0", "sleep stage 0", "wake stage"),
    1: ("n1", "s1", "stage 1", "stage n1", "sleep stage 1", "sleep stage n1", "stage 1 sleep",
        "nrem1", "nrem 1", "nrem stage 1"),
    2: ("n2", "s2", "stage 2", "stage n2", "sleep stage 2", "sleep stage n2", "stage 2 sleep",
        "nrem2", "nrem 2", "nrem stage 2"),
    3: ("n3", "s3", "s4", "n4", "stage 3", "stage 4", "stage n3", "stage n4", "sleep stage 3",
        "sleep stage 4", "sleep stage n3", "sleep stage n4", "stage 3 sleep", "stage 4 sleep",
        "nrem3", "nrem 3", "nrem4", "nrem 4", "nrem stage 3", "sleep stage 3/4", "stage 3/4",
        "sws", "deep"),
    4: ("r", "rem", "stage r", "stage rem", "sleep stage r", "sleep stage rem", "rem sleep",
        "stage 5", "sleep stage 5"),
    UNSCORED: ("?", "u", "unk", "uns", "unknown", "unscored", "not scored", "sleep stage ?",
               "stage ?", "sleep stage unknown", "sleep stage unscored", "stage unknown", "none",
               "no stage"),
    ARTEFACT: ("a", "art", "artefact", "artifact", "movement", "movement time", "mt",
               "sleep stage mt", "sleep stage movement", "sleep stage movement time",
               "stage movement", "wake/movement"),
}
_LABEL_TO_CODE: dict[str, int] = {s: code for code, names in _SPELLINGS.items() for s in names}
# Short or generic spellings that, inside a PSG's event list, may well mean something else
# ("A" for an arousal, "MT" for a marker, "Deep" for a breath). Strict parsing skips them.
_AMBIGUOUS: frozenset[str] = frozenset({
    "a", "u", "?", "mt", "art", "uns", "unk", "none", "movement", "deep", "sws", "wk",
    "stage 0", "stage 5", "sleep stage 0", "sleep stage 5", "no stage", "s1", "s2", "s3", "s4",
})


def _normalise_label(text: str) -> str:
    return re.sub(r"[\s_]+", " ", str(text).strip().lower())


def parse_stage(text: str, strict: bool = False) -> int | None:
    """Return the stage code of a stage label, or ``None`` if it names no stage.

    Parameters
    ----------
    text : str
        A label as found in files: ``"W"``, ``"Wake"``, ``"Sleep stage 2"``, ``"Stage 4"``,
        ``"N3"``, ``"REM"``, ``"Sleep stage ?"``, ``"Movement time"``... Case, spaces and
        underscores do not matter. R&K stages 3 and 4 both give N3.
    strict : bool
        Reject short or generic labels (``"A"``, ``"W"``, ``"MT"``, ``"?"``...) that in a PSG's
        event list may mean something other than a stage.

    Returns
    -------
    int or None
        A code of :data:`STAGE_CODES`.
    """
    key = _normalise_label(text)
    if strict and key in _AMBIGUOUS:
        return None
    return _LABEL_TO_CODE.get(key)


def stage_name(code: int) -> str:
    """Short name (``"W"``... ``"R"``, ``"?"``, ``"A"``) of a stage code.

    Raises
    ------
    ValueError
        If ``code`` is not a stage code.
    """
    try:
        return CODE_NAMES[int(code)]
    except KeyError:
        raise ValueError(f"{code!r} is not a stage code (valid: {sorted(CODE_NAMES)})") from None


def _as_stage_codes(stages: Any) -> np.ndarray:
    arr = np.asarray(stages)
    if arr.ndim != 1:
        raise ValueError(f"stages must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "UOS":
        out = np.empty(arr.shape[0], dtype=np.int8)
        for i, item in enumerate(arr):
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                code = int(item)
            else:
                text = item.decode() if isinstance(item, bytes) else str(item)
                code = parse_stage(text)
                if code is None:
                    raise ValueError(f"epoch {i}: {text!r} is not a stage name")
            out[i] = code
        arr = out
    elif arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValueError("stage codes must be whole numbers")
    elif arr.dtype.kind not in "iub" and arr.size:
        raise TypeError(f"stages must be integer codes or stage names, got dtype {arr.dtype}")
    if arr.size and (arr.min() < ARTEFACT or arr.max() > len(STAGES) - 1):
        bad = sorted({int(v) for v in np.unique(arr)} - set(CODE_NAMES))
        raise ValueError(f"invalid stage codes {bad}; valid codes are {sorted(CODE_NAMES)}")
    return arr.astype(np.int8, copy=True)


class HypnogramResampleWarning(UserWarning):
    """Epochs of a hypnogram were merged into longer ones and some of them mixed stages; the
    message says how many (:meth:`Hypnogram.resample_report`). A merge that mixes none is
    silent."""


class PartialEpochWarning(UserWarning):
    """A scored epoch over the recording's last, partial epoch was left out when aligning."""


class ResampleReport(NamedTuple):
    """What :meth:`Hypnogram.resample` does to a hypnogram.

    Attributes
    ----------
    old_epoch_length, new_epoch_length : float
    n_epochs : int
        New epochs.
    n_mixed : int
        New epochs whose time held more than one code (stages, unscored or artefact) in the
        original: their stage is the majority of time, the rest is lost.
    """

    old_epoch_length: float
    new_epoch_length: float
    n_epochs: int
    n_mixed: int

    def describe(self, source: str = "") -> str:
        """One sentence for a reader."""
        return (f"{source or 'hypnogram'}: {self.old_epoch_length:g}-s epochs merged into "
                f"{self.n_epochs} {self.new_epoch_length:g}-s epochs; {self.n_mixed} of them "
                "mixed two or more stages and take the stage of most of their time")


@contextmanager
def resample_notes() -> Iterator[list[str]]:
    """Collect the messages of :class:`HypnogramResampleWarning` raised inside the block, for a
    caller that shows them itself; every other warning is issued again as it came."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    for w in caught:
        if issubclass(w.category, HypnogramResampleWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


#: YASA's label of every stage code. YASA's integers code unscored -2 and artefact -1 (the
#: other way round from ours), so conversions go through these labels, never integers.
YASA_LABELS: dict[int, str] = {0: "WAKE", 1: "N1", 2: "N2", 3: "N3", 4: "REM",
                               UNSCORED: "UNS", ARTEFACT: "ART"}
#: Description of every stage code in MNE annotations (EDF+ spelling; parsed back by
#: :func:`parse_stage`).
MNE_DESCRIPTIONS: dict[int, str] = {0: "Sleep stage W", 1: "Sleep stage N1", 2: "Sleep stage N2",
                                    3: "Sleep stage N3", 4: "Sleep stage R",
                                    UNSCORED: "Sleep stage ?", ARTEFACT: "Movement time"}


class Hypnogram:
    """A run of scored epochs of equal length.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes (:data:`STAGE_CODES`: 0..4 for ``W N1 N2 N3 R``, :data:`UNSCORED` = -1,
        :data:`ARTEFACT` = -2) or stage names (parsed with :func:`parse_stage`).
    epoch_length : float
        Seconds per epoch (30 clinically; 5 for DREAMS and for SleepFM tokens).
    start : datetime.datetime, optional
        Clock time of the hypnogram's time origin (the start of the recording it was scored on).
    offset : float
        Seconds from that origin to the start of epoch 0.
    scorer : str
        Who or what scored it (a person, ``"SleepFM"``...).
    probabilities : array-like, shape (n_epochs, 5), optional
        Per-epoch stage probabilities in :data:`STAGES` order (rows of NaN where unknown).
    source : str
        Where it came from (a file path, a model).
    file_format : str
        The format it was read from (see :mod:`sleepfm_engine.formats`), if any.
    automatic : bool
        Scored by a model (SleepFM staging), not by a person. Files the engine writes keep
        this, so an automatic hypnogram is never taken for a manual scoring.
    """

    __hash__ = None  # mutable, compared by value

    def __init__(self, stages: Any, epoch_length: float = float(EPOCH_SECONDS),
                 start: _dt.datetime | None = None, offset: float = 0.0, scorer: str = "",
                 probabilities: Any = None, source: str = "", file_format: str = "",
                 automatic: bool = False):
        self.stages = _as_stage_codes(stages)
        epoch_length = float(epoch_length)
        if not math.isfinite(epoch_length) or epoch_length <= 0:
            raise ValueError(f"epoch_length must be a positive number of seconds, got {epoch_length}")
        self.epoch_length = epoch_length
        if start is not None and not isinstance(start, _dt.datetime):
            raise TypeError(f"start must be a datetime.datetime or None, got {type(start).__name__}")
        self.start = start
        offset = float(offset)
        if not math.isfinite(offset):
            raise ValueError(f"offset must be finite, got {offset}")
        self.offset = offset
        self.scorer = str(scorer)
        self.source = str(source)
        self.file_format = str(file_format)
        self.automatic = bool(automatic)
        if probabilities is not None:
            probabilities = np.array(probabilities, dtype=np.float32)
            if probabilities.shape != (self.stages.shape[0], len(STAGES)):
                raise ValueError(f"probabilities must have shape ({self.stages.shape[0]}, "
                                 f"{len(STAGES)}), got {probabilities.shape}")
        self.probabilities = probabilities

    # -- basic properties -------------------------------------------------------------------
    @property
    def n_epochs(self) -> int:
        """Number of epochs."""
        return int(self.stages.shape[0])

    def __len__(self) -> int:
        return self.n_epochs

    @property
    def duration(self) -> float:
        """Seconds covered by the epochs (``n_epochs * epoch_length``)."""
        return self.n_epochs * self.epoch_length

    @property
    def onsets(self) -> np.ndarray:
        """Start of each epoch in seconds from the time origin (float64, shape (n_epochs,))."""
        return self.offset + np.arange(self.n_epochs) * self.epoch_length

    @property
    def epoch_start(self) -> _dt.datetime | None:
        """Clock time of the start of epoch 0, when ``start`` is known."""
        return None if self.start is None else self.start + _dt.timedelta(seconds=self.offset)

    def stage_names(self) -> list[str]:
        """Short stage name of every epoch (``"W"``, ``"N1"``... ``"?"``, ``"A"``)."""
        return [CODE_NAMES[int(c)] for c in self.stages]

    def stage_counts(self) -> dict[str, int]:
        """Number of epochs of every stage name, in the order W N1 N2 N3 R ? A."""
        counts = np.bincount(self.stages.astype(np.int64) - ARTEFACT, minlength=len(CODE_NAMES))
        return {name: int(counts[STAGE_CODES[name] - ARTEFACT]) for name in STAGE_CODES}

    def copy(self) -> "Hypnogram":
        """A deep copy."""
        return Hypnogram(self.stages.copy(), self.epoch_length, self.start, self.offset, self.scorer,
                         None if self.probabilities is None else self.probabilities.copy(),
                         self.source, self.file_format, self.automatic)

    def _replace(self, **changes: Any) -> "Hypnogram":
        fields = dict(stages=self.stages, epoch_length=self.epoch_length, start=self.start,
                      offset=self.offset, scorer=self.scorer, probabilities=self.probabilities,
                      source=self.source, file_format=self.file_format, automatic=self.automatic)
        fields.update(changes)
        return Hypnogram(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hypnogram):
            return NotImplemented
        if (self.probabilities is None) != (other.probabilities is None):
            return False
        return (np.array_equal(self.stages, other.stages)
                and self.epoch_length == other.epoch_length and self.offset == other.offset
                and self.start == other.start and self.scorer == other.scorer
                and self.automatic == other.automatic
                and (self.probabilities is None
                     or np.allclose(self.probabilities, other.probabilities, equal_nan=True)))

    def __repr__(self) -> str:
        start = f", start={self.start.isoformat()}" if self.start else ""
        return (f"Hypnogram({self.n_epochs} epochs of {self.epoch_length:g} s, "
                f"offset={self.offset:g} s{start}{', scorer=' + repr(self.scorer) if self.scorer else ''})")

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``from_dict`` restores it; NaN probabilities become None)."""
        probs = None
        if self.probabilities is not None:
            probs = [[None if not math.isfinite(p) else round(float(p), 6) for p in row]
                     for row in self.probabilities]
        return {
            "stages": [int(c) for c in self.stages],
            "epoch_length": self.epoch_length,
            "start": None if self.start is None else self.start.isoformat(),
            "offset": self.offset,
            "scorer": self.scorer,
            "source": self.source,
            "file_format": self.file_format,
            "probabilities": probs,
            "automatic": self.automatic,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Hypnogram":
        """Rebuild a hypnogram from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If ``stages`` is missing or a field is invalid.
        """
        if "stages" not in data:
            raise ValueError("hypnogram dict has no 'stages'")
        start = data.get("start")
        probs = data.get("probabilities")
        if probs is not None:
            probs = np.array([[np.nan if p is None else p for p in row] for row in probs],
                             dtype=np.float32).reshape(-1, len(STAGES))
        return cls(data["stages"], data.get("epoch_length", EPOCH_SECONDS),
                   None if start is None else _dt.datetime.fromisoformat(start),
                   data.get("offset", 0.0), data.get("scorer", ""), probs,
                   data.get("source", ""), data.get("file_format", ""),
                   bool(data.get("automatic", False)))

    @classmethod
    def from_events(cls, onsets: Sequence[float], durations: Sequence[float | None],
                    codes: Sequence[int], probabilities: Any = None,
                    epoch_length: float | None = None, *, grid: float | None = None,
                    start: _dt.datetime | None = None, scorer: str = "", source: str = "",
                    file_format: str = "") -> "Hypnogram":
        """Build a hypnogram from stage events (onset, duration, stage), e.g. EDF+ or XML.

        Parameters
        ----------
        onsets, durations : sequences of float
            Seconds from the time origin. An event may span several epochs. A duration of
            None or 0 lasts until the next event (the last one: one epoch).
        codes : sequence of int
            Stage code of each event.
        probabilities : array-like (n_events, 5), optional
            Stage probabilities of each event (copied to every epoch it spans).
        epoch_length : float, optional
            Epoch length of the result. None: the events' own grid (see Notes).
        grid : float, optional
            The events' own epoch length when the format defines it (e.g. 5-s tokens).

        Notes
        -----
        Epoch 0 starts at the first event. The events' own grid is ``grid`` when given, else
        ``epoch_length`` when every onset and duration falls on it, else 30 s when every onset
        falls on the 30-s grid from the first one (to 10 ms), else the greatest common divisor
        of the onsets and durations when it is at least 1 s (20-s R&K scoring gives 20 s). When
        ``epoch_length`` differs from that grid the result is resampled (:meth:`resample`).
        Events on no regular grid are re-epoched to ``epoch_length`` (default 30 s) by majority
        of time, with a warning.
        Gaps between events are :data:`UNSCORED`; where events overlap the later one wins
        (with a warning).

        Raises
        ------
        ValueError
            If there are no events, a duration is negative, or the grid would be absurdly fine.
        """
        onsets_a = np.asarray(onsets, dtype=np.float64)
        n = onsets_a.shape[0]
        if n == 0:
            raise ValueError("no stage events")
        dur = np.array([0.0 if d is None else float(d) for d in durations], dtype=np.float64)
        codes_a = _as_stage_codes(codes)
        if dur.shape[0] != n or codes_a.shape[0] != n:
            raise ValueError("onsets, durations and codes must have the same length")
        if not np.all(np.isfinite(onsets_a)) or not np.all(np.isfinite(dur)) or np.any(dur < 0):
            raise ValueError("event onsets and durations must be finite and durations >= 0")
        probs = None
        if probabilities is not None:
            probs = np.asarray(probabilities, dtype=np.float32).reshape(n, len(STAGES))
        order = np.argsort(onsets_a, kind="stable")
        onsets_a, dur, codes_a = onsets_a[order], dur[order], codes_a[order]
        if probs is not None:
            probs = probs[order]
        nxt = np.append(onsets_a[1:], np.nan)
        open_ended = dur <= 0
        dur[open_ended] = nxt[open_ended] - onsets_a[open_ended]
        first = float(onsets_a[0])
        rel = onsets_a - first
        tol = 0.01  # seconds: exporters round onsets to 1-10 ms

        def _on_grid(values: np.ndarray, step: float) -> bool:
            q = values / step
            return bool(np.all(np.abs(q - np.round(q)) * step < tol))

        inner = np.concatenate([rel, dur[:-1]])
        inner = inner[np.isfinite(inner)]
        if grid is None:
            if epoch_length is not None and _on_grid(inner, float(epoch_length)):
                grid = float(epoch_length)
            elif _on_grid(rel, float(EPOCH_SECONDS)):
                grid = float(EPOCH_SECONDS)
            else:
                g = 0
                for v in np.round(inner * 100).astype(np.int64):  # centiseconds
                    g = math.gcd(g, abs(int(v)))
                if g >= 100:  # a grid of a whole second or more: the events' own epochs
                    grid = g / 100.0
                else:
                    return cls._from_irregular_events(
                        onsets_a, dur, codes_a, probs, float(epoch_length or EPOCH_SECONDS),
                        start, scorer, source, file_format)
        grid = float(grid)
        if not math.isfinite(dur[-1]) or dur[-1] <= 0:
            dur[-1] = grid
        end = float(np.max(rel + dur))
        n_epochs = int(round(end / grid)) if _on_grid(np.array([end]), grid) else int(math.ceil(end / grid))
        if n_epochs > 10_000_000:
            raise ValueError(f"stage events on a {grid:g}-s grid would make {n_epochs} epochs")
        stages = np.full(n_epochs, UNSCORED, dtype=np.int8)
        out_probs = None if probs is None else np.full((n_epochs, len(STAGES)), np.nan, np.float32)
        filled = np.zeros(n_epochs, dtype=bool)
        overlaps = 0
        for k in range(n):
            i0 = int(round(rel[k] / grid))
            i1 = max(i0 + 1, int(round((rel[k] + dur[k]) / grid)))
            i1 = min(i1, n_epochs)
            if filled[i0:i1].any():
                overlaps += 1
            stages[i0:i1] = codes_a[k]
            filled[i0:i1] = True
            if out_probs is not None:
                out_probs[i0:i1] = probs[k]
        if overlaps:
            warnings.warn(f"{source or 'hypnogram'}: {overlaps} stage event(s) overlap earlier ones; "
                          "the later event wins", stacklevel=2)
        hyp = cls(stages, grid, start, first, scorer, out_probs, source, file_format)
        if epoch_length is not None and abs(float(epoch_length) - grid) > 1e-9:
            hyp = hyp.resample(float(epoch_length))
        return hyp

    @classmethod
    def _from_irregular_events(cls, onsets: np.ndarray, dur: np.ndarray, codes: np.ndarray,
                               probs: np.ndarray | None, epoch_length: float,
                               start: _dt.datetime | None, scorer: str, source: str,
                               file_format: str) -> "Hypnogram":
        """Events off any regular grid: epochs of ``epoch_length`` from the first event, each
        labelled by majority of time (an event ends where the next begins)."""
        last = dur[-1] if math.isfinite(dur[-1]) and dur[-1] > 0 else epoch_length
        ends = onsets + np.append(dur[:-1], last)
        ends[:-1] = np.minimum(ends[:-1], onsets[1:])
        warnings.warn(f"{source or 'hypnogram'}: stage events are not on a regular epoch grid; "
                      f"re-epoched to {epoch_length:g} s by majority of time", stacklevel=3)
        first = float(onsets[0])
        n_new = max(1, int(math.ceil((float(ends.max()) - first) / epoch_length - 1e-6)))
        stages, out_p = _regrid_intervals(onsets, ends, codes.astype(np.int64), probs, first,
                                          epoch_length, n_new)
        return cls(stages, epoch_length, start, first, scorer, out_p, source, file_format)

    # -- resampling and alignment -----------------------------------------------------------
    def resample(self, epoch_length: float = float(EPOCH_SECONDS)) -> "Hypnogram":
        """The same hypnogram on epochs of another length (e.g. DREAMS 5 s -> 30 s).

        Each new epoch takes the scored stage (W..R) covering most of its time, provided scored
        stages cover at least half of it; otherwise the more common of unscored/artefact. Ties
        go to the stage that comes first in time. Probabilities are time-weighted means. A
        trailing remainder shorter than one new epoch is dropped; epoch 0 starts where it did.

        Parameters
        ----------
        epoch_length : float
            New epoch length in seconds.

        Returns
        -------
        Hypnogram
        """
        epoch_length = float(epoch_length)
        if not math.isfinite(epoch_length) or epoch_length <= 0:
            raise ValueError(f"epoch_length must be a positive number of seconds, got {epoch_length}")
        if epoch_length == self.epoch_length:
            return self.copy()
        n_new = int(math.floor(self.duration / epoch_length + 1e-9))
        stages, probs = _regrid(self.stages, self.probabilities, self.epoch_length, epoch_length,
                                0.0, n_new)
        if epoch_length > self.epoch_length:
            # Merging loses the minority stages of mixed epochs: say how many (issue 12). A
            # merge that mixes nothing loses nothing, and a warning then would only be noise.
            report = self.resample_report(epoch_length)
            if report.n_mixed:
                warnings.warn(report.describe(self.source), HypnogramResampleWarning,
                              stacklevel=2)
        return self._replace(stages=stages, epoch_length=epoch_length, probabilities=probs)

    def resample_report(self, epoch_length: float = float(EPOCH_SECONDS)) -> ResampleReport:
        """How many epochs :meth:`resample` to ``epoch_length`` gives, and how many of them mix
        codes of the original (0 when the new epochs are no longer than the old)."""
        epoch_length = float(epoch_length)
        if not math.isfinite(epoch_length) or epoch_length <= 0:
            raise ValueError(f"epoch_length must be a positive number of seconds, got {epoch_length}")
        n_new = int(math.floor(self.duration / epoch_length + 1e-9))
        old = self.epoch_length
        n_old = self.stages.shape[0]
        if epoch_length <= old or n_new == 0 or n_old == 0:
            return ResampleReport(old, epoch_length, n_new, 0)
        j = np.arange(n_new)
        first = np.clip(np.floor(j * epoch_length / old + 1e-9).astype(np.int64), 0, n_old - 1)
        last = np.clip(np.ceil((j + 1) * epoch_length / old - 1e-9).astype(np.int64) - 1, 0,
                       n_old - 1)
        # Changes of code before each old epoch, cumulated: a new epoch mixes when one lies
        # inside its span.
        changes = np.concatenate([[0], np.cumsum(np.diff(self.stages.astype(np.int64)) != 0)])
        n_mixed = int(np.count_nonzero(changes[last] > changes[first]))
        return ResampleReport(old, epoch_length, n_new, n_mixed)

    def regrid(self, epoch_length: float, offset: float, n_epochs: int) -> "Hypnogram":
        """The hypnogram on an arbitrary epoch grid (same time origin), by majority of time.

        Parameters
        ----------
        epoch_length : float
            New epoch length (s).
        offset : float
            Start of the new epoch 0, in seconds from the time origin.
        n_epochs : int
            Number of new epochs; time not covered by this hypnogram is :data:`UNSCORED`.

        Notes
        -----
        Same rule as :meth:`resample`, e.g. for writing 5-s tokens from the recording start.
        """
        epoch_length = float(epoch_length)
        if epoch_length <= 0 or n_epochs < 0:
            raise ValueError("epoch_length must be positive and n_epochs >= 0")
        stages, probs = _regrid(self.stages, self.probabilities, self.epoch_length, epoch_length,
                                float(offset) - self.offset, int(n_epochs))
        return self._replace(stages=stages, epoch_length=epoch_length, offset=float(offset),
                             probabilities=probs)

    def align_to(self, recording: Any) -> "Hypnogram":
        """The hypnogram on the recording's time line, padded or trimmed with :data:`UNSCORED`.

        Parameters
        ----------
        recording : Recording
            Anything with ``start`` (datetime or None) and ``duration`` (seconds).

        Returns
        -------
        Hypnogram
            ``start`` is the recording's; the epochs cover the recording from its start
            (whole epochs only). When both start times are known, the hypnogram is shifted by
            their difference. Labels are never split: when the scorer's epochs do not fall on a
            whole number of epochs from the recording start, the result keeps the scorer's grid
            and its ``offset`` (0 <= offset < epoch_length) says where it starts.

        Warns
        -----
        UserWarning
            If the hypnogram and the recording do not overlap in time.
        PartialEpochWarning
            If the recording ends within a scored epoch: that epoch is left out (only whole
            epochs are kept), and the warning names the recording and the seconds dropped.
        """
        L = self.epoch_length
        rec_start = getattr(recording, "start", None)
        rec_duration = float(getattr(recording, "duration"))
        shift = 0.0
        if self.start is not None and rec_start is not None:
            a, b = self.start, rec_start
            if (a.tzinfo is None) != (b.tzinfo is None):
                a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
            shift = (a - b).total_seconds()
        first = shift + self.offset  # epoch 0, in seconds from the recording start
        m = math.floor(first / L + 1e-6)
        phase = first - m * L
        if phase < 1e-6 or L - phase < 1e-6:
            phase = 0.0
            m = int(round(first / L))
        n_new = max(0, int(math.floor((rec_duration - phase) / L + 1e-9)))
        stages = np.full(n_new, UNSCORED, dtype=np.int8)
        probs = None
        if self.probabilities is not None:
            probs = np.full((n_new, len(STAGES)), np.nan, dtype=np.float32)
        # new epoch k holds old epoch k - m
        lo, hi = max(0, m), min(n_new, m + self.n_epochs)
        if hi > lo:
            stages[lo:hi] = self.stages[lo - m:hi - m]
            if probs is not None:
                probs[lo:hi] = self.probabilities[lo - m:hi - m]
        else:
            warnings.warn(f"{self.source or 'hypnogram'} does not overlap the recording "
                          f"(epoch 0 at {first:g} s from its start, recording {rec_duration:g} s)",
                          stacklevel=2)
        if abs(shift) > 86400:
            warnings.warn(f"{self.source or 'hypnogram'} starts {shift / 3600:.1f} h away from the "
                          "recording; check the dates", stacklevel=2)
        tail = rec_duration - phase - n_new * L   # recording seconds after the last whole epoch
        k = n_new - m                             # the old epoch over them
        if tail > 1e-6 and 0 <= k < self.n_epochs and self.stages[k] != UNSCORED:
            where = getattr(recording, "path", None) or "the recording"
            warnings.warn(f"{where}: ends {tail:g} s into epoch {k + 1} of "
                          f"{self.source or 'the hypnogram'} ({stage_name(int(self.stages[k]))}); "
                          f"that partial epoch is dropped: {tail:g} s of scored recording are "
                          "left out", PartialEpochWarning, stacklevel=2)
        return self._replace(stages=stages, start=rec_start, offset=phase, probabilities=probs)

    # -- the ecosystem's types (MNE, YASA; optional, imported on use) -----------------------
    def to_mne_annotations(self) -> Any:
        """The epochs as an :class:`mne.Annotations`, one per epoch, described as in EDF+.

        Onsets are seconds from the time origin and ``orig_time`` is :attr:`start` (a naive
        start is read as UTC, as :func:`mne.io.read_raw_edf` reads an EDF's start), so the
        annotations can be set on the recording's :meth:`Recording.to_mne` raw.
        The descriptions (``"Sleep stage W"``... ``"Sleep stage ?"``, ``"Movement time"``) parse
        back with :func:`parse_stage`.

        Raises
        ------
        ImportError
            If MNE is not installed.
        """
        mne = optional_import("mne", "MNE")
        return mne.Annotations(onset=self.onsets, duration=np.full(self.n_epochs, self.epoch_length),
                               description=[MNE_DESCRIPTIONS[int(c)] for c in self.stages],
                               orig_time=mne_date(self.start))

    def to_yasa(self) -> Any:
        """The hypnogram as a :class:`yasa.Hypnogram` (5 stages, string-coded).

        YASA's own integer codes put unscored and artefact the other way round from ours
        (YASA: -2 unscored, -1 artefact); the conversion goes by stage, never by integer.
        YASA's start is the clock time of epoch 0 (:attr:`epoch_start`). Probabilities are
        passed when every epoch has them; YASA cannot hold rows of NaN, so otherwise they are
        left out with a warning.

        Raises
        ------
        ImportError
            If YASA is not installed.
        """
        yasa = optional_import("yasa", "YASA")
        import pandas as pd

        proba = None
        if self.probabilities is not None:
            if np.isfinite(self.probabilities).all():
                proba = pd.DataFrame(self.probabilities.astype(np.float64),
                                     columns=[YASA_LABELS[c] for c in SCORED_CODES])
            else:
                warnings.warn("stage probabilities with epochs of NaN cannot go into a "
                              "yasa.Hypnogram; they are left out", stacklevel=2)
        return yasa.Hypnogram([YASA_LABELS[int(c)] for c in self.stages], n_stages=len(STAGES),
                              freq=f"{round(self.epoch_length * 1000)}ms",
                              start=self.epoch_start, scorer=self.scorer or None, proba=proba)

    @classmethod
    def from_yasa(cls, hyp: Any, *, source: str = "", automatic: bool = False) -> "Hypnogram":
        """Build a hypnogram from a 5-stage :class:`yasa.Hypnogram` (inverse of :meth:`to_yasa`).

        Parameters
        ----------
        hyp : yasa.Hypnogram
        source : str
            Where it came from.
        automatic : bool
            Whether a model scored it (YASA does not record this).

        Raises
        ------
        ValueError
            If ``hyp`` holds stages other than YASA's five-stage labels (e.g. a 2-stage
            ``SLEEP``/``WAKE`` hypnogram), which have no stage code here.
        """
        import pandas as pd

        to_code = {label: code for code, label in YASA_LABELS.items()}
        labels = [str(v) for v in hyp.hypno.to_numpy()]
        unknown = sorted(set(labels) - set(to_code))
        if unknown:
            raise ValueError(f"yasa.Hypnogram stages {unknown} have no stage code here "
                             f"(expected a 5-stage hypnogram: {sorted(to_code)})")
        probs = None
        if hyp.proba is not None:
            columns = [YASA_LABELS[c] for c in SCORED_CODES]
            probs = hyp.proba.reindex(columns=columns, fill_value=0.0).to_numpy(np.float64)
        start = hyp.start
        return cls([to_code[v] for v in labels],
                   pd.Timedelta(hyp.freq).total_seconds(),
                   None if start is None else pd.Timestamp(start).to_pydatetime(),
                   0.0, "" if hyp.scorer is None else str(hyp.scorer), probs, source,
                   automatic=automatic)

    # -- statistics -------------------------------------------------------------------------
    def _relative_seconds(self, t: float | _dt.datetime | None) -> float | None:
        if t is None:
            return None
        if isinstance(t, _dt.datetime):
            if self.start is None:
                raise ValueError("lights times as clock times need a hypnogram with a start time")
            return (t - self.start).total_seconds() - self.offset
        return float(t) - self.offset

    def statistics(self, lights_off: float | _dt.datetime | None = None,
                   lights_on: float | _dt.datetime | None = None,
                   no_data: np.ndarray | None = None) -> dict:
        """AASM sleep statistics (see :func:`sleepfm_engine.sleep_stats.sleep_statistics`).

        Parameters
        ----------
        lights_off, lights_on : float or datetime, optional
            Seconds from the time origin (the frame of :attr:`onsets`) or clock times. By
            default the whole hypnogram is the recording period.
        no_data : numpy.ndarray, optional
            bool per epoch, True where the recording has no data
            (:func:`sleepfm_engine.sleep_stats.no_data_epochs` of an aligned hypnogram): left
            out of every statistic.
        """
        from .sleep_stats import sleep_statistics

        return sleep_statistics(self.stages, self.epoch_length,
                                self._relative_seconds(lights_off), self._relative_seconds(lights_on),
                                no_data=no_data)

    def agreement(self, other: "Hypnogram") -> dict:
        """Epoch-by-epoch agreement with another hypnogram (self = reference, rows).

        Both must have the same epoch length, offset and epoch count (use :meth:`resample` /
        :meth:`align_to` first). Epochs unscored or artefact in either are left out.

        Returns
        -------
        dict
            See :func:`sleepfm_engine.sleep_stats.agreement`.

        Raises
        ------
        ValueError
            If the two hypnograms are not on the same epochs.
        """
        from .sleep_stats import agreement

        if not isinstance(other, Hypnogram):
            raise TypeError(f"expected a Hypnogram, got {type(other).__name__}")
        if abs(self.epoch_length - other.epoch_length) > 1e-9:
            raise ValueError(f"epoch lengths differ ({self.epoch_length:g} s vs "
                             f"{other.epoch_length:g} s); resample one first")
        if abs(self.offset - other.offset) > 1e-6 or self.n_epochs != other.n_epochs:
            raise ValueError(f"hypnograms cover different epochs ({self.n_epochs} from "
                             f"{self.offset:g} s vs {other.n_epochs} from {other.offset:g} s); "
                             "align both to the recording first")
        return agreement(self.stages, other.stages)


def _regrid(stages: np.ndarray, probs: np.ndarray | None, old_len: float, new_len: float,
            shift: float, n_new: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Majority-of-time regridding; new epoch j covers [shift + j*new_len, ...) in old time."""
    starts = np.arange(stages.shape[0]) * old_len
    return _regrid_intervals(starts, starts + old_len, stages, probs, shift, new_len, n_new)


def _regrid_intervals(starts: np.ndarray, ends: np.ndarray, codes: np.ndarray,
                      probs: np.ndarray | None, new_offset: float, new_len: float,
                      n_new: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Stage of each epoch [new_offset + j*new_len, +new_len) from sorted, non-overlapping
    labelled intervals, by the rule of :meth:`Hypnogram.resample`."""
    out = np.full(n_new, UNSCORED, dtype=np.int8)
    out_p = None if probs is None else np.full((n_new, len(STAGES)), np.nan, dtype=np.float32)
    if n_new == 0:
        return out, out_p
    new_edges = new_offset + np.arange(n_new + 1) * new_len
    old_edges = np.concatenate([starts, ends])
    inside = old_edges[(old_edges > new_edges[0]) & (old_edges < new_edges[-1])]
    edges = np.unique(np.concatenate([new_edges, inside]))
    seg = np.diff(edges)
    keep = seg > 1e-9 * new_len
    mids = (edges[:-1] + edges[1:])[keep] / 2
    seg, t0 = seg[keep], edges[:-1][keep]
    src = np.searchsorted(starts, mids, side="right") - 1
    covered = src >= 0
    covered[covered] &= mids[covered] < ends[src[covered]]
    new_idx = np.clip(np.floor((mids - new_offset) / new_len).astype(np.int64), 0, n_new - 1)
    code = np.full(mids.shape[0], UNSCORED, dtype=np.int64)
    code[covered] = codes[src[covered]]
    col = code - ARTEFACT  # 0..6
    n_cols = len(CODE_NAMES)
    weight = np.zeros((n_new, n_cols))
    np.add.at(weight, (new_idx, col), seg)
    first_t = np.full((n_new, n_cols), np.inf)
    np.minimum.at(first_t, (new_idx, col), t0)
    weight = np.round(weight, 6)
    is_scored_col = np.arange(n_cols) >= -ARTEFACT
    use_scored = weight[:, is_scored_col].sum(axis=1) >= 0.5 * new_len - 1e-6
    w = np.where(use_scored[:, None], np.where(is_scored_col, weight, -1.0),
                 np.where(~is_scored_col, weight, -1.0))
    best = w.max(axis=1, keepdims=True)
    tied = (w >= best - 1e-6) & (w > 0)
    choice = np.argmin(np.where(tied, first_t, np.inf), axis=1)
    out[:] = (choice + ARTEFACT).astype(np.int8)
    out[~tied.any(axis=1)] = UNSCORED
    if probs is not None:
        valid = covered.copy()
        valid[covered] &= np.all(np.isfinite(probs[src[covered]]), axis=1)
        num = np.zeros((n_new, len(STAGES)))
        den = np.zeros(n_new)
        np.add.at(num, new_idx[valid], probs[src[valid]].astype(np.float64) * seg[valid, None])
        np.add.at(den, new_idx[valid], seg[valid])
        ok = den > 0
        out_p[ok] = (num[ok] / den[ok, None]).astype(np.float32)
    return out, out_p
