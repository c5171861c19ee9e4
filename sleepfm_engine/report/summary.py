"""Statistics tables: the cohort ``summary.csv`` and the per-recording statistics export.

Both use the same columns (:func:`~sleepfm_engine.report.model.summary_columns`): one row per
hypnogram of a recording (``manual``, ``auto``), every statistic unrounded, undefined values
empty. The JSON export carries the same values with their units and definitions.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..atomic import write_text_atomic
from ..errors import StatisticsFileError
from ..sleep_stats import STATISTICS_DEFINITIONS
from .model import ReportModel, summary_columns


def csv_value(value: Any) -> str:
    """A cell of a statistics CSV: empty for None, integers as such, floats in their shortest
    exact form (:func:`read_summary_csv` reads back the very same number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if value != value else repr(value)
    return str(value)


def summary_csv_text(rows: Iterable[dict[str, Any]]) -> str:
    """CSV text with :func:`summary_columns` as header and one line per row dict."""
    columns = summary_columns()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_value(row.get(c)) for c in columns])
    return buf.getvalue()


def write_summary_csv(models: Iterable[ReportModel], path: str | os.PathLike) -> Path:
    """Write the cohort summary of several report models, atomically."""
    rows = [row for model in models for row in model.summary_record()]
    return write_text_atomic(path, summary_csv_text(rows))


def statistics_json(model: ReportModel) -> str:
    """The statistics of a report model as JSON: recording, per-hypnogram statistics with
    units and definitions, and the agreement when both hypnograms exist."""
    data = {
        "recording": model.recording_name,
        "start": None if model.recording_start is None else model.recording_start.isoformat(),
        "duration_s": model.recording_duration,
        "deidentified": model.deidentified,
        "date_shift_days": model.shift_days,
        "hypnograms": {
            role: {
                "scorer": model.scorers.get(role, ""),
                "epoch_length": model.hypnograms[role].epoch_length,
                "n_epochs": model.hypnograms[role].n_epochs,
                "statistics": model.statistics[role],
            } for role in model.roles
        },
        "agreement": model.agreement,
        "units": {k: d.unit for k, d in STATISTICS_DEFINITIONS.items()},
        "definitions": {k: d.definition for k, d in STATISTICS_DEFINITIONS.items()},
    }
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


#: Columns of a statistics CSV that hold text; every other column holds a number or nothing.
_TEXT_COLUMNS = ("recording", "start", "hypnogram", "scorer")
#: Units whose statistics are whole numbers.
_INTEGER_UNITS = ("count", "epoch")


def _cell(column: str, text: str, path: Path, line: int) -> Any:
    if column in _TEXT_COLUMNS:
        return text
    if text == "":
        return None
    definition = STATISTICS_DEFINITIONS.get(column)
    try:
        if definition is not None and definition.unit in _INTEGER_UNITS:
            return int(text)
        return float(text)
    except ValueError:
        raise StatisticsFileError(path, f"{column} {text[:40]!r} is not a number", line) from None


def read_summary_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a statistics CSV written by :func:`summary_csv_text` (``sleepfm export stats``,
    the cohort ``summary.csv``), typed as the engine computed them: text columns as strings,
    counts and epoch indices as int, other statistics as float, empty cells as None.

    Raises
    ------
    StatisticsFileError
        If the file is missing, its header is not :func:`summary_columns`, a row is short or a
        number does not parse (names the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise StatisticsFileError(path, "no such file") from None
    except UnicodeDecodeError:
        raise StatisticsFileError(path, "not a UTF-8 text file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header != summary_columns():
        raise StatisticsFileError(path, "the header is not the statistics columns "
                                        f"({', '.join(summary_columns()[:3])}, ...)", 1)
    rows = []
    for line, cells in enumerate(reader, start=2):
        if len(cells) != len(header):
            raise StatisticsFileError(path, f"expected {len(header)} cells, found {len(cells)}", line)
        rows.append({c: _cell(c, v, path, line) for c, v in zip(header, cells)})
    return rows


def read_statistics_json(path: str | os.PathLike) -> dict[str, Any]:
    """The object of a statistics JSON written by :func:`statistics_json`.

    Raises
    ------
    StatisticsFileError
        If the file is missing, not JSON, or lacks the ``hypnograms`` object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise StatisticsFileError(path, "no such file") from None
    except json.JSONDecodeError as exc:
        raise StatisticsFileError(path, f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("hypnograms"), dict):
        raise StatisticsFileError(path, "not a statistics export (no 'hypnograms' object)")
    return data
