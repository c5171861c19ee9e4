"""Display model without any Qt: window, rows, gains, filters, derivations, events, persistence."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf_factory import Sig, write_edf
from sleepfm_engine.display import AASM_FILTERS, Derivation, FilterSpec, robust_range
from sleepfm_engine.display_model import (GAIN_STEP, LABEL_ZONE, ROW_FILL, SPO2_AXIS,
                                          DisplayEvent, DisplayModel)
from sleepfm_engine.events import Event, EventSet
from sleepfm_engine.recording import open_recording

RATE = 64


@pytest.fixture
def rec(tmp_path):
    """10 minutes: referential C4 and M1, an EOG, chin EMG, ECG, airflow and a 1-Hz SpO2."""
    rng = np.random.default_rng(0)
    seconds = 600
    n = seconds * RATE
    sigs = [Sig("C4", RATE, rng.integers(-2000, 2000, n)),
            Sig("M1", RATE, rng.integers(-2000, 2000, n)),
            Sig("E1-M2", RATE, rng.integers(-2000, 2000, n)),
            Sig("Chin1-Chin2", RATE, rng.integers(-2000, 2000, n)),
            Sig("ECG", RATE, rng.integers(-2000, 2000, n)),
            Sig("Airflow", RATE, rng.integers(-2000, 2000, n)),
            Sig("SpO2", 1, rng.integers(930, 990, seconds), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000)]
    r = open_recording(write_edf(tmp_path / "psg.edf", sigs))
    yield r
    r.close()


@pytest.fixture
def model(rec):
    m = DisplayModel()
    m.set_recording(rec)
    return m


def _events(m: DisplayModel) -> list[DisplayEvent]:
    seen: list[DisplayEvent] = []
    m.add_listener(seen.append)
    return seen


def test_rows_are_grouped_by_modality_with_a_state_each(model):
    keys = [r.key for r in model.rows]
    assert keys.index("C4") < keys.index("Chin1-Chin2") < keys.index("ECG") < keys.index("Airflow")
    assert model.visible_rows == model.rows and model.hidden == []
    assert model.row_state("C4").gain == 1.0
    with pytest.raises(KeyError, match="no channel 'nope'"):
        model.row_state("nope")


def test_paging_moves_by_pages_and_epochs_and_announces_the_epoch(model):
    seen = _events(model)
    model.page(1)
    assert (model.start, model.current_epoch) == (30.0, 1)
    assert [e.kind for e in seen] == ["page", "epoch"] and seen[-1].announce
    model.end()
    assert model.start == pytest.approx(model.duration - 30.0)
    assert model.current_epoch == model.n_epochs - 1 == 19
    model.step_epochs(-1)
    assert model.start == 540.0 and model.current_epoch == 18
    model.home()
    assert (model.start, model.current_epoch) == (0.0, 0)


def test_an_epoch_set_from_outside_is_not_announced_back(model):
    seen = _events(model)
    model.set_window(120.0)
    model.set_current_epoch(3)
    assert model.start == 0.0 and model.current_epoch == 3
    assert seen[-1] == DisplayEvent("epoch", announce=False)
    model.set_current_epoch(9)
    assert model.start == 240.0 and [e.kind for e in seen[-2:]] == ["page", "epoch"]


def test_page_length_keeps_the_current_epoch_on_screen(model):
    model.go_to_epoch(7)
    model.set_window(120.0)
    assert model.start == 120.0 and model.current_epoch == 7
    model.set_window(5.0)
    assert model.start == 210.0
    with pytest.raises(ValueError, match="positive"):
        model.set_window(0)
    with pytest.raises(ValueError, match="positive"):
        model.set_window(float("nan"))


def test_go_to_aligns_to_whole_epochs_and_clamps_to_the_recording(model):
    model.go_to(95.0, align=True)
    assert (model.start, model.current_epoch) == (90.0, 3)
    model.go_to(10_000.0)
    assert model.start == model.duration - model.window
    model.scroll(-0.1)
    assert model.start == pytest.approx(model.duration - 33.0)


def test_gain_acts_on_the_selected_row_else_every_visible_row(model):
    model.select("ECG")
    model.gain_up()
    assert model.row_state("ECG").gain == pytest.approx(GAIN_STEP)
    assert model.row_state("C4").gain == 1.0
    model.select(None)
    model.gain_down()
    assert model.row_state("C4").gain == pytest.approx(1 / GAIN_STEP)
    assert model.row_state("ECG").gain == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive"):
        model.set_gain("C4", 0)
    # Invert without a selection does nothing: flipping every row at once is never meant.
    model.toggle_invert()
    assert not any(model.row_state(r.key).inverted for r in model.rows)


def test_row_transform_applies_scale_gain_and_polarity(model):
    y = np.array([0.0, 1e-5, 2e-5, 3e-5, 4e-5])
    st = model.fit("C4", y)
    assert (st.center, st.span) == pytest.approx(model.night_scale("C4"))  # not the page's y
    center, k = model.row_transform("C4")
    fill = ROW_FILL * (1 - LABEL_ZONE)  # the trace zone below the row's label zone
    assert k == pytest.approx(fill / st.span)
    model.set_gain("C4", 2.0)
    model.set_inverted("C4", True)
    assert model.row_transform("C4")[1] == pytest.approx(-2 * fill / st.span)
    value, unit = model.amplitude_per_row("C4")
    assert unit == "µV" and value == pytest.approx(st.span / (fill * 2.0) * 1e6)
    model.auto_scale("C4")
    assert model.row_state("C4").span is None and model.row_state("C4").gain == 1.0
    assert model.amplitude_per_row("C4") is None


def test_hiding_a_row_drops_it_and_its_selection(model):
    seen = _events(model)
    model.select("ECG")
    model.set_visible("ECG", False)
    assert "ECG" not in [r.key for r in model.visible_rows] and model.hidden == ["ECG"]
    assert model.selected is None and seen[-1].kind == "rows"
    model.show_all()
    assert model.hidden == []


def test_derivations_are_validated_added_and_removed(model):
    model.add_derivation(Derivation("C4", "M1"))
    row = model.row("C4-M1")
    assert row.is_derived and row.kind == "EEG"
    with pytest.raises(ValueError, match="sampled at"):
        model.add_derivation(Derivation("C4", "SpO2"))
    assert [d.label for d in model.derivations] == ["C4-M1"]
    model.remove_derivation("C4-M1")
    with pytest.raises(KeyError, match="no derivation"):
        model.remove_derivation("C4-M1")


def test_filters_switch_off_as_a_whole_and_refuse_level_channels(model):
    model.set_filter("EEG", FilterSpec(1.0, 20.0))
    model.set_notch(50.0)
    filters, notch = model.active_filters()
    assert filters["EEG"] == FilterSpec(1.0, 20.0) and notch == 50.0
    model.set_filters_enabled(False)
    assert model.active_filters() == ({}, None)
    with pytest.raises(ValueError, match="no display filter"):
        model.set_filter("LEVEL", FilterSpec(1.0, None))
    with pytest.raises(ValueError, match="positive"):
        model.set_notch(-50)
    model.reset_filters()
    assert model.filters == AASM_FILTERS


def test_the_window_shows_only_the_events_that_overlap_it(model):
    rng = np.random.default_rng(1)
    onsets = np.sort(rng.uniform(0, model.duration, 5000))
    events = EventSet(Event(float(t), 2.0, "arousal", id=f"e{i}") for i, t in enumerate(onsets))
    model.set_event_layers({"file": events})
    shown = lambda: [e.id for _, e in model.visible_events()]  # noqa: E731
    assert shown() == [f"e{i}" for i in np.flatnonzero(onsets < 30.0)]
    model.page(1)
    assert shown() == [f"e{i}" for i in np.flatnonzero((onsets + 2.0 > 30.0) & (onsets < 60.0))]


def test_a_new_recording_keeps_preferences_and_drops_row_states(model, rec):
    model.set_window(60.0)
    model.set_notch(60.0)
    model.set_gain("C4", 3.0)
    model.add_derivation(Derivation("C4", "M1"))
    model.set_recording(rec)
    assert model.window == 60.0 and model.notch == 60.0
    assert model.row_state("C4").gain == 1.0 and model.derivations == []
    model.set_recording(None)
    assert model.rows == [] and model.duration == 0.0
    model.page(1)  # nothing to page through: no error, nothing moves
    assert model.start == 0.0


def test_to_dict_round_trips_through_json_with_rows(model, rec):
    model.set_window(120.0)
    model.set_filter("RESP", FilterSpec(None, 5.0))
    model.set_notch(50.0)
    model.set_filters_enabled(False)
    model.add_derivation(Derivation("C4", "M1", "C4 ref M1"))
    model.set_gain("ECG", 2.5)
    model.set_inverted("Airflow", True)
    model.set_visible("SpO2", False)
    data = json.loads(json.dumps(model.to_dict(rows=True)))
    again = DisplayModel.from_dict(data, rec)
    assert again.to_dict(rows=True) == model.to_dict(rows=True)
    assert again.hidden == ["SpO2"] and again.row("C4 ref M1").is_derived


def test_preferences_alone_leave_out_the_rows():
    m = DisplayModel()
    assert set(m.to_dict()) == {"window", "filters", "filters_enabled", "notch", "clip",
                                "calibrated"}


def test_a_settings_file_of_the_previous_version_is_read(rec):
    # What TraceView.display_state wrote before the model existed.
    old = {"window": 60.0, "filters": {"EEG": [0.5, 30.0], "EMG": [10.0, None]},
           "filters_enabled": True, "notch": 50.0}
    m = DisplayModel()
    assert m.restore(old) == []
    assert m.window == 60.0 and m.notch == 50.0
    assert m.filters["EEG"] == FilterSpec(0.5, 30.0) and m.filters["EMG"] == FilterSpec(10.0, None)


def test_bad_entries_are_skipped_by_restore_and_refused_by_from_dict(rec):
    bad = {"window": -3, "notch": 55, "filters": {"EEG": [40, 10], "LEVEL": [1, None]},
           "rows": {"C4": {"gain": -1}, "Missing": {"gain": 2}},
           "derivations": [{"plus": "C4", "minus": "SpO2"}]}
    m = DisplayModel()
    m.set_recording(rec)
    skipped = m.restore(bad)
    text = " | ".join(skipped)
    for what in ("window -3", "notch 55", "filter 'EEG'", "filter 'LEVEL'", "row 'C4'",
                 "row 'Missing'", "derivation"):
        assert what in text
    assert m.window == 30.0 and m.notch is None and m.filters == AASM_FILTERS
    with pytest.raises(ValueError, match="display state not applied"):
        DisplayModel.from_dict(bad, rec)
    assert DisplayModel().restore(["not", "a", "mapping"]) != []
    # Row states need the recording they belong to.
    assert DisplayModel().restore({"rows": {"C4": {"gain": 2.0}}}) == [
        "row states and derivations: no recording is shown"]


def test_a_removed_listener_hears_nothing(model):
    seen: list[DisplayEvent] = []
    remove = model.add_listener(seen.append)
    model.set_notch(50.0)
    remove()
    model.set_notch(60.0)
    assert seen == [DisplayEvent("filters")]


@settings(max_examples=60, deadline=None)
@given(data=st.fixed_dictionaries({}, optional={
    "window": st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=3)),
    "notch": st.one_of(st.none(), st.floats(), st.integers(-100, 100)),
    "filters_enabled": st.booleans(),
    "filters": st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(
        st.sampled_from(["EEG", "EMG", "RESP", "LEVEL", "X"]),
        st.one_of(st.lists(st.one_of(st.none(), st.floats(), st.text(max_size=2)), max_size=3),
                  st.integers()), max_size=4)),
}))
def test_restore_of_any_settings_leaves_a_valid_model(data):
    m = DisplayModel()
    m.restore(data)
    assert m.window > 0 and np.isfinite(m.window)
    assert m.notch in (None, 50.0, 60.0)
    for spec in m.filters.values():
        assert isinstance(spec, FilterSpec)
    assert DisplayModel().restore(json.loads(json.dumps(m.to_dict()))) == []


@pytest.fixture
def night(tmp_path):
    """10 minutes: a snore channel quiet for the first page and loud after, an airflow, a 1-Hz
    SpO2 falling from 97 % to 88 % and a 1-Hz position channel (NSRR codes: supine, then
    left)."""
    seconds = 600
    t = np.arange(seconds * RATE) / RATE
    snore = np.where(t < 30, 5, 1500) * np.sin(2 * np.pi * 20 * t)
    flow = 1000 * np.sin(2 * np.pi * 0.25 * t)
    spo2 = np.where(np.arange(seconds) < 300, 970, 880)
    position = np.where(np.arange(seconds) < 45, 2, 1)
    sigs = [Sig("Airflow", RATE, flow.astype(int)),
            Sig("Snore", RATE, snore.astype(int)),
            Sig("SpO2", 1, spo2, unit="%", pmin=0, pmax=100, dmin=0, dmax=1000),
            Sig("Position", 1, position, unit="", pmin=0, pmax=10, dmin=0, dmax=10)]
    r = open_recording(write_edf(tmp_path / "night.edf", sigs))
    m = DisplayModel()
    m.set_recording(r, {"Airflow": "RESP", "Snore": "RESP", "SpO2": "RESP", "Position": "RESP"})
    yield m
    r.close()


def test_spo2_rows_use_the_fixed_80_to_100_percent_axis_and_show_the_epoch_value(night):
    first_page = np.array([97.0, 97.0, 96.0])
    st = night.fit("SpO2", first_page)
    assert (st.center - st.span / 2, st.center + st.span / 2) == SPO2_AXIS
    center, k = night.row_transform("SpO2")
    # 80 % and 100 % land on the edges of the filled part of the trace zone.
    assert (100 - center) * k == pytest.approx(ROW_FILL * (1 - LABEL_ZONE) / 2)
    assert (80 - center) * k == pytest.approx(-ROW_FILL * (1 - LABEL_ZONE) / 2)
    assert night.level_text("SpO2") == "97 %"
    night.go_to_epoch(15)
    assert night.level_text("SpO2") == "88 %"
    assert night.level_text("Airflow") is None


def test_position_rows_read_as_position_names_from_the_code_table(night):
    assert night.row("Position").kind == "LEVEL"
    assert night.level_text("Position") == "supine"
    night.set_modalities({**night.modalities, "Position": "other"})  # SleepFM's usual mapping
    assert night.row("Position").kind == "OTHER" and night.level_text("Position") == "supine"
    night.go_to_epoch(2)
    assert night.level_text("Position") == "left"
    x = np.arange(60.0)
    y = np.where(x < 45, 2.0, 1.0)
    assert night.position_runs("Position", x, y) == [(0.0, 44.0, "supine"), (45.0, 59.0, "left")]
    night.position_table = "psgscoring"  # 1 left, 2 supine there too; 3 is right, not prone
    assert night.position_runs("Position", x[:2], [3.0, 9.0]) == [(0.0, 0.0, "right"),
                                                                  (1.0, 1.0, "unknown")]


def test_the_automatic_scale_comes_from_the_night_not_from_a_quiet_first_page(night):
    x, rate = night.read_row("Snore", 0.0, 30.0)
    page_span = robust_range(x)[1]
    st = night.fit("Snore", x)
    # The loud night (1500 digital units) sets the scale, not the quiet first page (5).
    assert st.span > 100 * page_span
    assert st.span == pytest.approx(night.night_scale("Snore")[1])
    night.gain_up("Snore")
    night.auto_scale("Snore")
    assert night.row_state("Snore").span is None and night.row_state("Snore").gain == 1.0
    assert night.fit("Snore", x).span == pytest.approx(st.span)


def test_the_measuring_cursor_reads_amplitude_duration_and_frequency_of_a_slow_wave(tmp_path):
    # An 80-µV peak-to-peak 0.8-Hz wave: above the 75-µV slow-wave criterion.
    t = np.arange(120 * RATE) / RATE
    wave = 400 * np.sin(2 * np.pi * 0.8 * t - np.pi / 2)  # 0.1 µV per digital unit
    r = open_recording(write_edf(tmp_path / "sw.edf", [Sig("C4", RATE, wave.astype(int))]))
    m = DisplayModel()
    m.set_recording(r, {"C4": "BAS"})
    assert m.measure_span() is None
    m.set_span(10.0, 11.25, "C4")  # one wave, trough to trough
    one = m.measure_span()
    assert one.unit == "µV" and one.peak_to_peak == pytest.approx(80, rel=0.05)
    assert one.duration == pytest.approx(1.25) and one.frequency == pytest.approx(0.8, rel=0.01)
    assert one.text() == f"{one.peak_to_peak:.3g} µV p-p · 1.25 s · 0.80 Hz"
    m.set_span(10.0, 15.0, "C4")  # four waves: the spectral peak
    assert m.measure_span().frequency == pytest.approx(0.8, rel=0.03)
    m.set_filter("EEG", FilterSpec(5.0, 35.0))  # measured as displayed: filtered away
    assert m.measure_span().peak_to_peak < 10
    m.set_span(10.0, 15.0, None)  # a span across the page measures no wave
    assert m.measure_span() is None
    r.close()
