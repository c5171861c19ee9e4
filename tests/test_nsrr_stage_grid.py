"""NSRR stage events: a negative Start is refused by line; events off the declared epoch are
re-epoched onto it with a warning, never onto a grid of their own."""
from __future__ import annotations

import pytest

from sleepfm_engine.errors import HypnogramError
from sleepfm_engine.formats import read_hypnogram


def _xml(events: list[tuple[str, float, float]], epoch: str = "30") -> str:
    body = "".join(
        f"<ScoredEvent>\n<EventType>Stages|Stages</EventType>\n<EventConcept>{c}</EventConcept>\n"
        f"<Start>{s!r}</Start>\n<Duration>{d!r}</Duration>\n</ScoredEvent>\n" for c, s, d in events)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<PSGAnnotation>\n'
            f"<EpochLength>{epoch}</EpochLength>\n<ScoredEvents>\n{body}</ScoredEvents>\n"
            "</PSGAnnotation>\n")


def test_nsrr_stage_event_with_negative_start_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "n-nsrr.xml"
    path.write_text(_xml([("Wake|0", -30.0, 60.0), ("Stage 2 sleep|2", 30.0, 30.0)]))
    with pytest.raises(HypnogramError, match=r"n-nsrr\.xml, line \d+: negative Start -30"):
        read_hypnogram(path)


def test_off_grid_nsrr_stage_events_keep_the_declared_30_s_epoch(tmp_path):
    path = tmp_path / "n-nsrr.xml"
    path.write_text(_xml([("Wake|0", 0.0, 45.0), ("Stage 2 sleep|2", 45.0, 45.0),
                          ("REM sleep|5", 90.0, 90.0)]))
    with pytest.warns(UserWarning, match="off the declared 30-s epochs"):
        hyp = read_hypnogram(path)
    assert hyp.epoch_length == 30.0
    assert hyp.duration == pytest.approx(180.0)
