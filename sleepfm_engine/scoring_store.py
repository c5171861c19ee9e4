"""Where scoring is kept on disk: the saved sidecar, the autosave, and crash recovery.

A recording ``night.edf`` gets two sidecar files beside it:

``night.edf.sleepfm-scoring.json``
    the scoring as last saved explicitly by the user;
``night.edf.sleepfm-scoring.autosave.json``
    written (atomically) shortly after every edit, removed by an explicit save or a deliberate
    discard. If it is still there, newer than the saved file and different from it when the
    recording is opened again, the application crashed or was killed with unsaved scoring:
    :func:`find_recovery` reports it.

When the recording's folder cannot be written (a read-only share, a CD) both files go to
``<user data>/scoring/<name>-<hash of the recording's full path>...`` instead; lookups check
both places and use the newest. Where sidecars go is decided by :mod:`sleepfm_engine.sidecars`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_text_atomic
from .errors import EventsError, HypnogramError
from .events import EventSet
from .hypnogram import SCORED_CODES, Hypnogram
from .sidecars import sidecar_target, user_data_dir
from .sidecars import sidecar_candidates as _sidecar_candidates

FORMAT = "sleepfm-scoring"
VERSION = 1
SAVED_SUFFIX = ".sleepfm-scoring.json"
AUTOSAVE_SUFFIX = ".sleepfm-scoring.autosave.json"
KINDS = ("saved", "autosave")
SUBDIR = "scoring"


def scoring_dir() -> Path:
    """Fallback folder for sidecars of recordings whose own folder is read-only."""
    return user_data_dir() / SUBDIR


def _suffix(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return SAVED_SUFFIX if kind == "saved" else AUTOSAVE_SUFFIX


def sidecar_candidates(recording_path: str | os.PathLike, kind: str) -> tuple[Path, Path]:
    """The two places a sidecar of ``kind`` may live: beside the recording, then user data."""
    return _sidecar_candidates(recording_path, _suffix(kind), SUBDIR)


def sidecar_path(recording_path: str | os.PathLike, kind: str) -> Path:
    """Where to write the sidecar of ``kind``: beside the recording if that folder is writable
    (see :func:`sleepfm_engine.sidecars.folder_is_writable`)."""
    return sidecar_target(recording_path, _suffix(kind), SUBDIR)


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def recording_identity(recording_path: str | os.PathLike) -> dict:
    """Path, size and modification time of the recording (to notice a replaced file)."""
    rec = Path(recording_path).expanduser().absolute()
    try:
        st = rec.stat()
        size, mtime = int(st.st_size), float(st.st_mtime)
    except OSError:
        size, mtime = None, None
    return {"path": str(rec), "size": size, "mtime": mtime}


def make_payload(kind: str, recording_path: str | os.PathLike | None, manual: Hypnogram,
                 reviewed: np.ndarray, auto: Hypnogram | None,
                 events: EventSet | None = None) -> dict:
    """The JSON document of a sidecar (``events``: the scored events, kept losslessly)."""
    from . import __version__

    _suffix(kind)
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "written_at": _utc_now().isoformat(),
        "app": f"sleepfm-studio {__version__}",
        "recording": None if recording_path is None else recording_identity(recording_path),
        "manual": manual.to_dict(),
        "reviewed": [int(i) for i in np.flatnonzero(reviewed)],
        "auto": None if auto is None else auto.to_dict(),
        "events": None if events is None else events.to_dict(),
    }


def write_payload(path: str | os.PathLike, payload: dict) -> Path:
    """Write a sidecar document atomically."""
    return write_text_atomic(path, json.dumps(payload, separators=(",", ":"), allow_nan=False))


@dataclass(frozen=True)
class Sidecar:
    """A sidecar file as read back.

    Attributes
    ----------
    path : Path
    kind : str
        ``"saved"`` or ``"autosave"``.
    written_at : datetime.datetime
        When it was written (UTC).
    manual : Hypnogram
    reviewed : numpy.ndarray of bool
        Epochs whose stage a person decided.
    auto : Hypnogram or None
    recording : dict or None
        Identity of the recording when written (see :func:`recording_identity`).
    events : EventSet
        The scored events (empty in files written before events were scored).
    """

    path: Path
    kind: str
    written_at: _dt.datetime
    manual: Hypnogram
    reviewed: np.ndarray
    auto: Hypnogram | None
    recording: dict | None
    events: EventSet = field(default_factory=EventSet)


def read_sidecar(path: str | os.PathLike) -> Sidecar:
    """Read a sidecar file.

    Raises
    ------
    HypnogramError
        If the file is missing, not JSON, or not a scoring sidecar this version understands.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HypnogramError(path, "no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HypnogramError(path, f"not a scoring file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HypnogramError(path, f"not a {FORMAT} file")
    if int(data.get("version", 0)) > VERSION:
        raise HypnogramError(path, f"written by a newer version (format {data.get('version')}, "
                                   f"this one reads {VERSION})")
    try:
        kind = str(data["kind"])
        _suffix(kind)
        written = _dt.datetime.fromisoformat(data["written_at"])
        if written.tzinfo is None:
            written = written.replace(tzinfo=_dt.timezone.utc)
        manual = Hypnogram.from_dict(data["manual"])
        reviewed = np.zeros(manual.n_epochs, dtype=bool)
        idx = np.asarray(data.get("reviewed", []), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= manual.n_epochs):
            raise ValueError("reviewed epochs out of range")
        reviewed[idx] = True
        auto = None if data.get("auto") is None else Hypnogram.from_dict(data["auto"])
        events = EventSet() if data.get("events") is None else EventSet.from_dict(data["events"])
    except (KeyError, TypeError, ValueError, EventsError) as exc:
        raise HypnogramError(path, f"malformed scoring file: {exc}") from None
    return Sidecar(path, kind, written, manual, reviewed, auto, data.get("recording"), events)


def _newest(paths: tuple[Path, ...]) -> Sidecar | None:
    best: Sidecar | None = None
    for p in paths:
        if not p.is_file():
            continue
        try:
            sc = read_sidecar(p)
        except HypnogramError as exc:
            # A damaged sidecar must not stop the recording from opening; say so and go on.
            warnings.warn(f"ignoring unreadable scoring file: {exc}", stacklevel=3)
            continue
        if best is None or sc.written_at > best.written_at:
            best = sc
    return best


def find_saved(recording_path: str | os.PathLike) -> Sidecar | None:
    """The most recently saved scoring of a recording, or None."""
    return _newest(sidecar_candidates(recording_path, "saved"))


def find_autosave(recording_path: str | os.PathLike) -> Sidecar | None:
    """The most recent autosave of a recording, or None."""
    return _newest(sidecar_candidates(recording_path, "autosave"))


@dataclass(frozen=True)
class RecoveryInfo:
    """Unsaved scoring left behind by a session that did not end normally.

    Attributes
    ----------
    recording_path : Path
    autosave_path : Path
    autosave_time : datetime.datetime
        When the autosave was written (UTC).
    saved_path : Path or None
        The last explicit save, if any.
    saved_time : datetime.datetime or None
    n_epochs : int
    n_scored : int
        Epochs with a stage (W..R) in the autosave.
    n_changed : int
        Epochs whose code differs from the last explicit save (all scored ones if none).
    recording_changed : bool
        True if the recording file's size or time changed since the autosave was written.
    n_events_changed : int
        Scored events added, removed or edited since the last explicit save.
    """

    recording_path: Path
    autosave_path: Path
    autosave_time: _dt.datetime
    saved_path: Path | None
    saved_time: _dt.datetime | None
    n_epochs: int
    n_scored: int
    n_changed: int
    recording_changed: bool
    n_events_changed: int = 0

    def load(self) -> Sidecar:
        """Read the autosave."""
        return read_sidecar(self.autosave_path)

    def discard(self) -> None:
        """Delete the autosave, wherever it was kept (the user chose not to recover it)."""
        self.autosave_path.unlink(missing_ok=True)
        for p in sidecar_candidates(self.recording_path, "autosave"):
            p.unlink(missing_ok=True)

    def describe(self) -> str:
        """One sentence for a recovery prompt."""
        when = self.autosave_time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        text = (f"Unsaved scoring of {self.recording_path.name} from {when} was found "
                f"({self.n_changed} epoch(s) changed since the last save, {self.n_scored} of "
                f"{self.n_epochs} scored")
        if self.n_events_changed:
            text += f"; {self.n_events_changed} event(s) added, removed or edited"
        text += ")."
        if self.recording_changed:
            text += " The recording file has changed since then."
        return text


def find_recovery(recording_path: str | os.PathLike) -> RecoveryInfo | None:
    """Unsaved scoring of ``recording_path`` left by a crash, or None.

    An autosave counts when it is newer than the last explicit save and its stages differ
    from it (or, without a save, when it holds any scored or artefact epoch).

    Parameters
    ----------
    recording_path : str or PathLike
        The recording file (it need not exist any more).
    """
    auto = find_autosave(recording_path)
    if auto is None:
        return None
    saved = find_saved(recording_path)
    stages = auto.manual.stages
    n_events = _events_changed(saved.events if saved is not None else EventSet(), auto.events)
    if saved is not None:
        if saved.written_at >= auto.written_at:
            return None
        if saved.manual.n_epochs == auto.manual.n_epochs:
            n_changed = int(np.sum(saved.manual.stages != stages))
        else:
            n_changed = int(np.sum(stages >= -2))  # different epoch grid: everything differs
    else:
        n_changed = int(np.sum(stages != -1))
    if n_changed == 0 and n_events == 0:
        return None
    now = recording_identity(recording_path)
    then = auto.recording or {}
    changed = bool(then) and now["size"] is not None and (
        then.get("size") != now["size"] or
        (then.get("mtime") is not None and abs(float(then["mtime"]) - now["mtime"]) > 1e-3))
    return RecoveryInfo(Path(now["path"]), auto.path, auto.written_at,
                        None if saved is None else saved.path,
                        None if saved is None else saved.written_at,
                        auto.manual.n_epochs, int(np.isin(stages, SCORED_CODES).sum()), n_changed,
                        changed, n_events)


def _events_changed(before: EventSet, after: EventSet) -> int:
    """Events added, removed or edited from ``before`` to ``after`` (by id)."""
    ids = {e.id for e in before} | {e.id for e in after}
    return sum(1 for i in ids if before.get(i) != after.get(i))


__all__ = ["RecoveryInfo", "Sidecar", "find_recovery", "find_saved", "find_autosave", "read_sidecar",
           "sidecar_path", "sidecar_candidates", "scoring_dir", "SAVED_SUFFIX", "AUTOSAVE_SUFFIX"]
