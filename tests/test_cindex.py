"""Harrell's C (training.metrics.concordance_index) against lifelines, on ties and at scale."""
import tracemalloc

import numpy as np
import pytest
from lifelines.utils import concordance_index as lifelines_cindex

from sleepfm_engine.training.metrics import concordance_index


def _brute_force(t, e, r):
    """Pairwise definition, lifelines' tie convention, written out for small cases."""
    num = den = 0.0
    for i in range(len(t)):
        if not e[i]:
            continue
        for j in range(len(t)):
            if t[j] > t[i] or (t[j] == t[i] and not e[j] and j != i):
                den += 1
                num += 1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0
    return num / den


def test_event_and_censoring_at_the_same_time_gives_lifelines_half():
    times, events, risk = [1.0, 1.0, 2.0], [1, 0, 0], [0.0, 1.0, -1.0]
    # Pairs: (0, 1) tied time, event vs censored -> comparable, discordant; (0, 2) concordant.
    assert concordance_index(times, events, risk) == pytest.approx(0.5)
    assert lifelines_cindex(times, -np.asarray(risk), events) == pytest.approx(0.5)


def test_two_events_at_the_same_time_are_not_a_pair():
    times, events, risk = [1.0, 1.0, 3.0], [1, 1, 0], [5.0, 0.0, 1.0]
    # Only (0, 2) and (1, 2) are comparable: one concordant, one discordant.
    assert concordance_index(times, events, risk) == pytest.approx(0.5)
    assert lifelines_cindex(times, -np.asarray(risk), events) == pytest.approx(0.5)


def test_no_comparable_pair_gives_nan():
    assert np.isnan(concordance_index([1.0, 2.0], [0, 0], [1.0, 2.0]))
    assert np.isnan(concordance_index([2.0, 2.0], [1, 1], [1.0, 2.0]))


@pytest.mark.parametrize("seed", range(8))
def test_heavily_tied_random_cases_match_lifelines_and_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))
    t = rng.integers(0, 12, n).astype(float)          # many tied times
    e = rng.random(n) < 0.4
    r = rng.integers(0, 6, n).astype(float)            # many tied risks
    ours = concordance_index(t, e, r)
    assert ours == pytest.approx(lifelines_cindex(t, -r, e), abs=1e-12)
    if n <= 300:
        assert ours == pytest.approx(_brute_force(t, e, r), abs=1e-12)


def test_continuous_random_cases_match_lifelines_across_block_edges():
    rng = np.random.default_rng(7)
    for n in (1023, 1024, 1025, 2049):
        t = rng.exponential(5, n)
        e = rng.random(n) < 0.3
        r = -t + rng.normal(0, 3, n)
        assert concordance_index(t, e, r) == pytest.approx(lifelines_cindex(t, -r, e), abs=1e-12)


def test_nonfinite_subjects_are_left_out():
    t = np.array([1.0, 2.0, np.nan, 3.0])
    r = np.array([3.0, 2.0, 9.0, np.inf])
    assert concordance_index(t, [1, 1, 1, 0], r) == pytest.approx(1.0)


def test_twenty_thousand_subjects_use_little_memory_and_match_lifelines():
    rng = np.random.default_rng(3)
    n = 20_000
    t = np.round(rng.exponential(10, n), 1)
    e = rng.random(n) < 0.2
    r = -t + rng.normal(0, 5, n)
    tracemalloc.start()
    ours = concordance_index(t, e, r)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ours == pytest.approx(lifelines_cindex(t, -r, e), abs=1e-12)
    # The old pairwise matrices needed ~0.5 GB here; speed is measured by benchmarks, not tests.
    assert peak < 50e6, f"peak {peak / 1e6:.0f} MB"
