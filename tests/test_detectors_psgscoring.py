"""The psgscoring detector on small generated nights: events, rejections, summaries, edge cases."""
from __future__ import annotations

import re

import numpy as np
import pytest

from sleepfm_engine.detectors import DETECTORS, detection_job, get_detector
from sleepfm_engine.detectors.psgscoring import PINNED_VERSION
from sleepfm_engine.detectors.psgscoring_terms import rejection_reason, translate
from sleepfm_engine.detectors.roles import assign_roles
from sleepfm_engine.errors import DetectorError, JobCancelled
from sleepfm_engine.events import EventType, is_apnea, is_hypopnea
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.recording import open_recording
from sleepfm_engine.synthetic import make_night, write_night
from sleepfm_engine.synthetic.hypnogram import N1, N2, N3, R, W
from sleepfm_engine.synthetic.severity import Severity

STAGES = [W] * 4 + [N1] * 2 + [N2] * 34 + [N3] * 4 + [R] * 12 + [N2] * 4  # 30 min
DUTCH = re.compile(r"\b(niet|geen|een|het|ontbreekt|kanaal|terugval|slaap|opname)\b", re.I)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    night = make_night(seed=5, stages=STAGES,
                       severity=Severity(ahi=40, plmi=40, central_share=0.2, mixed_share=0.15))
    path = write_night(night, tmp_path_factory.mktemp("psg") / "night.edf")
    rec = open_recording(path)
    yield night, rec, Hypnogram(night.stages, start=night.start)
    rec.close()


@pytest.fixture(scope="module")
def scored(study):
    night, rec, hyp = study
    return get_detector("psgscoring").detect(rec, hyp)


def overlaps(a, b):
    return a.onset < b.end and b.onset < a.end


def test_registry_names_psgscoring_and_its_extra():
    assert DETECTORS["psgscoring"].extra == "events"
    det = get_detector("psgscoring")
    assert det.version() == PINNED_VERSION
    assert "aasm_v3_rec" in det.profiles()
    with pytest.raises(DetectorError, match="no such detector"):
        get_detector("nonexistent")


def test_roles_come_from_labels_transducers_and_modalities(study):
    _night, rec, _hyp = study
    roles = assign_roles(rec)
    assert roles["flow_pressure"] == ["Airflow"]  # "Nasal pressure cannula" transducer
    assert roles["spo2"] == ["SpO2"] and roles["position"] == ["Position"]
    assert roles["thorax"] == ["Thor"] and roles["abdomen"] == ["Abdo"]
    assert roles["leg_l"] == ["LLeg"] and roles["leg_r"] == ["RLeg"]
    assert roles["emg"] == ["Chin1-Chin2"] and "C4-M1" in roles["eeg"]
    assert "E1-M2" in roles["eog"]
    assert assign_roles(rec, overrides={"spo2": None}).get("spo2") is None
    with pytest.raises(DetectorError, match="does not have"):
        assign_roles(rec, overrides={"spo2": "Oximeter"})
    with pytest.raises(DetectorError, match="unknown role"):
        assign_roles(rec, overrides={"lung": "Airflow"})


def test_psgscoring_recognises_the_ground_truth_apneas(study, scored):
    night, _rec, _hyp = study
    truth = [e for e in night.events if is_apnea(e.type)]
    found = [e for e in scored.events if is_apnea(e.type)]
    assert len(truth) >= 5
    hit = [t for t in truth if any(overlaps(t, f) for f in found)]
    assert len(hit) >= 0.8 * len(truth)
    same_type = [t for t in hit if any(overlaps(t, f) and f.type == t.type for f in found)]
    assert len(same_type) >= 0.7 * len(hit)
    # no apnea was thrown out for breathing-like residue in the flow (the MMSD check)
    assert not [c for c in scored.events.rejected
                if c.event.attributes["reason_code"].startswith("mmsd")]


def test_events_carry_source_confidence_rule_and_criteria(scored):
    resp = [e for e in scored.events if is_apnea(e.type) or is_hypopnea(e.type)]
    assert resp
    for e in resp:
        assert e.source.kind == "detector" and e.source.name == "psgscoring"
        assert e.source.version == PINNED_VERSION
        assert e.source.settings["profile"] == "aasm_v3_rec"
        assert e.confidence is not None and 0 <= e.confidence <= 1
        assert e.attributes["rule"] and "flow_reduction_pct" in e.attributes["criteria"] \
            or "flow_nadir" in e.attributes["criteria"]
        assert "type_rule" in e.attributes
    hyp = [e for e in resp if is_hypopnea(e.type)]
    assert hyp and all("desaturation" in e.attributes["rule"] for e in hyp)
    desat = scored.events.of_type(EventType.desaturation)
    assert desat and all(d.attributes["drop_pct"] >= 3 for d in desat)


def test_rejected_candidates_keep_an_english_reason_and_the_code(scored):
    rejected = scored.events.rejected
    assert rejected
    for c in rejected:
        assert c.reason and not DUTCH.search(c.reason)
        assert c.event.attributes["reason_code"]
        assert c.event.id not in scored.events


