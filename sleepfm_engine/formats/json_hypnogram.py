"""This engine's JSON hypnogram: every field of a :class:`Hypnogram` in one object.

::

    {"format": "sleepfm-studio hypnogram", "format_version": 1,
     "stages": [0, 2, 2, -1], "epoch_length": 30.0, "offset": 0.0,
     "start": "2024-01-01T22:00:00" | null, "scorer": "SleepFM ...", "automatic": true,
     "probabilities": [[0.9, 0.02, 0.03, 0.03, 0.02], ..., [null, null, null, null, null]] | null}

Stages are this package's codes (0 W, 1 N1, 2 N2, 3 N3, 4 R, -1 unscored, -2 artefact);
``offset`` and the onsets count seconds from the time origin whose clock time is ``start``.
Probabilities are written at full precision (``null`` where unknown). The keys are those of
:meth:`Hypnogram.to_dict`, so its output reads too.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..errors import HypnogramError
from ..hypnogram import Hypnogram
from ._common import read_text_lines
from .events_json import FORMAT_TAG as EVENTS_FORMAT_TAG
from .registry import FileFormat, Probe

NAME = "json"
#: Value of the ``format`` key of files written here.
FORMAT_TAG = "sleepfm-studio hypnogram"
FORMAT_VERSION = 1
_TAG_RE = re.compile(rb'^\{\s*"format"\s*:\s*"([^"]*)"')


def sniff(probe: Probe) -> bool:
    """True if the content starts with ``{`` (a JSON object) that does not open by naming the
    events file's format (``{"format": "sleepfm-studio events", ...``)."""
    head = probe.head.lstrip(b"\xef\xbb\xbf \t\r\n")
    tagged = _TAG_RE.match(head)
    return head.startswith(b"{") and (tagged is None
                                      or tagged.group(1) != EVENTS_FORMAT_TAG.encode())


def read(path: Path, epoch_length: float | None = None) -> Hypnogram:
    """Read a JSON hypnogram (resampled to ``epoch_length`` when given).

    Raises
    ------
    HypnogramError
        For invalid JSON (names the line), another kind of object, or invalid fields.
    """
    text = "\n".join(read_text_lines(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HypnogramError(path, f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(data, dict) or "stages" not in data:
        raise HypnogramError(path, "a JSON hypnogram is an object with a 'stages' list")
    tag = data.get("format", FORMAT_TAG)
    if tag != FORMAT_TAG:
        raise HypnogramError(path, f"JSON of format {tag!r}, not {FORMAT_TAG!r}")
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise HypnogramError(path, f"format_version {version!r} is not {FORMAT_VERSION} "
                                   "(written by a newer version?)")
    if not isinstance(data["stages"], list):
        raise HypnogramError(path, "'stages' must be a list of stage codes or names")
    if not isinstance(data.get("automatic", False), bool):
        raise HypnogramError(path, f"'automatic' must be true or false, got {data['automatic']!r}")
    fields = {**data, "source": str(path), "file_format": NAME}
    try:
        hyp = Hypnogram.from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise HypnogramError(path, f"invalid hypnogram field: {exc}") from None
    return hyp if epoch_length is None else hyp.resample(float(epoch_length))


def format_json(hyp: Hypnogram) -> str:
    """The JSON text of a hypnogram (see the module docstring)."""
    probs = None
    if hyp.probabilities is not None:
        probs = [[float(p) if math.isfinite(p) else None for p in row] for row in hyp.probabilities]
    data = {
        "format": FORMAT_TAG, "format_version": FORMAT_VERSION,
        "stages": [int(c) for c in hyp.stages], "epoch_length": hyp.epoch_length,
        "offset": hyp.offset, "start": None if hyp.start is None else hyp.start.isoformat(),
        "scorer": hyp.scorer, "automatic": hyp.automatic, "probabilities": probs,
    }
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def write(hyp: Hypnogram, path: Path) -> None:
    """Write a JSON hypnogram atomically."""
    from ..atomic import write_text_atomic

    write_text_atomic(path, format_json(hyp))


FORMAT = FileFormat(
    NAME, "JSON hypnogram (SleepFM Studio)", (".json",), sniff, priority=30, save_suffix=".json",
    keeps=frozenset({"artefact", "epoch_length", "offset", "start", "scorer", "probabilities",
                     "automatic"}),
    read_hypnogram=read, write_hypnogram=write)
