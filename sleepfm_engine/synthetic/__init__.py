"""Realistic synthetic polysomnograms with ground truth.

``make_night`` draws a seeded sleeper, a hypnogram with realistic architecture and every
channel of a clinical montage (EEG, EOG, EMG, ECG, respiration, SpO2); with a ``Severity`` it
also draws scored events (apneas, hypopneas, desaturations, arousals, PLMS, position changes)
with ground truth. ``write_night`` stores it as EDF+ with the stages and events as annotations,
a CSV hypnogram and (with ground truth) an events file beside it.
"""
from __future__ import annotations

from .._lazy import lazy_exports

# Names resolve on first use: the generators pull in scipy.signal (seconds to import), which
# the CLI must not pay just to list its montages.
_EXPORTS = {
    "make_night": "night", "SyntheticNight": "night", "SyntheticSignal": "night",
    "write_night": "edf", "make_hypnogram": "hypnogram", "STAGE_NAMES": "hypnogram",
    "make_subject": "subject", "Subject": "subject",
    "MONTAGES": "montage", "CHANNELS": "montage", "ChannelSpec": "montage",
    "Severity": "severity",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
