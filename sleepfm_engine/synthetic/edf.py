"""Write a synthetic night as EDF+ with its hypnogram (annotations and a CSV sidecar) and, for a
night with scored-event ground truth, its events (annotations and a lossless events file)."""
from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_path, write_text_atomic
from .hypnogram import STAGE_NAMES


def hypnogram_sidecar(path: str | Path) -> Path:
    """Path of the CSV hypnogram written beside ``path`` (``<stem>.hypnogram.csv``)."""
    p = Path(path)
    return p.with_name(p.stem + ".hypnogram.csv")


def events_sidecar(path: str | Path) -> Path:
    """Path of the ground-truth events file written beside ``path`` (``<stem>.events.json``)."""
    p = Path(path)
    return p.with_name(p.stem + ".events.json")


def write_night(night, path: str | Path) -> Path:
    """Write ``night`` to ``path`` as EDF+ and its hypnogram to ``<stem>.hypnogram.csv``.

    The EDF+ holds one annotation per epoch (``Sleep stage W|N1|N2|N3|R``, 30 s) and one per
    event. A night drawn with a severity (scored ground truth) also gets
    ``<stem>.events.json``: its :class:`~sleepfm_engine.events.EventSet` in the engine's
    lossless events format (types, channels, attributes, ids), which
    :func:`sleepfm_engine.formats.read_events` reads back equal. Every file is written
    atomically; the same night always gives the same bytes.

    Parameters
    ----------
    night : SyntheticNight
    path : str or Path
        Target EDF file.

    Returns
    -------
    Path
        The EDF path.
    """
    from edfio import Edf, EdfAnnotation, EdfSignal, Patient, Recording

    path = Path(path)
    sigs = []
    for s in night.signals:
        sigs.append(EdfSignal(s.data, s.rate, label=s.label, transducer_type=s.transducer,
                              physical_dimension=s.unit, physical_range=s.physical_range,
                              prefiltering=s.prefilter))
    ep = float(night.epoch_length)
    ann = [EdfAnnotation(i * ep, ep, f"Sleep stage {STAGE_NAMES[int(c)]}")
           for i, c in enumerate(night.stages)]
    ann += [EdfAnnotation(float(on), float(dur), str(desc)) for on, dur, desc in night.annotations]
    ann.sort(key=lambda a: (a.onset, a.text))
    pt = night.patient
    rc = night.recording
    edf = Edf(
        sigs,
        patient=Patient(code=pt.get("code", "X"), sex=pt.get("sex", "X"),
                        birthdate=pt.get("birthdate"), name=pt.get("name", "X"),
                        additional=tuple(pt.get("additional", ()))),
        recording=Recording(startdate=night.start.date(),
                            hospital_administration_code=rc.get("admin_code", "X"),
                            investigator_technician_code=rc.get("technician", "X"),
                            equipment_code=rc.get("equipment", "X"),
                            additional=tuple(rc.get("additional", ()))),
        starttime=night.start.time(),
        data_record_duration=1.0,
        annotations=ann,
    )
    with atomic_path(path) as tmp:
        edf.write(tmp)
    lines = ["onset,duration,stage"]
    lines += [f"{i * ep:g},{ep:g},{STAGE_NAMES[int(c)]}" for i, c in enumerate(night.stages)]
    write_text_atomic(hypnogram_sidecar(path), "\n".join(lines) + "\n")
    if getattr(night, "severity", None) is not None:
        from ..formats import write_events

        write_events(night.events, events_sidecar(path), "events-json")
    return path
