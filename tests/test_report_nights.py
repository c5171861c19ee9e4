"""Generated nights for the report, de-identification and export tests (helpers, no tests).

A night is an EDF+ file with identifying header fields the tests later hunt for, plus a manual
hypnogram and an "automatic" one (the manual scoring with some epochs changed, and stage
probabilities) built by hand. Signals are low-rate noise: reports read headers, not samples.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepfm_engine.hypnogram import ARTEFACT, STAGES, UNSCORED, Hypnogram

#: Identifying strings written into every generated night's header.
PATIENT_NAME = "Wilhelmina_Zwanenburg"
PATIENT_CODE = "MRN-99812345"
BIRTHDATE = dt.date(1951, 5, 2)
PATIENT_NOTE = "Referred_by_Dr_Quackenbush"
ADMIN_CODE = "STUDY-7731"
TECHNICIAN = "Tech_Oyelaran"
EQUIPMENT = "PolyBox-SN48"
RECORDING_NOTE = "Ward_Hollyhock"
START = dt.datetime(2023, 3, 14, 22, 47, 30)

#: Strings that must never appear in a de-identified output.
SECRETS = (
    "Wilhelmina", "Zwanenburg", "Wilhelmina Zwanenburg", PATIENT_CODE, "1951-05-02",
    "02-MAY-1951", "02.05.1951", "Quackenbush", ADMIN_CODE, "Oyelaran", "PolyBox-SN48",
    "Hollyhock",
)

_LABELS = (("EEG C3-M2", "uV"), ("EEG C4-M1", "uV"), ("EOG E1-M2", "uV"), ("EMG Chin", "uV"),
           ("ECG II", "uV"), ("Flow Patient", "uV"), ("Thor", "uV"), ("SpO2", "%"),
           ("Pos", ""))


def typical_stages(n_epochs: int, seed: int) -> np.ndarray:
    """A plausible night of stage codes: wake, cycles of N1-N2-N3-N2-R, awakenings, a few
    unscored and artefact epochs."""
    rng = np.random.default_rng(seed)
    out: list[int] = [0] * int(rng.integers(20, 40))
    cycle = 0
    while len(out) < n_epochs:
        deep = max(0, 40 - 12 * cycle)
        rem = 10 + 8 * cycle
        block = [1] * int(rng.integers(3, 8)) + [2] * int(rng.integers(20, 35)) + [3] * deep
        block += [2] * int(rng.integers(10, 20)) + [4] * rem
        if rng.random() < 0.7:
            block += [0] * int(rng.integers(1, 5))
        out.extend(block)
        cycle += 1
    stages = np.array(out[:n_epochs], dtype=np.int8)
    stages[-int(rng.integers(5, 15)):] = 0
    stages[int(n_epochs * 0.4):int(n_epochs * 0.4) + 2] = ARTEFACT
    stages[int(n_epochs * 0.6)] = UNSCORED
    return stages


@dataclass
class Night:
    path: Path
    manual: Hypnogram
    auto: Hypnogram


def write_night(path: Path, hours: float = 8.0, seed: int = 0, start: dt.datetime = START,
                identified: bool = True, annotations: tuple = ()) -> Night:
    """Write a night's EDF+ and return it with its manual and automatic hypnograms.

    ``annotations`` are ``(onset s, duration s, text)`` written into the EDF+.
    """
    import edfio

    n_epochs = int(round(hours * 120))
    seconds = n_epochs * 30
    rng = np.random.default_rng(seed)
    # Reports read headers more than samples: the slowest rate whose EEG is still classed EEG
    # keeps the files small and fast.
    rate = 10
    signals = []
    for label, unit in _LABELS:
        data = rng.normal(0, 10, seconds * rate)
        signals.append(edfio.EdfSignal(data, rate, label=label, physical_dimension=unit,
                                       physical_range=(-100.0, 100.0)))
    if identified:
        patient = edfio.Patient(code=PATIENT_CODE, sex="F", birthdate=BIRTHDATE, name=PATIENT_NAME,
                                additional=[PATIENT_NOTE])
        recording = edfio.Recording(startdate=start.date(), hospital_administration_code=ADMIN_CODE,
                                    investigator_technician_code=TECHNICIAN, equipment_code=EQUIPMENT,
                                    additional=[RECORDING_NOTE])
    else:
        patient = edfio.Patient(sex="M")
        recording = edfio.Recording(startdate=start.date())
    edf = edfio.Edf(signals, patient=patient, recording=recording, starttime=start.time(),
                    data_record_duration=30.0,
                    annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations] or None)
    path = Path(path)
    edf.write(path)
    stages = typical_stages(n_epochs, seed)
    manual = Hypnogram(stages, 30.0, start=start, scorer="Dr. Oyelaran", source=str(path))
    auto_stages = stages.copy()
    flip = rng.random(n_epochs) < 0.12
    auto_stages[flip] = rng.integers(0, len(STAGES), int(flip.sum()))
    auto_stages[auto_stages < 0] = 0
    probs = np.full((n_epochs, len(STAGES)), 0.05, dtype=np.float32)
    probs[np.arange(n_epochs), auto_stages] = 0.8
    auto = Hypnogram(auto_stages, 30.0, start=start, scorer="SleepFM test-model",
                     probabilities=probs, source="SleepFM test-model")
    return Night(path, manual, auto)
