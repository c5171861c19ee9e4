"""A seeded synthetic sleeper: the per-night parameters every generator reads.

Variation between seeds is age-like: older sleepers get less N3, more wake after sleep onset,
lower delta and spindle activity, slower alpha and more limb movements, as in the normative
literature (Ohayon et al. 2004; Carskadon & Dement).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass

import numpy as np

from ._dsp import rng_for


@dataclass(frozen=True)
class Subject:
    """Parameters of one synthetic sleeper and night (all drawn from the seed).

    Attributes are physiological quantities in plain units (minutes, Hz, µV scales, bpm, %).
    """

    age: int
    sex: str
    # hypnogram
    sol_min: float
    n1_onset_min: float
    cycle_min: float
    n3_scale: float
    rem_first_min: float
    rem_growth_min: float
    awakenings_per_h: float
    long_wake_prob: float
    final_wake_min: float
    # EEG
    eeg_scale: float
    alpha_hz: float
    alpha_amp: float
    spindle_hz: float
    spindle_per_min: float
    spindle_amp: float
    kc_per_min: float
    delta_amp: float
    # EMG / EOG
    chin_tone: float
    plm_per_h: float
    # heart / breathing
    hr_bpm: float
    rsa_bpm: float
    breaths_per_min: float
    spo2_base: float
    ahi: float
    arousals_per_h: float
    # recording
    lights_off: _dt.datetime

    def as_dict(self) -> dict:
        """The parameters as a plain dict (datetimes kept)."""
        return asdict(self)


def make_subject(seed: int) -> Subject:
    """Draw the sleeper of night ``seed``.

    Parameters
    ----------
    seed : int
        Night seed; the same seed always gives the same sleeper.
    """
    rng = rng_for(seed, "subject")
    age = int(rng.integers(20, 81))
    u = (age - 20) / 60.0  # 0 young adult .. 1 elderly
    sex = "F" if rng.random() < 0.5 else "M"

    def clip_norm(mean, sd, lo, hi):
        return float(np.clip(rng.normal(mean, sd), lo, hi))

    sol = float(np.clip(np.exp(rng.normal(np.log(9.0 + 10.0 * u), 0.45)), 3.0, 45.0))
    day = _dt.date(2024, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 366)))
    minutes = int(rng.integers(0, 150))  # lights off between 21:30 and 24:00
    lights_off = _dt.datetime.combine(day, _dt.time(21, 30)) + _dt.timedelta(minutes=minutes)
    return Subject(
        age=age,
        sex=sex,
        sol_min=sol,
        n1_onset_min=float(rng.uniform(1.5, 5.0) + 2.0 * u),
        cycle_min=clip_norm(92.0, 7.0, 78.0, 110.0),
        n3_scale=clip_norm(1.05 - 0.7 * u, 0.12, 0.2, 1.3),
        rem_first_min=float(rng.uniform(8.0, 16.0)),
        rem_growth_min=float(rng.uniform(5.0, 9.0)),
        awakenings_per_h=float(rng.uniform(0.6, 1.4) + 1.6 * u),
        long_wake_prob=float(0.03 + 0.15 * u),
        final_wake_min=float(rng.uniform(3.0, 12.0) + 15.0 * u),
        eeg_scale=clip_norm(1.1 - 0.25 * u, 0.08, 0.75, 1.3),
        alpha_hz=clip_norm(10.3 - 1.0 * u, 0.4, 8.6, 11.5),
        alpha_amp=clip_norm(1.0, 0.2, 0.6, 1.5),
        spindle_hz=clip_norm(13.0, 0.5, 12.0, 14.5),
        spindle_per_min=clip_norm(6.0 - 2.5 * u, 0.8, 2.5, 8.0),
        spindle_amp=clip_norm(1.0 - 0.2 * u, 0.12, 0.6, 1.3),
        kc_per_min=clip_norm(1.1 - 0.4 * u, 0.2, 0.4, 1.6),
        delta_amp=clip_norm(1.05 - 0.1 * u, 0.06, 0.9, 1.2),
        chin_tone=float(np.exp(rng.normal(0.0, 0.25))),
        plm_per_h=float(rng.uniform(10.0, 45.0)) if rng.random() < 0.15 + 0.45 * u else 0.0,
        hr_bpm=clip_norm(64.0, 5.0, 52.0, 78.0),
        rsa_bpm=clip_norm(5.0 - 3.0 * u, 0.8, 1.0, 7.0),
        breaths_per_min=clip_norm(14.5, 1.5, 11.0, 18.0),
        spo2_base=clip_norm(97.0 - 1.5 * u, 0.6, 93.5, 98.5),
        ahi=float(rng.uniform(12.0, 40.0)),
        arousals_per_h=float(rng.uniform(5.0, 10.0) + 8.0 * u),
        lights_off=lights_off,
    )
