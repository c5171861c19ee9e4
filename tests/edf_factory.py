"""Build EDF/EDF+/BDF files byte by byte, so tests control every header field (and its faults)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Sig:
    label: str
    rate: int                      # samples per second (record duration 1 s)
    digital: np.ndarray            # int values, len = rate * n_records
    unit: str = "uV"
    pmin: float = -3276.8
    pmax: float = 3276.7
    dmin: int = -32768
    dmax: int = 32767


def _f(value, width: int) -> bytes:
    text = str(value).encode("latin-1")[:width]
    return text.ljust(width, b" ")


def tal_record(onset: float, annotations=(), width: int = 120) -> np.ndarray:
    """One record of an EDF+ annotation signal: time-keeping TAL then annotations."""
    out = f"+{onset:g}\x14\x14\x00".encode()
    for on, dur, text in annotations:
        out += f"+{on:g}\x15{dur:g}\x14{text}\x14\x00".encode()
    if len(out) > width * 2:
        raise ValueError("annotation record too long")
    return np.frombuffer(out.ljust(width * 2, b"\x00"), dtype="<i2").copy()


def write_edf(path: Path, signals: list[Sig], *, n_records: int | None = None, bdf: bool = False,
              reserved: str = "", startdate: str = "17.11.03", starttime: str = "22.15.00",
              patient: str = "MCH-0234567 F 02-MAY-1951 Haagse_Harry",
              recording: str = "Startdate 17-NOV-2003 EMR-123 tech equipment",
              annotation_records: list[np.ndarray] | None = None,
              record_n_field: str | None = None, record_duration: float = 1.0) -> Path:
    """Write an EDF (or BDF) with 1-s records; optionally an EDF+ annotation signal last."""
    sigs = list(signals)
    n_rec = n_records if n_records is not None else len(sigs[0].digital) // int(sigs[0].rate * record_duration)
    spr = [int(s.rate * record_duration) for s in sigs]
    labels = [s.label for s in sigs]
    units = [s.unit for s in sigs]
    pmins, pmaxs = [s.pmin for s in sigs], [s.pmax for s in sigs]
    dmins, dmaxs = [s.dmin for s in sigs], [s.dmax for s in sigs]
    if annotation_records is not None:
        width = len(annotation_records[0])
        spr.append(width)
        labels.append("BDF Annotations" if bdf else "EDF Annotations")
        units.append(""); pmins.append(-1); pmaxs.append(1); dmins.append(-32768); dmaxs.append(32767)
    ns = len(spr)
    head = (b"\xffBIOSEMI" if bdf else _f("0", 8)) + _f(patient, 80) + _f(recording, 80)
    head += _f(startdate, 8) + _f(starttime, 8) + _f(256 * (ns + 1), 8)
    head += _f("24BIT" if bdf and not reserved else reserved, 44)
    head += _f(record_n_field if record_n_field is not None else n_rec, 8)
    head += _f(f"{record_duration:g}", 8) + _f(ns, 4)
    head += b"".join(_f(v, 16) for v in labels)
    head += b"".join(_f("AgAgCl electrode", 80) for _ in range(ns))
    head += b"".join(_f(v, 8) for v in units)
    head += b"".join(_f(v, 8) for v in pmins) + b"".join(_f(v, 8) for v in pmaxs)
    head += b"".join(_f(v, 8) for v in dmins) + b"".join(_f(v, 8) for v in dmaxs)
    head += b"".join(_f("HP:0.1Hz LP:75Hz", 80) for _ in range(ns))
    head += b"".join(_f(v, 8) for v in spr) + b"".join(_f("", 32) for _ in range(ns))
    body = bytearray()
    for r in range(n_rec):
        for s, k in zip(sigs, spr):
            chunk = np.asarray(s.digital[r * k:(r + 1) * k], dtype=np.int64)
            body += _encode(chunk, bdf)
        if annotation_records is not None:
            ann = annotation_records[r]
            body += ann.astype("<i2").tobytes() if not bdf else _encode_bytes_bdf(ann)
    path = Path(path)
    path.write_bytes(head + bytes(body))
    return path


def _encode(values: np.ndarray, bdf: bool) -> bytes:
    if not bdf:
        return values.astype("<i2").tobytes()
    v = values.astype(np.int64) & 0xFFFFFF
    b = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8)
    return b.tobytes()


def _encode_bytes_bdf(ann: np.ndarray) -> bytes:
    raw = ann.astype("<i2").tobytes()
    # A BDF annotation signal of n 3-byte samples holds 3n bytes of text.
    return raw.ljust(len(ann) * 3, b"\x00")
