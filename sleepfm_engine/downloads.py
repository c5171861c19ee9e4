"""The official SleepFM weights, fetched only when the user asks, verified, then registered.

The addresses and their pins live in the data file ``official_weights.json`` (shipped in the
resources). Nothing here runs at import time or on its own: the network is asked only by
:func:`download_weights`, which the CLI (``sleepfm models download``) and the application's menu
call on the user's request.

Each file is fetched into ``<data dir>/downloads/<source>-<commit>/<path>.part``; a broken
download resumes there with an HTTP ``Range`` request. A complete file must match its pinned git
blob SHA-1 (what ``git hash-object`` prints: the SHA-1 of ``b"blob <size>\\0"`` followed by the
bytes, which is also what the repository's tree records) before it takes its final name; a
mismatch deletes it. When every file is verified, each model folder is loaded with
:func:`~sleepfm_engine.checkpoints.load_model` (weights only) and the release is registered in
the model registry, with the licence beside it; the download folder is then removed.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import DownloadError, ModelError
from .jobs import Job, TaskState
from .registry import RegistryEntry

#: The data file (in the resources) naming each official source, its files and their pins.
OFFICIAL_WEIGHTS_FILE = "official_weights.json"
#: Suffix of a file still being fetched (kept after an interruption, to resume).
PART_SUFFIX = ".part"
#: Seconds to wait for the server to connect or send the next bytes.
TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
# Share of the progress bar the transfers take; loading and registering take the rest.
_FETCH_SHARE = 0.9


@dataclass(frozen=True)
class PinnedFile:
    """One file of a source: where it goes in the release folder, where it comes from, its pin.

    Attributes
    ----------
    path : str
        Relative POSIX path inside the release folder, e.g. ``model_base/best.pt``.
    url : str
        An ``http``/``https`` address serving exactly these bytes.
    git_blob_sha1 : str
        40 lower-case hex digits: SHA-1 of ``b"blob <size>\\0"`` + the bytes.
    """

    path: str
    url: str
    git_blob_sha1: str

    def __post_init__(self) -> None:
        rel = PurePosixPath(self.path)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise DownloadError(None, f"file path {self.path!r} must be relative, without '..'")
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise DownloadError(None, f"{self.path}: address {self.url!r} is not http(s)")
        if not _SHA1_RE.match(self.git_blob_sha1):
            raise DownloadError(None, f"{self.path}: pin {self.git_blob_sha1!r} is not a SHA-1 in hex")


@dataclass(frozen=True)
class WeightsSource:
    """A set of model folders published together, with the commit and licence they come under.

    Attributes
    ----------
    name : str
        Its name on the command line and the default registry name.
    title : str
        One line saying what it is.
    repository : str
        Where it is published.
    commit : str
        The commit the files and pins are taken from.
    licence : str
        One line naming the licence.
    licence_file : str or None
        A resources file holding the licence's full text, copied beside the registered release.
    files : tuple of PinnedFile
    """

    name: str
    title: str
    repository: str
    commit: str
    licence: str
    licence_file: str | None
    files: tuple[PinnedFile, ...] = field(default_factory=tuple)

    def licence_text(self) -> str:
        """The licence's full text when a licence file is named, else its one-line name."""
        if self.licence_file is None:
            return self.licence
        from .resources import resource_path

        return resource_path(self.licence_file).read_text(encoding="utf-8")


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_weights` did.

    Attributes
    ----------
    source : WeightsSource
    entry : RegistryEntry
        The registered release.
    fetched_bytes : int
        Bytes transferred in this run (a resumed file counts only its remainder).
    reused : tuple of str
        Files already fetched and verified by an earlier, interrupted run.
    """

    source: WeightsSource
    entry: RegistryEntry
    fetched_bytes: int
    reused: tuple[str, ...]


def _source_from_json(name: str, doc: dict, where: Path) -> WeightsSource:
    try:
        files = tuple(PinnedFile(f["path"], f["url"], f["git_blob_sha1"]) for f in doc["files"])
        return WeightsSource(name=name, title=doc["title"], repository=doc["repository"],
                             commit=doc["commit"], licence=doc["licence"],
                             licence_file=doc.get("licence_file"), files=files)
    except (KeyError, TypeError) as exc:
        raise DownloadError(where, f"entry {name!r} lacks {exc}") from exc


def official_sources() -> dict[str, WeightsSource]:
    """Every official source listed in the shipped ``official_weights.json``, by name."""
    from .resources import resource_path

    path = resource_path(OFFICIAL_WEIGHTS_FILE)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DownloadError(path, f"cannot be read: {exc}") from exc
    if not isinstance(doc, dict):
        raise DownloadError(path, "must hold a JSON object of sources")
    return {name: _source_from_json(name, entry, path) for name, entry in doc.items()}


def official_source(name: str) -> WeightsSource:
    """The official source ``name``; raises DownloadError listing the known names otherwise."""
    sources = official_sources()
    if name not in sources:
        raise DownloadError(None, f"no official weights named {name!r} (known: {', '.join(sorted(sources))})")
    return sources[name]


def git_blob_sha1(path: str | Path) -> str:
    """The git blob SHA-1 of a file: SHA-1 of ``b"blob <size>\\0"`` + its bytes (``git hash-object``)."""
    path = Path(path)
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def downloads_dir() -> Path:
    """Where unfinished downloads are kept between runs (inside the user data folder)."""
    from .registry import user_data_dir

    return user_data_dir() / "downloads"


def _verify_and_finish(pinned: PinnedFile, part: Path, dest: Path) -> None:
    got = git_blob_sha1(part)
    if got != pinned.git_blob_sha1:
        size = part.stat().st_size
        part.unlink()
        raise DownloadError(pinned.url, f"{pinned.path} ({size} bytes) does not match its pinned git blob "
                                        f"SHA-1 {pinned.git_blob_sha1} (got {got}); the download was deleted "
                                        "and nothing was registered; run the command again to fetch it anew")
    os.replace(part, dest)


def _open(pinned: PinnedFile, have: int, timeout: float) -> http.client.HTTPResponse | None:
    """The server's response for the bytes from ``have`` on; None when ``have`` is already all."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(pinned.url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            # Nothing left past what the .part holds: it is complete (or too long, which the
            # verification that follows finds).
            return None
        raise DownloadError(pinned.url, f"the server answered {exc.code} {exc.reason} for {pinned.path}; "
                                        "nothing was registered") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        kept = f"; the {have} bytes already fetched are kept and resumed" if have else ""
        raise DownloadError(pinned.url, f"cannot connect ({reason}): check the network connection and run "
                                        f"the command again{kept}") from exc


def fetch_file(pinned: PinnedFile, dest: Path, state: TaskState | None = None,
               timeout: float = TIMEOUT_S) -> int:
    """Fetch one pinned file to ``dest``, resuming ``dest.part``, and verify it.

    Parameters
    ----------
    pinned : PinnedFile
    dest : Path
        The final file; it appears only once verified.
    state : TaskState, optional
        Receives progress (this file's bytes) and cancellation.
    timeout : float
        Seconds to wait for a connection or for more bytes.

    Returns
    -------
    int
        Bytes transferred now.

    Raises
    ------
    DownloadError
        No connection, an HTTP error, a connection broken mid-file (the part is kept to resume),
        or bytes that do not match the pin (the part is deleted).
    JobCancelled
        When the user stops the job; the part is kept to resume.
    """
    state = state if state is not None else TaskState()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    have = part.stat().st_size if part.exists() else 0
    state.set_status(f"{pinned.path}: connecting" + (f" (resuming after {have:,} bytes)" if have else ""))
    resp = _open(pinned, have, timeout)
    if resp is None:
        _verify_and_finish(pinned, part, dest)
        return 0
    with resp:
        start = have if resp.status == 206 else 0  # 200: the server sends it all, start over
        if start and not resp.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
            raise DownloadError(pinned.url, f"the server resumed {pinned.path} at the wrong place "
                                            f"({resp.headers.get('Content-Range')!r} for byte {start})")
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        done = start
        broken: Exception | None = None
        with open(part, "ab" if start else "wb") as fh:
            while True:
                state.check_cancelled()
                try:
                    block = resp.read(_CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    broken = exc
                    break
                if not block:
                    break
                fh.write(block)
                done += len(block)
                if total:
                    state.set_progress(done / total)
                state.set_status(f"{pinned.path}: {done / 1e6:.1f}"
                                 + (f" of {total / 1e6:.1f} MB" if total else " MB"))
    if broken is not None or (total is not None and done < total):
        of = f" of {total:,}" if total is not None else ""
        raise DownloadError(pinned.url, f"the connection broke after {done:,}{of} bytes of {pinned.path}; "
                                        f"run the command again to resume (kept in {part})") from broken
    _verify_and_finish(pinned, part, dest)
    return done - start


def staging_dir(source: WeightsSource) -> Path:
    """The folder a source is fetched into (and resumed from) before it is registered."""
    return downloads_dir() / f"{source.name}-{source.commit[:12]}"


def download_weights(source: WeightsSource, name: str | None = None, overwrite: bool = False,
                     state: TaskState | None = None, timeout: float = TIMEOUT_S) -> DownloadResult:
    """Fetch, verify, load and register a source's model folders (the user asked for it).

    Parameters
    ----------
    source : WeightsSource
        E.g. ``official_source("sleepfm-clinical")``.
    name : str, optional
        Registry name (default: the source's name).
    overwrite : bool
        Replace a registered entry of that name.
    state : TaskState, optional
        Progress, status and cancellation.
    timeout : float
        Seconds to wait for a connection or for more bytes.

    Raises
    ------
    DownloadError
        See :func:`fetch_file`; files verified before the failure are kept for the next run.
    ModelError
        The name is taken (checked before anything is fetched), or a verified folder does not load.
    """
    from .checkpoints import load_model, release_folders, remove_tree
    from .registry import add_model, check_name, models_dir

    state = state if state is not None else TaskState()
    name = check_name(name if name is not None else source.name)
    if (models_dir() / name).exists() and not overwrite:
        raise ModelError(models_dir() / name, f"a model named {name!r} is already registered; remove it, "
                                              "choose another name or replace it (--force)")
    staging = staging_dir(source)
    fetched, reused = 0, []
    n = len(source.files)
    for i, pinned in enumerate(source.files):
        dest = staging.joinpath(*PurePosixPath(pinned.path).parts)
        if dest.is_file():
            if git_blob_sha1(dest) == pinned.git_blob_sha1:
                reused.append(pinned.path)
                continue
            dest.unlink()
        fetched += fetch_file(pinned, dest, state.sub(_FETCH_SHARE * i / n, _FETCH_SHARE * (i + 1) / n),
                              timeout=timeout)
    if source.licence_file is not None:
        from .resources import resource_path

        shutil.copyfile(resource_path(source.licence_file), staging / Path(source.licence_file).name)
    folders = release_folders(staging)
    for k, (kind, folder) in enumerate(folders.items()):
        state.check_cancelled()
        state.set_status(f"loading {folder.name} to check it")
        load_model(folder)
        state.set_progress(_FETCH_SHARE + (1 - _FETCH_SHARE) * (k + 1) / (len(folders) + 1))
    state.set_status(f"registering {name}")
    entry = add_model(staging, name=name, overwrite=overwrite)
    remove_tree(staging)
    state.set_progress(1.0)
    state.set_status(f"registered {name}")
    return DownloadResult(source, entry, fetched, tuple(reused))


def download_job(source: WeightsSource, name: str | None = None, overwrite: bool = False,
                 timeout: float = TIMEOUT_S) -> Job:
    """A :class:`~sleepfm_engine.jobs.Job` running :func:`download_weights` (CLI and GUI alike)."""
    def run(state: TaskState) -> DownloadResult:
        return download_weights(source, name=name, overwrite=overwrite, state=state, timeout=timeout)

    return Job(f"download {source.name}", run)
