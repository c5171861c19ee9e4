"""How sick a synthetic sleeper is: the settings behind ``sleepfm synth --ahi 25 --plmi 20``."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Severity:
    """Event rates of a synthetic night with scored-event ground truth.

    Rates are per hour of sleep (the AASM denominator), so the ground-truth indices of the
    night come out close to the numbers asked for (exactly, up to the rounding of counts and
    events that do not fit).

    Attributes
    ----------
    ahi : float
        Apneas plus hypopneas per hour of sleep (0..100).
    plmi : float
        Periodic limb movements in sleep per hour of sleep (0..150).
    arousal_index : float or None
        Spontaneous arousals per hour of sleep; None takes the sleeper's own rate. Respiratory
        and limb-movement arousals come on top.
    central_share, mixed_share : float
        Fractions of the apneas that are central and mixed; the rest are obstructive.
    hypopnea_share : float
        Fraction of the respiratory events that are hypopneas.
    respiratory_arousal_share : float
        Fraction of respiratory events that end in an arousal.
    """

    ahi: float = 0.0
    plmi: float = 0.0
    arousal_index: float | None = None
    central_share: float = 0.12
    mixed_share: float = 0.08
    hypopnea_share: float = 0.4
    respiratory_arousal_share: float = 0.7

    def __post_init__(self) -> None:
        def check(name: str, value: float, hi: float) -> None:
            if not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0.0 <= value <= hi:
                raise ValueError(f"{name} must be a number in [0, {hi:g}], got {value!r}")

        check("ahi", self.ahi, 100.0)
        check("plmi", self.plmi, 150.0)
        if self.arousal_index is not None:
            check("arousal_index", self.arousal_index, 60.0)
        for name in ("central_share", "mixed_share", "hypopnea_share",
                     "respiratory_arousal_share"):
            check(name, getattr(self, name), 1.0)
        if self.central_share + self.mixed_share > 1.0:
            raise ValueError("central_share + mixed_share must not exceed 1 "
                             f"(got {self.central_share} + {self.mixed_share})")

    def as_dict(self) -> dict:
        """The settings as a plain dict (for provenance)."""
        return asdict(self)
