"""Calibrated sensitivities of a trace viewer: physical unit per millimetre of screen.

A clinical reader judges amplitude by eye against a known scale ("a slow wave is over 75 µV
peak to peak"), so each kind of trace has a clinical default sensitivity — display unit per
mm — kept in :data:`SENSITIVITY_DEFAULTS`, the one table of them. The viewer turns mm into
pixels with the screen's physical resolution; nothing here knows about screens or Qt.

The defaults and where they come from:

``EEG`` 7 µV/mm
    The routine sensitivity of clinical EEG (the ACNS minimum technical standards read EEG at
    5–10 µV/mm; 7 µV/mm is the long-standing paper and digital default), so sleep spindles,
    K complexes and slow waves look as in the scoring manuals' figures. Its scale bar is
    75 µV: the AASM amplitude criterion of a slow wave (N3), checkable by eye.
``EOG`` 7 µV/mm
    Read with the EEG on the same sensitivity, as the AASM montage shows them, so a frontal
    slow wave or K complex picked up by E1/E2 compares with the EEG's.
``EMG`` (chin) 2 µV/mm
    Chin tone is a few to some tens of µV; at 2 µV/mm its drop at REM onset is visible
    (our choice within the 2–3 µV/mm of PSG systems).
``LEG`` (leg EMG) 5 µV/mm
    Limb-movement bursts are tens of µV over a resting level of a few µV; at 5 µV/mm a burst
    fills a row while the resting level stays visible (our choice; the AASM 8-µV rise of a leg
    movement is a measurement, :class:`~sleepfm_engine.display_model.Measurement`, not read by
    eye).
``ECG`` 100 µV/mm
    The standard electrocardiograph calibration of 10 mm/mV; its scale bar is 1 mV, the
    calibration pulse.

Respiration (flow, effort), snoring and other traces have no clinical sensitivity (their
units are often arbitrary): they have no default, and a calibrated row of theirs starts from
its automatic scale rounded to a step of :data:`SENSITIVITY_MANTISSAS`. Level rows (SpO2 on its
fixed 80–100 % axis, body position as names) are never calibrated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .channels import LEG_WORDS, label_says

__all__ = ["SCALE_BAR_FILL", "SENSITIVITY_DEFAULTS", "SENSITIVITY_MANTISSAS", "SensitivityDefault",
           "default_sensitivity", "format_amount", "format_sensitivity", "scale_bar_value",
           "sensitivity_class", "snap_sensitivity", "step_sensitivity"]


@dataclass(frozen=True)
class SensitivityDefault:
    """The clinical default of one kind of trace.

    Attributes
    ----------
    per_mm : float
        Sensitivity: display unit per mm of screen.
    unit : str
        The display unit it is in (``"µV"``); a row shown in another unit has no default.
    bar : float
        The value its scale bar shows when the row has room for it (a clinical criterion or
        calibration, e.g. the 75-µV slow wave).
    """

    per_mm: float
    unit: str
    bar: float


#: Clinical default sensitivity of each sensitivity class (:func:`sensitivity_class`); the
#: module docstring says where each value comes from.
SENSITIVITY_DEFAULTS: dict[str, SensitivityDefault] = {
    "EEG": SensitivityDefault(7.0, "µV", 75.0),
    "EOG": SensitivityDefault(7.0, "µV", 75.0),
    "EMG": SensitivityDefault(2.0, "µV", 20.0),
    "LEG": SensitivityDefault(5.0, "µV", 50.0),
    "ECG": SensitivityDefault(100.0, "µV", 1000.0),
}
#: The steps of a sensitivity in each decade (… 5, 7, 10, 15, 20, 30 …), the ladder of EEG
#: amplifiers that the larger/smaller actions climb.
SENSITIVITY_MANTISSAS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
#: Most of a row's height a scale bar may take; a bar taller than this is replaced by a
#: smaller round value.
SCALE_BAR_FILL = 0.6
# A preferred bar shorter than this fraction of a row is too small to read against.
_SCALE_BAR_MIN = 0.15
# Round values of an automatic scale bar in each decade.
_BAR_MANTISSAS: tuple[float, ...] = (1.0, 2.0, 5.0)
# Larger display units: a value of at least 1000 of the first is shown in the second.
_LARGER_UNIT: dict[str, str] = {"nV": "µV", "µV": "mV", "mV": "V"}


def sensitivity_class(kind: str, label: str) -> str:
    """The row of :data:`SENSITIVITY_DEFAULTS` a trace belongs to: its display kind, except
    that an EMG whose label names a leg (``LLeg``, ``Tib L``, ``LAT``) is ``"LEG"``."""
    if kind == "EMG" and label_says(LEG_WORDS, label):
        return "LEG"
    return kind


def default_sensitivity(kind: str, label: str, unit: str) -> SensitivityDefault | None:
    """The clinical default of a trace of display ``kind`` and ``label`` shown in ``unit``;
    None when there is none (respiration, levels, other) or the trace is not shown in the
    table's unit (an EEG stored in arbitrary units cannot be read in µV/mm)."""
    d = SENSITIVITY_DEFAULTS.get(sensitivity_class(kind, label))
    if d is None or d.unit != unit:
        return None
    return d


