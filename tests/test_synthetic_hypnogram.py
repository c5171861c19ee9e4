"""The synthetic hypnogram has the architecture of a real night."""
from __future__ import annotations

import numpy as np
import pytest

from sleepfm_engine.synthetic import make_hypnogram, make_subject

W, N1, N2, N3, R = 0, 1, 2, 3, 4
EPOCHS_8H = 960
PER_MIN = 2
SEEDS = range(40)


@pytest.fixture(scope="module")
def nights():
    return {s: make_hypnogram(EPOCHS_8H, seed=s) for s in SEEDS}


def runs(mask):
    d = np.diff(np.r_[0, mask.astype(int), 0])
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def rem_periods(h, gap_min=15):
    """REM periods: REM runs merged when less than ``gap_min`` minutes apart (AASM-style)."""
    st, en = runs(h == R)
    periods = []
    for a, b in zip(st, en):
        if periods and a - periods[-1][1] < gap_min * PER_MIN:
            periods[-1][1] = b
        else:
            periods.append([a, b])
    return periods


def sleep_period(h):
    sleep = np.flatnonzero(h != W)
    return sleep[0], sleep[-1] + 1


def test_same_seed_same_hypnogram_and_codes_are_sleepfm(nights):
    again = make_hypnogram(EPOCHS_8H, seed=3)
    np.testing.assert_array_equal(again, nights[3])
    assert again.dtype == np.int8 and again.size == EPOCHS_8H
    assert set(np.unique(again)) <= {W, N1, N2, N3, R}
    assert not np.array_equal(nights[3], nights[4])


def test_sleep_onset_latency_in_clinical_range(nights):
    sol_min = np.array([sleep_period(h)[0] / PER_MIN for h in nights.values()])
    assert np.all((sol_min >= 2) & (sol_min <= 45))
    assert 5 <= np.median(sol_min) <= 25
    assert np.ptp(sol_min) > 10  # sleepers differ
    for h in nights.values():
        onset = sleep_period(h)[0]
        assert h[onset] == N1  # sleep begins in N1, not straight into deep sleep


def test_four_to_six_nrem_rem_cycles_of_about_90_minutes(nights):
    counts, spacing = [], []
    for h in nights.values():
        p = rem_periods(h)
        counts.append(len(p))
        starts = np.array([a for a, _ in p])
        spacing += list(np.diff(starts) / PER_MIN)
    counts = np.array(counts)
    assert np.all((counts >= 3) & (counts <= 7))
    assert 3.5 <= counts.mean() <= 5.5
    assert 75 <= np.median(spacing) <= 110


def test_first_rem_latency_is_about_an_hour_or_more(nights):
    lat = []
    for h in nights.values():
        onset = sleep_period(h)[0]
        lat.append((rem_periods(h)[0][0] - onset) / PER_MIN)
    assert 50 <= np.median(lat) <= 110
    assert min(lat) >= 40


def test_n3_concentrated_in_first_third_of_the_night(nights):
    first, total = 0, 0
    for h in nights.values():
        a, b = sleep_period(h)
        n3 = np.flatnonzero(h == N3)
        first += np.count_nonzero(n3 < a + (b - a) / 3)
        total += n3.size
    assert total > 0
    assert first / total >= 0.7


def test_rem_periods_lengthen_towards_morning(nights):
    first_half, second_half, first_len, last_len = 0, 0, [], []
    for h in nights.values():
        a, b = sleep_period(h)
        rem = np.flatnonzero(h == R)
        first_half += np.count_nonzero(rem < (a + b) / 2)
        second_half += np.count_nonzero(rem >= (a + b) / 2)
        p = rem_periods(h)
        first_len.append(np.count_nonzero(h[p[0][0]:p[0][1]] == R))
        last_len.append(max(np.count_nonzero(h[x:y] == R) for x, y in p[1:]))
    assert second_half > 1.5 * first_half
    assert np.median(last_len) > 1.5 * np.median(first_len)


def test_brief_awakenings_and_wake_after_final_awakening(nights):
    waso_min, brief = [], 0
    for h in nights.values():
        a, b = sleep_period(h)
        assert h[-1] == W and b < h.size  # final awakening before lights on
        inside = h[a:b] == W
        waso_min.append(np.count_nonzero(inside) / PER_MIN)
        st, en = runs(inside)
        brief += np.count_nonzero((en - st) <= 6)
    assert brief >= len(nights)  # on average at least one brief awakening per night
    assert 5 <= np.median(waso_min) <= 90


def test_stage_distribution_is_that_of_adults(nights):
    h = np.concatenate(list(nights.values()))
    sleep = h[h != W]
    share = {k: np.mean(sleep == k) for k in (N1, N2, N3, R)}
    assert 0.02 <= share[N1] <= 0.15
    assert 0.40 <= share[N2] <= 0.65
    assert 0.05 <= share[N3] <= 0.25
    assert 0.15 <= share[R] <= 0.30


def test_older_sleepers_have_less_n3_and_more_wake(nights):
    age = np.array([make_subject(s).age for s in nights])
    n3 = np.array([np.mean(h == N3) for h in nights.values()])
    waso = []
    for h in nights.values():
        a, b = sleep_period(h)
        waso.append(np.mean(h[a:b] == W))
    assert np.corrcoef(age, n3)[0, 1] < -0.4
    assert np.corrcoef(age, waso)[0, 1] > 0.2


def test_short_recordings_still_reach_sleep():
    for seed in range(5):
        h = make_hypnogram(60, seed=seed)  # 30 minutes
        assert h.size == 60
        assert np.any(h != W)


@pytest.mark.parametrize("bad", [0, -5])
def test_non_positive_length_is_rejected(bad):
    with pytest.raises(ValueError, match="n_epochs"):
        make_hypnogram(bad, seed=0)


def test_nights_shorter_than_the_n3_neighbourhood_are_generated():
    from sleepfm_engine.synthetic import make_night

    night = make_night(stages=[0, 1, 2, 3])
    assert list(night.stages) == [0, 1, 2, 3]
    assert all(len(s.data) == int(4 * 30 * s.rate) for s in night.signals)
