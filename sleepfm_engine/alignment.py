"""Does a hypnogram belong to a recording? The one check every place that pairs them calls.

A hypnogram found beside a recording by name may have been scored on another night, or on the
whole night while the file holds 25 minutes of it. Statistics over epochs the recording does
not have look right and are wrong, so :func:`fit_to_recording` places the hypnogram on the
recording's time line (by both start times when both are known), refuses one that does not
overlap the recording at all, and drops, with a loud warning giving both durations, the epochs
that lie outside it. Report, command line and application call it, so they agree.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from .errors import HypnogramError
from .hypnogram import Hypnogram

__all__ = ["HypnogramFit", "HypnogramAlignmentWarning", "hypnogram_fit", "fit_to_recording"]

# Clock times in EDF headers are whole seconds; a difference smaller than this is no shift.
_TOLERANCE_S = 1e-6


class HypnogramAlignmentWarning(UserWarning):
    """A hypnogram reaches outside the recording it is paired with; the outside was dropped."""


@dataclass(frozen=True)
class HypnogramFit:
    """Where a hypnogram's epochs lie on a recording's time line.

    Attributes
    ----------
    first_s : float
        Start of the hypnogram's epoch 0, in seconds from the recording start.
    epoch_length : float
    n_epochs : int
    recording_duration : float
        Seconds the recording holds.
    shifted_by_clock : bool
        Whether both start times were known and placed the hypnogram.
    """

    first_s: float
    epoch_length: float
    n_epochs: int
    recording_duration: float
    shifted_by_clock: bool

    @property
    def end_s(self) -> float:
        """End of the hypnogram's last epoch, in seconds from the recording start."""
        return self.first_s + self.n_epochs * self.epoch_length

    @property
    def kept(self) -> range:
        """Indices of the epochs that overlap the recording (a partial last epoch included)."""
        if self.n_epochs == 0:
            return range(0)
        lo = max(0, math.floor(-self.first_s / self.epoch_length + 1e-9))
        hi = min(self.n_epochs,
                 math.ceil((self.recording_duration - self.first_s) / self.epoch_length - 1e-9))
        return range(lo, max(lo, hi))

    @property
    def overlaps(self) -> bool:
        """Whether any epoch has recording under it."""
        return len(self.kept) > 0

    @property
    def fits(self) -> bool:
        """Whether every epoch has recording under it."""
        return len(self.kept) == self.n_epochs


def _shift(hyp: Hypnogram, recording: Any) -> float | None:
    rec_start = getattr(recording, "start", None)
    if hyp.start is None or rec_start is None:
        return None
    a, b = hyp.start, rec_start
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    shift = (a - b).total_seconds()
    return 0.0 if abs(shift) < _TOLERANCE_S else shift


def hypnogram_fit(hyp: Hypnogram, recording: Any) -> HypnogramFit:
    """Where ``hyp`` lies on ``recording``'s time line (anything with ``duration`` in seconds
    and ``start``, a datetime or None)."""
    shift = _shift(hyp, recording)
    return HypnogramFit(first_s=(shift or 0.0) + hyp.offset, epoch_length=hyp.epoch_length,
                        n_epochs=hyp.n_epochs,
                        recording_duration=float(getattr(recording, "duration")),
                        shifted_by_clock=shift is not None)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def fit_to_recording(hyp: Hypnogram, recording: Any) -> Hypnogram:
    """The hypnogram cut to the time the recording has.

    Parameters
    ----------
    hyp : Hypnogram
        A hypnogram paired with the recording (by name, by the user, or scored on it).
    recording : Recording
        Anything with ``duration`` (seconds) and ``start`` (datetime or None). A recording
        without signal channels (an annotation-only EDF+) bounds nothing: ``hyp`` is returned.

    Returns
    -------
    Hypnogram
        ``hyp`` itself when every epoch lies on the recording; otherwise a copy holding only the
        epochs that overlap it (same start and grid, ``offset`` moved to the first kept epoch).

    Raises
    ------
    HypnogramError
        If no epoch of the hypnogram overlaps the recording: it was scored on another night or
        file (both spans are named).

    Warns
    -----
    HypnogramAlignmentWarning
        When epochs outside the recording were dropped; says both durations and how many.
    """
    if getattr(recording, "channels", None) == []:
        # An annotation-only EDF+ (a hypnogram file read for its header) has no time of its
        # own for the hypnogram to fit into.
        return hyp
    fit = hypnogram_fit(hyp, recording)
    if fit.fits:
        return hyp
    name = hyp.source or "the hypnogram"
    by = " by their start times" if fit.shifted_by_clock and fit.first_s != hyp.offset else ""
    span = (f"the hypnogram covers {_minutes(fit.n_epochs * fit.epoch_length)} "
            f"({fit.n_epochs} epochs of {fit.epoch_length:g} s) from {fit.first_s:g} s{by}, "
            f"the recording {_minutes(fit.recording_duration)} from 0 s")
    if not fit.overlaps:
        raise HypnogramError(hyp.source or None,
                             f"does not belong to this recording: {span}; they do not overlap")
    kept = fit.kept
    warnings.warn(
        f"{name}: does not fit the recording: {span}; only the {len(kept)} epochs with recording "
        f"under them are used ({fit.n_epochs - len(kept)} dropped)",
        HypnogramAlignmentWarning, stacklevel=2)
    probs = None if hyp.probabilities is None else hyp.probabilities[kept.start:kept.stop]
    return Hypnogram(hyp.stages[kept.start:kept.stop], hyp.epoch_length, hyp.start,
                     hyp.offset + kept.start * hyp.epoch_length, hyp.scorer, probs, hyp.source,
                     hyp.file_format, hyp.automatic)

