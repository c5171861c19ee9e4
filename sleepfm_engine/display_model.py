"""What a trace viewer shows, without the viewer: window, rows, filters, derivations, events.

:class:`DisplayModel` holds the display state of one recording — the visible window (start,
length, current epoch), the rows in their display order with each row's gain, polarity,
visibility and auto-scale, the display filters and mains notch, the derivations, the selected
row, the scored events (layers of event sets queried for the window only, with where each
span and label goes), a dragged time span and the current epoch's scored stages. A Qt view renders it and
forwards what the user does to it; every change reaches the view through plain callbacks
(:meth:`DisplayModel.add_listener`), as napari's ``ViewerModel`` does for its Qt viewer. The
same model serves scripts, figures and tests with no Qt at all.

Persistence goes through :meth:`DisplayModel.to_dict` and :meth:`DisplayModel.restore`:
the viewer preferences (page length, filters, notch) that the application keeps between
sessions, and, when asked, the per-recording part (row states and derivations).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np

from .channels import POSITION_WORDS, SATURATION_WORDS, label_says
from .contract import EPOCH_SECONDS
from .events import EVENT_TYPES, as_event_type
from .display import (AASM_FILTERS, FILTERABLE_KINDS, Derivation, DisplayChannel, FilterSpec,
                      build_display_channels, display_scale, filter_padding, filter_signal,
                      robust_range)
from .montages import AUTO, Montage, MontageRow
from .position import POSITION_CODES, PositionTable, decode_position
from .sensitivity import (default_sensitivity, format_amount, format_sensitivity,
                          scale_bar_value, snap_sensitivity, step_sensitivity)

__all__ = ["DisplayEvent", "DisplayModel", "EventMark", "GAIN_STEP", "LABEL_ZONE", "MAINS_FREQUENCIES",
           "Measurement", "NIGHT_SCALE_EPOCHS", "ROW_FILL", "ROW_MM", "RejectedMark", "RowState",
           "SPO2_AXIS", "ScaleBar", "level_role", "measure"]

#: Gain step of one "larger" / "smaller" action.
GAIN_STEP = math.sqrt(2.0)
#: Fraction of a row's trace zone that the auto-scaled span of a trace fills.
ROW_FILL = 0.8
#: Fraction of each row's height, at its top, kept for event labels: the trace zone is the
#: rest, so a label never lies on the trace's auto-scaled span.
LABEL_ZONE = 0.25
#: Mains frequencies (Hz) the notch may remove.
MAINS_FREQUENCIES: tuple[float, ...] = (50.0, 60.0)
#: Fixed axis (low, high, in %) of an oxygen saturation row: the clinical 80–100 %.
SPO2_AXIS: tuple[float, float] = (80.0, 100.0)
#: Epochs, spread evenly over the night, whose robust amplitudes set a row's automatic scale.
NIGHT_SCALE_EPOCHS = 48
#: Height of one row (mm of screen) until a view says what it is (:meth:`DisplayModel.set_row_mm`).
ROW_MM = 10.0
# Position names by code, unknown included (the inverse of POSITION_CODES).
_POSITION_NAMES: dict[int, str] = {v: k for k, v in POSITION_CODES.items()}


def level_role(row: DisplayChannel) -> str | None:
    """``"spo2"`` or ``"position"`` for a level row that is one, else None.

    SleepFM uses no position channel, so one is often of kind ``"OTHER"``; its label decides.
    """
    if row.kind not in ("LEVEL", "OTHER"):
        return None
    if label_says(SATURATION_WORDS, row.label):
        return "spo2"
    if label_says(POSITION_WORDS, row.label):
        return "position"
    return None


@dataclass
class RowState:
    """Per-row display settings: gain, polarity, visibility and the auto-scale.

    ``center`` and ``span`` (engine unit) are the automatic scale (:meth:`DisplayModel.fit`);
    None until the row is first drawn, or after :meth:`DisplayModel.auto_scale`.
    ``sensitivity`` (display unit per mm of screen, e.g. 7 µV/mm) makes the row calibrated:
    drawn at that sensitivity instead of its automatic scale and gain; None: automatic.
    """

    gain: float = 1.0
    inverted: bool = False
    visible: bool = True
    center: float | None = None
    span: float | None = None
    sensitivity: float | None = None


class ScaleBar(NamedTuple):
    """The scale bar of a row (see :meth:`DisplayModel.scale_bar`).

    Attributes
    ----------
    value : float
        What the bar stands for, in ``unit`` (a round value, or a clinical one such as 75 µV).
    unit : str
    height : float
        Its height in row heights.
    text : str
        ``"75 µV"``.
    """

    value: float
    unit: str
    height: float
    text: str


class DisplayEvent(NamedTuple):
    """What changed in a :class:`DisplayModel`.

    Attributes
    ----------
    kind : str
        ``"recording"`` (a recording was set or cleared: everything changed), ``"rows"`` (rows
        added, removed, regrouped, shown or hidden), ``"row"`` (gain, polarity or scale of
        rows), ``"filters"``, ``"window"`` (page length), ``"page"`` (the window moved),
        ``"epoch"`` (the current epoch moved), ``"selection"``, ``"events"`` (event layers,
        their filters or the selected event), ``"span"`` (the dragged span), ``"stages"``
        (the scored stages shown on the page).
    announce : bool
        For ``"epoch"``: False when the move came from outside the viewer (the hypnogram, the
        scoring), so the viewer must not echo it back.
    """

    kind: str
    announce: bool = True


class Measurement(NamedTuple):
    """What the measuring cursor reads from a span of one row (see
    :meth:`DisplayModel.measure_span`).

    Attributes
    ----------
    peak_to_peak : float
        Highest minus lowest sample of the span as displayed (filtered), in ``unit``.
    unit : str
        The unit shown (µV for voltages).
    duration : float
        Length of the span (s).
    frequency : float or None
        Dominant frequency (Hz): the spectral peak when the span holds at least two of its
        cycles, else one wave over the span (``1 / duration``); None for a flat span.
    """

    peak_to_peak: float
    unit: str
    duration: float
    frequency: float | None

    def text(self) -> str:
        """``"82 µV p-p · 1.20 s · 0.83 Hz"``."""
        freq = "" if self.frequency is None else f" · {self.frequency:.2f} Hz"
        return f"{self.peak_to_peak:.3g} {self.unit} p-p · {self.duration:.2f} s{freq}"


def measure(x: np.ndarray, rate: float) -> tuple[float, float | None]:
    """``(peak_to_peak, frequency)`` of the samples ``x`` (see :class:`Measurement`)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), None
    ptp = float(x.max() - x.min())
    if not ptp > 0:
        return 0.0, None
    duration = x.size / rate
    # Zero padding refines the peak of a short span; the spectrum's bins stay exact.
    n_fft = max(8 * x.size, 4096)
    power = np.abs(np.fft.rfft(x - x.mean(), n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    peak = float(freqs[1:][np.argmax(power[1:])])
    if peak * duration >= 2.0:
        return ptp, peak
    return ptp, 1.0 / duration


class EventMark(NamedTuple):
    """Where one event goes on the page (see :meth:`DisplayModel.event_marks`).

    Attributes
    ----------
    event : Event
    layer : str
        The layer it belongs to.
    rows : tuple of int
        Visible rows it spans (top first); () for a span across the page.
    x0, x1 : float
        The span, clipped to the window (s).
    label_row : int or None
        The row whose label zone holds its label; None for the page band (an event on no row
        shown, or rows too low for a label lane).
    lane : int or None
        Label lane there; None when its label has no room.
    code : str
        Short label (the type's code).
    colour : str
        ``#RRGGBB`` of its type.
    selected : bool
    """

    event: Any
    layer: str
    rows: tuple[int, ...]
    x0: float
    x1: float
    label_row: int | None
    lane: int | None
    code: str
    colour: str
    selected: bool


class RejectedMark(NamedTuple):
    """Where one candidate a detector rejected goes on the page (see
    :meth:`DisplayModel.rejected_marks`).

    Attributes
    ----------
    candidate : RejectedCandidate
    layer : str
        The layer (detector run) that rejected it.
    rows : tuple of int
        Visible rows it was considered on (top first); () for the page band.
    x0, x1 : float
        The span, clipped to the window (s).
    text : str
        ``"rejected: <reason>"``.
    """

    candidate: Any
    layer: str
    rows: tuple[int, ...]
    x0: float
    x1: float
    text: str


class DisplayModel:
    """Display state of one recording in a trace viewer.

    Parameters
    ----------
    window : float
        Page length (s).
    epoch_length : float
        Scoring epoch (s): pages of whole epochs are aligned to it.
    """

    def __init__(self, window: float = float(EPOCH_SECONDS),
                 epoch_length: float = float(EPOCH_SECONDS)):
        if not epoch_length > 0:
            raise ValueError(f"epoch length must be positive, got {epoch_length}")
        self.rec: Any = None
        self.epoch_length = float(epoch_length)
        self._window = self._check_window(window)
        self._start = 0.0
        self._current_epoch = 0
        self._modalities: dict[str, str] = {}
        self._derivations: list[Derivation] = []
        # Row keys in the order the user laid them out; empty: grouped by modality.
        self._order: list[str] = []
        self._rows_all: list[DisplayChannel] = []
        self._rows: list[DisplayChannel] = []
        self._state: dict[str, RowState] = {}
        self._selected: str | None = None
        self._filters: dict[str, FilterSpec] = dict(AASM_FILTERS)
        self._filters_enabled = True
        self._notch: float | None = None
        self._layers: dict[str, Any] = {}
        self._hidden_layers: set[str] = set()
        self._hidden_types: set[Any] = set()
        self._show_rejected = False
        # layer -> (key of its rejected list, onsets sorted, candidates, longest duration)
        self._rejected_index: dict[str, tuple[tuple, list[float], list[Any], float]] = {}
        self._selected_event: str | None = None
        self._span: tuple[float, float, str | None] | None = None
        self._stage_source: Callable[[int], str] | None = None
        self._listeners: list[Callable[[DisplayEvent], None]] = []
        self._row_mm = ROW_MM
        self._clip = True
        self._calibrated = False
        #: Code table of body position rows (a registered name or a table).
        self.position_table: PositionTable | str = "nsrr"

    # ------------------------------------------------------------------ listeners
    def add_listener(self, callback: Callable[[DisplayEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns a function that removes it."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)
        return remove

    def _emit(self, kind: str, announce: bool = True) -> None:
        event = DisplayEvent(kind, announce)
        for callback in list(self._listeners):
            callback(event)

    # ------------------------------------------------------------------ recording and rows
    def set_recording(self, rec: Any, modalities: Mapping[str, str] | None = None,
                      derivations: Iterable[Derivation] = ()) -> None:
        """Show a recording (None clears): rows from its channels, window at its start.

        Filters, notch and page length stay; row states, derivations, selection and
        events start afresh.

        Raises
        ------
        ValueError
            If a derivation cannot be computed from the recording.
        """
        derivations = list(derivations)
        if rec is not None:
            build_display_channels(rec, dict(modalities) if modalities else None, derivations)
        self.rec = rec
        self._state = {}
        self._selected = None
        self._derivations = derivations if rec is not None else []
        self._order = []
        self._start = 0.0
        self._current_epoch = 0
        self._layers = {}
        self._selected_event = None
        self._span = None
        self._modalities = dict(modalities) if (rec is not None and modalities) else {}
        if rec is None:
            self._rows_all, self._rows = [], []
        else:
            self._rebuild_rows()
        self._emit("recording")

    def _rebuild_rows(self) -> None:
        rows = build_display_channels(self.rec, self._modalities or None, self._derivations)
        if not self._modalities:
            self._modalities = {r.key: r.modality for r in rows if not r.is_derived}
        self._rows_all = self._ordered(rows)
        for r in rows:
            if r.key not in self._state:
                self._state[r.key] = RowState(
                    sensitivity=self._clinical_sensitivity(r) if self._calibrated else None)
        keys = {r.key for r in rows}
        for key in [k for k in self._state if k not in keys]:
            del self._state[key]
        self._refresh_visible()

    def _refresh_visible(self) -> None:
        self._rows = [r for r in self._rows_all if self._state[r.key].visible]
        if self._selected is not None and self._selected not in {r.key for r in self._rows}:
            self._selected = None

    @property
    def modalities(self) -> dict[str, str]:
        """``{label: modality}`` the rows are grouped by."""
        return dict(self._modalities)

    def set_modalities(self, modalities: Mapping[str, str]) -> None:
        """Regroup and recolour the rows after channels were reassigned."""
        self._modalities = dict(modalities)
        if self.rec is not None:
            self._rebuild_rows()
            self._emit("rows")

    @property
    def rows(self) -> list[DisplayChannel]:
        """Every row (hidden ones included), in display order."""
        return list(self._rows_all)

    @property
    def visible_rows(self) -> list[DisplayChannel]:
        """The rows drawn, top to bottom."""
        return list(self._rows)

    def row(self, key: str) -> DisplayChannel:
        """The row called ``key`` (raises KeyError naming it)."""
        for r in self._rows_all:
            if r.key == key:
                return r
        raise KeyError(f"no channel {key!r} in the display")

    def row_state(self, key: str) -> RowState:
        """Display settings of a row (raises KeyError naming the key)."""
        try:
            return self._state[key]
        except KeyError:
            raise KeyError(f"no channel {key!r} in the display") from None

    @property
    def hidden(self) -> list[str]:
        """Keys of the hidden rows, in display order."""
        return [r.key for r in self._rows_all if not self._state[r.key].visible]

    # ------------------------------------------------------------------ derivations
    @property
    def derivations(self) -> list[Derivation]:
        return list(self._derivations)

    def add_derivation(self, d: Derivation) -> None:
        """Add a derived row (``plus − minus``); raises ValueError if it cannot be computed."""
        if self.rec is None:
            raise ValueError("no recording is open")
        trial = self._derivations + [d]
        build_display_channels(self.rec, self._modalities or None, trial)  # validates
        self._derivations = trial
        self._rebuild_rows()
        self._emit("rows")

    def remove_derivation(self, label: str) -> None:
        """Remove the derived row ``label`` (raises KeyError if there is none)."""
        kept = [d for d in self._derivations if d.label != label]
        if len(kept) == len(self._derivations):
            raise KeyError(f"no derivation {label!r}")
        self._derivations = kept
        self._rebuild_rows()
        self._emit("rows")

    # ------------------------------------------------------------------ row order and montages
    def _ordered(self, rows: list[DisplayChannel]) -> list[DisplayChannel]:
        """``rows`` (grouped by modality) in the user's order; a row the order does not name
        yet (a new derivation) goes after the row it follows in the grouped order."""
        if not self._order:
            return rows
        by_key = {r.key: r for r in rows}
        out = [by_key[k] for k in self._order if k in by_key]
        placed = {r.key for r in out}
        for i, r in enumerate(rows):
            if r.key in placed:
                continue
            before = next((p.key for p in reversed(rows[:i]) if p.key in placed), None)
            at = 0 if before is None else [x.key for x in out].index(before) + 1
            out.insert(at, r)
            placed.add(r.key)
        self._order = [r.key for r in out]
        return out

    @property
    def order(self) -> list[str]:
        """Keys of every row in display order (hidden rows included)."""
        return [r.key for r in self._rows_all]

    def set_order(self, keys: Iterable[str]) -> None:
        """Lay the rows out in the order of ``keys``; rows not named keep their order after them.

        Raises
        ------
        KeyError
            Naming a key that is not a row.
        """
        keys = list(keys)
        for key in keys:
            self.row_state(key)
        if len(set(keys)) != len(keys):
            raise ValueError("a row is named twice in the order")
        rest = [r.key for r in self._rows_all if r.key not in set(keys)]
        self._order = keys + rest
        self._rows_all = self._ordered(self._rows_all)
        self._refresh_visible()
        self._emit("rows")

    def move_row(self, key: str, step: int) -> bool:
        """Move row ``key`` past ``step`` rows (negative: up), counting the rows shown when it
        is shown. Returns whether it moved (False at the top or bottom)."""
        self.row_state(key)
        keys = [r.key for r in self._rows_all]
        shown = [r.key for r in self._rows] if self._state[key].visible else keys
        i = shown.index(key)
        j = min(max(i + int(step), 0), len(shown) - 1)
        if j == i:
            return False
        neighbour = shown[j]
        keys.remove(key)
        at = keys.index(neighbour) + (1 if j > i else 0)
        keys.insert(at, key)
        self.set_order(keys)
        return True

    def reset_order(self) -> None:
        """Back to the rows grouped by modality (file order inside a group)."""
        self._order = []
        if self.rec is not None:
            self._rebuild_rows()
            self._emit("rows")

    def apply_montage(self, montage: Montage) -> list[str]:
        """Lay the recording out by a :class:`~sleepfm_engine.montages.Montage`.

        Its derivations replace the display's, its rows come first in its order (hidden as it
        says, scaled where it gives a gain or a sensitivity), and every other row is hidden
        after them. A derivation or a row the recording cannot give is skipped.

        Returns
        -------
        list of str
            What was skipped and why, as sentences (empty when everything applied). When no
            row of the montage is in the recording nothing changes.

        Raises
        ------
        ValueError
            If no recording is shown.
        """
        if self.rec is None:
            raise ValueError("no recording is open")
        skipped: list[str] = []
        recorded = {c.label for c in self.rec.channels}
        derivations: list[Derivation] = []
        for d in montage.derivations:
            if d.label in recorded:
                # The recording holds that row itself: its own channel is shown.
                continue
            try:
                build_display_channels(self.rec, self._modalities or None, derivations + [d])
            except ValueError as exc:
                skipped.append(f"derivation {d.label!r}: {exc}")
                continue
            derivations.append(d)
        available = recorded | {d.label for d in derivations}
        found = [row for row in montage.rows if row.label in available]
        skipped += [f"row {row.label!r}: not in this recording" for row in montage.rows
                    if row.label not in available]
        if not found:
            skipped.append(f"no row of montage {montage.name!r} is in this recording; the "
                           "display is unchanged")
            return skipped
        self._derivations = derivations
        self._rebuild_rows()
        for row in found:
            st = self._state[row.label]
            st.visible = not row.hidden
            if row.gain is not None:
                st.gain = float(row.gain)
            if row.sensitivity == AUTO:
                st.sensitivity = None
            elif row.sensitivity is not None:
                if self.can_calibrate(row.label):
                    st.sensitivity = float(row.sensitivity)
                else:
                    skipped.append(f"row {row.label!r}: a level row has no sensitivity")
        named = {row.label for row in found}
        for r in self._rows_all:
            if r.key not in named:
                self._state[r.key].visible = False
        # The rows the montage leaves out follow its own, hidden.
        self._order = [row.label for row in found] + [r.key for r in self._rows_all
                                                      if r.key not in named]
        self._rows_all = self._ordered(self._rows_all)
        self._refresh_visible()
        self._emit("rows")
        self._emit("row")
        return skipped

    def to_montage(self, name: str) -> Montage:
        """The display as a :class:`~sleepfm_engine.montages.Montage` called ``name``: every
        row in order, hidden ones marked, with its gain and sensitivity, and the derivations."""
        rows = []
        for r in self._rows_all:
            st = self._state[r.key]
            rows.append(MontageRow(r.key, not st.visible, st.gain,
                                   AUTO if st.sensitivity is None else st.sensitivity))
        return Montage(name, tuple(rows), tuple(self._derivations))

    # ------------------------------------------------------------------ selection and rows
    @property
    def selected(self) -> str | None:
        return self._selected

    def select(self, key: str | None) -> None:
        """Select a row (gain actions then act on it); None clears the selection."""
        if key is not None:
            self.row_state(key)
        self._selected = key
        self._emit("selection")

    def select_relative(self, step: int) -> None:
        """Select the visible row ``step`` below the selected one (wrapping)."""
        if not self._rows:
            return
        keys = [r.key for r in self._rows]
        if self._selected not in keys:
            i = 0 if step > 0 else len(keys) - 1
        else:
            i = (keys.index(self._selected) + step) % len(keys)
        self.select(keys[i])

    def _targets(self, key: str | None) -> list[str]:
        """``key``, else the selected row, else every visible row."""
        if key is not None:
            self.row_state(key)
            return [key]
        if self._selected is not None:
            return [self._selected]
        return [r.key for r in self._rows]

    def set_gain(self, key: str, gain: float) -> None:
        gain = float(gain)
        if not (gain > 0 and math.isfinite(gain)):
            raise ValueError(f"gain must be a positive number, got {gain}")
        self.row_state(key).gain = gain
        self._emit("row")

    def gain_up(self, key: str | None = None) -> None:
        """Enlarge the traces of ``key`` (else the selected row, else all rows): a calibrated
        row one sensitivity step down (7 -> 5 µV/mm), an automatic one by :data:`GAIN_STEP`."""
        for k in self._targets(key):
            st = self._state[k]
            if st.sensitivity is not None:
                st.sensitivity = step_sensitivity(st.sensitivity, -1)
            else:
                st.gain *= GAIN_STEP
        self._emit("row")

    def gain_down(self, key: str | None = None) -> None:
        """Shrink the traces: the opposite of :meth:`gain_up`."""
        for k in self._targets(key):
            st = self._state[k]
            if st.sensitivity is not None:
                st.sensitivity = step_sensitivity(st.sensitivity, 1)
            else:
                st.gain /= GAIN_STEP
        self._emit("row")

    def auto_scale(self, key: str | None = None) -> None:
        """Scale rows back to their automatic scale over the night (:meth:`night_scale`),
        gain back to 1; a calibrated row becomes automatic."""
        for k in self._targets(key):
            st = self._state[k]
            st.center = st.span = st.sensitivity = None
            st.gain = 1.0
        self._emit("row")

    # ------------------------------------------------------------------ calibrated rows
    @property
    def row_mm(self) -> float:
        """Height of one row on the screen (mm), as the view last said."""
        return self._row_mm

    def set_row_mm(self, mm: float) -> None:
        """The height of one row on the screen in mm (the view measures it with the screen's
        physical resolution). Geometry, not state: nothing is announced, the view that says it
        redraws."""
        mm = float(mm)
        if not (mm > 0 and math.isfinite(mm)):
            raise ValueError(f"a row height must be a positive number of mm, got {mm}")
        self._row_mm = mm

    @property
    def calibrated(self) -> bool:
        """Whether rows start calibrated at their clinical sensitivity (a preference kept
        between sessions; rows with no clinical default keep their automatic scale)."""
        return self._calibrated

    def can_calibrate(self, key: str) -> bool:
        """Whether row ``key`` may be calibrated: every trace, not level rows (SpO2 on its fixed
        axis, position names, rates)."""
        row = self.row(key)
        return row.kind != "LEVEL" and level_role(row) is None

    def _clinical_sensitivity(self, row: DisplayChannel) -> float | None:
        if row.kind == "LEVEL" or level_role(row) is not None:
            return None
        d = default_sensitivity(row.kind, row.label, display_scale(row.unit)[0])
        return None if d is None else d.per_mm

    def set_calibrated(self, on: bool, key: str | None = None) -> None:
        """Calibrate rows (``on``) or return them to their automatic scale.

        With ``key`` that row only: calibrated at its clinical default (see
        :mod:`sleepfm_engine.sensitivity`), else at its automatic scale rounded to a
        sensitivity step. Without: the preference for recordings opened later and every row
        that has a clinical default (off: every row).
        """
        if key is not None:
            st = self.row_state(key)
            if not on:
                st.sensitivity = None
            elif st.sensitivity is None and self.can_calibrate(key):
                row = self.row(key)
                per_mm = self._clinical_sensitivity(row)
                if per_mm is None:
                    self.fit(key, np.empty(0))
                    per_row = self.amplitude_per_row(key)
                    per_mm = None if per_row is None else snap_sensitivity(per_row[0] / self._row_mm)
                st.sensitivity = per_mm
        else:
            self._calibrated = bool(on)
            for r in self._rows_all:
                self._state[r.key].sensitivity = self._clinical_sensitivity(r) if on else None
        self._emit("row")

    def set_sensitivity(self, key: str, per_mm: float | None) -> None:
        """Show row ``key`` at ``per_mm`` display units per mm (None: its automatic scale)."""
        if per_mm is not None:
            per_mm = float(per_mm)
            if not (per_mm > 0 and math.isfinite(per_mm)):
                raise ValueError(f"a sensitivity must be a positive number, got {per_mm}")
            if not self.can_calibrate(key):
                raise ValueError(f"{key!r} is a level row: it has no sensitivity")
        self.row_state(key).sensitivity = per_mm
        self._emit("row")

    def sensitivity_text(self, key: str) -> str | None:
        """``"7 µV/mm"`` for a calibrated row, None for an automatic one."""
        st = self.row_state(key)
        if st.sensitivity is None:
            return None
        return format_sensitivity(st.sensitivity, display_scale(self.row(key).unit)[0])

    def scale_bar(self, key: str) -> ScaleBar | None:
        """The scale bar of row ``key``: a round value (75 µV on an EEG row when it fits, the
        row's clinical bar of :mod:`sleepfm_engine.sensitivity`) and its height in rows. None
        for a level row or one not scaled yet."""
        row = self.row(key)
        if row.kind == "LEVEL" or level_role(row) is not None:
            return None
        amp = self.amplitude_per_row(key)
        if amp is None:
            return None
        per_row, unit = amp
        d = default_sensitivity(row.kind, row.label, unit)
        value = scale_bar_value(per_row, None if d is None else d.bar)
        if value is None:
            return None
        return ScaleBar(value, unit, value / per_row, format_amount(value, unit))

    @property
    def clip(self) -> bool:
        """Whether traces are clipped to their rows (a preference kept between sessions)."""
        return self._clip

    def set_clip(self, on: bool) -> None:
        """Clip traces to their rows, so a large wave never draws over its neighbours."""
        self._clip = bool(on)
        self._emit("row")

    @staticmethod
    def row_limits(i: int) -> tuple[float, float]:
        """Plot y of the bottom and top of visible row ``i`` (what a clipped trace keeps to)."""
        return -float(i) - 0.5, -float(i) + 0.5

    def set_inverted(self, key: str, inverted: bool) -> None:
        self.row_state(key).inverted = bool(inverted)
        self._emit("row")

    def toggle_invert(self, key: str | None = None) -> None:
        """Flip the polarity of ``key`` or the selected row (never of every row at once)."""
        keys = self._targets(key) if (key is not None or self._selected is not None) else []
        for k in keys:
            self._state[k].inverted = not self._state[k].inverted
        self._emit("row")

    def set_visible(self, key: str, visible: bool) -> None:
        st = self.row_state(key)
        if st.visible == bool(visible):
            return
        st.visible = bool(visible)
        self._refresh_visible()
        self._emit("rows")

    def show_all(self) -> None:
        for st in self._state.values():
            st.visible = True
        self._refresh_visible()
        self._emit("rows")

    def fit(self, key: str, y: np.ndarray) -> RowState:
        """Give row ``key`` its automatic scale if it has none yet.

        SpO2 rows take the fixed :data:`SPO2_AXIS`, position rows their codes; other rows the
        :meth:`night_scale`, so the first page shown (a quiet wake page) does not set the gain
        for the whole night. Only a row with no data sampled over the night falls back to the
        samples ``y`` of the page.
        """
        st = self.row_state(key)
        if st.span is not None:
            return st
        role = level_role(self.row(key))
        if role == "spo2":
            lo, hi = SPO2_AXIS
            st.center, st.span = (lo + hi) / 2.0, hi - lo
            return st
        if role == "position":
            # Codes run from UNKNOWN (-1) to the last position.
            st.center, st.span = (len(POSITION_CODES) - 3) / 2.0, float(len(POSITION_CODES) - 1)
            return st
        night = self.night_scale(key) if self.rec is not None else None
        if night is not None:
            st.center, st.span = night
        elif np.asarray(y).size:
            st.center, st.span = robust_range(y)
        return st

    def read_row(self, key: str, start: float, stop: float) -> tuple[np.ndarray, float]:
        """Raw samples (engine unit, derivations subtracted) of row ``key`` from ``start`` to
        ``stop`` s, and the row's rate."""
        row = self.row(key)
        x = np.asarray(self.rec.read_channel(row.plus, start, stop), dtype=np.float64)
        if row.minus is not None:
            ref = np.asarray(self.rec.read_channel(row.minus, start, stop), dtype=np.float64)
            n = min(x.size, ref.size)
            x = x[:n] - ref[:n]
        return x, row.rate

    def night_scale(self, key: str, n_epochs: int = NIGHT_SCALE_EPOCHS) -> tuple[float, float] | None:
        """``(center, span)`` of row ``key`` over the night: the medians of the robust centre
        and span (:func:`robust_range`) of ``n_epochs`` epochs spread evenly over the
        recording, each filtered as displayed. None when no sampled epoch holds data.

        A median over the night is not swayed by one quiet or one artefacted epoch, which a
        scale taken from the first page shown is.
        """
        row = self.row(key)
        filters, notch = self.active_filters()
        spec = filters.get(row.kind) if row.kind in FILTERABLE_KINDS else None
        notch = notch if row.kind in FILTERABLE_KINDS else None
        filtered = (spec is not None and spec.enabled) or notch is not None
        total = max(1, int(math.floor(self.duration / self.epoch_length + 1e-9)))
        picks = np.unique(np.linspace(0, total - 1, max(1, min(int(n_epochs), total))).round())
        centers, spans = [], []
        for k in picks.astype(int):
            t0 = k * self.epoch_length
            x, rate = self.read_row(key, t0, min(t0 + self.epoch_length, self.duration))
            if np.isfinite(x).sum() < 2:
                continue
            if filtered:
                x = filter_signal(x, rate, spec, notch)
            c, s = robust_range(x)
            centers.append(c)
            spans.append(s)
        if not spans:
            return None
        return float(np.median(centers)), float(np.median(spans))

    def level_text(self, key: str) -> str | None:
        """The current epoch's value of a SpO2 row (``"94 %"``, its median) or the position of
        a position row (``"supine"``, decoded with :attr:`position_table` at the epoch's
        middle); None for other rows, or ``"–"`` when the epoch holds no data."""
        role = level_role(self.row(key))
        if role is None or self.rec is None:
            return None
        t0 = self._current_epoch * self.epoch_length
        x, rate = self.read_row(key, t0, min(t0 + self.epoch_length, self.duration))
        x = x[np.isfinite(x)]
        if role == "spo2":
            return f"{np.median(x):.0f} %" if x.size else "–"
        if not x.size:
            return "–"
        code = decode_position(x[[x.size // 2]], self.position_table)[0]
        return _POSITION_NAMES[int(code)]

    def position_runs(self, key: str, x: np.ndarray, y: np.ndarray
                      ) -> list[tuple[float, float, str]]:
        """``(start, stop, position)`` of each run of one position in the samples ``y`` at
        times ``x`` of a position row, decoded with :attr:`position_table`: what the row
        shows instead of a trace."""
        x = np.asarray(x, dtype=np.float64)
        codes = decode_position(np.asarray(y, dtype=np.float64), self.position_table)
        if not codes.size:
            return []
        cuts = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [codes.size]])
        return [(float(x[a]), float(x[b - 1]), _POSITION_NAMES[int(codes[a])])
                for a, b in zip(starts, stops)]

    def row_transform(self, key: str) -> tuple[float, float]:
        """``(center, factor)``: a sample ``v`` of the row is drawn at ``(v - center) * factor``
        row heights from the middle of the row's trace zone (:meth:`row_baseline`), with gain,
        polarity and auto-scale applied."""
        st = self.row_state(key)
        sign = -1.0 if st.inverted else 1.0
        if st.sensitivity is not None:
            # One display unit is 1 / sensitivity mm; a row height is row_mm.
            factor = display_scale(self.row(key).unit)[1]
            return st.center or 0.0, factor / (st.sensitivity * self._row_mm) * sign
        span = st.span or 1.0
        return (st.center or 0.0,
                (ROW_FILL * (1.0 - LABEL_ZONE) * st.gain / span) * sign)

    @staticmethod
    def row_baseline(i: int) -> float:
        """Plot y of the middle of visible row ``i``'s trace zone (row ``i`` spans
        ``-i - 0.5`` to ``-i + 0.5``; its top :data:`LABEL_ZONE` holds event labels)."""
        return -float(i) - LABEL_ZONE / 2.0

    def amplitude_per_row(self, key: str) -> tuple[float, str] | None:
        """Signal range one row height stands for, in the unit shown (e.g. ``(120.0, "µV")``)."""
        st = self.row_state(key)
        unit, factor = display_scale(self.row(key).unit)
        if st.sensitivity is not None:
            return st.sensitivity * self._row_mm, unit
        if st.span is None:
            return None
        return st.span / (ROW_FILL * (1.0 - LABEL_ZONE) * st.gain) * factor, unit

    # ------------------------------------------------------------------ filters
    @property
    def filters(self) -> dict[str, FilterSpec]:
        return dict(self._filters)

    def set_filter(self, kind: str, spec: FilterSpec) -> None:
        """Display filter of one kind of row (EEG, EOG, EMG, ECG, RESP, SNORE)."""
        if kind not in FILTERABLE_KINDS:
            raise ValueError(f"no display filter for {kind!r}; filterable: "
                             f"{', '.join(FILTERABLE_KINDS)}")
        if not isinstance(spec, FilterSpec):
            raise TypeError(f"expected a FilterSpec, got {type(spec).__name__}")
        self._filters[kind] = spec
        self._emit("filters")

    def reset_filters(self) -> None:
        self._filters = dict(AASM_FILTERS)
        self._emit("filters")

    @property
    def notch(self) -> float | None:
        return self._notch

    def set_notch(self, hz: float | None) -> None:
        """Mains notch on every filtered row; None turns it off."""
        hz = None if hz is None else float(hz)
        if hz is not None and not (hz > 0 and math.isfinite(hz)):
            raise ValueError(f"notch frequency must be positive, got {hz}")
        self._notch = hz
        self._emit("filters")

    @property
    def filters_enabled(self) -> bool:
        return self._filters_enabled

    def set_filters_enabled(self, enabled: bool) -> None:
        self._filters_enabled = bool(enabled)
        self._emit("filters")

    def active_filters(self) -> tuple[dict[str, FilterSpec], float | None]:
        """The filters and notch to render with (none while filters are switched off)."""
        if not self._filters_enabled:
            return {}, None
        return dict(self._filters), self._notch

    # ------------------------------------------------------------------ window
    @property
    def duration(self) -> float:
        return float(self.rec.duration) if self.rec is not None else 0.0

    @property
    def n_epochs(self) -> int:
        return max(1, int(math.floor(self.duration / self.epoch_length + 1e-9)))

    @property
    def start(self) -> float:
        """Start of the visible window (s from the recording start)."""
        return self._start

    @property
    def window(self) -> float:
        """Page length (s)."""
        return self._window

    @property
    def stop(self) -> float:
        return self._start + self._window

    @property
    def current_epoch(self) -> int:
        return self._current_epoch

    @staticmethod
    def _check_window(seconds: float) -> float:
        seconds = float(seconds)
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"page length must be positive, got {seconds}")
        return seconds

    def set_window(self, seconds: float) -> None:
        """Page length in seconds; the current epoch stays on screen."""
        seconds = self._check_window(seconds)
        if abs(seconds - self._window) < 1e-9:
            return
        self._window = seconds
        if self.rec is not None:
            self._start = self.clamp(self.page_start_for(self._current_epoch * self.epoch_length))
        self._emit("window")

    def page_start_for(self, t: float) -> float:
        """Start of the page that holds time ``t``: whole epochs, never straddled."""
        w, el = self._window, self.epoch_length
        if w >= el:
            per = max(1, int(round(w / el)))
            k = int(t // el)
            return (k // per) * per * el
        return math.floor(t / w + 1e-9) * w

    def clamp(self, start: float) -> float:
        """A window start kept inside the recording."""
        return max(0.0, min(float(start), max(0.0, self.duration - self._window)))

    def _epoch_at(self, t: float) -> int:
        return min(self.n_epochs - 1, max(0, int(t // self.epoch_length)))

    def _set_start(self, start: float, epoch: int, announce: bool = True) -> None:
        moved = abs(start - self._start) > 1e-9
        epoch_changed = epoch != self._current_epoch
        self._start = start
        self._current_epoch = epoch
        if moved:
            self._emit("page")
        if epoch_changed or not moved:
            self._emit("epoch", announce=announce and epoch_changed)

    def go_to(self, seconds: float, *, align: bool = False) -> None:
        """Show the window starting at ``seconds`` (clamped to the recording).

        With ``align`` the page is the one of whole epochs that contains ``seconds``, and the
        epoch holding ``seconds`` becomes current.
        """
        if self.rec is None:
            return
        start = self.clamp(self.page_start_for(seconds) if align else float(seconds))
        epoch = self._epoch_at(seconds if align else start)
        self._set_start(start, epoch)

    def go_to_epoch(self, epoch: int) -> None:
        """Show the page that holds ``epoch`` (0-based) and make it current."""
        if self.rec is None:
            return
        epoch = min(self.n_epochs - 1, max(0, int(epoch)))
        self._set_start(self.clamp(self.page_start_for(epoch * self.epoch_length)), epoch)

    def set_current_epoch(self, epoch: int) -> None:
        """Make ``epoch`` current from outside the viewer (not announced back); the page
        follows only when the epoch is off screen."""
        if self.rec is None:
            return
        epoch = min(self.n_epochs - 1, max(0, int(epoch)))
        t0 = epoch * self.epoch_length
        start = self._start
        if not (start - 1e-6 <= t0
                and t0 + min(self.epoch_length, self._window) <= start + self._window + 1e-6):
            start = self.clamp(self.page_start_for(t0))
        self._set_start(start, epoch, announce=False)

    def select_epoch(self, epoch: int) -> None:
        """Make ``epoch`` current and leave the window where it is (a click on the traces)."""
        if self.rec is None:
            return
        self._set_start(self._start, min(self.n_epochs - 1, max(0, int(epoch))))

    def page(self, direction: int) -> None:
        """One page forward (1) or back (-1)."""
        if self.rec is None:
            return
        start = self.clamp(self._start + direction * self._window)
        if self._window >= self.epoch_length:
            epoch = int(round(start / self.epoch_length))
        else:
            epoch = int(start // self.epoch_length)
        self._set_start(start, min(self.n_epochs - 1, epoch))

    def step_epochs(self, n: int) -> None:
        """Move the current epoch by ``n``; the page follows when the epoch leaves it."""
        if self.rec is None:
            return
        epoch = min(self.n_epochs - 1, max(0, self._current_epoch + int(n)))
        t0 = epoch * self.epoch_length
        start = self._start
        if self._window < self.epoch_length or not (
                start <= t0 and t0 + self.epoch_length <= start + self._window + 1e-6):
            start = self.clamp(self.page_start_for(t0))
        self._set_start(start, epoch)

    def scroll(self, fraction: float) -> None:
        """Move the window by a fraction of its length (not aligned to epochs)."""
        if self.rec is None:
            return
        start = self.clamp(self._start + fraction * self._window)
        self._set_start(start, min(self.n_epochs - 1, int(start // self.epoch_length)))

    def home(self) -> None:
        self.go_to_epoch(0)

    def end(self) -> None:
        if self.rec is None:
            return
        self._set_start(self.clamp(self.duration - self._window), self.n_epochs - 1)

    # ------------------------------------------------------------------ events
    def set_event_layers(self, layers: Mapping[str, Any]) -> None:
        """The scored events to draw: ``{layer name: EventSet}`` (a manual scoring, a file, a
        detector run), each queried for the window only (:meth:`EventSet.overlapping`)."""
        self._layers = dict(layers)
        self._emit("events")

    def events_changed(self) -> None:
        """Tell the views that events of a layer were added, removed or edited in place."""
        self._emit("events")

    @property
    def event_layers(self) -> dict[str, Any]:
        """``{layer name: EventSet}`` drawn, in drawing order."""
        return dict(self._layers)

    def set_hidden_layers(self, names: Iterable[str]) -> None:
        """Layers not drawn (the events panel's source filter)."""
        self._hidden_layers = set(names)
        self._emit("events")

    def set_hidden_types(self, types: Iterable[Any]) -> None:
        """Event types not drawn (the events panel's type filter)."""
        self._hidden_types = {as_event_type(t) for t in types}
        self._emit("events")

    @property
    def hidden_types(self) -> set:
        return set(self._hidden_types)

    @property
    def hidden_layers(self) -> set[str]:
        return set(self._hidden_layers)

    def event_onsets(self) -> np.ndarray:
        """Onsets (s) of every shown event, sorted (the night overview's ticks)."""
        onsets = [e.onset for name, layer in self._layers.items()
                  if name not in self._hidden_layers
                  for e in layer if e.type not in self._hidden_types]
        return np.sort(np.asarray(onsets, dtype=np.float64))

    def visible_events(self) -> list[tuple[str, Any]]:
        """``(layer, event)`` of every shown event that overlaps the window, by onset; an event
        of an earlier layer's id (an accepted automatic event) is shown in that layer only.

        Only the window is queried, so a page costs the same with ten or ten thousand events.
        """
        out: list[tuple[str, Any]] = []
        if self.rec is None:
            return out
        seen: set[str] = set()
        for name, layer in self._layers.items():
            for e in layer.overlapping(self._start, self.stop):
                # An event a layer above holds (an accepted automatic one) is drawn once.
                if e.id in seen:
                    continue
                seen.add(e.id)
                if name not in self._hidden_layers and e.type not in self._hidden_types:
                    out.append((name, e))
        out.sort(key=lambda le: (le[1].onset, le[1].id))
        return out

    def event_rows(self, event: Any, index: Mapping[str, int] | None = None) -> tuple[int, ...]:
        """Visible rows (indices, top first) an event was scored on; () when it names no
        channel shown (then it is a time span across the page). ``index``: a
        :meth:`_row_index` to reuse over many events."""
        index = self._row_index() if index is None else index
        rows = {index[c.casefold()] for c in event.channels if c.casefold() in index}
        return tuple(sorted(rows))

    def _row_index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, r in enumerate(self._rows):
            for name in (r.plus, r.label, r.key):
                index.setdefault(name.casefold(), i)
        return index

    def event_marks(self, label_width: float, lanes: int = 1,
                    band_lanes: int | None = None) -> list[EventMark]:
        """Where each visible event and its label go on the page.

        Spans sit on the rows the event was scored on (all rows when none is shown). Each
        label takes ``label_width`` seconds from the span's start in one of ``lanes`` label
        lanes of its top row (the page band for events without a row shown, and for all when
        ``lanes`` is 0), the first lane free there, the selected event's label first; a label
        that finds no free lane is not drawn (``lane`` None) rather than drawn over another.

        Parameters
        ----------
        label_width : float
            Seconds of the time axis one label takes (the view measures its text).
        lanes : int
            Label lanes per row (0: rows too low for any label; they go to the band).
        band_lanes : int, optional
            Label lanes in the page band (``lanes`` when omitted).
        """
        label_width = max(float(label_width), 0.0)
        lanes = max(0, int(lanes))
        band_lanes = lanes if band_lanes is None else max(0, int(band_lanes))
        # row (-1: the page band) -> the label intervals taken in each lane
        taken: dict[int, list[list[tuple[float, float]]]] = {}
        a, b = self._start, self.stop
        index = self._row_index()
        placed = []
        for layer, e in self.visible_events():
            rows = self.event_rows(e, index)
            x0, x1 = max(e.onset, a), min(e.end, b)
            # Rows too low for a label lane send their labels to the page band.
            home = rows[0] if (rows and lanes) else -1
            placed.append([layer, e, rows, x0, max(x1, x0), home, None])
        # The selected event's label is placed first, so it is never the one left out.
        for item in sorted(placed, key=lambda it: it[1].id != self._selected_event):
            x0, home = item[3], item[5]
            lane_sets = taken.setdefault(home, [[] for _ in range(lanes if home >= 0
                                                                 else band_lanes)])
            box = (x0, x0 + label_width)
            for k, used in enumerate(lane_sets):
                if all(box[1] <= u0 or box[0] >= u1 for u0, u1 in used):
                    used.append(box)
                    item[6] = k
                    break
        marks = []
        for layer, e, rows, x0, x1, home, lane in placed:
            info = EVENT_TYPES[e.type]
            marks.append(EventMark(e, layer, rows, x0, x1, home if home >= 0 else None, lane,
                                   info.code, info.colour, e.id == self._selected_event))
        return marks

    # ------------------------------------------------------------------ rejected candidates
    @property
    def show_rejected(self) -> bool:
        """Whether the candidates the detectors rejected are drawn (off by default)."""
        return self._show_rejected

    def set_show_rejected(self, on: bool) -> None:
        """Draw (or stop drawing) the rejected candidates of the shown layers."""
        self._show_rejected = bool(on)
        self._emit("events")

    def _rejected_of(self, name: str, layer: Any) -> tuple[list[float], list[Any], float]:
        """A layer's rejected candidates by onset, rebuilt only when its list changed."""
        cands = getattr(layer, "rejected", None) or []
        key = (id(cands), len(cands), id(cands[0]) if cands else 0, id(cands[-1]) if cands else 0)
        cached = self._rejected_index.get(name)
        if cached is None or cached[0] != key:
            ordered = sorted(cands, key=lambda c: (c.event.onset, c.event.id))
            cached = (key, [c.event.onset for c in ordered], ordered,
                      max((c.event.duration for c in ordered), default=0.0))
            self._rejected_index[name] = cached
        return cached[1], cached[2], cached[3]

    def rejected_marks(self) -> list[RejectedMark]:
        """Where each rejected candidate of the window goes, when :attr:`show_rejected`.

        Candidates of shown layers and types only, on the rows they were considered on (the
        page band when they name no row shown), by onset. Only the window is looked up, so a
        page costs the same with thousands of candidates.
        """
        if not self._show_rejected or self.rec is None:
            return []
        a, b = self._start, self.stop
        index = self._row_index()
        marks = []
        for name, layer in self._layers.items():
            if name in self._hidden_layers:
                continue
            onsets, ordered, longest = self._rejected_of(name, layer)
            lo = bisect.bisect_left(onsets, a - longest)
            hi = bisect.bisect_left(onsets, b)
            for c in ordered[lo:hi]:
                e = c.event
                if e.end <= a or e.type in self._hidden_types:
                    continue
                x0 = max(e.onset, a)
                marks.append(RejectedMark(c, name, self.event_rows(e, index), x0,
                                          max(min(e.end, b), x0), f"rejected: {c.reason}"))
        marks.sort(key=lambda m: (m.candidate.event.onset, m.candidate.event.id))
        return marks

    # ------------------------------------------------------------------ event selection
    @property
    def selected_event(self) -> str | None:
        """Id of the event selected on the traces (None when none is)."""
        return self._selected_event

    def select_event(self, event_id: str | None) -> None:
        """Select an event (the edit keys then act on it); None clears the selection."""
        self._selected_event = event_id
        self._emit("events")

    def find_event(self, event_id: str) -> tuple[str, Any] | None:
        """``(layer, event)`` of the event with this id, or None."""
        for name, layer in self._layers.items():
            e = layer.get(event_id)
            if e is not None:
                return name, e
        return None

    def event_at(self, t: float, row: int | None, tolerance: float = 0.0) -> tuple[str, Any] | None:
        """The shown event under time ``t`` on visible row ``row`` (None: the page band), the
        shortest when several overlap; None when there is none."""
        hits = []
        for layer, e in self.visible_events():
            if not (e.onset - tolerance <= t <= e.end + tolerance):
                continue
            rows = self.event_rows(e)
            if row is None or not rows or row in rows:
                hits.append((e.duration, layer, e))
        if not hits:
            return None
        _, layer, e = min(hits, key=lambda h: h[0])
        return layer, e

    # ------------------------------------------------------------------ span selection
    @property
    def span(self) -> tuple[float, float, str | None] | None:
        """The time span dragged on the traces: ``(start, stop, row key or None)``."""
        return self._span

    def set_span(self, start: float, stop: float, row: str | None = None) -> None:
        """Mark a span (a drag across a trace, or the page band when ``row`` is None)."""
        if row is not None:
            self.row_state(row)
        lo, hi = sorted((float(start), float(stop)))
        lo, hi = max(0.0, lo), min(self.duration, hi)
        self._span = (lo, hi, row) if hi > lo else None
        self._emit("span")

    def measure_span(self) -> Measurement | None:
        """The measuring cursor: peak-to-peak amplitude, duration and frequency of the span
        dragged on a row, as displayed (filtered as the row is). None when no span is marked
        on a row (a span across the page measures no wave), or it holds under two samples."""
        if self._span is None or self._span[2] is None or self.rec is None:
            return None
        start, stop, key = self._span
        row = self.row(key)
        filters, notch = self.active_filters()
        spec = filters.get(row.kind) if row.kind in FILTERABLE_KINDS else None
        notch = notch if row.kind in FILTERABLE_KINDS else None
        active = (spec is not None and spec.enabled) or notch is not None
        pad = filter_padding(spec, notch) if active else 0.0
        t0 = max(0.0, start - pad)
        x, rate = self.read_row(key, t0, min(self.duration, stop + pad))
        if active and x.size:
            x = filter_signal(x, rate, spec, notch)
        a = int(round((start - t0) * rate))
        x = x[a:a + int(round((stop - start) * rate))]
        if np.isfinite(x).sum() < 2:
            return None
        ptp, freq = measure(x, rate)
        unit, factor = display_scale(row.unit)
        return Measurement(ptp * factor, unit, stop - start, freq)

    def clear_span(self) -> None:
        if self._span is not None:
            self._span = None
            self._emit("span")

    # ------------------------------------------------------------------ stages on the page
    def set_stage_source(self, source: Callable[[int], str] | None) -> None:
        """``source(epoch) -> text`` saying the scored stage(s) of an epoch; the page shows it
        for the current epoch. None shows nothing."""
        self._stage_source = source
        self._emit("stages")

    def stages_changed(self) -> None:
        """The scoring changed: the page's stage caption must be redrawn."""
        self._emit("stages")

    def stage_caption(self) -> str:
        """The scored stage(s) of the current epoch (empty without a scoring)."""
        if self._stage_source is None or self.rec is None:
            return ""
        return self._stage_source(self._current_epoch)

    # ------------------------------------------------------------------ persistence
    def to_dict(self, rows: bool = False) -> dict:
        """The display state as JSON-able data.

        Parameters
        ----------
        rows : bool
            Add the per-recording part: each row's gain, polarity, visibility and sensitivity
            (None: automatic scale), the derivations and the order of the rows (None: grouped
            by modality). Without it, the viewer preferences
            kept between sessions (page length, filters, notch, clipping, calibrated rows).
        """
        out: dict[str, Any] = {
            "window": self._window,
            "filters": {k: [v.low, v.high] for k, v in self._filters.items()
                        if k in FILTERABLE_KINDS},
            "filters_enabled": self._filters_enabled,
            "notch": self._notch,
            "clip": self._clip,
            "calibrated": self._calibrated,
        }
        if rows:
            out["derivations"] = [d.to_dict() for d in self._derivations]
            out["order"] = list(self._order) or None
            out["rows"] = {r.key: {"gain": self._state[r.key].gain,
                                   "inverted": self._state[r.key].inverted,
                                   "visible": self._state[r.key].visible,
                                   "sensitivity": self._state[r.key].sensitivity}
                           for r in self._rows_all}
        return out

    def restore(self, data: Mapping[str, Any]) -> list[str]:
        """Apply what :meth:`to_dict` returned (or an older, partial copy of it).

        Settings files outlive versions and hand edits, so a bad entry is skipped, not fatal;
        each skipped entry is returned as a sentence. Row states and derivations apply to the
        recording now shown and are skipped for rows it does not have.

        Returns
        -------
        list of str
            What was skipped and why (empty when everything applied).
        """
        if not isinstance(data, Mapping):
            return [f"display state must be a mapping, not {type(data).__name__}"]
        skipped: list[str] = []
        filters = data.get("filters") or {}
        if isinstance(filters, Mapping):
            for kind, pair in filters.items():
                try:
                    if kind not in FILTERABLE_KINDS:
                        raise ValueError(f"no display filter for {kind!r}")
                    low, high = (None if v is None else float(v) for v in pair)
                    self._filters[kind] = FilterSpec(low, high)
                except (TypeError, ValueError) as exc:
                    skipped.append(f"filter {kind!r}: {exc}")
        else:
            skipped.append("filters must be a mapping of kind to [low, high]")
        if "filters_enabled" in data:
            self._filters_enabled = bool(data["filters_enabled"])
        if "clip" in data:
            self._clip = bool(data["clip"])
        if "calibrated" in data:
            # The rows shown keep their own state (their "rows" entries); this is for the next.
            self._calibrated = bool(data["calibrated"])
        if "notch" in data:
            notch = data["notch"]
            if notch is None or notch in MAINS_FREQUENCIES:
                self._notch = None if notch is None else float(notch)
            else:
                skipped.append(f"notch {notch!r}: not one of "
                               f"{', '.join(f'{f:g}' for f in MAINS_FREQUENCIES)} Hz or off")
        self._emit("filters")
        window = data.get("window")
        if window is not None:
            if isinstance(window, (int, float)) and not isinstance(window, bool) \
                    and window > 0 and math.isfinite(window):
                self.set_window(float(window))
            else:
                skipped.append(f"window {window!r}: not a positive number of seconds")
        if self.rec is not None:
            skipped += self._restore_rows(data)
        elif data.get("rows") or data.get("derivations"):
            skipped.append("row states and derivations: no recording is shown")
        return skipped

    def _restore_rows(self, data: Mapping[str, Any]) -> list[str]:
        skipped: list[str] = []
        changed = False
        for item in data.get("derivations") or ():
            try:
                d = Derivation.from_dict(item)
                if d.label not in {x.label for x in self._derivations}:
                    trial = self._derivations + [d]
                    build_display_channels(self.rec, self._modalities or None, trial)
                    self._derivations = trial
                    changed = True
            except (KeyError, TypeError, ValueError) as exc:
                skipped.append(f"derivation {item!r}: {exc}")
        if changed:
            self._rebuild_rows()
        for key, st in (data.get("rows") or {}).items():
            if key not in self._state:
                skipped.append(f"row {key!r}: not in this recording")
                continue
            try:
                gain = float(st.get("gain", 1.0))
                if not (gain > 0 and math.isfinite(gain)):
                    raise ValueError(f"gain {gain} is not positive")
                # An entry written before sensitivities existed leaves the row's as it is.
                sensitivity = st.get("sensitivity", self._state[key].sensitivity)
                if sensitivity is not None:
                    sensitivity = float(sensitivity)
                    if not (sensitivity > 0 and math.isfinite(sensitivity)):
                        raise ValueError(f"sensitivity {sensitivity} is not positive")
                    if not self.can_calibrate(key):
                        raise ValueError("a level row has no sensitivity")
                row = self._state[key]
                row.gain = gain
                row.inverted = bool(st.get("inverted", False))
                row.visible = bool(st.get("visible", True))
                row.sensitivity = sensitivity
            except (AttributeError, TypeError, ValueError) as exc:
                skipped.append(f"row {key!r}: {exc}")
        skipped += self._restore_order(data.get("order"))
        self._refresh_visible()
        self._emit("rows")
        return skipped

    def _restore_order(self, order: Any) -> list[str]:
        """Apply a saved row order (None: grouped by modality); unknown rows are skipped."""
        if order is None:
            return []
        if not isinstance(order, list) or not all(isinstance(k, str) for k in order):
            return ["order: not a list of row names"]
        skipped = [f"order: row {k!r} is not in this recording" for k in order
                   if k not in self._state]
        keys = list(dict.fromkeys(k for k in order if k in self._state))
        if keys:
            self._order = keys + [r.key for r in self._rows_all if r.key not in set(keys)]
            self._rows_all = self._ordered(self._rows_all)
        return skipped

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], rec: Any = None,
                  modalities: Mapping[str, str] | None = None) -> "DisplayModel":
        """A model with the state of :meth:`to_dict`, showing ``rec`` when given.

        Raises
        ------
        ValueError
            If ``data`` has an entry that cannot be applied (unlike :meth:`restore`, which
            skips it).
        """
        model = cls()
        if rec is not None:
            model.set_recording(rec, modalities)
        skipped = model.restore(data)
        if skipped:
            raise ValueError("display state not applied: " + "; ".join(skipped))
        return model