def test_events_name_the_recording_channels_they_were_scored_on(study, scored):
    _night, rec, _hyp = study
    roles = assign_roles(rec)
    flow_and_belts = ("Airflow", "Thor", "Abdo")  # psgscoring's names mapped back
    resp = [e for e in scored.events if is_apnea(e.type) or is_hypopnea(e.type)]
    assert resp and all(e.channels == flow_and_belts for e in resp)
    assert all(c.event.channels == flow_and_belts for c in scored.events.rejected)
    desat = scored.events.of_type(EventType.desaturation)
    assert desat and all(e.channels == ("SpO2",) for e in desat)
    arousals = scored.events.of_family("arousal")
    assert arousals
    for e in arousals:
        eeg = [c for c in e.channels if c in roles["eeg"]]
        assert eeg and set(e.channels) - set(eeg) <= {"Chin1-Chin2"}
        assert ("Chin1-Chin2" in e.channels) == bool(e.attributes.get("emg_confirmed"))
    limbs = scored.events.of_family("limb")
    assert limbs and all(e.channels in (("LLeg", "RLeg"), ("LLeg",), ("RLeg",)) for e in limbs)
    assert all(e.channels == ("LLeg", "RLeg") and e.attributes["side"] == "both"
               for e in limbs if e.attributes["bilateral"])


def test_a_one_sided_limb_movement_sits_on_the_leg_that_moved(study, scored):
    night, _rec, _hyp = study
    truth = [e for e in night.events if e.attributes.get("side") in ("left", "right")]
    one_sided = [e for e in scored.events.of_family("limb") if not e.attributes["bilateral"]]
    assert len(truth) >= 10 and len(one_sided) >= 10
    sided = [e for e in one_sided if "side" in e.attributes]
    assert len(sided) >= 0.9 * len(one_sided)
    leg = {"left": ("LLeg",), "right": ("RLeg",)}
    for e in sided:
        assert e.channels == leg[e.attributes["side"]] and "EMG" in e.attributes["side_from"]
    pairs = [(e, t) for e in sided for t in truth if overlaps(e, t)]
    assert len(pairs) >= 10
    assert all(e.attributes["side"] == t.attributes["side"] for e, t in pairs)


def test_with_one_leg_channel_limb_movements_sit_on_that_leg(study):
    _night, rec, hyp = study
    r = get_detector("psgscoring").detect(rec, hyp, roles={"leg_r": None})
    limbs = r.events.of_family("limb")
    assert limbs and all(e.channels == ("LLeg",) for e in limbs)


def test_summary_uses_our_index_keys_and_agrees_with_its_events(scored):
    s = scored.summary
    for key in ("TST_h", "AHI", "OAI", "CAI", "MAI", "HI", "ODI3", "ArI", "PLMSI", "n_apneas"):
        assert key in s
    assert s["TST_h"] == pytest.approx(np.count_nonzero(np.array(STAGES) != W) * 30 / 3600,
                                       abs=0.05)
    apneas = [e for e in scored.events if is_apnea(e.type)]
    hyps = [e for e in scored.events if is_hypopnea(e.type)]
    assert s["n_apneas"] == len(apneas) and s["n_hypopneas"] == len(hyps)
    assert s["AHI"] == pytest.approx((len(apneas) + len(hyps)) / s["TST_h"], rel=0.1)
    assert s["n_plms"] == len(scored.events.of_type(EventType.periodic_limb_movement))
    assert s["AHI_severity"] in ("normal", "mild", "moderate", "severe")


def test_our_indices_of_its_events_agree_with_its_own_summary(study, scored):
    from sleepfm_engine.indices import compute_indices

    _night, _rec, hyp = study
    ours = compute_indices(scored.events, hyp)
    assert ours["TST_h"] == pytest.approx(scored.summary["TST_h"])
    for key in ("AHI", "AI", "OAI", "CAI", "MAI", "HI", "ODI3", "ODI4", "ArI",
                "ArI_respiratory", "ArI_spontaneous", "PLMSI"):
        assert ours[key] == pytest.approx(scored.summary[key], abs=0.06), key
    for key in ("n_apneas", "n_hypopneas", "n_desaturations_3", "n_arousals", "n_plms"):
        assert ours[key] == scored.summary[key], key
    assert ours["AHI_severity"] == scored.summary["AHI_severity"]


