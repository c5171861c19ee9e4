"""Channel definitions and montages, with header fields as clinical PSG systems write them.

Labels follow the AASM derivations and the names the SleepFM channel groups know; rates, units,
physical ranges, transducers and prefilter strings are those of a typical in-lab PSG export
(biopotentials at 256 Hz in µV with 0.1-µV resolution, ECG at 512 Hz in mV, respiration at
32 Hz, SpO2 and position at 1 Hz).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

_UV = (-3276.8, 3276.7)  # 16-bit digital range at 0.1 µV per step


@dataclass(frozen=True)
class ChannelSpec:
    """How one synthetic channel is written.

    Attributes
    ----------
    label, unit, transducer, prefilter : str
        EDF header fields.
    rate : int
        Sampling rate (Hz).
    physical_range : tuple of float
        EDF physical minimum and maximum (the data are clipped to it).
    kind : str
        Which generator makes it: eeg, eog, emg, ecg, flow, effort, snore, spo2, position.
    """

    label: str
    kind: str
    rate: int
    unit: str
    physical_range: tuple[float, float]
    transducer: str
    prefilter: str


def _eeg(label: str) -> ChannelSpec:
    return ChannelSpec(label, "eeg", 256, "uV", _UV, "AgAgCl cup electrode",
                       "HP:0.3Hz LP:35Hz N:50Hz")


CHANNELS: dict[str, ChannelSpec] = {c.label: c for c in [
    _eeg("F4-M1"), _eeg("C4-M1"), _eeg("O2-M1"), _eeg("F3-M2"), _eeg("C3-M2"), _eeg("O1-M2"),
    ChannelSpec("E1-M2", "eog", 256, "uV", _UV, "AgAgCl cup electrode",
                "HP:0.3Hz LP:35Hz N:50Hz"),
    ChannelSpec("E2-M2", "eog", 256, "uV", _UV, "AgAgCl cup electrode",
                "HP:0.3Hz LP:35Hz N:50Hz"),
    ChannelSpec("Chin1-Chin2", "emg", 256, "uV", _UV, "AgAgCl surface electrode",
                "HP:10Hz LP:100Hz N:50Hz"),
    ChannelSpec("LLeg", "emg", 256, "uV", _UV, "AgAgCl surface electrode (left tibialis)",
                "HP:10Hz LP:100Hz N:50Hz"),
    ChannelSpec("RLeg", "emg", 256, "uV", _UV, "AgAgCl surface electrode (right tibialis)",
                "HP:10Hz LP:100Hz N:50Hz"),
    ChannelSpec("ECG", "ecg", 512, "mV", (-3.2768, 3.2767), "AgAgCl electrode lead II",
                "HP:0.3Hz LP:70Hz N:50Hz"),
    ChannelSpec("Airflow", "flow", 32, "cmH2O", (-10.0, 10.0), "Nasal pressure cannula",
                "HP:DC LP:15Hz"),
    ChannelSpec("Thor", "effort", 32, "mV", (-5.0, 5.0), "RIP belt thoracic",
                "HP:0.05Hz LP:15Hz"),
    ChannelSpec("Abdo", "effort", 32, "mV", (-5.0, 5.0), "RIP belt abdominal",
                "HP:0.05Hz LP:15Hz"),
    ChannelSpec("Snore", "snore", 256, "uV", _UV, "Piezo snore sensor", "HP:10Hz LP:100Hz"),
    ChannelSpec("SpO2", "spo2", 1, "%", (0.0, 100.0), "Pulse oximeter finger probe", ""),
    ChannelSpec("Position", "position", 1, "", (0.0, 5.0),
                "Body position sensor 0 upright 1 supine 2 left 3 right 4 prone", ""),
]}

#: The position channel of nights with scored-event ground truth: NSRR/Compumedics codes
#: (:func:`sleepfm_engine.position.position_table` ``"nsrr"``).
POSITION_NSRR = ChannelSpec("Position", "position", 1, "", (0.0, 5.0),
                            "Body position sensor NSRR codes 0 right 1 left 2 supine 3 prone "
                            "4 upright", "")

#: The six EEG derivations of the AASM recommended and backup montage.
EEG_LABELS: tuple[str, ...] = ("F4-M1", "C4-M1", "O2-M1", "F3-M2", "C3-M2", "O1-M2")
_RESP = ("Airflow", "Thor", "Abdo", "Snore", "SpO2")

MONTAGES: dict[str, tuple[str, ...]] = {
    "full": tuple(CHANNELS),
    "eeg-only": EEG_LABELS,
    "minimal": ("C4-M1", "E1-M2", "Chin1-Chin2", "ECG", "Airflow", "SpO2"),
    "no-resp": tuple(lb for lb in CHANNELS if lb not in _RESP),
}


def resolve_montage(montage: str | Sequence[str]) -> list[ChannelSpec]:
    """The channel specs of a montage name or of an explicit list of labels.

    Raises
    ------
    ValueError
        For an unknown montage name or label.
    """
    if isinstance(montage, str):
        if montage not in MONTAGES:
            raise ValueError(f"unknown montage {montage!r}; choose one of {sorted(MONTAGES)}")
        labels = MONTAGES[montage]
    else:
        labels = tuple(montage)
        bad = [lb for lb in labels if lb not in CHANNELS]
        if bad:
            raise ValueError(f"unknown channel label(s) {bad}; known: {list(CHANNELS)}")
        if not labels:
            raise ValueError("a montage needs at least one channel")
    return [CHANNELS[lb] for lb in labels]
