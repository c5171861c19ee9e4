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
from ..sleep_stats import STATISTICS_DEFINITIONS
from .model import ReportModel, summary_columns


def csv_value(value: Any) -> str:
    """A cell of a statistics CSV: empty for None, integers as such, floats to 10 significant
    digits (exact for every minute count the engine produces)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if value != value else format(value, ".10g")
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
