"""Compumedics Profusion XML (``<CMPStudyConfig>``), as distributed by NSRR for some cohorts.

``<EpochLength>30</EpochLength>`` and ``<SleepStages><SleepStage>n</SleepStage>...`` with one
value per epoch from the recording start: 0 W, 1 N1, 2 N2, 3 N3, 4 N4 (-> N3), 5 REM,
9 unscored.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from ..contract import EPOCH_SECONDS
from ..errors import HypnogramError
from ..hypnogram import UNSCORED, Hypnogram
from ._common import parse_float, parse_int
from ._xml import Node, parse_xml
from .registry import FileFormat, Probe

NAME = "profusion-xml"
ROOT = "CMPStudyConfig"
#: Profusion stage value -> stage code.
CODES = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 9: UNSCORED}


def sniff(probe: Probe) -> bool:
    """True for XML whose root element is ``<CMPStudyConfig>``."""
    return probe.xml_root is not None and probe.xml_root.tag == ROOT


def read(path: Path, epoch_length: float | None = None, root: Node | None = None) -> Hypnogram:
    """Read the stages of a Profusion XML file.

    Raises
    ------
    HypnogramError
        For an unknown stage value, a bad EpochLength or no stages (names the line).
    """
    root = root or parse_xml(path)
    if root.tag != ROOT:
        raise HypnogramError(path, f"root element is <{root.tag}>, expected <{ROOT}>", root.line)
    node = root.find("EpochLength")
    if node is None or not node.text.strip():
        warnings.warn(f"{path}: no <EpochLength>; assuming {EPOCH_SECONDS} s", stacklevel=3)
        length = float(EPOCH_SECONDS)
    else:
        length = parse_float(node.text.strip(), path, node.line, "EpochLength")
        if length <= 0:
            raise HypnogramError(path, f"EpochLength must be positive, got {length:g}", node.line)
    container = root.find("SleepStages")
    if container is None:
        raise HypnogramError(path, "no <SleepStages> element", root.line)
    stages = []
    for st in container.findall("SleepStage"):
        value = parse_int(st.text.strip(), path, st.line, "Profusion sleep stage")
        if value not in CODES:
            raise HypnogramError(path, f"{value} is not a Profusion sleep stage (0 W, 1-4 NREM, "
                                       "5 REM, 9 unscored)", st.line)
        stages.append(CODES[value])
    if not stages:
        raise HypnogramError(path, "<SleepStages> holds no <SleepStage>", container.line)
    hyp = Hypnogram(stages, length, source=str(path), file_format=NAME)
    if epoch_length is not None and float(epoch_length) != length:
        hyp = hyp.resample(float(epoch_length))
    return hyp


FORMAT = FileFormat(NAME, "Compumedics Profusion XML", (".xml",), sniff, aliases=("profusion",),
                    priority=21, read_hypnogram=read)
