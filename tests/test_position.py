"""Body position: vendor code tables, the registry, decoding and the decoded channel."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleepfm_engine import position as pos
from sleepfm_engine.position import (POSITION_CODES, POSITIONS, UNKNOWN_POSITION, BodyPosition,
                                     PositionTable, decode_position, position_table,
                                     register_position_table, table_from_labels)

C = POSITION_CODES


@pytest.fixture
def private_registry(monkeypatch):
    """Registry changes made by a test stay in that test."""
    monkeypatch.setattr(pos, "_TABLES", dict(pos._TABLES))


def test_nsrr_compumedics_table_decodes_its_codes_and_nothing_else():
    raw = [0, 1, 2, 3, 4, 5, math.nan, 2.04, 1.6, -1]
    assert decode_position(raw, "nsrr").tolist() == [
        C["right"], C["left"], C["supine"], C["prone"], C["upright"],
        UNKNOWN_POSITION, UNKNOWN_POSITION, C["supine"], UNKNOWN_POSITION, UNKNOWN_POSITION]


def test_psgscoring_table_reads_the_same_codes_differently():
    assert decode_position([0, 2, 3], "psgscoring").tolist() == [C["prone"], C["supine"], C["right"]]
    assert decode_position([0, 2, 3], "nsrr").tolist() == [C["right"], C["supine"], C["prone"]]


def test_profusion_step_channel_labels_build_the_nsrr_table():
    table = table_from_labels("study", ["RIGHT", "LEFT", "BACK", "FRONT"])
    assert dict(table.codes) == {0: "right", 1: "left", 2: "supine", 3: "prone"}
    assert all(position_table("nsrr").codes[k] == v for k, v in table.codes.items())
    with pytest.raises(ValueError, match="'SIDEWAYS'"):
        table_from_labels("bad", ["RIGHT", "SIDEWAYS"])


def test_unknown_table_names_list_the_registered_ones():
    with pytest.raises(KeyError, match="nsrr"):
        position_table("embla-guess")


def test_invalid_tables_are_rejected():
    with pytest.raises(ValueError, match="'sideways'"):
        PositionTable("x", {0: "sideways"})
    with pytest.raises(ValueError, match="whole number"):
        PositionTable("x", {0.5: "left"})


def test_registry_refuses_silent_overwrite_and_allows_an_explicit_override(private_registry):
    custom = PositionTable("nsrr", {0: "supine", 1: "prone"}, "a clinic's own wiring")
    with pytest.raises(ValueError, match="replace=True"):
        register_position_table(custom)
    register_position_table(custom, replace=True)
    assert decode_position([0, 1, 2], "nsrr").tolist() == [C["supine"], C["prone"], UNKNOWN_POSITION]
    register_position_table(PositionTable("lab", {7: "upright"}))
    assert decode_position([7.0], "lab").tolist() == [C["upright"]]


def test_body_position_looks_up_times_and_sums_time_per_position():
    bp = BodyPosition.decode([2, 2, 1, 1, 1, 9], rate=0.5, table="nsrr", onset=10.0)
    assert bp.table == "nsrr" and bp.codes.dtype == np.int8
    assert bp.at([10.0, 13.9, 14.0, 21.9, 22.0, 9.9]).tolist() == [
        C["supine"], C["supine"], C["left"], UNKNOWN_POSITION, UNKNOWN_POSITION, UNKNOWN_POSITION]
    assert bp.seconds_in() == {"supine": 4.0, "left": 6.0, "right": 0.0, "prone": 0.0,
                               "upright": 0.0, "unknown": 2.0}
    assert bp.names()[:3] == ["supine", "supine", "left"]
    assert bp == BodyPosition(bp.codes.copy(), 0.5, 10.0, "nsrr")
    with pytest.raises(ValueError):
        bp.codes[0] = 1


@pytest.mark.parametrize("codes, rate", [([0, 7], 1.0), ([0, 1], 0.0), ([[0, 1]], 1.0)])
def test_body_position_rejects_invalid_codes_and_rates(codes, rate):
    with pytest.raises(ValueError):
        BodyPosition(codes, rate)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=50),
       st.sampled_from(["nsrr", "psgscoring"]))
def test_decoding_any_values_gives_only_valid_codes(values, table):
    out = decode_position(values, table)
    assert out.shape == (len(values),)
    assert set(out.tolist()) <= set(POSITION_CODES.values())


@given(st.lists(st.integers(0, 4), max_size=50))
def test_decoding_exact_codes_follows_the_table(raw):
    table = position_table("nsrr")
    assert decode_position(raw, table).tolist() == [C[table.codes[r]] for r in raw]
    assert {table.codes[r] for r in raw} <= set(POSITIONS)
