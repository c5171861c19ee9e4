"""Lazy EDF, EDF+ and BDF recordings.

The header is parsed when a file is opened; samples are read on demand, straight from a
memory map, so opening an 8-hour study costs milliseconds and reading a 30-s page touches only
that page. Every channel keeps its native sampling rate (a 1-Hz SpO2 channel stays at 1 Hz).

The reader is tolerant but loud, in the manner of MNE's: faults it can work around (record count
disagreeing with the file size, an invalid date, duplicate labels, a unit written ``UV``, a
physical range of zero width, a trailing partial record) are reported with
:func:`warnings.warn` and kept in :attr:`Recording.warnings`; faults it cannot work around raise
:class:`~sleepfm_engine.errors.RecordingError`, which names the file and the problem.
"""
from __future__ import annotations

import datetime as _dt
import math
import mmap
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .demographics import EDF_SEX_CODES, Demographics, header_demographics
from .errors import RecordingError

__all__ = ["Annotation", "Channel", "Recording", "RecordingWarning", "open_recording",
           "RECORDING_SUFFIXES"]

#: Suffixes (lower case) of the recordings read here: EDF/EDF+, BDF/BDF+ and ``.rec`` (EDF).
#: The one list; folder searches, file dialogs and hypnogram detection take it from here.
RECORDING_SUFFIXES: tuple[str, ...] = (".edf", ".bdf", ".rec")

_FIXED_HEADER = 256
_SIGNAL_HEADER = 256
# (field name, width) of the per-signal header, in file order.
_SIGNAL_FIELDS = (
    ("label", 16), ("transducer", 80), ("unit", 8), ("physical_min", 8), ("physical_max", 8),
    ("digital_min", 8), ("digital_max", 8), ("prefilter", 80), ("samples_per_record", 8),
    ("reserved", 32),
)
_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
# After a read spanning more record bytes than this, its pages are released (see _release_pages).
_RELEASE_BYTES = 64 << 20
# Voltage units and their factor to volts. Keys are lower-cased.
_VOLT_SCALE = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "nv": 1e-9}
# A TAL: +onset[\x15duration]\x14text\x14...\x14\x00
_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x00", re.DOTALL)
# Nihon Kohden writes the time-keeping TAL of a record without its closing NUL, so the next
# TAL follows at once ("+0\x14\x14+1.14\x14text\x14\x00"); only at the very start of a record
# is that read as two TALs (elsewhere a text may legitimately begin with "+1").
_UNTERMINATED_TIMEKEEPING = re.compile(rb"^([+-]\d+(?:\.\d*)?\x14\x14)(?=[+-]\d)")
# Sampling rates and lengths no recording has: a record duration that gives them (1e-300 s,
# 1e300 s) is a corrupt header, and passing it on would give infinite or empty time axes.
_MAX_RATE_HZ = 1e6
_MAX_DURATION_S = 366 * 24 * 3600.0
# The largest integer an 8-character header field can spell without an exponent.
_MAX_HEADER_INT = 99_999_999
# MNE channel type of every modality of the channel map (BAS splits into EEG and EOG by label;
# a channel that is not a voltage is 'misc', since MNE reads eeg/eog/emg/ecg data as volts).
_MNE_TYPES = {"BAS": "eeg", "RESP": "resp", "EKG": "ecg", "EMG": "emg", "other": "misc"}
_MNE_VOLTAGE_TYPES = frozenset({"eeg", "eog", "emg", "ecg"})
# MNE's description of a span without data (EDF+D gaps), which its methods skip.
_MNE_GAP_DESCRIPTION = "BAD_ACQ_SKIP"


class RecordingWarning(UserWarning):
    """A recoverable fault in a recording's header or data layout."""


@dataclass(frozen=True)
class Channel:
    """One signal channel of a recording, as its header describes it.

    Attributes
    ----------
    index : int
        Position among the recording's signal channels (annotation channels excluded).
    label : str
        Unique label: the file's label, with ``_1``, ``_2`` appended to duplicates.
    original_label : str
        The label exactly as written in the file (trailing spaces removed).
    rate : float
        Native sampling rate in Hz.
    unit : str
        Unit of the values :meth:`Recording.read` returns: ``"V"`` for voltage channels (which
        are scaled to volts), otherwise the physical dimension from the file (``"%"``, ``"bpm"``).
    raw_unit : str
        The physical dimension as written in the file.
    n_samples : int
        Samples in the whole recording (continuous files) or in all its records (EDF+D).
    is_voltage : bool
        Whether the channel is a voltage scaled to volts.
    """

    index: int
    label: str
    original_label: str
    rate: float
    unit: str
    raw_unit: str
    n_samples: int
    transducer: str
    prefilter: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    is_voltage: bool
    # Private decoding parameters: physical = (digital + _offset) * _gain (then to volts).
    _gain: float = field(default=1.0, repr=False, compare=False)
    _offset: float = field(default=0.0, repr=False, compare=False)
    _record_offset: int = field(default=0, repr=False, compare=False)
    _samples_per_record: int = field(default=0, repr=False, compare=False)

    @property
    def duration(self) -> float:
        """Duration in seconds covered by this channel's samples."""
        return self.n_samples / self.rate if self.rate > 0 else 0.0


