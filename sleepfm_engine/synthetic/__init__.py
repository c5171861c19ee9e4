"""Realistic synthetic polysomnograms with ground truth.

``make_night`` draws a seeded sleeper, a hypnogram with realistic architecture and every
channel of a clinical montage (EEG, EOG, EMG, ECG, respiration, SpO2); ``write_night`` stores it
as EDF+ with the stages and events as annotations and a CSV hypnogram beside it.
"""
from __future__ import annotations

from .hypnogram import STAGE_NAMES, make_hypnogram
from .montage import CHANNELS, MONTAGES, ChannelSpec
from .night import SyntheticNight, SyntheticSignal, make_night
from .subject import Subject, make_subject
from .edf import write_night

__all__ = ["make_night", "write_night", "SyntheticNight", "SyntheticSignal", "make_hypnogram",
           "make_subject", "Subject", "STAGE_NAMES", "MONTAGES", "CHANNELS", "ChannelSpec"]
