"""Study-ID maps: what is written is read back identically, a source keeps its ID across runs,
and a file that is not such a map is a typed error, never another exception."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import IdMapError
from sleepfm_engine.study_ids import assign_study_ids, read_id_map, source_key, write_id_map


def test_a_known_source_keeps_its_id_and_new_sources_take_the_next_numbers(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.edf", "b.edf", "c.edf"))
    first = assign_study_ids([a, b])
    assert first == {source_key(a): "study-0001", source_key(b): "study-0002"}
    again = assign_study_ids([c, b], first)
    assert again[source_key(b)] == "study-0002" and again[source_key(c)] == "study-0003"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s and s.strip() == s
                                                       and "\r" not in s),
                unique=True, max_size=8))
def test_an_id_map_is_read_back_as_written(tmp_path, sources):
    mapping = {src: f"study-{i + 1:04d}" for i, src in enumerate(sources)}
    path = write_id_map(tmp_path / "ids.csv", mapping)
    assert read_id_map(path) == mapping


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_give_a_map_or_an_id_map_error(tmp_path, data):
    path = tmp_path / "ids.csv"
    path.write_bytes(data)
    try:
        out = read_id_map(path)
    except IdMapError as exc:
        assert str(path) in str(exc)
    else:
        assert all(v.startswith("study-") for v in out.values())


def test_one_id_for_two_sources_is_refused(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("study_id,source\nstudy-0001,/a.edf\nstudy-0001,/b.edf\n")
    with pytest.raises(IdMapError, match="line 3"):
        read_id_map(path)


def test_an_absent_map_is_empty(tmp_path):
    assert read_id_map(Path(tmp_path / "none.csv")) == {}
