"""Montages: the AASM recommended one built per recording, the user's saved ones, row order,
and each study's display state kept between sessions."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edf_factory import Sig, write_edf
from sleepfm_engine.detectors.roles import ROLES
from sleepfm_engine.display import Derivation
from sleepfm_engine.display_model import DisplayModel
from sleepfm_engine.errors import DisplayStateError, MontageError
from sleepfm_engine.montages import (AASM_SLOTS, AUTO, BUILTIN_MONTAGES, Montage, MontageRow,
                                     MontageStore, aasm_recommended, read_montage, write_montage)
from sleepfm_engine.recording import open_recording
from sleepfm_engine.study_display import (load_display_state, read_display_state,
                                          save_display_state, state_path, write_display_state)

SECONDS = 40
#: The AASM order of the rows a full referential recording gives.
AASM_ORDER = ["F4-M1", "C4-M1", "O2-M1", "F3-M2", "C3-M2", "O1-M2", "E1-M2", "E2-M2",
              "Chin1-Chin2", "ECG", "LLeg", "RLeg", "Snore", "Nasal Pressure", "Thermistor",
              "Thorax", "Abdomen", "SpO2", "Position"]
ELECTRODES = ["F4", "C4", "O2", "F3", "C3", "O1", "M1", "M2", "E1", "E2", "Chin1", "Chin2"]


def _sig(rng, label, rate=128, unit="uV"):
    return Sig(label, rate, rng.integers(-2000, 2000, rate * SECONDS), unit=unit)


def _levels(rng):
    return [Sig("SpO2", 1, rng.integers(930, 990, SECONDS), unit="%", pmin=0, pmax=100, dmin=0,
                dmax=1000),
            Sig("Position", 1, rng.integers(0, 4, SECONDS), unit="", pmin=0, pmax=5, dmin=0,
                dmax=5)]


def make_referential(path, electrodes=ELECTRODES, seed=0, starttime="22.15.00"):
    """A PSG whose EEG, EOG and chin are recorded against a common reference, with the
    sensors shuffled out of AASM order."""
    rng = np.random.default_rng(seed)
    sensors = [_sig(rng, "Thorax", 32, "mV"), _sig(rng, "ECG"), _sig(rng, "Snore"),
               _sig(rng, "Nasal Pressure", 32, "cmH2O"), _sig(rng, "RLeg"),
               _sig(rng, "Thermistor", 32, "mV"), _sig(rng, "LLeg"),
               _sig(rng, "Abdomen", 32, "mV")]
    sigs = sensors[:3] + [_sig(rng, e) for e in electrodes] + sensors[3:] + _levels(rng)
    return write_edf(Path(path), sigs, starttime=starttime)


@pytest.fixture
def referential(tmp_path):
    rec = open_recording(make_referential(tmp_path / "ref.edf"))
    yield rec
    rec.close()


def test_aasm_montage_of_a_referential_recording_derives_eeg_eog_and_chin_in_aasm_order(
        referential):
    montage, missing = aasm_recommended(referential)
    assert missing == []
    assert montage.labels == AASM_ORDER
    assert [(d.plus, d.minus, d.label) for d in montage.derivations] == [
        ("F4", "M1", "F4-M1"), ("C4", "M1", "C4-M1"), ("O2", "M1", "O2-M1"),
        ("F3", "M2", "F3-M2"), ("C3", "M2", "C3-M2"), ("O1", "M2", "O1-M2"),
        ("E1", "M2", "E1-M2"), ("E2", "M2", "E2-M2"), ("Chin1", "Chin2", "Chin1-Chin2")]
    assert all(r.gain is None and r.sensitivity is None for r in montage.rows)


def test_applying_the_aasm_montage_shows_its_rows_in_order_and_hides_the_electrodes(referential):
    model = DisplayModel()
    model.set_recording(referential)
    montage, _ = aasm_recommended(referential)
    assert model.apply_montage(montage) == []
    assert [r.key for r in model.visible_rows] == AASM_ORDER
    assert set(model.hidden) == set(ELECTRODES)
    assert model.order == AASM_ORDER + model.hidden  # the rows left out follow, hidden
    # The derived rows carry real signal: F4-M1 is F4 minus M1.
    x, _ = model.read_row("F4-M1", 0, 2)
    f4 = referential.read_channel("F4", 0, 2)
    m1 = referential.read_channel("M1", 0, 2)
    np.testing.assert_allclose(x, (f4 - m1)[: x.size])


def test_aasm_derivations_take_the_reference_name_the_file_uses(tmp_path):
    labels = ["F4", "C4", "O2", "A1", "A2", "E1", "E2", "F3"]
    rec = open_recording(make_referential(tmp_path / "a.edf", electrodes=labels))
    montage, missing = aasm_recommended(rec)
    assert montage.labels[:5] == ["F4-A1", "C4-A1", "O2-A1", "F3-A2", "E1-A2"]
    assert [d.minus for d in montage.derivations[:3]] == ["A1", "A1", "A1"]
    assert any(s.startswith("no C3-M2 (backup)") and "A2" in s for s in missing)
    assert any(s.startswith("no chin EMG") for s in missing)
    rec.close()


def test_aasm_montage_of_a_bipolar_recording_uses_its_channels_and_says_what_is_missing(tmp_path):
    rng = np.random.default_rng(3)
    sigs = [_sig(rng, "EEG C4-A1"), _sig(rng, "EOG LOC-A2"), _sig(rng, "EEG F4-A1"),
            _sig(rng, "EMG Chin"), _sig(rng, "ECG")]
    rec = open_recording(write_edf(tmp_path / "bip.edf", sigs))
    montage, missing = aasm_recommended(rec)
    assert montage.labels == ["EEG F4-A1", "EEG C4-A1", "EOG LOC-A2", "EMG Chin", "ECG"]
    assert montage.derivations == ()
    said = " | ".join(missing)
    for name in ("O2-M1", "E2-M2", "left leg EMG", "nasal pressure", "SpO2", "body position"):
        assert f"no {name}" in said
    rec.close()


def test_every_aasm_slot_names_a_known_detector_role_and_the_menu_lists_aasm():
    assert all(r in ROLES for s in AASM_SLOTS for r in s.roles)
    assert list(BUILTIN_MONTAGES)[0] == "AASM recommended"


def _montage(name="Night review"):
    return Montage(name, (MontageRow("C4-M1", gain=2.0), MontageRow("ECG", hidden=True),
                          MontageRow("SpO2", sensitivity=AUTO), MontageRow("E1-M2",
                                                                           sensitivity=7.0)),
                   (Derivation("C4", "M1"),))


def test_a_user_montage_saves_lists_loads_and_deletes(tmp_path):
    store = MontageStore(tmp_path / "montages")
    assert store.scan() == ([], [])
    path = store.save(_montage())
    assert path.parent == tmp_path / "montages" and path.name.endswith(".montage.json")
    store.save(_montage("Another"))
    assert store.names() == ["Another", "Night review"]
    assert store.load("Night review") == _montage()
    store.delete("Night review")
    assert store.names() == ["Another"]
    with pytest.raises(MontageError, match="no montage called 'Night review'"):
        store.load("Night review")
    with pytest.raises(MontageError):
        store.delete("Night review")


def test_the_store_lives_in_the_user_data_folder(isolated_user_dirs):
    assert MontageStore().folder == isolated_user_dirs / "montages"


def test_saving_over_a_saved_montage_is_refused_unless_asked(tmp_path):
    store = MontageStore(tmp_path)
    store.save(_montage())
    changed = Montage("Night review", (MontageRow("ECG"),))
    with pytest.raises(MontageError, match="already saved"):
        store.save(changed)
    assert store.load("Night review") == _montage()
    store.save(changed, overwrite=True)
    assert store.load("Night review") == changed


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not JSON"),
    ('{"format": "other"}', "not a montage"),
    ('{"format": "sleepfm-montage", "version": 1, "name": "x", "rows": [{"label": "C4", '
     '"gain": -1}]}', "gain -1"),
    ('{"format": "sleepfm-montage", "version": 1, "name": "x", "rows": [{"label": "C4"}, '
     '{"label": "C4"}]}', "twice"),
    ('{"format": "sleepfm-montage", "version": 9, "name": "x", "rows": []}', "version 9"),
])
def test_a_corrupt_montage_file_gives_a_typed_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.montage.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MontageError, match=problem) as info:
        read_montage(path)
    assert str(path) in str(info.value) and info.value.path == path
    montages, problems = MontageStore(tmp_path).scan()
    assert montages == [] and [p.path for p in problems] == [path]


_labels = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
_sens = st.one_of(st.none(), st.just(AUTO), st.floats(0.01, 1000))


@st.composite
def montages(draw):
    labels = draw(st.lists(_labels, max_size=8, unique=True))
    rows = tuple(MontageRow(lb, draw(st.booleans()), draw(st.one_of(st.none(),
                                                                    st.floats(0.01, 100))),
                            draw(_sens)) for lb in labels)
    pairs = draw(st.lists(st.tuples(_labels, _labels).filter(lambda p: p[0] != p[1]),
                          max_size=4))
    derivs = tuple({d.label: d for d in (Derivation(p, m) for p, m in pairs)}.values())
    name = draw(_labels.filter(lambda n: n.strip()))
    return Montage(name, rows, derivs)


@settings(max_examples=60, deadline=None)
@given(montages())
def test_a_written_montage_file_reads_back_equal(montage):
    with tempfile.TemporaryDirectory() as folder:
        path = write_montage(Path(folder) / "m.montage.json", montage)
        assert read_montage(path) == montage
        store = MontageStore(folder)
        store.save(montage, overwrite=True)
        assert store.load(montage.name) == montage


_json = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers()
                     | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
_montage_like = st.fixed_dictionaries(
    {"format": st.just("sleepfm-montage"), "version": st.just(1), "name": _json,
     "rows": st.lists(st.dictionaries(st.sampled_from(["label", "hidden", "gain", "sensitivity"]),
                                      _json), max_size=4),
     "derivations": _json})


@settings(max_examples=150, deadline=None)
@given(st.one_of(_json, _montage_like))
def test_reading_any_json_gives_a_montage_or_a_typed_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.montage.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        try:
            assert isinstance(read_montage(path), Montage)
        except MontageError as exc:
            assert exc.path == path


# ------------------------------------------------------------------ row order in the model

def _model(rec):
    model = DisplayModel()
    model.set_recording(rec)
    return model


def test_moving_a_row_reorders_the_display_and_the_order_persists(referential):
    model = _model(referential)
    before = model.order
    ecg = "ECG"
    i = before.index(ecg)
    assert model.move_row(ecg, -1)
    assert model.order.index(ecg) == i - 1
    model.set_visible("Chin1", False)
    model.move_row(ecg, -100)
    assert model.order[0] == ecg and model.visible_rows[0].key == ecg
    assert not model.move_row(ecg, -1)  # already at the top
    saved = model.to_dict(rows=True)
    again = _model(referential)
    assert again.restore(saved) == []
    assert again.order == model.order and again.hidden == model.hidden
    # Grouped again on request, and that too is what is saved.
    model.reset_order()
    assert model.order == before and model.to_dict(rows=True)["order"] is None


def test_a_row_added_after_reordering_goes_after_the_row_it_follows(referential):
    model = _model(referential)
    model.move_row("ECG", -100)
    model.add_derivation(Derivation("C4", "M1"))
    order = model.order
    # Grouped, C4-M1 follows the last EEG row (M2, before the EOG); the user's order is kept.
    assert order[0] == "ECG"
    assert order.index("M2") + 1 == order.index("C4-M1") == order.index("E1") - 1
    with pytest.raises(KeyError, match="nope"):
        model.set_order(["nope"])


def test_a_saved_order_naming_rows_the_recording_lacks_says_so(referential):
    model = _model(referential)
    skipped = model.restore({"order": ["ECG", "Fz"]})
    assert skipped == ["order: row 'Fz' is not in this recording"]
    assert model.order[0] == "ECG"
    assert model.restore({"order": "ECG"}) == ["order: not a list of row names"]


def test_a_montage_saved_from_a_display_lays_another_display_out_the_same(referential, tmp_path):
    model = _model(referential)
    model.apply_montage(aasm_recommended(referential)[0])
    model.move_row("ECG", -3)
    model.set_gain("C4-M1", 2.0)
    model.set_sensitivity("E1-M2", 10.0)
    model.set_visible("Snore", False)
    store = MontageStore(tmp_path)
    store.save(model.to_montage("Mine"))
    other = _model(referential)
    assert other.apply_montage(store.load("Mine")) == []
    assert other.order == model.order and other.hidden == model.hidden
    assert other.row_state("C4-M1").gain == 2.0
    assert other.row_state("E1-M2").sensitivity == 10.0
    assert other.row_state("F4-M1").sensitivity is None


def test_a_montage_with_rows_the_recording_lacks_says_what_it_skipped(referential):
    model = _model(referential)
    montage = Montage("Partial", (MontageRow("C4-M1"), MontageRow("Fz-Cz"), MontageRow("ECG")),
                      (Derivation("C4", "M1"), Derivation("Fz", "Cz")))
    skipped = model.apply_montage(montage)
    assert any(s.startswith("derivation 'Fz-Cz'") and "'Fz'" in s for s in skipped)
    assert "row 'Fz-Cz': not in this recording" in skipped
    assert [r.key for r in model.visible_rows] == ["C4-M1", "ECG"]
    before = model.order, model.hidden
    none = Montage("Elsewhere", (MontageRow("Pz"),))
    assert model.apply_montage(none)[-1].endswith("the display is unchanged")
    assert (model.order, model.hidden) == before


# ------------------------------------------------------------------ each study's display state

def test_each_study_keeps_its_own_display_state(tmp_path):
    a = open_recording(make_referential(tmp_path / "a.edf"))
    b = open_recording(make_referential(tmp_path / "b.edf", starttime="23.00.00"))
    model = _model(a)
    model.add_derivation(Derivation("C4", "M1"))
    model.set_gain("ECG", 3.0)
    model.set_visible("Snore", False)
    model.move_row("ECG", -100)
    save_display_state(a, model.to_dict(rows=True))
    assert load_display_state(b) is None
    assert state_path(a) != state_path(b)
    state = load_display_state(a)
    assert set(state) == {"derivations", "rows", "order"}  # not the viewer's preferences
    again = _model(a)
    assert again.restore(state) == []
    assert again.to_dict(rows=True) == model.to_dict(rows=True)
    a.close()
    b.close()


def test_a_display_state_file_reads_back_identically(tmp_path):
    state = {"derivations": [{"plus": "C4", "minus": "M1", "label": "C4-M1"}],
             "rows": {"C4-M1": {"gain": 2.0, "inverted": True, "visible": False,
                                "sensitivity": None}}, "order": ["C4-M1"]}
    path = write_display_state(tmp_path / "s.json", "night.edf", {**state, "window": 30})
    assert read_display_state(path) == state


@pytest.mark.parametrize("text", ["[]", "{oops", '{"format": "sleepfm-display-state", '
                                                 '"version": 1, "state": 3}'])
def test_a_corrupt_display_state_gives_a_typed_error_naming_the_file(tmp_path, text):
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DisplayStateError) as info:
        read_display_state(path)
    assert str(path) in str(info.value)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries({"format": st.just("sleepfm-display-state"),
                                               "version": st.sampled_from([0, 1, 2, True]),
                                               "state": _json})))
def test_reading_any_json_as_a_display_state_gives_its_entries_or_a_typed_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        try:
            state = read_display_state(path)
        except DisplayStateError as exc:
            assert exc.path == path
        else:
            assert set(state) <= {"derivations", "rows", "order"}
            assert state == {k: v for k, v in data["state"].items()
                             if k in ("derivations", "rows", "order")}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["derivations", "rows", "order", "window"]), _json))
def test_a_written_display_state_reads_back_equal(state):
    with tempfile.TemporaryDirectory() as folder:
        path = write_display_state(Path(folder) / "s.json", "night.edf", state)
        assert read_display_state(path) == {k: v for k, v in state.items() if k != "window"}
