"""Synthetic nights with scored-event ground truth: the events are in the signals as AASM says."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, hilbert, sosfiltfilt

from sleepfm_engine.cli import main
from sleepfm_engine.events import EventSet, EventType, is_apnea, map_label
from sleepfm_engine.recording import open_recording
from sleepfm_engine.synthetic import make_night, write_night
from sleepfm_engine.synthetic.hypnogram import N1, N2, N3, R, W
from sleepfm_engine.synthetic.severity import Severity
from sleepfm_engine.position import decode_position

STAGES = [W] * 4 + [N2] * 40 + [N3] * 6 + [R] * 16 + [N1] * 4 + [N2] * 10
SEVERITY = Severity(ahi=35, plmi=40, arousal_index=8, central_share=0.25, mixed_share=0.15)
RESP = (EventType.apnea_obstructive, EventType.apnea_central, EventType.apnea_mixed,
        EventType.hypopnea)


@pytest.fixture(scope="module")
def night():
    return make_night(seed=5, stages=STAGES, severity=SEVERITY)


def sleep_hours(n):
    return np.count_nonzero(n.stages != W) * 30 / 3600


def envelope(x):
    return np.abs(hilbert(x - np.mean(x)))


def band(x, fs, lo, hi):
    return sosfiltfilt(butter(3, [lo, hi], "bandpass", fs=fs, output="sos"), x)


def test_ground_truth_counts_follow_the_severity_asked_for(night):
    assert isinstance(night.events, EventSet)
    hours = sleep_hours(night)
    resp = night.events.of_type(*RESP)
    assert abs(len(resp) / hours - 35) <= 3
    plm = night.events.of_type(EventType.periodic_limb_movement)
    assert abs(len(plm) / hours - 40) <= 8
    assert {e.type for e in resp} >= {EventType.apnea_obstructive, EventType.hypopnea}
    assert night.severity == SEVERITY
    # every event lies in sleep and inside the recording
    for e in resp + plm:
        assert 0 <= e.onset and e.end <= night.duration
        assert night.stages[int(e.onset // 30)] != W


def test_apnea_flow_is_flat_and_effort_tells_obstructive_from_central(night):
    flow = night.signal("Airflow")
    abdo = night.signal("Abdo")
    fs = flow.rate
    # breathing band, as a scorer's (and psgscoring's MMSD check's) flow filter sees it
    breath = band(flow.data.astype(np.float64), fs, 0.1, 3.0)
    env_f, env_a = envelope(breath), envelope(abdo.data)
    checked = set()
    for e in night.events.of_type(EventType.apnea_obstructive, EventType.apnea_central):
        mid = slice(int((e.onset + 3) * fs), int((e.end - 2) * fs))
        before = slice(int((e.onset - 14) * fs), int((e.onset - 1) * fs))
        # >= 90 % drop of the flow excursion, and no breathing-like residue in it
        assert np.median(env_f[mid]) < 0.1 * np.median(env_f[before]), e
        d2 = np.abs(np.diff(breath[mid], 2)).mean()
        # (psgscoring takes >= 0.40 of the night's breathing for residual breathing)
        assert d2 < 0.25 * np.abs(np.diff(breath[before], 2)).mean(), e
        effort = np.median(env_a[mid]) / np.median(env_a[before])
        if e.type == EventType.apnea_obstructive:
            assert effort > 0.6, e
        else:
            assert effort < 0.25, e
        checked.add(e.type)
    assert checked == {EventType.apnea_obstructive, EventType.apnea_central}


def test_hypopnea_reduces_flow_by_30_to_90_percent(night):
    flow = night.signal("Airflow")
    fs = flow.rate
    env = envelope(flow.data)
    hyp = night.events.of_type(EventType.hypopnea)
    assert hyp
    for e in hyp:
        drop = 1 - (np.median(env[int((e.onset + 3) * fs):int((e.end - 2) * fs)])
                    / np.median(env[int((e.onset - 14) * fs):int((e.onset - 1) * fs)]))
        assert 0.3 <= drop <= 0.9, (e, drop)
        assert 30 <= e.attributes["flow_drop_pct"] <= 90


def test_every_respiratory_event_desaturates_with_nadir_20_to_40_s_after_it(night):
    spo2 = night.signal("SpO2").data
    desats = {d.attributes["parent"]: d for d in night.events.of_type(EventType.desaturation)}
    resp = night.events.of_type(*RESP)
    assert set(desats) == {e.id for e in resp}
    for e in resp:
        d = desats[e.id]
        assert d.attributes["drop_pct"] >= 3.5
        assert 20 <= d.attributes["nadir_delay_s"] <= 40
        base = spo2[int(e.onset) - 10:int(e.onset)].max()
        window = spo2[int(e.end):int(e.end) + 45]
        assert base - window.min() >= 3, e
        # an oximeter's whole percents: the nadir is the middle of the lowest plateau
        nadir_at = int(e.end) + float(np.mean(np.flatnonzero(window == window.min())))
        assert 15 <= nadir_at - e.end <= 42, e


def test_arousals_are_3_to_15_s_after_10_s_of_sleep_and_name_their_event(night):
    arousals = night.events.of_type(EventType.arousal_spontaneous, EventType.arousal_respiratory,
                                     EventType.arousal_limb)
    kinds = {a.type for a in arousals}
    assert kinds == {EventType.arousal_spontaneous, EventType.arousal_respiratory,
                     EventType.arousal_limb}
    ids = {e.id: e for e in night.events}
    starts = sorted(a.onset for a in arousals)
    assert min(np.diff(starts)) >= 10
    for a in arousals:
        assert 3 <= a.duration <= 15
        assert night.stages[int((a.onset - 10) // 30)] != W
        if a.type == EventType.arousal_respiratory:
            parent = ids[a.attributes["parent"]]
            assert abs(a.onset - parent.end) <= 2


def test_arousals_show_in_eeg_and_in_rem_in_chin_emg(night):
    fs = 256
    c4 = band(night.signal("C4-M1").data.astype(np.float64), fs, 8.0, 30.0)
    chin = night.signal("Chin1-Chin2").data
    rem = [a for a in night.events.of_type(EventType.arousal_spontaneous,
                                           EventType.arousal_respiratory)
           if night.stages[int(a.onset // 30)] == R]
    assert rem
    for a in rem:
        inside = slice(int((a.onset + 1) * fs), int((a.onset + 3) * fs))
        before = slice(int((a.onset - 8) * fs), int((a.onset - 2) * fs))
        assert np.std(chin[inside]) > 2 * np.std(chin[before])
        assert np.std(c4[inside]) > 1.5 * np.std(c4[before])


def test_periodic_limb_movements_follow_the_aasm_series_rule(night):
    plm = sorted(night.events.of_type(EventType.periodic_limb_movement), key=lambda e: e.onset)
    leg = {"left": night.signal("LLeg").data, "right": night.signal("RLeg").data}
    fs = 256
    resp = night.events.of_type(*RESP)
    runs, run = [], [plm[0]]
    for a, b in zip(plm, plm[1:]):
        if 5 <= b.onset - a.onset <= 90:
            run.append(b)
        else:
            runs.append(run)
            run = [b]
    runs.append(run)
    assert all(len(r) >= 4 for r in runs)
    for e in plm:
        assert 0.5 <= e.duration <= 10
        assert night.stages[int(e.onset // 30)] in (N1, N2, N3)
        assert all(e.end + 0.5 <= r.onset or e.onset - 0.5 >= r.end for r in resp)
        side = "left" if e.attributes["side"] in ("left", "both") else "right"
        x = leg[side]
        burst = np.std(x[int(e.onset * fs):int((e.onset + 0.5) * fs)])
        rest = np.std(x[int((e.onset - 3) * fs):int((e.onset - 1) * fs)])
        assert burst > rest + 8, e


def test_position_channel_carries_the_nsrr_codes_of_the_position_changes(night):
    from sleepfm_engine.position import POSITIONS

    codes = decode_position(night.signal("Position").data, "nsrr")
    names = np.array(POSITIONS)[codes]
    changes = night.events.of_type(EventType.position_change)
    assert changes
    assert names[0] == "supine"  # lights off
    for e in changes:
        assert names[int(e.onset) + 1] == e.attributes["to"]
        assert names[int(e.onset) - 1] == e.attributes["from"]
    assert "NSRR codes 0 right 1 left 2 supine 3 prone" in [
        s for s in night.signals if s.label == "Position"][0].transducer


def test_ground_truth_reads_back_from_the_edf_annotations(night, tmp_path):
    path = write_night(night, tmp_path / "night.edf")
    with open_recording(path) as rec:
        ann = [a for a in rec.annotations if not a.description.startswith("Sleep stage")]
    got = sorted((round(a.onset, 2), round(a.duration, 2), map_label(a.description)) for a in ann)
    want = sorted((round(e.onset, 2), round(e.duration, 2), e.type) for e in night.events)
    assert got == want


def test_ground_truth_events_file_reads_back_equal(night, tmp_path):
    from sleepfm_engine.formats import read_events
    from sleepfm_engine.synthetic.edf import events_sidecar

    path = write_night(night, tmp_path / "night.edf")
    back = read_events(events_sidecar(path))
    assert back == night.events
    assert back.start == night.start
    first = next(iter(back))
    assert dict(first.attributes) == dict(night.events[first.id].attributes)
    # a plain night has no ground truth, so no events file
    plain = write_night(make_night(seed=5, stages=STAGES[:10], montage=["SpO2"]),
                        tmp_path / "plain.edf")
    assert not events_sidecar(plain).exists()


def test_the_same_seed_and_severity_give_the_same_truth_and_signals(night):
    again = make_night(seed=5, stages=STAGES, severity=SEVERITY)
    assert again.events == night.events
    np.testing.assert_array_equal(again.signal("Airflow").data, night.signal("Airflow").data)


def test_plain_night_has_no_scored_truth_and_keeps_its_position_codes():
    plain = make_night(seed=5, stages=STAGES, montage=["Airflow", "Position"])
    assert plain.severity is None
    assert not plain.events.of_type(*RESP, EventType.position_change)
    assert "1 supine" in plain.signals[1].transducer


def test_apnea_flag_gives_the_sleepers_own_severity():
    n = make_night(seed=5, stages=STAGES, montage=["Airflow"], apnea=True)
    assert n.severity is not None and 12 <= n.severity.ahi <= 40
    assert any(is_apnea(e.type) for e in n.events)


@pytest.mark.parametrize("kwargs", [dict(ahi=-1), dict(ahi=float("nan")), dict(plmi=200),
                                    dict(central_share=0.7, mixed_share=0.5),
                                    dict(arousal_index=100)])
def test_severity_refuses_impossible_rates(kwargs):
    with pytest.raises(ValueError):
        Severity(**kwargs)


def test_synth_cli_writes_a_night_with_the_asked_severity(tmp_path, capsys):
    out = tmp_path / "sick.edf"
    assert main(["synth", "-o", str(out), "--hours", "0.4", "--seed", "3", "--ahi", "25",
                 "--plmi", "20", "--montage", "minimal"]) == 0
    printed = capsys.readouterr().out
    assert "ground truth (EDF+ annotations and sick.events.json):" in printed
    assert "desaturation" in printed and (tmp_path / "sick.events.json").is_file()
    with open_recording(out) as rec:
        texts = {a.description for a in rec.annotations}
    assert "SpO2 desaturation" in texts


@pytest.mark.parametrize("args", [["--apnea", "--ahi", "10"], ["--ahi", "101"],
                                  ["--central-share", "0.8", "--mixed-share", "0.5"]])
def test_synth_cli_refuses_contradictory_severity(tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "-o", str(tmp_path / "x.edf"), *args])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x.edf").exists()
