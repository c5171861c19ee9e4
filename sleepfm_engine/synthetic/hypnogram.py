"""Hypnogram model: realistic sleep architecture in 30-s epochs.

Lights off, a sleep-onset latency of wake, a short N1 descent, then NREM/REM cycles of about
90 minutes in which N3 is concentrated in the first cycles and REM periods lengthen towards
morning, brief awakenings (more with age) and wake after the final awakening.
"""
from __future__ import annotations

import numpy as np

from ..contract import EPOCH_SECONDS
from ._dsp import rng_for
from .subject import Subject, make_subject

#: SleepFM stage codes.
W, N1, N2, N3, R = 0, 1, 2, 3, 4
#: AASM short names indexed by code.
STAGE_NAMES: tuple[str, ...] = ("W", "N1", "N2", "N3", "R")

_PER_MIN = 60 // EPOCH_SECONDS


def _ep(minutes: float) -> int:
    return max(0, int(round(minutes * _PER_MIN)))


def make_hypnogram(n_epochs: int, seed: int = 0, subject: Subject | None = None) -> np.ndarray:
    """Generate a night's hypnogram.

    Parameters
    ----------
    n_epochs : int
        Length of the recording in 30-s epochs (lights off to lights on).
    seed : int
        Night seed.
    subject : Subject, optional
        The sleeper; drawn from ``seed`` when omitted.

    Returns
    -------
    numpy.ndarray
        int8 stage codes (0 W, 1 N1, 2 N2, 3 N3, 4 R), one per epoch.
    """
    if int(n_epochs) < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}")
    n_epochs = int(n_epochs)
    s = subject if subject is not None else make_subject(seed)
    rng = rng_for(seed, "hypnogram")

    # Wake at both ends shrinks for short recordings so that some sleep remains.
    sol = min(_ep(s.sol_min), int(0.3 * n_epochs))
    final = min(_ep(s.final_wake_min), int(0.1 * n_epochs))
    sleep_end = n_epochs - final

    seq: list[int] = [W] * sol
    # A hesitant sleep onset: one or two short N1 dips back into wake.
    if sol > 6 and rng.random() < 0.6:
        dip = int(rng.integers(1, 3))
        at = int(rng.integers(sol // 2, sol - 2))
        seq[at:at + dip] = [N1] * dip
    seq += [N1] * max(1, _ep(s.n1_onset_min))

    cycle = 0
    while len(seq) < sleep_end:
        seq += _cycle(rng, s, cycle)
        cycle += 1
    hyp = np.full(n_epochs, W, dtype=np.int8)
    body = np.asarray(seq[:sleep_end], dtype=np.int8)
    hyp[: body.size] = body
    _add_awakenings(rng, s, hyp, first_sleep=sol, sleep_end=sleep_end)
    return hyp


def _cycle(rng: np.random.Generator, s: Subject, k: int) -> list[int]:
    """One NREM/REM cycle (``k`` = 0 for the first)."""
    length = s.cycle_min * rng.uniform(0.9, 1.1) * (0.95 if k == 0 else 1.0)
    rem = min(45.0, s.rem_first_min + k * s.rem_growth_min) * rng.uniform(0.8, 1.2)
    n3_base = (40.0, 24.0, 8.0, 3.0)[k] if k < 4 else 0.0
    n3 = s.n3_scale * n3_base * rng.uniform(0.8, 1.2)
    n2 = max(12.0, length - rem - n3)
    out: list[int] = []
    if k > 0:
        out += [N1] * int(rng.integers(2, 6))   # light sleep after the REM-NREM switch
    descent = n2 * rng.uniform(0.45, 0.65)
    out += [N2] * _ep(descent)
    n3_ep = _ep(n3)
    if n3_ep:
        block = [N3] * n3_ep
        # Deep sleep is seldom one unbroken block: a few short lightenings into N2.
        for _ in range(int(rng.poisson(0.6 + 0.02 * n3_ep))):
            at = int(rng.integers(0, n3_ep))
            width = int(rng.integers(1, 4))
            block[at:at + width] = [N2] * len(block[at:at + width])
        out += block
    out += [N2] * _ep(n2 - descent)
    rem_block = [R] * max(2, _ep(rem))
    if len(rem_block) > 12 and rng.random() < 0.35:
        at = int(rng.integers(4, len(rem_block) - 4))
        width = int(rng.integers(1, 4))
        rem_block[at:at + width] = [N2 if rng.random() < 0.5 else N1] * width
    out += rem_block
    return out


def _add_awakenings(rng: np.random.Generator, s: Subject, hyp: np.ndarray,
                    first_sleep: int, sleep_end: int) -> None:
    """Brief awakenings, each followed by a return through N1, mostly out of light sleep/REM."""
    span = sleep_end - first_sleep
    if span < 40:
        return
    hours = span * EPOCH_SECONDS / 3600.0
    count = int(rng.poisson(s.awakenings_per_h * hours))
    candidates = np.flatnonzero(np.isin(hyp[first_sleep + 20:sleep_end - 4], (N1, N2, R)))
    if candidates.size == 0 or count == 0:
        return
    starts = np.sort(rng.choice(candidates, size=min(count, candidates.size), replace=False))
    for st in starts + first_sleep + 20:
        if rng.random() < s.long_wake_prob:
            width = int(rng.integers(6, 21))
        else:
            width = int(rng.integers(1, 4))
        end = min(st + width, sleep_end)
        hyp[st:end] = W
        settle = int(rng.integers(1, 4))
        after = hyp[end:end + settle]
        after[after != W] = N1


def stage_names(stages: np.ndarray) -> list[str]:
    """AASM short names (W, N1, N2, N3, R) of an array of stage codes."""
    return [STAGE_NAMES[int(c)] for c in stages]
