"""Take the event screenshots of docs/scoring.md again, from a generated night.

A one-hour night with sleep apnea and periodic limb movements is generated with
``sleepfm synth``, opened in SleepFM Studio (offscreen, its paired hypnogram as the manual
scoring) and scored by the psgscoring detector through the engine; then each page is shown
and the window saved:

- ``studio_events_apnea.png``: an obstructive apnea on the airflow and belts, its desaturation
  on SpO2 (60-s page);
- ``studio_events_arousal.png``: an arousal on the EEG derivations that found it (30-s page);
- ``studio_events_plm.png``: a series of periodic limb movements on the leg channels (2-min page);
- ``studio_measuring_cursor.png``: the measuring cursor on a slow wave of N3 (peak-to-peak
  amplitude, duration, frequency in the trace view's tool bar);
- ``studio_rejected_candidates.png``: the candidates psgscoring rejected, shown with the
  events panel's toggle, each with its reason.

Only the detector's events are drawn (the night's ground truth, written in the EDF+ as
annotations, is filtered out in the events panel). User settings go to a temporary folder.

Run from the repository root::

    QT_QPA_PLATFORM=offscreen python docs/screenshots/make_event_screenshots.py
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 3
SIZE = (1700, 1250)
# Rows shown on each page: the channels its events were scored on and a few for context, few
# enough that each row is tall enough for its own event labels.
_RESPIRATORY = ("C4-M1", "E1-M2", "Chin1-Chin2", "ECG", "Airflow", "Thor", "Abdo", "SpO2",
                "Position")
_AROUSAL = ("C4-M1", "E1-M2", "Chin1-Chin2", "Airflow", "Thor", "SpO2")
_LEGS = ("C4-M1", "E1-M2", "Chin1-Chin2", "LLeg", "RLeg", "Airflow", "Thor", "SpO2")
_SLOW_WAVES = ("F4-M1", "C4-M1", "O2-M1", "E1-M2", "E2-M2", "Chin1-Chin2")


def synth_night(folder: Path) -> Path:
    """A one-hour night with apneas and PLMs written by the ``sleepfm synth`` command."""
    path = folder / "night.edf"
    cli = shutil.which("sleepfm") or str(Path(sys.executable).with_name("sleepfm"))
    subprocess.run([cli, "synth", "-o", str(path), "--hours", "1", "--seed", str(SEED),
                    "--ahi", "35", "--plmi", "45"], check=True)
    return path


def _settle(app, win) -> None:
    """Let queued work (jobs, repaints) finish."""
    app.processEvents()
    while win.jobs.running():
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def _save(app, win, out: Path, name: str) -> Path:
    _settle(app, win)
    win.trace.render_now()
    _settle(app, win)
    target = out / name
    if not win.grab().save(str(target)):
        raise OSError(f"cannot write {target}")
    print(target)
    return target


def _show_rows(win, shown: tuple[str, ...]) -> None:
    for r in win.trace.display_channels:
        win.trace.set_channel_visible(r.key, r.key in shown)


def _slow_wave(x, rate: float) -> tuple[int, int]:
    """Samples of the largest 0.5-2 Hz wave in ``x`` (one down-going zero crossing of the delta
    band to the next), away from the edges."""
    import numpy as np
    from scipy.signal import butter, sosfiltfilt

    delta = sosfiltfilt(butter(2, (0.5, 2.0), "bandpass", fs=rate, output="sos"), x)
    down = np.flatnonzero((delta[:-1] >= 0) & (delta[1:] < 0))
    waves = [(a, b) for a, b in zip(down[:-1], down[1:])
             if 0.5 <= (b - a) / rate <= 2.0 and 4 * rate <= a and b <= x.size - 4 * rate]
    return max(waves, key=lambda ab: np.ptp(delta[ab[0]:ab[1]]))


def _page(win, window: float, start: float) -> None:
    win.trace.set_window(window)
    win.trace.go_to(max(0.0, start))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE, help="folder of the pictures")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sleepfm-shots-"))
    os.environ["SLEEPFM_DATA_DIR"] = str(work / "user")
    os.environ["SLEEPFM_CACHE_DIR"] = str(work / "cache")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        return _take(synth_night(work), args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _take(path: Path, out: Path) -> int:
    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from sleepfm_engine.detectors import get_detector
    from sleepfm_engine.events import EventType, is_apnea

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from sleepfm_gui.main_window import MainWindow

    win = MainWindow()
    win.headless = True
    win.ask_save = lambda session: "discard"
    win.resize(*SIZE)
    win.show()
    if not win.open_recording_file(path):
        return 1
    _settle(app, win)
    hyp = win.study.scored_manual()
    detection = get_detector("psgscoring").detect(win.rec, hyp)
    shown: list[bool] = []
    win.eventsShown.connect(lambda: shown.append(True))
    win.study.set_events(detection.events, "psgscoring")
    while not shown:
        app.processEvents()
        time.sleep(0.01)
    win.events.set_source_filter("psgscoring")
    # The traces are the subject: the trends go, the hypnogram keeps a strip.
    win.trends_dock.hide()
    win.resizeDocks([win.review_dock], [230], Qt.Vertical)
    win.events_dock.raise_()
    events = detection.events
    stages = hyp.stages
    out.mkdir(parents=True, exist_ok=True)

    # The obstructive apnea followed by the deepest desaturation.
    desats = events.of_type(EventType.desaturation)

    def drop_after(e) -> float:
        return max((d.attributes.get("drop_pct") or 0.0 for d in desats
                    if e.onset < d.onset < e.end + 25), default=-1.0)

    apnea = max(events.of_type(EventType.apnea_obstructive), key=drop_after)
    _show_rows(win, _RESPIRATORY)
    _page(win, 60.0, apnea.onset - 12.0)
    _save(app, win, out, "studio_events_apnea.png")

    # An arousal in N2 (on the EEG derivations that found it and, confirmed, the chin EMG).
    arousals = [e for e in events.of_family("arousal")
                if stages[int(e.onset // 30)] == 2 and e.duration >= 5]
    arousal = max(arousals, key=lambda e: (bool(e.attributes.get("emg_confirmed")),
                                           len(e.channels)))
    _show_rows(win, _AROUSAL + arousal.channels)
    _page(win, 30.0, arousal.onset - 12.0)
    _save(app, win, out, "studio_events_arousal.png")

    # The densest two minutes of periodic limb movements.
    plms = events.of_type(EventType.periodic_limb_movement)
    onsets = np.array([e.onset for e in plms])
    first = max(range(len(onsets)), key=lambda i: np.count_nonzero(
        (onsets >= onsets[i]) & (onsets < onsets[i] + 110)))
    _show_rows(win, _LEGS)
    _page(win, 120.0, onsets[first] - 5.0)
    _save(app, win, out, "studio_events_plm.png")

    # The measuring cursor on the largest slow wave of an N3 epoch, on the frontal derivation.
    _show_rows(win, _SLOW_WAVES)
    n3 = int(np.flatnonzero(stages == 3)[len(np.flatnonzero(stages == 3)) // 2])
    key = "F4-M1"
    x, rate = win.study.display.read_row(key, n3 * 30.0, n3 * 30.0 + 30.0)
    a, b = _slow_wave(x, rate)
    t0, t1 = n3 * 30.0 + a / rate, n3 * 30.0 + b / rate
    _page(win, 10.0, (t0 + t1) / 2 - 5.0)
    for eeg in _SLOW_WAVES[:3]:
        # slow waves are larger than the row's automatic scale (set by the whole night)
        win.trace.set_gain(eeg, 0.4)
    win.study.display.set_span(t0, t1, key)
    _save(app, win, out, "studio_measuring_cursor.png")
    win.study.display.clear_span()

    # Rejected candidates, on the page holding the most of them.
    rejected = sorted(events.rejected, key=lambda c: c.event.onset)
    starts = np.array([c.event.onset for c in rejected])
    busiest = max(range(len(starts)), key=lambda i: np.count_nonzero(
        (starts >= starts[i]) & (starts < starts[i] + 45)))
    win.events.rejected_check.setChecked(True)
    _show_rows(win, _RESPIRATORY)
    _page(win, 60.0, starts[busiest] - 5.0)
    _save(app, win, out, "studio_rejected_candidates.png")
    print(f"psgscoring: {len(events)} events ({sum(is_apnea(e.type) for e in events)} apneas), "
          f"{len(rejected)} rejected candidates")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
