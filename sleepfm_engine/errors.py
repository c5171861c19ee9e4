"""Typed errors the engine raises. Each names the file (or object) and the problem."""
from __future__ import annotations

from pathlib import Path


class SleepFMError(Exception):
    """Base class of every error the engine raises on purpose."""


class RecordingError(SleepFMError, ValueError):
    """A recording cannot be read. The message names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class HypnogramError(SleepFMError, ValueError):
    """A hypnogram file is malformed. The message names the file and, where known, the line."""

    def __init__(self, path: str | Path | None, problem: str, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}" if self.path is not None else "hypnogram"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {problem}")


class NoStagesError(HypnogramError):
    """A readable file (scored events, annotations) holds no sleep stages: not a hypnogram, but
    not a broken one either (discovery passes over it)."""


class EventsError(SleepFMError, ValueError):
    """Scored events cannot be read or built. The message names the file (or table) and, where
    known, the row."""

    def __init__(self, path: str | Path | None, problem: str, row: int | None = None,
                 line: int | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.row = row
        self.line = line
        where = f"{self.path}" if self.path is not None else "events"
        if line is not None:  # a text file's line (1-based); row is a table's row (0-based)
            where += f", line {line}"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {problem}")


class StatisticsFileError(SleepFMError, ValueError):
    """A statistics file (CSV or JSON export) is malformed. Names the file and, where known, the
    line."""

    def __init__(self, path: str | Path | None, problem: str, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}" if self.path is not None else "statistics"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {problem}")


class ModelError(SleepFMError, ValueError):
    """A model folder or checkpoint cannot be used. The message names the folder and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class DetectorError(SleepFMError, ValueError):
    """An event detector cannot run on this input. Names the detector, the recording and why."""

    def __init__(self, detector: str, path: str | Path | None, problem: str):
        self.detector = detector
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{detector}: {problem}")


class DownloadError(SleepFMError):
    """Fetching or verifying a file failed. Names the file (or address) and what to do next."""

    def __init__(self, where: str | Path | None, problem: str):
        self.where = None if where is None else str(where)
        self.problem = problem
        prefix = f"{self.where}: " if self.where is not None else ""
        super().__init__(f"{prefix}{problem}")


class OutputError(SleepFMError, ValueError):
    """An output cannot be written where asked: it is an input, a folder, exists without
    permission to replace it, or its folder is not writable. Names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class IdMapError(SleepFMError, ValueError):
    """A study-ID map (``--id-map``) cannot be read or used: not a map this engine wrote, or
    two sources under one ID. Names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class TrainingCacheError(SleepFMError, RuntimeError):
    """A training cache folder cannot serve a distributed run: after every rank built its
    share, entries the run needs are still missing from this rank's folder. Names the folder."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MontageError(SleepFMError, ValueError):
    """A montage file (a saved channel layout) cannot be read, or a montage cannot be saved
    under its name. Names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else "montage: "
        super().__init__(f"{where}{problem}")


class DisplayStateError(SleepFMError, ValueError):
    """A study's saved display state (gains, hidden rows, order, derivations) cannot be read.
    Names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class JobCancelled(SleepFMError):
    """Raised inside a job when the user asked it to stop; the job's last good output is kept."""
