"""AASM statistics and agreement metrics on hand-built cases with hand-computed answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.sleep_stats import (MISSING, STATISTICS_DEFINITIONS, STATISTICS_LABELS, accuracy, agreement,
                                        cohen_kappa, confusion_matrix, f1_per_stage, format_statistic,
                                        macro_f1, sleep_statistics)

#            0 1 2  3  4  5 6  7  8  9 10 11 12 13 14 15 16
NIGHT = "W W N1 N2 N2 W N2 N3 N3 R R W W N2 R W W".split()


def test_statistics_of_a_hand_built_night():
    s = Hypnogram(NIGHT, 30).statistics()
    # 17 epochs of 30 s; sleep at 2,3,4,6,7,8,9,10,13,14 (10 epochs); onset 2, last sleep 14.
    assert s["TRT"] == s["TIB"] == 8.5
    assert s["TST"] == 5.0
    assert s["SPT"] == 6.5            # epochs 2..14
    assert s["SOL"] == 1.0            # two W epochs before sleep
    assert s["WASO"] == 1.5           # W at 5, 11, 12
    assert s["REM_latency"] == 3.5    # first R at 9: 7 epochs after onset
    assert s["SE"] == pytest.approx(100 * 5.0 / 8.5)
    assert (s["W_min"], s["N1_min"], s["N2_min"], s["N3_min"], s["R_min"]) == (3.5, 0.5, 2.0, 1.0, 1.5)
    assert (s["N1_pct"], s["N2_pct"], s["N3_pct"], s["R_pct"]) == (10.0, 40.0, 20.0, 30.0)
    assert s["awakenings"] == 2       # {5} and {11, 12}
    assert s["wake_after_final_awakening"] == 1.0
    assert s["stage_shifts"] == 10
    assert s["sleep_onset_epoch"] == 2 and s["final_sleep_epoch"] == 14
    assert s["unscored_min"] == 0 and s["artefact_min"] == 0
    # the AASM identity TRT - SL - TST = WASO + wake after the final awakening (nothing unscored)
    assert s["TRT"] - s["SOL"] - s["TST"] == pytest.approx(s["WASO"] + s["wake_after_final_awakening"])


def test_unscored_and_artefact_are_counted_apart_with_20s_epochs():
    #        0 1  2  3  4 5  6 7 8  9 10 11
    night = "W ? N2 N2 A N2 W ? W N2 R ?".split()
    s = sleep_statistics(Hypnogram(night).stages, epoch_length=20)
    third = 1 / 3  # minutes per 20-s epoch
    assert s["TRT"] == pytest.approx(4.0)
    assert s["TST"] == pytest.approx(5 * third)
    assert s["SPT"] == pytest.approx(9 * third)
    assert s["SOL"] == pytest.approx(2 * third)
    assert s["WASO"] == pytest.approx(2 * third)     # W at 6 and 8; not the ? or A
    assert s["awakenings"] == 1                       # W ? W is one awakening
    assert s["unscored_min"] == pytest.approx(1.0)   # 3 epochs
    assert s["artefact_min"] == pytest.approx(third)
    assert s["REM_latency"] == pytest.approx(8 * third)
    assert s["stage_shifts"] == 4                     # W N2 N2 N2 W W N2 R
    assert s["SE"] == pytest.approx(100 * (5 / 3) / 4)
    assert s["N2_pct"] == pytest.approx(80.0) and s["R_pct"] == pytest.approx(20.0)


def test_lights_times_restrict_the_recording_period():
    s = sleep_statistics(Hypnogram(NIGHT).stages, 30, lights_off=30, lights_on=450)
    assert s["TRT"] == 7.0 and s["n_epochs"] == 14
    assert s["SOL"] == 0.5 and s["TST"] == 5.0
    assert s["wake_after_final_awakening"] == 0.0
    assert s["sleep_onset_epoch"] == 2
    with pytest.raises(ValueError, match="before lights off"):
        sleep_statistics(Hypnogram(NIGHT).stages, 30, lights_off=300, lights_on=60)


def test_a_night_without_sleep_has_undefined_latencies():
    s = sleep_statistics([0, 0, 0, -1], 30)
    assert s["TST"] == 0 and s["SE"] == 0.0 and s["SPT"] == 0.0
    assert s["SOL"] is None and s["REM_latency"] is None and s["N2_pct"] is None
    assert s["awakenings"] == 0


def test_every_statistic_is_defined_and_labelled():
    s = sleep_statistics([0, 1, 2], 30)
    assert list(s) == list(STATISTICS_DEFINITIONS)
    assert set(STATISTICS_LABELS) == set(STATISTICS_DEFINITIONS)


# -- agreement ---------------------------------------------------------------------------------
A = [0, 0, 1, 1, 2, 2, 2, 4, -1, 2]
B = [0, 1, 1, 1, 2, 2, 4, 4, 0, -2]  # the last two pairs hold unscored/artefact: excluded


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(A, B, labels=[0, 1, 2, 3, 4])
    assert cm.tolist() == [[1, 1, 0, 0, 0],
                           [0, 2, 0, 0, 0],
                           [0, 0, 2, 0, 1],
                           [0, 0, 0, 0, 0],
                           [0, 0, 0, 0, 1]]


def test_cohen_kappa_by_hand():
    # p_o = 6/8; row sums (2,2,3,0,1), column sums (1,3,2,0,2): p_e = 16/64 = 1/4
    # kappa = (3/4 - 1/4) / (1 - 1/4) = 2/3
    assert accuracy(A, B) == pytest.approx(0.75)
    assert cohen_kappa(A, B) == pytest.approx(2 / 3)


def test_f1_by_hand():
    f1 = f1_per_stage(A, B)
    np.testing.assert_allclose(f1[[0, 1, 2, 4]], [2 / 3, 0.8, 0.8, 2 / 3])
    assert np.isnan(f1[3])  # N3 used by neither scorer
    assert macro_f1(A, B) == pytest.approx(11 / 15)


def test_agreement_dict_is_complete_and_json_safe():
    import json

    out = agreement(A, B)
    assert out["n_compared"] == 8 and out["n_excluded"] == 2
    assert out["kappa"] == pytest.approx(2 / 3)
    assert out["f1"]["N3"] is None and out["labels"] == ["W", "N1", "N2", "N3", "R"]
    json.dumps(out)
    via_type = Hypnogram(A).agreement(Hypnogram(B))
    assert via_type == out


def test_kappa_is_undefined_when_both_scorers_use_one_stage():
    assert np.isnan(cohen_kappa([2, 2, 2], [2, 2, 2]))
    assert np.isnan(accuracy([-1], [-1]))


def test_metrics_match_a_direct_count_on_random_hypnograms():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 500)
    b = np.where(rng.random(500) < 0.6, a, rng.integers(0, 5, 500))
    counts = [[sum(1 for x, y in zip(a, b) if x == i and y == j) for j in range(5)] for i in range(5)]
    n = len(a)
    observed = sum(counts[i][i] for i in range(5)) / n
    expected = sum(sum(counts[i]) * sum(row[i] for row in counts) for i in range(5)) / n ** 2
    f1 = []
    for i in range(5):
        predicted, actual = sum(row[i] for row in counts), sum(counts[i])
        f1.append(2 * counts[i][i] / (predicted + actual))
    np.testing.assert_array_equal(confusion_matrix(a, b), np.array(counts))
    assert cohen_kappa(a, b) == pytest.approx((observed - expected) / (1 - expected))
    assert macro_f1(a, b) == pytest.approx(sum(f1) / 5)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        cohen_kappa([0, 1], [0])


# ------------------------------------------------------------------------------- formatting
def test_format_statistic_rounds_to_each_definitions_decimals():
    assert format_statistic("TST", 412.46) == "412.5"
    assert format_statistic("SE", 85.9375) == "85.9"
    assert format_statistic("awakenings", 7) == "7"
    assert format_statistic("sleep_onset_epoch", np.int64(12)) == "12"


def test_format_statistic_appends_the_unit_only_to_measures():
    assert format_statistic("TST", 412.5, with_unit=True) == "412.5 min"
    assert format_statistic("SE", 85.9375, with_unit=True) == "85.9 %"
    assert format_statistic("stage_shifts", 10, with_unit=True) == "10"


def test_format_statistic_prints_undefined_values_as_the_missing_text():
    assert format_statistic("REM_latency", None) == MISSING
    assert format_statistic("N1_pct", float("nan")) == MISSING
    assert format_statistic("SOL", None, with_unit=True, missing="n/a") == "n/a"


def test_format_statistic_prints_an_undefined_key_with_one_decimal_and_no_unit():
    assert format_statistic("kappa_vs_manual", 0.8123, with_unit=True) == "0.8"


def test_every_statistic_definition_has_a_known_unit_and_whole_decimals():
    for key, d in STATISTICS_DEFINITIONS.items():
        assert d.unit in ("min", "%", "count", "epoch", "s"), key
        assert isinstance(d.decimals, int) and d.decimals >= 0, key
        assert d.decimals == 0 or d.unit not in ("count", "epoch"), key


@given(key=st.sampled_from(sorted(STATISTICS_DEFINITIONS)),
       value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_format_statistic_text_reads_back_within_half_a_last_digit(key, value):
    text = format_statistic(key, value, with_unit=True)
    number, _, unit = text.partition(" ")
    decimals = STATISTICS_DEFINITIONS[key].decimals
    assert unit == ("" if STATISTICS_DEFINITIONS[key].unit in ("count", "epoch") else STATISTICS_DEFINITIONS[key].unit)
    assert len(number.partition(".")[2]) == decimals
    assert math.isclose(float(number), value, abs_tol=0.5 * 10 ** -decimals + 1e-9 * abs(value))


def test_cli_hypnogram_summary_prints_each_statistic_through_the_one_formatter(tmp_path, capsys):
    from sleepfm_engine.cli import main

    path = tmp_path / "night.txt"
    path.write_text("\n".join(NIGHT) + "\n", encoding="utf-8")
    assert main(["hypnogram", str(path)]) == 0
    out = capsys.readouterr().out
    stats = Hypnogram(NIGHT, 30).statistics()
    for key in ("TST", "SE", "WASO", "awakenings", "stage_shifts"):
        line = next(ln for ln in out.splitlines() if ln.split()[:1] == [key])
        assert format_statistic(key, stats[key], with_unit=True) in line, line