def test_provenance_and_messages_are_in_english(scored):
    p = scored.provenance
    assert p["library"] == "psgscoring" and p["version"] == PINNED_VERSION
    assert p["profile"] == "aasm_v3_rec"
    assert p["channels"]["flow_pressure"] == ["Airflow"]
    for text in scored.notes + scored.fallbacks + list(scored.not_scored.values()):
        assert not DUTCH.search(text), text
    assert translate("onnxruntime niet beschikbaar (ModuleNotFoundError); installeer "
                     "psgscoring[ml]") == ("onnxruntime is not installed (ModuleNotFoundError); "
                                           "install psgscoring[ml]")
    assert not DUTCH.search(translate("de REM-AHI berust op te weinig slaap"))
    assert translate("[arousal] unet_v1 niet gebruikt: onnxruntime niet beschikbaar "
                     "(ModuleNotFoundError); installeer psgscoring[ml] — terugval op lgbm") == (
        "[arousal] unet_v1 not used: onnxruntime is not installed (ModuleNotFoundError); "
        "install psgscoring[ml] — falling back to the LightGBM chain")
    assert translate("[arousal] LGBM-model niet beschikbaar (No module named 'lightgbm'); "
                     "regelgebaseerd pad, kandidaatdrempels NIET verruimd") == (
        "[arousal] LightGBM model not available (No module named 'lightgbm'); rule-based "
        "path, candidate thresholds not widened")
    assert "MMSD 0.402" in rejection_reason("mmsd_0.402")
    assert rejection_reason("local_reduction_7.1pct<20.0pct") == (
        "flow is reduced only 7.1 % against the 30 s before it (needs 20.0 %)")
    assert rejection_reason("local_reduction_-77.7pct<20.0pct") == (
        "flow is not reduced: 77.7 % above the 30 s before it (needs a 20.0 % reduction)")
    assert "code 'xyz'" in rejection_reason("xyz")


def test_missing_ml_extras_are_named_as_fallbacks(scored):
    from sleepfm_engine.detectors.psgscoring import PsgscoringDetector

    parts = PsgscoringDetector.optional_parts()
    text = " ".join(scored.fallbacks)
    assert ("LightGBM is not installed" in text) == (not parts["lightgbm"])
    assert ("onnxruntime is not installed" in text) == (not parts["onnxruntime"])


def test_without_spo2_hypopneas_and_desaturations_are_not_scored_not_zero(study):
    _night, rec, hyp = study
    r = get_detector("psgscoring").detect(rec, hyp, roles={"spo2": None})
    assert "desaturations" in r.not_scored and "hypopneas" in r.not_scored
    assert "no SpO2" in r.not_scored["hypopneas"]
    assert r.summary["ODI3"] is None and r.summary["AHI"] is None and r.summary["HI"] is None
    assert not r.events.of_type(EventType.desaturation)
    assert r.summary["n_apneas"] == len([e for e in r.events if is_apnea(e.type)]) > 0


def test_without_flow_respiratory_events_are_not_scored_but_spo2_is(study):
    _night, rec, hyp = study
    r = get_detector("psgscoring").detect(rec, hyp, roles={"flow_pressure": None})
    assert "no airflow channel" in r.not_scored["respiratory"]
    assert r.summary["AHI"] is None and r.summary["n_apneas"] is None
    assert not [e for e in r.events if is_apnea(e.type) or is_hypopnea(e.type)]
    assert r.summary["ODI3"] is not None and r.events.of_type(EventType.desaturation)


def test_without_hypnogram_it_says_arousals_and_plms_cannot_be_scored(study):
    _night, rec, _hyp = study
    r = get_detector("psgscoring").detect(rec, None)
    assert "no hypnogram" in r.not_scored["arousals"]
    assert "no hypnogram" in r.not_scored["limb_movements"]
    assert r.summary["AHI"] is None and r.summary["TST_h"] is None
    assert r.summary["REI"] is not None and r.summary["REI"] > 0
    assert not r.events.of_type(EventType.arousal_spontaneous, EventType.arousal_respiratory,
                                EventType.periodic_limb_movement)
    assert any("polygraphy" in n for n in r.notes)


def test_nothing_to_score_and_bad_settings_are_typed_errors(study):
    _night, rec, hyp = study
    det = get_detector("psgscoring")
    none = {role: None for role in ("flow_pressure", "spo2", "eeg", "leg_l", "leg_r")}
    with pytest.raises(DetectorError, match="nothing to score"):
        det.detect(rec, hyp, roles=none)
    with pytest.raises(DetectorError, match="unknown profile"):
        det.detect(rec, hyp, profile="aasm_v9")


def test_detection_runs_as_a_job_with_progress_and_cancel(study):
    _night, rec, hyp = study
    det = get_detector("psgscoring")
    job = detection_job(det, rec, hyp)
    seen = []

    def stop_when_scoring(p):
        seen.append(p.fraction)
        if "scoring" in p.message:
            job.cancel()

    job.add_progress_callback(stop_when_scoring)
    with pytest.raises(JobCancelled):
        job.run()
    assert seen and max(seen) < 1.0


def test_lights_window_keeps_sleep_outside_it_out_of_the_indices(study, scored):
    _night, rec, hyp = study
    r = get_detector("psgscoring").detect(rec, hyp, lights_off=600.0, lights_on=1500.0)
    assert r.summary["TST_h"] < scored.summary["TST_h"]
    assert r.summary["TST_h"] <= 900 / 3600 + 1e-6
    assert any("outside lights off/on" in n for n in r.notes)
    assert all(600 <= e.onset < 1500 for e in r.events if is_apnea(e.type) or is_hypopnea(e.type))
    assert r.provenance["settings"]["lights_off"] == 600.0
