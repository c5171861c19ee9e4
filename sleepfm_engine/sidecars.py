"""Per-recording sidecar files and the user data folder (Qt-free).

Files that belong to one recording (its scoring, its channel assignments) are kept beside it
as ``<recording name><suffix>`` when its folder may be written, else in
``<user data>/<subdir>/<recording name>-<hash of its full path><suffix>``. Lookups check both
places, the one beside the recording first, so a file moves with the recording when it can
and a read-only data set is never written to.

The user data folder is ``$SLEEPFM_DATA_DIR`` when set (tests, portable installs), else the
platform's user data folder for ``sleepfm-studio``; the model registry, the demo night, the
application's settings and the fallback sidecars all live there.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["APP_NAME", "DATA_DIR_ENV", "OVERRIDES_SUFFIX", "OVERRIDES_SUBDIR", "user_data_dir",
           "folder_is_writable", "sidecar_candidates", "sidecar_target", "find_sidecar",
           "overrides_candidates", "find_overrides", "overrides_target"]

APP_NAME = "sleepfm-studio"
#: Environment variable that overrides the user data folder.
DATA_DIR_ENV = "SLEEPFM_DATA_DIR"
#: Channel → modality overrides the user assigned in the application (a JSON object).
OVERRIDES_SUFFIX = ".channels.json"
OVERRIDES_SUBDIR = "channel_overrides"


def user_data_dir() -> Path:
    """The per-user data folder (``$SLEEPFM_DATA_DIR`` or the platform's user data dir)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def folder_is_writable(folder: str | os.PathLike) -> bool:
    """Whether files may be added to ``folder``.

    Both must hold: the permission bits grant someone write access, and a probe file can
    really be created (and is removed again). The bits are checked first, so a data set
    shipped read-only stays untouched even for root, who could write there anyway; the probe
    catches read-only mounts and network shares whose bits claim otherwise.

    Parameters
    ----------
    folder : str or PathLike

    Returns
    -------
    bool
        False also when ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    try:
        if not folder.is_dir() or not folder.stat().st_mode & 0o222:
            return False
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".sleepfm-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _absolute(recording: str | os.PathLike) -> Path:
    # abspath also folds "..", so "data/../data/x.edf" and "data/x.edf" share their sidecars.
    return Path(os.path.abspath(Path(recording).expanduser()))


def sidecar_candidates(recording: str | os.PathLike, suffix: str, subdir: str) -> tuple[Path, Path]:
    """The two places a sidecar may be: beside the recording, then in the user data folder.

    Parameters
    ----------
    recording : str or PathLike
        The recording file (it need not exist).
    suffix : str
        Appended to the recording's file name, e.g. ``".channels.json"``.
    subdir : str
        Folder of the user data folder for recordings whose own folder is read-only.

    Returns
    -------
    tuple of Path
        ``(beside, fallback)``; the fallback name carries a hash of the recording's full path,
        so recordings of the same name in different folders do not share a sidecar.
    """
    if not suffix or not subdir:
        raise ValueError("suffix and subdir must be non-empty")
    rec = _absolute(recording)
    digest = hashlib.sha1(str(rec).encode("utf-8")).hexdigest()[:12]
    return rec.with_name(rec.name + suffix), user_data_dir() / subdir / f"{rec.name}-{digest}{suffix}"


def sidecar_target(recording: str | os.PathLike, suffix: str, subdir: str) -> Path:
    """Where to write a sidecar: beside the recording when that folder is writable."""
    beside, fallback = sidecar_candidates(recording, suffix, subdir)
    return beside if folder_is_writable(beside.parent) else fallback


def find_sidecar(recording: str | os.PathLike, suffix: str, subdir: str) -> Path | None:
    """The existing sidecar of a recording (the one beside it first), or None."""
    for p in sidecar_candidates(recording, suffix, subdir):
        if p.is_file():
            return p
    return None


def overrides_candidates(recording: str | os.PathLike) -> tuple[Path, Path]:
    """Where a recording's channel overrides may be, in the order they are looked for."""
    return sidecar_candidates(recording, OVERRIDES_SUFFIX, OVERRIDES_SUBDIR)


def find_overrides(recording: str | os.PathLike) -> Path | None:
    """The channel overrides saved for a recording (see :mod:`sleepfm_engine.channels`), or None."""
    return find_sidecar(recording, OVERRIDES_SUFFIX, OVERRIDES_SUBDIR)


def overrides_target(recording: str | os.PathLike) -> Path:
    """Where to save a recording's channel overrides: beside it if that folder is writable."""
    return sidecar_target(recording, OVERRIDES_SUFFIX, OVERRIDES_SUBDIR)
