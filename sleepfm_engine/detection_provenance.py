"""Where scored events came from: the :class:`~sleepfm_engine.provenance.Provenance` of a
detector's run, written beside every events file that holds its events.

``sleepfm events detect`` and the application's File ▸ Export events write
``<name>.provenance.json`` beside ``<name>.<ext>`` (:func:`~sleepfm_engine.provenance.provenance_path`,
keyed by the events file's name as every provenance file is). The record names the detector,
its version and model, and keeps the detector's own record of the run under
``Provenance.detections[detector]``: the parts it did not score, its fallbacks and notes and,
for a model detector such as the SleepFM event head, its out-of-distribution check under
``"ood"``. The report reads it back (:func:`read_events_provenance`) to say whether the head
judged the night unlike its training nights.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .provenance import DETECTOR, SEVERAL, Provenance, ResultSource, combine, provenance_path, \
    read_provenance_file, write_provenance_file

__all__ = ["OOD_RECORD", "EVENT_SOURCES", "detection_provenance", "events_provenance", "write_events_provenance",
           "read_events_provenance", "detector_records"]

#: Key of a model detector's out-of-distribution record in its run record
#: (``Detection.provenance["ood"]``).
OOD_RECORD = "ood"
#: Key of the run record's list of its events' sources (``EventSource.to_dict()``).
EVENT_SOURCES = "event_sources"


def _json_value(value: Any) -> Any:
    """numpy scalars and arrays as JSON values; anything else is a detector bug (TypeError)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"a detector's provenance holds {type(value).__name__}, which is not JSON data")


def detection_provenance(detection: Any, detector: str) -> Provenance:
    """The provenance of a detector's events.

    Parameters
    ----------
    detection : Detection
        What :meth:`Detector.detect` returned.
    detector : str
        The registered detector's name.

    Returns
    -------
    Provenance
        Model id, folder, config hash and device where a model ran; ``sources["events"]`` the
        detector; ``detections[detector]`` its ``provenance`` with ``not_scored``, ``fallbacks``,
        ``notes`` and its events' sources (:data:`EVENT_SOURCES`), as JSON data (so a written
        record reads back equal).
    """
    from . import __version__

    run = dict(detection.provenance)
    # The events' own sources tie the record to this run's events (not to a later run's).
    run.update({"detector": detector, "not_scored": dict(detection.not_scored),
                "fallbacks": list(detection.fallbacks), "notes": list(detection.notes),
                EVENT_SOURCES: [s.to_dict() for s in detection.events.sources]})
    run = json.loads(json.dumps(run, default=_json_value))
    version = str(run.get("version") or "")
    config_hash = str(run.get("config_hash") or "")
    model = str(run.get("model") or "")
    return Provenance(__version__, model_id=model, model_folder=str(run.get("model_folder") or ""),
                      config_hashes=(("events", config_hash),) if config_hash else (),
                      device=str(run.get("device") or ""),
                      sources=(("events", ResultSource(DETECTOR, " ".join(
                          p for p in (detector, version, f"/ {model}" if model else "") if p),
                          config_hash)),),
                      detections={detector: run})


def events_provenance(layers: Iterable[str], records: Mapping[str, Provenance]) -> Provenance:
    """The record of an events file holding the events of ``layers`` (the application's event
    layers: a detector's layer is named after it): the records of the detectors among them,
    merged; without any, a record of the engine alone (so a stale record of an earlier file
    of the same name is replaced, never left to speak for these events)."""
    from . import __version__

    present = [records[name] for name in dict.fromkeys(layers) if name in records]
    merged = combine(*present)
    if merged is None:
        return Provenance(__version__)
    if len(present) > 1:
        names = "; ".join(p.source("events").describe() for p in present if p.source("events"))
        merged = merged.with_source("events", ResultSource(SEVERAL, names))
    return merged


def write_events_provenance(events_file: str | os.PathLike, record: Provenance) -> Path:
    """Write ``record`` for ``events_file`` into its provenance file (atomically; other
    outputs' records in that file are kept). Returns the provenance file."""
    return write_provenance_file(provenance_path(events_file), {events_file: record})


def read_events_provenance(events_file: str | os.PathLike) -> Provenance | None:
    """The record written for ``events_file``; None when no provenance file lies beside it or
    the file holds no record of it (then nothing is known of where its events came from).

    Raises
    ------
    ProvenanceError
        When the provenance file is there but cannot be read.
    """
    path = provenance_path(events_file)
    if not path.is_file():
        return None
    return read_provenance_file(path).get(Path(events_file).name)


def detector_records(record: Provenance | None, events_file: str | os.PathLike | None = None
                     ) -> dict[str, Provenance]:
    """Event source key -> the record speaking for it: each detector of ``record`` by name and,
    when the record is ``events_file``'s, the file's name too (formats that keep no detector
    per event credit their events to the file)."""
    if record is None or not record.detections:
        return {}
    out = {name: record for name in record.detections}
    if events_file is not None:
        out[Path(events_file).name] = record
    return out
