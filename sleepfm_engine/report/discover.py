"""Report helpers that read a recording's surroundings: its manual hypnogram (found by
:mod:`sleepfm_engine.formats.discover`, re-exported here) and lights off / on.
"""
from __future__ import annotations

import re

from ..formats.discover import (candidate_hypnograms, find_manual_hypnogram,  # noqa: F401
                                find_paired_hypnogram)


_LIGHTS_OFF = re.compile(r"^\s*lights?[\s_-]*(?:off|out)\b", re.IGNORECASE)
_LIGHTS_ON = re.compile(r"^\s*lights?[\s_-]*on\b", re.IGNORECASE)


def find_lights(rec) -> tuple[float | None, float | None]:
    """Lights off and lights on from a recording's annotations, in seconds from its start.

    The first "Lights off"/"Lights out" and the last "Lights on" annotation count (any case,
    spaces, underscores or hyphens); None where there is none.
    """
    off = on = None
    for ann in getattr(rec, "annotations", []):
        text = str(ann.description)
        if off is None and _LIGHTS_OFF.match(text):
            off = float(ann.onset)
        elif _LIGHTS_ON.match(text):
            on = float(ann.onset)
    if off is not None and on is not None and on < off:
        on = None  # a "lights on" before lights off (a calibration) does not end the night
    return off, on
