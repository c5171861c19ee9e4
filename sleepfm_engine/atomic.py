"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A crash or a cancelled job therefore leaves either the old file or the new one, never a
half-written mix. The temporary file is flushed to disk (``fsync``) before the rename, so after
a power cut the target is the old file or the whole new one, not an empty name.

Temporary files are named ``.<target name>.<host>-<pid>.<random><suffixes>.part``. A process
killed mid-write cannot remove its own; the next write beside the same target removes those
whose process (on this host) is gone, so killed runs do not leave tens of megabytes behind.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError

__all__ = ["atomic_path", "write_text_atomic", "stale_temporaries"]


def _read_umask() -> int:
    """The process umask, read once: setting it to read it (the only portable way) changes it
    for every thread for a moment, so Linux's /proc is asked first."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The umask at import; new files get ``0o666 & ~_UMASK``, the permissions open() would give.
_UMASK = _read_umask()
# Host names may hold characters a file name should not; the pid after it is what matters.
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def stale_temporaries(target: str | Path) -> list[Path]:
    """Temporary files beside ``target`` left by writers on this host that no longer run."""
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.name}.{_HOST}-") + r"(\d+)\.")
    stale = []
    with contextlib.suppress(OSError):
        for p in target.parent.iterdir():
            m = pattern.match(p.name)
            if m and p.name.endswith(".part") and not _pid_alive(int(m.group(1))):
                stale.append(p)
    return stale


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); folders cannot be opened on Windows."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):  # some file systems refuse fsync on folders: nothing lost
        _fsync(folder)


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    Parameters
    ----------
    target : str or Path
        The file to (re)place.
    suffix : str, optional
        Suffix of the temporary file (defaults to the target's suffixes and ``.part``, so
        writers that sniff the extension still work).

    Raises
    ------
    OutputError
        If ``target`` is a folder or its folder cannot be created or written.

    Notes
    -----
    On any exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError(target, "is a folder; name the file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in stale_temporaries(target):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.{_HOST}-{os.getpid()}.",
            suffix=suffix if suffix is not None else "".join(target.suffixes) + ".part",
            dir=target.parent)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((a for a in target.parents if a.exists() and not a.is_dir()), target.parent)
        raise OutputError(target, f"cannot write in {target.parent}: {blocker} is a file, not a "
                                  "folder") from exc
    except OSError as exc:
        raise OutputError(target, f"cannot write in {target.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600; give the result the permissions a plain open() would.
            os.chmod(tmp_path, 0o666 & ~_UMASK)
            _fsync(tmp_path)
        os.replace(tmp_path, target)
        _fsync_folder(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically and return the target path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)