def _ladder(value: float) -> list[float]:
    """The steps of the decades around ``value`` (one decade either side), ascending."""
    k = math.floor(math.log10(value))
    return [m * 10.0 ** e for e in (k - 1, k, k + 1, k + 2) for m in SENSITIVITY_MANTISSAS]


def snap_sensitivity(value: float) -> float:
    """The step of :data:`SENSITIVITY_MANTISSAS` nearest ``value`` (on a log scale)."""
    value = _positive(value)
    steps = _ladder(value)
    return _tidy(min(steps, key=lambda s: abs(math.log(s / value))))


def step_sensitivity(value: float, steps: int) -> float:
    """``value`` moved ``steps`` along the ladder: positive steps to larger values (smaller
    traces), negative to smaller values (larger traces). A value off the ladder first snaps
    to its nearest step."""
    value = snap_sensitivity(value)
    for _ in range(abs(int(steps))):
        ladder = _ladder(value)
        i = min(range(len(ladder)), key=lambda j: abs(math.log(ladder[j] / value)))
        value = _tidy(ladder[i + (1 if steps > 0 else -1)])
    return value


def scale_bar_value(per_row: float, preferred: float | None = None) -> float | None:
    """The value a row's scale bar shows, in the display unit.

    Parameters
    ----------
    per_row : float
        Signal range one row height stands for, in the display unit.
    preferred : float, optional
        A clinical value (:attr:`SensitivityDefault.bar`), kept when it takes between 15 % and
        :data:`SCALE_BAR_FILL` of the row.

    Returns
    -------
    float or None
        The preferred value, else the largest round value (1, 2, 5 × 10^k) no taller than
        :data:`SCALE_BAR_FILL` of the row; None when ``per_row`` is not a positive number.
    """
    if not (per_row > 0 and math.isfinite(per_row)):
        return None
    room = SCALE_BAR_FILL * per_row
    if preferred is not None and _SCALE_BAR_MIN * per_row <= preferred <= room:
        return float(preferred)
    k = math.floor(math.log10(room))
    candidates = [m * 10.0 ** e for e in (k - 1, k) for m in _BAR_MANTISSAS]
    return _tidy(max(c for c in candidates if c <= room * (1 + 1e-9)))


def format_amount(value: float, unit: str) -> str:
    """``"75 µV"``, ``"1 mV"`` (1000 µV), ``"0.5 L/s"``: a round value in a readable unit."""
    while unit in _LARGER_UNIT and abs(value) >= 1000:
        value, unit = value / 1000.0, _LARGER_UNIT[unit]
    number = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{number} {unit}".rstrip()


def format_sensitivity(per_mm: float, unit: str) -> str:
    """``"7 µV/mm"``, ``"0.2 mV/mm"`` — what a calibrated row's label says."""
    text = format_amount(per_mm, unit)
    number, _, shown = text.partition(" ")
    return f"{number} {shown}/mm" if shown else f"{number}/mm"


def _positive(value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"a sensitivity must be a positive number, got {value}")
    return value


def _tidy(value: float) -> float:
    """Drop the float noise of ``m * 10**e`` (0.7000000000000001 -> 0.7)."""
    return float(f"{value:.6g}")
