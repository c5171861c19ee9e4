"""Channel label → SleepFM modality: rules, reasons, the reference's defects, and user overrides."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from sleepfm_engine import channels as ch
from sleepfm_engine.channels import ChannelMap, ChannelMapError, classify_channel
from sleepfm_engine.contract import MAX_CHANNELS, MODALITIES, OTHER

# (label, expected modality, where the label comes from)
REAL_WORLD = [
    # labels straight from the reference channel_groups.json
    ("C3-M2", "BAS", "reference / AASM"),
    ("C4-M1", "BAS", "reference / AASM"),
    ("E1-M2", "BAS", "reference / AASM EOG"),
    ("LOC", "BAS", "reference"),
    ("ROC", "BAS", "reference"),
    ("ECG II", "EKG", "reference"),
    ("Chin1-Chin2", "EMG", "reference"),
    ("Nasal Pressure", "RESP", "reference"),
    ("Thorax", "RESP", "reference"),
    ("Abdomen", "RESP", "reference"),
    # Sleep-EDF
    ("EEG Fpz-Cz", "BAS", "Sleep-EDF"),
    ("EEG Pz-Oz", "BAS", "Sleep-EDF"),
    ("EOG horizontal", "BAS", "Sleep-EDF"),
    ("EMG submental", "EMG", "Sleep-EDF"),
    ("Resp oro-nasal", "RESP", "Sleep-EDF"),
    ("Temp rectal", OTHER, "Sleep-EDF"),
    ("Event marker", OTHER, "Sleep-EDF"),
    # DREAMS
    ("O1-A1", "BAS", "DREAMS"),
    ("C3-A1", "BAS", "DREAMS"),
    ("FP1-A1", "BAS", "DREAMS"),
    ("CZ-A1", "BAS", "DREAMS"),
    ("EOG1-A1", "BAS", "DREAMS"),
    ("EOG2-A1", "BAS", "DREAMS"),
    ("EMG1", "EMG", "DREAMS"),
    ("ECG", "EKG", "DREAMS"),
    ("NAF1", "RESP", "DREAMS"),
    ("VAB", "RESP", "DREAMS"),
    ("VTH", "RESP", "DREAMS"),
    ("SAO2", "RESP", "DREAMS"),
    ("PR", "RESP", "DREAMS"),
    ("PULSE", "RESP", "DREAMS"),
    ("PHONO", "RESP", "DREAMS"),
    ("POS", OTHER, "DREAMS"),
    ("hypnogram", OTHER, "DREAMS"),
    ("event_pneumo", OTHER, "DREAMS"),
    # SHHS
    ("EEG(sec)", "BAS", "SHHS"),
    ("EEG", "BAS", "SHHS"),
    ("EOG(L)", "BAS", "SHHS"),
    ("EMG", "EMG", "SHHS"),
    ("THOR RES", "RESP", "SHHS"),
    ("ABDO RES", "RESP", "SHHS"),
    ("NEW AIR", "RESP", "SHHS"),
    ("AIRFLOW", "RESP", "SHHS"),
    ("SaO2", "RESP", "SHHS"),
    ("H.R.", "RESP", "SHHS"),
    ("OX stat", OTHER, "SHHS"),
    ("POSITION", OTHER, "SHHS"),
    ("LIGHT", OTHER, "SHHS"),
    # MESA
    ("EKG", "EKG", "MESA"),
    ("EOG-L", "BAS", "MESA"),
    ("EEG1", "BAS", "MESA"),
    ("EEG3", "BAS", "MESA"),
    ("Leg", "EMG", "MESA"),
    ("Flow", "RESP", "MESA"),
    ("Pres", "RESP", "MESA"),
    ("Therm", "RESP", "MESA"),
    ("Thor", "RESP", "MESA"),
    ("Abdo", "RESP", "MESA"),
    ("Snore", "RESP", "MESA"),
    ("SpO2", "RESP", "MESA"),
    ("Pleth", "RESP", "MESA"),
    ("HR", "RESP", "MESA"),
    ("DHR", "RESP", "MESA/MrOS"),
    ("OxStatus", OTHER, "MESA"),
    ("Pos", OTHER, "MESA"),
    # MrOS
    ("ECG L", "EKG", "MrOS"),
    ("ECG R", "EKG", "MrOS"),
    ("L Chin", "EMG", "MrOS"),
    ("Leg L", "EMG", "MrOS"),
    ("Cannula Flow", "RESP", "MrOS"),
    ("Thoracic", "RESP", "MrOS"),
    ("Abdominal", "RESP", "MrOS"),
    ("Position", OTHER, "MrOS"),
    # Cleveland Family Study
    ("ECG1", "EKG", "CFS"),
    ("EMG2", "EMG", "CFS"),
    ("L Leg", "EMG", "CFS"),
    ("NASAL PRES", "RESP", "CFS"),
    ("THOR EFFORT", "RESP", "CFS"),
    ("ABDO EFFORT", "RESP", "CFS"),
    ("SUM", "RESP", "CFS"),
    ("PlethWV", "RESP", "CFS"),
    ("Light", OTHER, "CFS"),
    # Stanford / SSC style
    ("O2-M1", "BAS", "SSC"),
    ("F3-M2", "BAS", "SSC"),
    ("LLeg", "EMG", "SSC"),
    ("RLeg", "EMG", "SSC"),
    ("Leg 1", "EMG", "SSC"),
    ("Leg 2", "EMG", "SSC"),
    ("Chin", "EMG", "SSC"),
    # Compumedics / Embla / Natus
    ("Pressur", "RESP", "Compumedics (truncated)"),
    ("RIP Abd", "RESP", "Compumedics (truncated)"),
    ("RIP Tho", "RESP", "Compumedics (truncated)"),
    ("Masset.", "EMG", "Compumedics"),
    ("CFlow", "RESP", "Compumedics"),
    ("Pressure", "RESP", "Embla"),
    ("Cannula", "RESP", "Natus"),
    ("PTAF", "RESP", "Natus"),
    ("LAT", "EMG", "Natus"),
    ("RAT", "EMG", "Natus"),
    ("Body", OTHER, "Embla"),
    ("EDF Annotations", OTHER, "EDF+"),
    ("Marker", OTHER, "BioSemi/vendor"),
    ("Status", OTHER, "BioSemi"),
    # normalised spellings of reference labels
    ("EEG C4-A1", "BAS", "reference, EEG prefix"),
    ("eeg c4-a1", "BAS", "lower case"),
    ("EEG C4-M1", "BAS", "prefix + separator"),
    ("C4/M1", "BAS", "slash separator"),
    ("F4-REF", "BAS", "REF suffix"),
    ("  Chin  ", "EMG", "padding"),
    ("ThorRes", "RESP", "no separator"),
    # keyword and electrode rules
    ("F7-T3", "BAS", "bipolar 10-20 derivation"),
    ("EEG Fp1-F7", "BAS", "bipolar 10-20 derivation"),
    ("ECG V1", "EKG", "ECG lead"),
    ("EKG1-EKG2", "EKG", "ECG lead pair"),
    ("Tib L", "EMG", "tibialis"),
    ("Resp chest", "RESP", "respiratory keyword"),
    ("Oxygen Saturation", "RESP", "oximetry keyword"),
    ("Body position", OTHER, "position keyword"),
    ("Aux3", OTHER, "unknown"),
]


@pytest.mark.parametrize("label,expected,source", REAL_WORLD,
                         ids=[f"{src}:{lab.strip()}" for lab, _, src in REAL_WORLD])
def test_real_world_label_maps_to_expected_modality(label, expected, source):
    modality, reason = classify_channel(label)
    assert modality == expected, f"{label!r} ({source}): {modality} because {reason}"
    assert reason


def test_real_world_table_is_large_and_covers_every_modality():
    assert len({label for label, _, _ in REAL_WORLD}) >= 60
    assert {m for _, m, _ in REAL_WORLD} == set(MODALITIES) | {OTHER}


def test_every_reference_label_keeps_its_group_except_documented_corrections():
    groups = ch.reference_groups()
    assert sum(len(v) for v in groups.values()) > 900
    for modality, labels in groups.items():
        for label in labels:
            got, reason = classify_channel(label)
            if label in ch._REFERENCE_CORRECTIONS:
                assert got == ch._REFERENCE_CORRECTIONS[label][1]
                assert "corrected" in reason
            else:
                assert (got, reason) == (modality, f"reference channel_groups.json: {modality}"), label


def test_pleth_is_respiratory_not_emg_and_reason_names_the_reference_defect():
    assert "Pleth" in ch.reference_groups()["EMG"]  # the defect exists upstream
    modality, reason = classify_channel("Pleth")
    assert modality == "RESP"
    assert "under EMG" in reason and "corrected" in reason
    assert classify_channel("pleth")[0] == "RESP"


def test_exact_reference_reason_names_the_file_and_group():
    assert classify_channel("C4") == ("BAS", "reference channel_groups.json: BAS")


def test_normalised_reason_names_reference_label_and_original():
    modality, reason = classify_channel("O1-A1")
    assert modality == "BAS"
    assert reason == "normalised 'O1' (from 'O1-A1') in reference BAS"


def test_explicit_rule_reason_names_the_montage():
    modality, reason = classify_channel("Resp oro-nasal")
    assert modality == "RESP"
    assert reason.startswith("Sleep-EDF rule: 'Resp oro-nasal' → RESP")
    assert classify_channel("NAF1")[1].startswith("DREAMS rule:")


def test_prefix_that_contradicts_the_reference_remainder_is_not_trusted():
    # 'EMG C3' would reach the reference BAS label 'C3' only by dropping a prefix naming EMG
    modality, reason = classify_channel("EMG C3")
    assert modality == "EMG"
    assert "reference" not in reason


def test_unknown_label_with_percent_unit_is_other_and_says_so():
    modality, reason = classify_channel("Channel 7", unit="%")
    assert modality == OTHER
    assert "'%'" in reason


def test_unknown_voltage_label_is_other_and_suggests_override():
    modality, reason = classify_channel("X1", rate=256, unit="uV")
    assert modality == OTHER
    assert "voltage" in reason and "override" in reason


def test_unit_vetoes_weak_keyword_match_but_not_a_reference_match():
    assert classify_channel("EEG aux", unit="%")[0] == OTHER
    assert classify_channel("EEG aux", unit="uV")[0] == "BAS"
    # the reference decides alone: SaO2 stays RESP whatever its unit
    assert classify_channel("SaO2", unit="%")[0] == "RESP"
    assert classify_channel("EEG", unit="%")[0] == "BAS"


def test_slow_rate_vetoes_weak_eeg_keyword_match_but_not_emg_envelope():
    modality, reason = classify_channel("EEG aux", rate=1.0)
    assert modality == OTHER and "1 Hz" in reason
    assert classify_channel("EEG aux", rate=100.0)[0] == "BAS"
    assert classify_channel("EMG submental", rate=1.0)[0] == "EMG"


def test_every_explicit_rule_is_needed_by_missing_or_correcting_the_reference():
    exact = {label for labels in ch.reference_groups().values() for label in labels}
    for rule in ch.EXPLICIT_RULES:
        assert rule.label not in exact, f"{rule.label!r} is already in the reference"
        assert classify_channel(rule.label)[0] == rule.modality
        assert rule.modality in ch.ALL_MODALITIES


def test_modalities_returned_are_contract_names():
    for label, _, _ in REAL_WORLD:
        assert classify_channel(label)[0] in (*MODALITIES, OTHER)


def test_non_string_label_raises_type_error():
    with pytest.raises(TypeError, match="string"):
        classify_channel(3)  # type: ignore[arg-type]


def test_missing_resources_folder_raises_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(ch, "_resources_dir", lambda: tmp_path / "resources")
    ch.reference_groups.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="channel_groups.json.*resources"):
            ch.reference_groups()
    finally:
        ch.reference_groups.cache_clear()


def test_malformed_reference_file_raises_clear_error(tmp_path, monkeypatch):
    (tmp_path / "channel_groups.json").write_text(json.dumps({"BRAIN": ["C3"]}))
    monkeypatch.setattr(ch, "_resources_dir", lambda: tmp_path)
    ch.reference_groups.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown modality 'BRAIN'"):
            ch.reference_groups()
    finally:
        ch.reference_groups.cache_clear()


# -- ChannelMap -----------------------------------------------------------------------------

LABELS = ["EEG C4-A1", "EEG O2-A1", "EOG(L)", "ECG", "Chin", "Airflow", "SpO2", "Position",
          "Leg 1", "Leg 2"]


def _fake_recording(labels, rates=None, units=None, originals=None):
    n = len(labels)
    rates = rates or [256.0] * n
    units = units or ["V"] * n
    originals = originals or labels
    chans = [SimpleNamespace(label=l, original_label=o, rate=r, unit=u)
             for l, o, r, u in zip(labels, originals, rates, units)]
    return SimpleNamespace(channels=chans, labels=list(labels))


def test_channel_map_from_recording_keeps_file_order_per_modality():
    cmap = ChannelMap.from_recording(_fake_recording(LABELS))
    assert cmap.labels == LABELS
    assert cmap.channels_for("BAS") == ["EEG C4-A1", "EEG O2-A1", "EOG(L)"]
    assert cmap.channels_for("EMG") == ["Chin", "Leg 1", "Leg 2"]
    assert cmap.channels_for("RESP") == ["Airflow", "SpO2"]
    assert cmap.channels_for("other") == ["Position"]
    assert cmap["ECG"] == ("EKG", "reference channel_groups.json: EKG", False)


def test_duplicate_labels_are_classified_by_their_original_label():
    cmap = ChannelMap.from_recording(_fake_recording(["ECG", "ECG_1"], originals=["ECG", "ECG"]))
    assert cmap.channels_for("EKG") == ["ECG", "ECG_1"]


def test_channels_for_caps_only_when_asked():
    labels = [f"EEG{i}" for i in range(1, 4)] + ["C3", "C4", "O1", "O2", "F3", "F4", "Fz", "Cz",
                                                  "Pz"]
    cmap = ChannelMap.from_labels(labels)
    assert len(cmap.channels_for("BAS")) == 12
    assert cmap.channels_for("BAS", cap=True) == labels[:MAX_CHANNELS["BAS"]]
    assert cmap.channels_for("other", cap=True) == []


def test_channels_for_rejects_unknown_modality():
    with pytest.raises(ValueError, match="invalid modality 'EEG'"):
        ChannelMap.from_labels(["C3"]).channels_for("EEG")


def test_override_changes_modality_flags_it_and_can_be_undone():
    cmap = ChannelMap.from_labels(LABELS)
    cmap.override("SpO2", "other")
    assigned = cmap["SpO2"]
    assert assigned.modality == OTHER and assigned.overridden
    assert assigned.reason.startswith("user override → other")
    assert "SpO2" not in cmap.channels_for("RESP")
    assert cmap.automatic("SpO2")[0] == "RESP"
    cmap.override("SpO2", None)
    assert cmap["SpO2"] == ("RESP", "reference channel_groups.json: RESP", False)


def test_override_accepts_any_case_and_rejects_bad_input():
    cmap = ChannelMap.from_labels(LABELS)
    cmap.override("Position", "resp")
    assert cmap.modality_of("Position") == "RESP"
    with pytest.raises(ValueError, match="invalid modality 'EOG'"):
        cmap.override("Position", "EOG")
    with pytest.raises(ValueError, match="no channel labelled 'Nope'"):
        cmap.override("Nope", "BAS")


def test_overrides_round_trip_through_json(tmp_path):
    cmap = ChannelMap.from_labels(LABELS)
    cmap.override("Position", "EMG")
    cmap.override("EEG O2-A1", "other")
    path = cmap.save_overrides(tmp_path / "sub" / "overrides.json")
    assert json.loads(path.read_text()) == {"EEG O2-A1": "other", "Position": "EMG"}
    assert [p.name for p in path.parent.iterdir()] == ["overrides.json"]  # no temp file left
    fresh = ChannelMap.from_labels(LABELS)
    assert fresh.load_overrides(path) == {"EEG O2-A1": "other", "Position": "EMG"}
    assert fresh.as_dict() == cmap.as_dict()
    assert fresh.overrides == cmap.overrides
    again = ChannelMap.from_recording(_fake_recording(LABELS), overrides=path)
    assert again["Position"].overridden


def test_overrides_for_labels_absent_from_recording_warn_and_are_skipped(tmp_path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"Chin": "other", "EEG Fpz-Cz": "EMG"}))
    cmap = ChannelMap.from_labels(LABELS)
    with pytest.warns(UserWarning, match="'EEG Fpz-Cz'"):
        applied = cmap.load_overrides(path)
    assert applied == {"Chin": "other"}
    assert cmap.modality_of("Chin") == OTHER


@pytest.mark.parametrize("content,match", [
    ('{"Chin": "BRAIN"}', r"entry 'Chin': invalid modality 'BRAIN'"),
    ('{"Chin": 3}', r"entry 'Chin': invalid modality 3"),
    ('["Chin", "EMG"]', r"must be a JSON object"),
    ('{"Chin": "EMG",', r"not valid JSON \(line 1"),
    ('{"": "EMG"}', r"empty channel label"),
], ids=["unknown-modality", "non-string-modality", "list", "truncated", "empty-label"])
def test_invalid_overrides_file_error_names_file_and_entry(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    cmap = ChannelMap.from_labels(LABELS)
    with pytest.raises(ChannelMapError, match=match) as info:
        cmap.load_overrides(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert cmap.overrides == {}  # nothing half-applied


def test_missing_overrides_file_error_names_file(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(ChannelMapError, match="cannot read") as info:
        ChannelMap.from_labels(LABELS, overrides=path)
    assert str(path) in str(info.value)


def test_to_records_has_json_ready_fields():
    cmap = ChannelMap.from_labels(["C3", "SpO2"], rates=[256.0, 1.0], units=["V", "%"])
    records = cmap.to_records()
    assert records[1] == {"label": "SpO2", "rate": 1.0, "unit": "%", "modality": "RESP",
                          "reason": "reference channel_groups.json: RESP", "overridden": False}
    json.dumps(records)


def test_slow_rate_veto_sits_at_the_one_waveform_threshold():
    below, at = ch.MIN_WAVEFORM_HZ * 0.99, ch.MIN_WAVEFORM_HZ
    assert classify_channel("EEG aux", rate=below)[0] == OTHER
    assert classify_channel("EEG aux", rate=at)[0] == "BAS"
    assert classify_channel("ECG aux", rate=below)[0] == OTHER


def test_label_vocabulary_reads_camel_case_words():
    assert ch.label_words("HeartRate") == "heart rate"
    assert ch.LEVEL_WORDS.search(ch.label_words("HeartRate"))
    assert ch.LEVEL_WORDS.search(ch.label_words("SpO2 %"))
    assert not ch.LEVEL_WORDS.search(ch.label_words("Pleth"))
    assert ch.SNORE_WORDS.search(ch.label_words("Snore mic"))
    assert not ch.SNORE_WORDS.search(ch.label_words("Microphone level"))
    assert ch.EOG_WORDS.search(ch.label_words("E1-M2"))
    assert classify_channel("Oximetry")[1].startswith("keyword 'oximetry'")
