"""psgscoring against the ground truth of generated nights: does a validated scorer agree?

Generates nights from normal to severe (``sleepfm synth --ahi A --plmi P``), writes each as
EDF+, opens it as a :class:`~sleepfm_engine.recording.Recording` and runs the psgscoring
detector (profile ``aasm_v3_rec`` by default) with the true hypnogram. Prints, per night and
overall:

- AHI (truth vs psgscoring), intraclass correlation ICC(A,1) (two-way, absolute agreement,
  single rater) and AASM severity class agreement;
- the event confusion: each true apnea/hypopnea against the detected event overlapping it most
  (apnea vs hypopnea, obstructive vs central vs mixed, missed), and detections matching none;
- ODI 3 % error, PLMS index and arousal index error;
- psgscoring's seconds per night and per 8 h of recording on this CPU.

Targets (issue 11): AHI ICC >= 0.9, severity class equal in >= 80 % of nights, ODI within 15 %.

Usage::

    .venv/bin/python benchmarks/bench_events.py [--hours 8] [--profile aasm_v3_rec]
        [--nights 10] [--json out.json]

Needs the ``events`` extra (psgscoring).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from sleepfm_engine.detectors import get_detector
from sleepfm_engine.events import EventType, is_apnea, is_hypopnea
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.recording import open_recording
from sleepfm_engine.synthetic import make_night, write_night
from sleepfm_engine.synthetic.severity import Severity

#: (seed, AHI, PLMI) of the nights, normal to severe.
NIGHTS = [(201, 2, 0), (202, 6, 12), (203, 9, 0), (204, 13, 30), (205, 18, 6), (206, 24, 18),
          (207, 29, 45), (208, 36, 0), (209, 45, 22), (210, 55, 10), (211, 3, 60),
          (212, 70, 8)]
TARGET_ICC, TARGET_SEVERITY, TARGET_ODI = 0.9, 0.8, 0.15
_KIND = {EventType.apnea_obstructive: "OA", EventType.apnea_central: "CA",
         EventType.apnea_mixed: "MA", EventType.apnea_unclassified: "UA",
         EventType.hypopnea: "H", EventType.hypopnea_obstructive: "H",
         EventType.hypopnea_central: "H"}
_ROWS = ("OA", "CA", "MA", "H")
_COLS = ("OA", "CA", "MA", "UA", "H", "missed")


def severity_class(ahi: float | None) -> str | None:
    if ahi is None:
        return None
    return "normal" if ahi < 5 else "mild" if ahi < 15 else "moderate" if ahi < 30 else "severe"


def icc_a1(x: np.ndarray, y: np.ndarray) -> float:
    """ICC(A,1): two-way random effects, absolute agreement, single measurement."""
    data = np.column_stack([x, y]).astype(float)
    n, k = data.shape
    grand = data.mean()
    ms_r = k * ((data.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    ms_c = n * ((data.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    sse = ((data - data.mean(axis=1, keepdims=True) - data.mean(axis=0, keepdims=True)
            + grand) ** 2).sum()
    ms_e = sse / ((n - 1) * (k - 1))
    return float((ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n))


def truth_indices(night) -> dict:
    """Ground-truth indices of a night (onsets in sleep, per hour of sleep)."""
    stages = night.stages
    tst = np.count_nonzero(stages != 0) * night.epoch_length / 3600.0

    def in_sleep(e):
        return stages[min(int(e.onset // night.epoch_length), stages.size - 1)] != 0

    ev = [e for e in night.events if in_sleep(e)]
    resp = [e for e in ev if is_apnea(e.type) or is_hypopnea(e.type)]
    arousals = [e for e in ev if e.type in (EventType.arousal_spontaneous,
                                            EventType.arousal_respiratory,
                                            EventType.arousal_limb, EventType.arousal)]
    return {"TST_h": tst, "AHI": len(resp) / tst,
            "ODI3": len([e for e in ev if e.type == EventType.desaturation
                         and e.attributes["drop_pct"] >= 3]) / tst,
            "ArI": len(arousals) / tst,
            "PLMSI": len([e for e in ev if e.type == EventType.periodic_limb_movement]) / tst}


def confusion(night, detected) -> tuple[dict, int]:
    """Truth type -> detected type counts, and detections overlapping no true event."""
    truth = [e for e in night.events if e.type in _KIND]
    found = [e for e in detected if e.type in _KIND]
    table = {r: dict.fromkeys(_COLS, 0) for r in _ROWS}
    used = set()
    for t in truth:
        best, best_ov = None, 0.0
        for f in found:
            ov = min(t.end, f.end) - max(t.onset, f.onset)
            if ov > best_ov:
                best, best_ov = f, ov
        table[_KIND[t.type]][_KIND[best.type] if best else "missed"] += 1
        if best is not None:
            used.add(best.id)
    return table, len([f for f in found if f.id not in used])


def run(hours: float, profile: str, n_nights: int) -> dict:
    det = get_detector("psgscoring")
    rows = []
    total = {r: dict.fromkeys(_COLS, 0) for r in _ROWS}
    false_pos = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed, ahi, plmi in NIGHTS[:n_nights]:
            t0 = time.perf_counter()
            night = make_night(hours, seed=seed, severity=Severity(ahi=ahi, plmi=plmi))
            path = write_night(night, Path(tmp) / f"night{seed}.edf")
            t_gen = time.perf_counter() - t0
            with open_recording(path) as rec:
                t0 = time.perf_counter()
                res = det.detect(rec, Hypnogram(night.stages, start=night.start),
                                 profile=profile)
                t_det = time.perf_counter() - t0
            truth = truth_indices(night)
            table, fp = confusion(night, res.events)
            false_pos += fp
            for r in _ROWS:
                for c in _COLS:
                    total[r][c] += table[r][c]
            s = res.summary
            rows.append({"seed": seed, "asked_ahi": ahi, "asked_plmi": plmi, "truth": truth,
                         "psgscoring": {k: s.get(k) for k in ("TST_h", "AHI", "ODI3", "ArI",
                                                              "PLMSI")},
                         "false_positives": fp, "seconds_generate": t_gen,
                         "seconds_detect": t_det, "hours": night.duration / 3600.0})
            print(f"seed {seed}: truth AHI {truth['AHI']:5.1f} psgscoring {s['AHI']!s:>5} | "
                  f"ODI {truth['ODI3']:5.1f} {s['ODI3']!s:>5} | ArI {truth['ArI']:5.1f} "
                  f"{s['ArI']!s:>5} | PLMSI {truth['PLMSI']:5.1f} {s['PLMSI']!s:>5} | "
                  f"{t_det:5.1f} s", flush=True)
    return {"profile": profile, "hours": hours, "nights": rows, "confusion": total,
            "false_positives": false_pos, "version": det.version()}


def report(out: dict) -> None:
    rows = out["nights"]
    t = np.array([r["truth"]["AHI"] for r in rows])
    p = np.array([r["psgscoring"]["AHI"] for r in rows], dtype=float)
    icc = icc_a1(t, p)
    agree = np.mean([severity_class(a) == severity_class(b) for a, b in zip(t, p)])
    print(f"\npsgscoring {out['version']} ({out['profile']}), {len(rows)} nights of "
          f"{out['hours']:g} h")
    print(f"AHI ICC(A,1) {icc:.3f} (target >= {TARGET_ICC}); bias {np.mean(p - t):+.1f} /h, "
          f"MAE {np.mean(np.abs(p - t)):.1f} /h")
    print(f"severity class agreement {100 * agree:.0f} % (target >= {100 * TARGET_SEVERITY:.0f} %)")
    for key, name in (("ODI3", "ODI 3 %"), ("ArI", "arousal index"), ("PLMSI", "PLMS index")):
        tt = np.array([r["truth"][key] for r in rows])
        pp = np.array([np.nan if r["psgscoring"][key] is None else r["psgscoring"][key]
                       for r in rows], dtype=float)
        rel = np.abs(pp - tt)[tt > 0] / tt[tt > 0]
        print(f"{name}: bias {np.nanmean(pp - tt):+.1f} /h, MAE {np.nanmean(np.abs(pp - tt)):.1f}"
              f" /h, median relative error {100 * np.nanmedian(rel):.0f} %"
              + (f" (target <= {100 * TARGET_ODI:.0f} %)" if key == "ODI3" else ""))
    print("\nevent confusion (rows truth, columns psgscoring):")
    print("      " + " ".join(f"{c:>7}" for c in _COLS))
    for r in _ROWS:
        print(f"{r:>5} " + " ".join(f"{out['confusion'][r][c]:7d}" for c in _COLS))
    print(f"detections overlapping no true event: {out['false_positives']}")
    c = out["confusion"]
    ap = sum(c[r][x] for r in ("OA", "CA", "MA") for x in ("OA", "CA", "MA", "UA"))
    ap_all = sum(c[r][x] for r in ("OA", "CA", "MA") for x in _COLS if x != "missed")
    hy = c["H"]["H"]
    hy_all = sum(c["H"][x] for x in _COLS if x != "missed")
    print(f"apnea vs hypopnea right: apneas {ap}/{ap_all}, hypopneas {hy}/{hy_all} (of detected)")
    oc = c["OA"]["OA"] + c["CA"]["CA"] + c["MA"]["MA"]
    oc_all = sum(c[r][x] for r in ("OA", "CA", "MA") for x in ("OA", "CA", "MA"))
    print(f"apnea type (obstructive/central/mixed) right: {oc}/{oc_all}")
    sec = np.array([r["seconds_detect"] for r in rows])
    hrs = np.array([r["hours"] for r in rows])
    print(f"psgscoring seconds per night: median {np.median(sec):.1f} s for {np.median(hrs):g} h "
          f"-> {np.median(sec / hrs) * 8:.0f} s per 8-h night")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--profile", default="aasm_v3_rec")
    ap.add_argument("--nights", type=int, default=len(NIGHTS))
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    out = run(args.hours, args.profile, args.nights)
    report(out)
    if args.json:
        from sleepfm_engine.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
