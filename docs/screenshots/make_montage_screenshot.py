"""Take ``studio_aasm_montage.png``: a referential recording laid out by the AASM montage.

A one-hour synthetic night (``make_night``, seed 2) is rewritten as a referential recording:
each EEG and EOG electrode recorded against a common reference (F4, C4, O2 and the others,
with M1 and M2 recorded on their own channels, a slow drift and the heartbeat shared through
the reference), the chin as Chin1 and Chin2, and the channels in a lab's wiring order rather
than the AASM order. It is opened in SleepFM Studio (offscreen, user settings in a temporary
folder), Channels ▸ Montage ▸ AASM recommended is applied, which derives F4-M1 ... E2-M2 and
Chin1-Chin2 from the electrodes, puts every signal in AASM order and hides the electrodes, and
the window (review and trends panels closed, so every row is on the page) is saved. The status bar says what the recording lacks (the night has
a nasal pressure cannula but no oronasal thermal sensor).

Run from the repository root::

    QT_QPA_PLATFORM=offscreen python docs/screenshots/make_montage_screenshot.py
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 2
SIZE = (1700, 1250)
# Electrode derivations of the synthetic night -> (active electrode, reference channel).
_REFERENTIAL = {"F4-M1": ("F4", "M1"), "C4-M1": ("C4", "M1"), "O2-M1": ("O2", "M1"),
                "F3-M2": ("F3", "M2"), "C3-M2": ("C3", "M2"), "O1-M2": ("O1", "M2"),
                "E1-M2": ("E1", "M2"), "E2-M2": ("E2", "M2")}
# How a lab might have wired the amplifier: sensors first, electrodes interleaved.
_FILE_ORDER = ("SpO2", "Position", "Thor", "Abdo", "Airflow", "Snore", "ECG", "F3", "F4", "C3",
               "C4", "O1", "O2", "M1", "M2", "E1", "E2", "Chin1", "Chin2", "LLeg", "RLeg")


def referential_night(folder: Path) -> Path:
    """The synthetic night rewritten with referential EEG, EOG and chin channels."""
    from edfio import Edf, EdfSignal, Recording

    from sleepfm_engine.synthetic.night import make_night

    night = make_night(hours=1.0, seed=SEED)
    by_label = {s.label: s for s in night.signals}
    rng = np.random.default_rng(SEED)
    eeg_rate = by_label["C4-M1"].rate
    n = by_label["C4-M1"].data.size
    t = np.arange(n) / eeg_rate
    ecg = np.interp(t, np.arange(by_label["ECG"].data.size) / by_label["ECG"].rate,
                    by_label["ECG"].data)

    def reference(scale: float) -> np.ndarray:
        drift = np.cumsum(rng.normal(0, 1, n))
        drift -= np.convolve(drift, np.ones(512) / 512, mode="same")
        return scale * drift / (np.std(drift) or 1.0) + 8.0 * ecg / (np.std(ecg) or 1.0)

    refs = {"M1": reference(15.0), "M2": reference(15.0)}
    signals: dict[str, tuple[np.ndarray, Any]] = {}
    for label, (active, ref) in _REFERENTIAL.items():
        signals[active] = (by_label[label].data + refs[ref], by_label[label])
    for ref, data in refs.items():
        signals[ref] = (data, by_label["C4-M1"])
    chin = by_label["Chin1-Chin2"]
    common = reference(10.0)
    signals["Chin1"] = (chin.data + common, chin)
    signals["Chin2"] = (common, chin)
    for label in ("SpO2", "Position", "Thor", "Abdo", "Airflow", "Snore", "ECG", "LLeg", "RLeg"):
        signals[label] = (by_label[label].data, by_label[label])
    edf_signals = []
    for label in _FILE_ORDER:
        data, like = signals[label]
        lo, hi = like.physical_range
        edf_signals.append(EdfSignal(np.clip(data, lo, hi), like.rate, label=label,
                                     transducer_type=like.transducer,
                                     physical_dimension=like.unit, physical_range=(lo, hi),
                                     prefiltering=like.prefilter))
    path = folder / "referential.edf"
    Edf(edf_signals, recording=Recording(startdate=night.start.date()),
        starttime=night.start.time(), data_record_duration=1.0).write(path)
    return path


def _settle(app, win) -> None:
    app.processEvents()
    while win.jobs.running():
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def _take(path: Path, out: Path) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from sleepfm_gui.main_window import MainWindow

    win = MainWindow()
    win.headless = True
    win.ask_save = lambda session: "discard"
    win.resize(*SIZE)
    # The traces get the window's height, so every row of the montage is on the page.
    for dock in (win.review_dock, win.trends_dock):
        dock.hide()
    win.show()
    if not win.open_recording_file(path):
        return 1
    _settle(app, win)
    skipped = win.montage_menu.apply_builtin("AASM recommended")
    print("\n".join(skipped))
    win.trace.set_window(30.0)
    win.trace.go_to_epoch(60)
    win.channels.select_key("F4-M1")
    _settle(app, win)
    win.trace.render_now()
    _settle(app, win)
    target = out / "studio_aasm_montage.png"
    if not win.grab().save(str(target)):
        raise OSError(f"cannot write {target}")
    print(target)
    win.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE, help="folder of the picture")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sleepfm-shots-"))
    os.environ["SLEEPFM_DATA_DIR"] = str(work / "user")
    os.environ["SLEEPFM_CACHE_DIR"] = str(work / "cache")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        return _take(referential_night(work), args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