@dataclass(frozen=True)
class Annotation:
    """An EDF+ annotation: an event at ``onset`` seconds after the recording start."""

    onset: float
    duration: float
    description: str


def _release_pages(mm: np.memmap, start: int, length: int) -> None:
    """Tell the OS this process no longer needs these pages of a read-only file mapping."""
    raw = getattr(mm, "_mmap", None)
    if raw is None or not hasattr(raw, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return  # not available on this platform: memory stays mapped, nothing else changes
    page = mmap.PAGESIZE
    offset = mm.offset + start
    first = (offset // page) * page
    raw_start = first - (mm.offset - mm.offset % mmap.ALLOCATIONGRANULARITY)
    raw.madvise(mmap.MADV_DONTNEED, max(0, raw_start), length + (offset - first))


def _field_text(raw: bytes) -> str:
    return raw.decode("latin-1").strip().replace("\x00", "")


def _text_field_text(raw: bytes) -> str:
    """A label or unit: UTF-8 where the bytes are valid UTF-8 (writers put "µV" so), else
    Latin-1 (EDF's nominal ASCII, and what older writers used for "µ")."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip().replace("\x00", "")


def _without_controls(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc")


class Recording:
    """An open EDF/EDF+/BDF file. Use :func:`open_recording` to create one.

    Attributes
    ----------
    path : Path
    format : str
        ``"EDF"``, ``"EDF+C"``, ``"EDF+D"``, ``"BDF"``, ``"BDF+C"`` or ``"BDF+D"``.
    channels : list of Channel
        Signal channels in file order (EDF+ annotation channels excluded).
    start : datetime.datetime
        Start of the recording (naive, the file's local clock time).
    duration : float
        Seconds from the start to the end of the last data record.
    patient : dict
        Patient identification: ``code``, ``sex``, ``birthdate``, ``name``, ``additional``
        (EDF+ subfields when present), ``raw`` (the 80-character field) and ``subfields``
        (whether the field held EDF+ subfields; otherwise it is free text, kept in
        ``additional``).
    recording_info : dict
        Recording identification: ``startdate``, ``admin_code``, ``technician``, ``equipment``,
        ``additional`` and ``raw``.
    warnings : list of str
        Recoverable faults found while reading the header.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.warnings: list[str] = []
        self._mm: np.memmap | None = None
        self._annotations: list[Annotation] | None = None
        self._parse()

    # ----------------------------------------------------------------- header parsing
    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        warnings.warn(f"{self.path}: {message}", RecordingWarning, stacklevel=3)

    def _fail(self, problem: str) -> RecordingError:
        return RecordingError(self.path, problem)

    def _number(self, text: str, what: str, kind=float):
        try:
            return kind(text)
        except ValueError:
            if kind is int:
                try:
                    value = float(text)
                except ValueError:
                    value = None
                # "1e30" in an 8-character field: a number, but no count or level a file has.
                if value is not None and value.is_integer() and abs(value) <= _MAX_HEADER_INT:
                    return int(value)
            raise self._fail(f"header field '{what}' is not a number: {text!r}") from None

    def _parse(self) -> None:
        path = self.path
        if not path.exists():
            raise RecordingError(path, "file not found")
        if path.is_dir():
            raise RecordingError(path, "is a folder, not an EDF/BDF file")
        try:
            size = path.stat().st_size
            fh = open(path, "rb")
        except OSError as exc:
            raise self._fail(f"cannot be read: {exc.strerror or exc}") from exc
        if size == 0:
            fh.close()
            raise self._fail("the file is empty (0 bytes)")
        with fh:
            head = fh.read(_FIXED_HEADER)
            if len(head) < _FIXED_HEADER:
                raise self._fail(
                    f"the file is truncated: {size} bytes is shorter than the 256-byte EDF header")
            version = head[:8]
            if version[:1] == b"\xff" and version[1:8] == b"BIOSEMI":
                self._bdf = True
            elif version == b"0       " or version.strip() == b"0":
                self._bdf = False
            else:
                shown = version.decode("latin-1", "replace")
                raise self._fail(
                    "not an EDF or BDF file: it does not start with the EDF version field '0' "
                    f"or the BDF marker (found {shown!r})")
            ns_text = _field_text(head[252:256])
            ns = self._number(ns_text, "number of signals", int)
            if ns < 0:
                raise self._fail(f"header gives a negative number of signals ({ns})")
            signal_header = fh.read(_SIGNAL_HEADER * ns)
            if len(signal_header) < _SIGNAL_HEADER * ns:
                raise self._fail(
                    f"the file is truncated: the header declares {ns} signals "
                    f"({_FIXED_HEADER + _SIGNAL_HEADER * ns} header bytes) but the file has {size} bytes")

        reserved = _field_text(head[192:236])
        # Only EDF+/BDF+ define subfields; in plain EDF these fields are free text.
        is_plus = reserved.upper()[:4] in ("EDF+", "BDF+")
        self.patient = self._parse_patient(_field_text(head[8:88]), is_plus)
        self.recording_info = self._parse_recording_field(_field_text(head[88:168]))
        if not self.recording_info["startdate"] and self.recording_info["raw"]:
            self.recording_info["additional"] = self.recording_info["raw"]
        self.start = self._parse_start(_field_text(head[168:176]), _field_text(head[176:184]))

        header_bytes = self._number(_field_text(head[184:192]), "number of bytes in header", int)
        expected_header = _FIXED_HEADER + _SIGNAL_HEADER * ns
        if header_bytes != expected_header:
            self._warn(f"header length field says {header_bytes} bytes but {ns} signals need "
                       f"{expected_header}; using {expected_header}")
            header_bytes = expected_header
        self._header_bytes = header_bytes
        n_records_header = self._number(_field_text(head[236:244]), "number of data records", int)
        record_duration = self._number(_field_text(head[244:252]), "duration of a data record")
        if ns == 0:
            raise self._fail("the file declares no signals")

        # Signal headers: field-major layout (all labels, then all transducers, ...).
        fields: dict[str, list[str]] = {}
        pos = 0
        for name, width in _SIGNAL_FIELDS:
            chunk = signal_header[pos:pos + width * ns]
            decode = _text_field_text if name in ("label", "unit") else _field_text
            fields[name] = [decode(chunk[i * width:(i + 1) * width]) for i in range(ns)]
            pos += width * ns
        for i, label in enumerate(fields["label"]):
            clean = _without_controls(label).strip()
            if clean != label:
                self._warn(f"signal {i + 1}: control characters removed from its label "
                           f"({label!r} read as {clean!r})")
                fields["label"][i] = clean

        plus = reserved.upper()
        if self._bdf:
            base = "BDF"
        else:
            base = "EDF"
        if plus.startswith("EDF+D") or plus.startswith("BDF+D"):
            self.format = base + "+D"
        elif plus.startswith("EDF+C") or plus.startswith("BDF+C"):
            self.format = base + "+C"
        else:
            self.format = base
        self._sample_bytes = 3 if self._bdf else 2

        spr = [self._number(v, f"samples per record of signal {i + 1}", int)
               for i, v in enumerate(fields["samples_per_record"])]
        if any(s < 0 for s in spr):
            raise self._fail("a signal declares a negative number of samples per data record")
        self._spr = spr
        record_samples = sum(spr)
        self._record_bytes = record_samples * self._sample_bytes
        if self._record_bytes == 0:
            raise self._fail("data records hold no samples (every signal has 0 samples per record)")

        data_bytes = size - header_bytes
        n_full = data_bytes // self._record_bytes
        remainder = data_bytes % self._record_bytes
        if n_full == 0:
            raise self._fail(
                f"the file is truncated: the header promises data records of {self._record_bytes} "
                f"bytes but only {max(data_bytes, 0)} bytes of data follow the header")
        if remainder:
            self._warn(f"a trailing partial data record ({remainder} of {self._record_bytes} bytes) "
                       "is ignored")
        if n_records_header != n_full:
            if n_records_header <= 0:
                # -1 is how a recorder marks a file it never closed; 0 and other negatives are
                # broken headers. Either way the file size is the only count there is (as MNE).
                self._warn(f"the header declares {n_records_header} data records; inferred "
                           f"{n_full} from the file size ({data_bytes} bytes of data in records "
                           f"of {self._record_bytes} bytes)")
            elif n_records_header > n_full:
                self._warn(f"the header declares {n_records_header} data records but the file holds "
                           f"only {n_full}; reading {n_full} (the file may be truncated)")
            else:
                self._warn(f"the header declares {n_records_header} data records but the file holds "
                           f"{n_full}; reading the {n_records_header} declared")
                n_full = max(n_records_header, 1)
        self._n_records = n_full
        if not math.isfinite(record_duration):
            raise self._fail(f"the duration of a data record is not a finite number ({record_duration})")
        if record_duration < 0:
            raise self._fail(f"the duration of a data record is negative ({record_duration})")
        if record_duration * n_full > _MAX_DURATION_S:
            raise self._fail(f"the duration of a data record ({record_duration:g} s) makes the "
                             f"recording {record_duration * n_full:g} s long; the header is corrupt")
        if record_duration > 0 and max(spr) / record_duration > _MAX_RATE_HZ:
            raise self._fail(f"the duration of a data record ({record_duration:g} s) gives a "
                             f"sampling rate of {max(spr) / record_duration:g} Hz; the header is "
                             "corrupt")
        if record_duration == 0:
            if all(fields["label"][i] in _ANNOTATION_LABELS for i in range(ns)):
                record_duration = 0.0
            else:
                raise self._fail("the duration of a data record is 0 s but the file holds signals")
        self._record_duration = record_duration

        # Channels
        self._annotation_indices = [i for i in range(ns) if fields["label"][i] in _ANNOTATION_LABELS
                                    and self.format != base]
        self.channels: list[Channel] = []
        self._unit_fixes: dict[str, list[str]] = {}
        seen: dict[str, int] = {}
        offsets = np.concatenate([[0], np.cumsum(spr)]).astype(int)
        for i in range(ns):
            if i in self._annotation_indices:
                continue
            original = fields["label"][i]
            if spr[i] == 0:
                # A signal without samples has nothing to show or analyse; the others are fine.
                self._warn(f"signal {i + 1} ({original!r}) has 0 samples per data record; skipped")
                continue
            scaling = self._scaling(original, fields, i)
            if scaling is None:
                continue
            label = original or f"Channel {i + 1}"
            if label in seen:
                seen[label] += 1
                new_label = f"{label}_{seen[label]}"
                while new_label in seen:
                    seen[label] += 1
                    new_label = f"{label}_{seen[label]}"
                self._warn(f"duplicate channel label {label!r}: signal {i + 1} renamed {new_label!r}")
                label = new_label
            seen.setdefault(label, 0)
            self.channels.append(self._make_channel(
                len(self.channels), i, label, original, fields, spr[i], int(offsets[i]), scaling))
        self._label_index = {c.label: c.index for c in self.channels}
        for fix, labels in self._unit_fixes.items():
            self._warn(f"unit {fix} (non-standard case) for {len(labels)} channel(s): "
                       f"{', '.join(labels)}")

        if not self.channels and not self._annotation_indices:
            raise self._fail("no signal channel can be read (see the warnings)")

        self._record_onsets: np.ndarray | None = None
        self._start_offset = 0.0
        if self.format.endswith("+D"):
            self._record_onsets = self._read_record_onsets()
            self.duration = float(self._record_onsets[-1] + record_duration)
            if not self.duration <= _MAX_DURATION_S:
                raise self._fail(f"the EDF+D record times end {self.duration:g} s after the "
                                 "start; the annotation channel is corrupt")
        else:
            self.duration = float(self._n_records * record_duration)
        if self._annotation_indices:
            self._apply_start_offset()

    def _apply_start_offset(self) -> None:
        """Add the first record's time-keeping onset (EDF+'s sub-second start) to the start."""
        try:
            tals = self._parse_tals(0, self._annotation_bytes(self._annotation_indices[0])[0].tobytes(),
                                    self._annotation_label)
        except RecordingError as exc:
            # Only EDF+D depends on the stamps (and has failed already); a continuous file's
            # signals are still good, so say what is lost and keep them.
            self._warn(f"{exc.problem}; the start time is the header's, to the whole second")
            return
        offset = tals[0][0]
        if not abs(offset) < _MAX_DURATION_S:
            self._warn(f"the first data record's time-keeping onset ({offset:g} s) is not a "
                       "plausible start; the start time is the header's")
            return
        self._start_offset = offset
        if offset:
            self.start += _dt.timedelta(seconds=offset)

    @property
    def _annotation_label(self) -> str:
        return "BDF Annotations" if self._bdf else "EDF Annotations"

    def _scaling(self, original: str, fields: dict, i: int) -> tuple | None:
        """(pmin, pmax, dmin, dmax, gain, offset) of signal ``i``, or None (with a warning) when
        its physical range is not finite and its values therefore cannot be scaled."""
        pmin = self._number(fields["physical_min"][i], f"physical minimum of {original!r}")
        pmax = self._number(fields["physical_max"][i], f"physical maximum of {original!r}")
        dmin = self._number(fields["digital_min"][i], f"digital minimum of {original!r}", int)
        dmax = self._number(fields["digital_max"][i], f"digital maximum of {original!r}", int)
        if not (math.isfinite(pmin) and math.isfinite(pmax)):
            self._warn(f"signal {i + 1} ({original!r}): physical minimum/maximum {pmin!r}/{pmax!r} "
                       "is not finite, so its values cannot be scaled; skipped")
            return None
        if dmin > dmax:
            self._warn(f"signal {i + 1} ({original!r}): digital minimum ({dmin}) is greater than "
                       f"its digital maximum ({dmax}), which EDF does not allow; scaled as written, "
                       "so its polarity may be inverted")
        if pmax == pmin or dmax == dmin:
            which = "physical" if pmax == pmin else "digital"
            self._warn(f"channel {original!r}: {which} minimum equals maximum "
                       f"({pmin if which == 'physical' else dmin}); values are read unscaled")
            gain, offset_value = 1.0, 0.0
        else:
            gain = (pmax - pmin) / (dmax - dmin)
            offset_value = pmax / gain - dmax
        return pmin, pmax, dmin, dmax, gain, offset_value

    def _make_channel(self, index, file_index, label, original, fields, spr, offset,
                      scaling) -> Channel:
        i = file_index
        pmin, pmax, dmin, dmax, gain, offset_value = scaling
        raw_unit = fields["unit"][i]
        unit_key = raw_unit.strip().lower()
        is_voltage = unit_key in _VOLT_SCALE
        if is_voltage:
            canonical = {"v": "V", "mv": "mV", "nv": "nV"}.get(unit_key, "uV")
            if raw_unit not in (canonical, "µV", "μV"):
                self._unit_fixes.setdefault(f"{raw_unit!r} read as {canonical!r}", []).append(original)
            gain = gain * _VOLT_SCALE[unit_key]
            unit = "V"
        else:
            unit = raw_unit
        rate = spr / self._record_duration if self._record_duration > 0 else 0.0
        return Channel(
            index=index, label=label, original_label=original, rate=float(rate), unit=unit,
            raw_unit=raw_unit, n_samples=int(spr * self._n_records), transducer=fields["transducer"][i],
            prefilter=fields["prefilter"][i], physical_min=pmin, physical_max=pmax,
            digital_min=dmin, digital_max=dmax, is_voltage=is_voltage, _gain=float(gain),
            _offset=float(offset_value), _record_offset=offset, _samples_per_record=spr)

    @staticmethod
    def _parse_patient(raw: str, is_plus: bool = True) -> dict:
        parts = raw.split(" ")
        info = {"code": "", "sex": "", "birthdate": "", "name": "", "additional": "", "raw": raw,
                "subfields": False}
        # Writers often use EDF+ subfields in plain EDF too: accept them where they parse.
        structured = (len(parts) >= 4 and parts[1] in EDF_SEX_CODES
                      and (parts[2] == "X" or re.fullmatch(r"\d{2}-[A-Za-z]{3}-\d{4}", parts[2])))
        if not (is_plus or structured):
            info["additional"] = raw
        elif len(parts) >= 4:
            clean = ["" if p == "X" else p for p in parts]
            info.update(subfields=True, code=clean[0], sex=clean[1], birthdate=clean[2],
                        name=clean[3].replace("_", " "), additional=" ".join(clean[4:]))
        return info

    @staticmethod
    def _parse_recording_field(raw: str) -> dict:
        info = {"startdate": "", "admin_code": "", "technician": "", "equipment": "",
                "additional": "", "raw": raw}
        parts = raw.split(" ")
        if len(parts) >= 5 and parts[0] == "Startdate":
            clean = ["" if p == "X" else p for p in parts]
            info.update(startdate=clean[1], admin_code=clean[2], technician=clean[3],
                        equipment=clean[4], additional=" ".join(clean[5:]))
        return info

    def _parse_start(self, date: str, time: str) -> _dt.datetime:
        try:
            d, m, y = (int(v) for v in date.replace(":", ".").split("."))
            hh, mm, ss = (int(v) for v in time.replace(":", ".").split("."))
            # EDF's clipping date: yy 85-99 are 1985-1999, 00-84 are 2000-2084.
            year = 1900 + y if y >= 85 else 2000 + y
            # An EDF+ 'Startdate dd-MMM-yyyy' carries the full year; prefer it when consistent.
            full = self.recording_info.get("startdate", "")
            if full:
                try:
                    parsed = _dt.datetime.strptime(full.title(), "%d-%b-%Y")
                    if parsed.year % 100 == y:
                        year = parsed.year
                except ValueError:
                    pass
            return _dt.datetime(year, m, d, hh, mm, ss)
        except ValueError:
            self._warn(f"invalid start date/time {date!r} {time!r}; using 01.01.1985 00:00:00")
            return _dt.datetime(1985, 1, 1)

    # ----------------------------------------------------------------- data access
    def _memmap(self) -> np.memmap:
        if self._mm is None:
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self._header_bytes,
                                 shape=(self._n_records, self._record_bytes))
        return self._mm

    def _decode(self, raw: np.ndarray) -> np.ndarray:
        """Raw record bytes (..., n*sample_bytes) → int32 digital values (..., n)."""
        if self._bdf:
            b = raw.reshape(raw.shape[:-1] + (-1, 3)).astype(np.int32)
            v = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
            return (v ^ 0x800000) - 0x800000
        return np.ascontiguousarray(raw).view("<i2")

    def _annotation_bytes(self, file_index: int) -> np.ndarray:
        mm = self._memmap()
        off = sum(self._spr[:file_index]) * self._sample_bytes
        width = self._spr[file_index] * self._sample_bytes
        return np.asarray(mm[:, off:off + width])

    def _parse_tals(self, record: int, data: bytes, channel_name: str,
                    timekeeping: bool = True) -> list[tuple[float, float, list[str]]]:
        """The TALs of one record of an annotation channel. Only the first annotation channel
        must open each record with a time-keeping TAL (``timekeeping``); later ones may be
        empty (EDF+ 2.2; OpenBCI writes 15 such channels)."""
        out = []
        data = _UNTERMINATED_TIMEKEEPING.sub(lambda m: m.group(1) + b"\x00", data, count=1)
        stripped = data.rstrip(b"\x00")
        pos = 0
        for m in _TAL.finditer(data):
            if m.start() != pos and data[pos:m.start()].strip(b"\x00"):
                raise self._fail(
                    f"the EDF+ annotation channel {channel_name!r} is corrupt in data record "
                    f"{record + 1}: unreadable bytes {data[pos:m.start()][:40]!r}")
            pos = m.end()
            try:
                onset = float(m.group(1))
                duration = float(m.group(2)) if m.group(2) else 0.0
            except ValueError:  # pragma: no cover - the regex admits only numbers
                raise self._fail(f"the EDF+ annotation channel {channel_name!r} has a bad onset "
                                 f"in data record {record + 1}") from None
            texts = [t.decode("utf-8", "replace") for t in m.group(3).split(b"\x14") if t]
            out.append((onset, duration, texts))
        if pos < len(stripped):
            raise self._fail(
                f"the EDF+ annotation channel {channel_name!r} is corrupt in data record {record + 1}: "
                f"unterminated or malformed annotation {stripped[pos:pos + 40]!r}")
        if not out and timekeeping:
            raise self._fail(
                f"the EDF+ annotation channel {channel_name!r} is corrupt in data record {record + 1}: "
                "no time-keeping annotation")
        return out

    def _read_record_onsets(self) -> np.ndarray:
        if not self._annotation_indices:
            raise self._fail("EDF+D file without an annotation channel: record times are unknown")
        idx = self._annotation_indices[0]
        raw = self._annotation_bytes(idx)
        onsets = np.empty(self._n_records)
        for r in range(self._n_records):
            tals = self._parse_tals(r, raw[r].tobytes(), self._annotation_label)
            onsets[r] = tals[0][0]
        onsets -= onsets[0] if onsets[0] != 0 else 0.0
        if np.any(np.diff(onsets) < self._record_duration - 1e-6):
            raise self._fail("EDF+D data records overlap or go back in time")
        return onsets

    @property
    def annotations(self) -> list[Annotation]:
        """EDF+ annotations (onset in seconds from the start), parsed on first access.

        Raises
        ------
        RecordingError
            If an annotation channel is corrupt (the message names the data record).
        """
        if self._annotations is None:
            anns: list[Annotation] = []
            first_onset = None
            for n, idx in enumerate(self._annotation_indices):
                raw = self._annotation_bytes(idx)
                label = self._annotation_label
                for r in range(self._n_records):
                    tals = self._parse_tals(r, raw[r].tobytes(), label, timekeeping=n == 0)
                    # The first TAL of every record is its time-keeping stamp (no text).
                    if first_onset is None:
                        first_onset = tals[0][0]
                    for onset, duration, texts in tals[1:] if n == 0 and not tals[0][2] else tals:
                        for t in texts:
                            anns.append(Annotation(onset - (first_onset or 0.0), duration, t))
            anns.sort(key=lambda a: a.onset)
            self._annotations = anns
        return self._annotations

    @property
    def labels(self) -> list[str]:
        """Unique channel labels in file order."""
        return [c.label for c in self.channels]

    @property
    def is_discontinuous(self) -> bool:
        return self._record_onsets is not None

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """Spans ``(start_s, stop_s)`` between the data records of an EDF+D file, where the
        recording has no data (:meth:`read` gives NaN there); empty for a continuous file."""
        if self._record_onsets is None:
            return []
        ends = self._record_onsets[:-1] + self._record_duration
        nexts = self._record_onsets[1:]
        return [(float(a), float(b)) for a, b in zip(ends, nexts) if b - a > 1e-9]

    def channel(self, key: str | int) -> Channel:
        """Return the channel with this label or index.

        Raises
        ------
        KeyError
            If there is no such channel (the message lists the available labels).
        """
        if isinstance(key, (int, np.integer)):
            if not 0 <= int(key) < len(self.channels):
                raise KeyError(f"{self.path.name}: no channel number {key} "
                               f"(the file has {len(self.channels)})")
            return self.channels[int(key)]
        if isinstance(key, Channel):
            return self.channels[key.index]
        try:
            return self.channels[self._label_index[key]]
        except KeyError:
            raise KeyError(f"{self.path.name}: no channel {key!r}; channels: "
                           f"{', '.join(self.labels)}") from None

    def _resolve(self, channels) -> list[Channel]:
        if channels is None:
            return list(self.channels)
        if isinstance(channels, (str, int, np.integer, Channel)):
            channels = [channels]
        return [self.channel(c) for c in channels]

    def read(self, channels: Sequence[str | int] | str | int | None = None, start_s: float = 0.0,
             stop_s: float | None = None) -> list[np.ndarray]:
        """Read a time window of some channels at their native rates.

        Parameters
        ----------
        channels : list of str or int, str, int or None
            Labels or indices; ``None`` reads every channel.
        start_s, stop_s : float
            Window in seconds from the recording start; ``stop_s=None`` means the end.
            The window is clipped to the recording.

        Returns
        -------
        list of numpy.ndarray
            One float64 array per channel; voltages in volts, other units as in the file.
            Gaps of a discontinuous (EDF+D) file are NaN.
        """
        chans = self._resolve(channels)
        if start_s < 0:
            raise ValueError(f"start_s must be >= 0, got {start_s}")
        stop = self.duration if stop_s is None else min(float(stop_s), self.duration)
        if stop < start_s:
            raise ValueError(f"stop_s ({stop_s}) is before start_s ({start_s})")
        return [self._read_one(c, float(start_s), stop) for c in chans]

    def read_channel(self, channel: str | int, start_s: float = 0.0,
                     stop_s: float | None = None) -> np.ndarray:
        """Read one channel's window; see :meth:`read`."""
        return self.read([channel], start_s, stop_s)[0]

    def _read_one(self, ch: Channel, start: float, stop: float) -> np.ndarray:
        rate = ch.rate
        spr = ch._samples_per_record
        i0 = int(np.floor(start * rate + 1e-9))
        i1 = int(np.ceil(stop * rate - 1e-9))
        if i1 <= i0 or spr == 0:
            return np.empty(0)
        mm = self._memmap()
        sb = self._sample_bytes
        col = slice(ch._record_offset * sb, (ch._record_offset + spr) * sb)
        if self._record_onsets is None:
            r0, r1 = i0 // spr, min(-(-i1 // spr), self._n_records)
            digital = self._decode(np.asarray(mm[r0:r1, col])).reshape(-1)
            digital = digital[i0 - r0 * spr:i1 - r0 * spr]
            if (r1 - r0) * self._record_bytes > _RELEASE_BYTES:
                # A long read (a whole channel) touched most of the file: drop those pages from
                # this process's mapping so resident memory tracks the output, not the file.
                # They stay in the OS page cache, so the next channel's read is still cheap.
                _release_pages(mm, r0 * self._record_bytes, (r1 - r0) * self._record_bytes)
        else:
            # Place each record at its own onset; gaps stay NaN.
            out = np.full(i1 - i0, np.nan)
            starts = np.round(self._record_onsets * rate).astype(np.int64)
            hit = np.nonzero((starts + spr > i0) & (starts < i1))[0]
            for r in hit:
                vals = self._decode(np.asarray(mm[r, col])).astype(np.float64)
                a, b = max(starts[r], i0), min(starts[r] + spr, i1)
                out[a - i0:b - i0] = vals[a - starts[r]:b - starts[r]]
            out += ch._offset
            out *= ch._gain
            return out
        # In place: a whole 8-h channel is ~60 MB of float64; no temporaries beside it.
        values = digital.astype(np.float64)
        values += ch._offset
        values *= ch._gain
        return values

    # ----------------------------------------------------------------- the ecosystem's types
    def to_mne(self, channels: Sequence[str | int] | None = None, channel_map=None):
        """The recording as an :class:`mne.io.RawArray` (data read into memory).

        Channel types come from the channel map: BAS is ``eeg`` (``eog`` when the label names
        an EOG), RESP ``resp``, EKG ``ecg``, EMG ``emg``, anything else ``misc``; a channel whose
        values are not volts is ``misc`` whatever its modality. Voltages are in volts, as MNE
        expects. ``meas_date`` is the recording start (a naive start read as UTC, as
        :func:`mne.io.read_raw_edf` reads it), the EDF+ annotations become the raw's
        annotations, and the gaps of an EDF+D file are NaN under ``BAD_ACQ_SKIP`` annotations.

        Parameters
        ----------
        channels : list of str or int, optional
            Labels or indices; by default every channel. MNE holds one sampling rate, so the
            channels must share theirs.
        channel_map : ChannelMap, optional
            The modalities (e.g. with the user's overrides); by default
            :meth:`ChannelMap.from_recording`.

        Raises
        ------
        ImportError
            If MNE is not installed.
        ValueError
            If the channels have different sampling rates (the message lists them).
        """
        from .channels import EOG_WORDS, ChannelMap, label_says
        from .interop import mne_date, optional_import

        mne = optional_import("mne", "MNE")
        chans = self._resolve(channels)
        if not chans:
            raise ValueError(f"{self.path.name}: no signal channels to convert to MNE")
        rates = sorted({c.rate for c in chans})
        if len(rates) > 1:
            by_rate = "; ".join(f"{r:g} Hz: " + ", ".join(c.label for c in chans if c.rate == r)
                                for r in rates)
            raise ValueError(f"{self.path.name}: MNE holds one sampling rate, these channels have "
                             f"{len(rates)} ({by_rate}); pass channels= of one rate")
        cmap = channel_map if channel_map is not None else ChannelMap.from_recording(self)
        types = []
        for c in chans:
            kind = _MNE_TYPES[cmap[c.label].modality]
            if kind == "eeg" and label_says(EOG_WORDS, c.original_label or c.label):
                kind = "eog"
            types.append(kind if c.is_voltage or kind not in _MNE_VOLTAGE_TYPES else "misc")
        data = np.vstack(self.read(chans))
        info = mne.create_info([c.label for c in chans], rates[0], types)
        raw = mne.io.RawArray(data, info, verbose="error")
        meas_date = mne_date(self.start)
        raw.set_meas_date(meas_date)
        anns = self.annotations
        gaps = self.gaps
        raw.set_annotations(mne.Annotations(
            onset=[a.onset for a in anns] + [g[0] for g in gaps],
            duration=[a.duration for a in anns] + [g[1] - g[0] for g in gaps],
            description=[a.description for a in anns] + [_MNE_GAP_DESCRIPTION] * len(gaps),
            orig_time=meas_date))
        return raw

    # ----------------------------------------------------------------- lifecycle
    @property
    def demographics(self) -> Demographics:
        """Sex and age at the recording as the patient field gives them (see
        :func:`sleepfm_engine.demographics.header_demographics`)."""
        return header_demographics(self)

    def clone(self) -> "Recording":
        """A second handle on the same file for another thread.

        It shares the parsed header (no second parse, no repeated warnings) but maps the file on
        its own, so either handle may be read or closed independently.
        """
        import copy

        twin = copy.copy(self)
        twin._mm = None
        twin.warnings = list(self.warnings)
        return twin

    def close(self) -> None:
        """Release the memory map (the object may be re-read later; it reopens lazily)."""
        mm, self._mm = self._mm, None
        if mm is not None:
            mm._mmap.close()  # noqa: SLF001 - numpy keeps no public close

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Recording {self.path.name}: {self.format}, {len(self.channels)} channels, "
                f"{self.duration / 3600:.2f} h from {self.start:%Y-%m-%d %H:%M:%S}>")

    def info(self) -> dict:
        """A JSON-serialisable summary: format, start, duration, patient, recording, channels."""
        return {
            "path": str(self.path),
            "format": self.format,
            "start": self.start.isoformat(),
            "duration_s": self.duration,
            "patient": dict(self.patient),
            "recording": dict(self.recording_info),
            "channels": [{"label": c.label, "rate": c.rate, "unit": c.unit, "raw_unit": c.raw_unit,
                          "n_samples": c.n_samples} for c in self.channels],
            "warnings": list(self.warnings),
        }


def open_recording(path: str | os.PathLike) -> Recording:
    """Open an EDF, EDF+ or BDF file; only the header is read now.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Recording

    Raises
    ------
    RecordingError
        If the file is missing, empty, truncated, not EDF/BDF or otherwise unreadable.
    """
    return Recording(path)


def iter_recordings(paths: Iterable[str | os.PathLike], recursive: bool = True) -> list[Path]:
    """Expand files and folders into a sorted list of EDF/BDF files."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(q for q in p.glob(pattern)
                         if q.is_file() and q.suffix.lower() in RECORDING_SUFFIXES)
        else:
            found.append(p)
    return sorted(dict.fromkeys(found))
