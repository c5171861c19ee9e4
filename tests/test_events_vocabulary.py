"""The scored-event vocabulary: types, families, colours, vendor/free-text label mapping."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleepfm_engine.events.vocabulary import (EVENT_TYPES, FAMILIES, EventType, as_event_type,
                                              describe_label, family, is_apnea, is_hypopnea,
                                              is_stage_label, map_label, types_of_family)

T = EventType


def test_every_type_has_info_with_a_known_family_a_hex_colour_and_a_unique_code():
    assert set(EVENT_TYPES) == set(EventType)
    codes = [info.code for info in EVENT_TYPES.values()]
    assert len(set(codes)) == len(codes)
    for t, info in EVENT_TYPES.items():
        assert info.name == t.value
        assert info.family in FAMILIES
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", info.colour)


def test_type_values_are_the_stable_contract_strings():
    assert [t.value for t in EventType] == [
        "apnea_obstructive", "apnea_central", "apnea_mixed", "apnea_unclassified", "hypopnea",
        "hypopnea_obstructive", "hypopnea_central", "rera", "arousal_spontaneous",
        "arousal_respiratory", "arousal_limb", "arousal", "desaturation", "spo2_artefact",
        "limb_movement_left", "limb_movement_right", "limb_movement", "periodic_limb_movement",
        "position_change", "lights_off", "lights_on", "artefact", "bradycardia", "tachycardia",
        "cardiac_pause", "note"]
    assert str(T.rera) == "rera" and T("hypopnea") is T.hypopnea


def test_display_labels_and_type_values_map_back_to_their_type():
    for t, info in EVENT_TYPES.items():
        assert map_label(info.label) is t
        assert map_label(t.value) is t


def test_helpers_classify_apneas_hypopneas_and_families():
    assert {t for t in EventType if is_apnea(t)} == {
        T.apnea_obstructive, T.apnea_central, T.apnea_mixed, T.apnea_unclassified}
    assert {t for t in EventType if is_hypopnea(t)} == {
        T.hypopnea, T.hypopnea_obstructive, T.hypopnea_central}
    assert is_apnea("apnea_mixed") and not is_apnea(T.hypopnea)
    assert family(T.desaturation) == "oxygen" and family("arousal_limb") == "arousal"
    assert family(T.rera) == "respiratory" and family(T.cardiac_pause) == "cardiac"
    assert types_of_family("lights") == {T.lights_off, T.lights_on}


def test_unknown_type_values_and_families_are_errors_that_list_the_valid_ones():
    with pytest.raises(ValueError, match="apnea_obstructive"):
        as_event_type("Obstructive apnea")
    with pytest.raises(ValueError, match="respiratory"):
        types_of_family("breathing")


@pytest.mark.parametrize("label, expected", [
    # NSRR concepts
    ("Obstructive apnea|Obstructive Apnea", T.apnea_obstructive),
    ("Central apnea|Central Apnea", T.apnea_central),
    ("Mixed apnea|Mixed Apnea", T.apnea_mixed),
    ("Hypopnea|Hypopnea", T.hypopnea),
    ("Unsure|Unsure", T.hypopnea),
    ("SpO2 desaturation|SpO2 desaturation", T.desaturation),
    ("SpO2 artifact|SpO2 artifact", T.spo2_artefact),
    ("Respiratory artifact|Respiratory artifact", T.artefact),
    ("Arousal|Arousal ()", T.arousal),
    ("ASDA arousal|Arousal (ASDA)", T.arousal),
    ("Arousal resulting from respiratory effort|Arousal (ASDA)", T.arousal_respiratory),
    ("Spontaneous arousal|Arousal (ARO SPONT)", T.arousal_spontaneous),
    ("Arousal resulting from periodic leg movement|Arousal (ARO PLM)", T.arousal_limb),
    ("Limb movement - left|Limb Movement (Left)", T.limb_movement_left),
    ("Limb movement - right|Limb Movement (Right)", T.limb_movement_right),
    ("Periodic leg movement - left|PLM (Left)", T.periodic_limb_movement),
    ("Position change|Position change", T.position_change),
    # Profusion names
    ("Obstructive Apnea", T.apnea_obstructive), ("SpO2 desaturation", T.desaturation),
    ("Arousal ()", T.arousal), ("SpO2 artifact", T.spo2_artefact), ("Hypopnea", T.hypopnea),
    # EDF+ / EDFbrowser / MNE free text
    ("Apnea obstructive", T.apnea_obstructive), ("Central Apnea", T.apnea_central),
    ("Arousal", T.arousal), ("Arousal (Resp)", T.arousal_respiratory),
    ("Limb Movement (Left)", T.limb_movement_left), ("LM", T.limb_movement),
    ("Desaturation", T.desaturation), ("SpO2 desat", T.desaturation),
    ("Lights Off", T.lights_off), ("Lights on", T.lights_on), ("lights out", T.lights_off),
    ("OA", T.apnea_obstructive), ("Obstructive apnoea", T.apnea_obstructive),
    ("Obstructive Apnea with desat", T.apnea_obstructive),
    ("Hypopnoea central", T.hypopnea_central), ("RERA", T.rera),
    ("Leg movement R", T.limb_movement_right), ("PLMS", T.periodic_limb_movement),
    ("Oxygen desaturation", T.desaturation), ("Bradycardia", T.bradycardia),
    ("Asystole", T.cardiac_pause), ("Movement artifact", T.artefact),
    # Sleep-EDF / DREAMS style
    ("apnea_obstructive", T.apnea_obstructive), ("MICRO-AROUSAL", T.arousal),
])
def test_vendor_and_free_text_labels_map_to_their_type(label, expected):
    assert map_label(label) is expected


@pytest.mark.parametrize("label", ["OBSTRUCTIVE   APNEA", "obstructive_apnea",
                                   " Obstructive-Apnea ", "obstructive apnea."])
def test_label_mapping_ignores_case_spacing_and_punctuation(label):
    assert map_label(label) is T.apnea_obstructive


@pytest.mark.parametrize("label", ["Recording Start Time", "Impedance check", "", "|", "???",
                                   "Sleep stage N2", "Bathroom break"])
def test_unknown_labels_become_notes_never_errors(label):
    assert map_label(label) is T.note


def test_plm_side_comes_back_as_an_attribute():
    assert describe_label("PLM (Right)").attributes == {"side": "right"}
    assert describe_label("Periodic leg movement - left|PLM (Left)").attributes == {"side": "left"}
    assert describe_label("Obstructive Apnea").attributes == {}


@pytest.mark.parametrize("label, is_stage", [
    ("Sleep stage N2", True), ("Sleep stage W", True), ("Wake|0", True),
    ("Stage 2 sleep|2", True), ("REM sleep|5", True), ("Sleep stage ?", True),
    ("Movement time", True), ("Sleep stage R", True),
    ("Arousal", False), ("A", False), ("Obstructive Apnea", False), ("MT", False),
])
def test_stage_labels_are_recognised_and_are_not_events(label, is_stage):
    assert is_stage_label(label) is is_stage


@given(st.text(max_size=40))
def test_any_text_maps_to_some_type_without_error(text):
    assert isinstance(map_label(text), EventType)
    assert isinstance(is_stage_label(text), bool)


@given(st.sampled_from([info.label for info in EVENT_TYPES.values()]),
       st.sampled_from([str.upper, str.lower, str.title]), st.sampled_from([" ", "  ", "_", "-"]))
def test_case_and_separator_changes_never_change_the_type(label, case, sep):
    assert map_label(case(label).replace(" ", sep)) is map_label(label)
