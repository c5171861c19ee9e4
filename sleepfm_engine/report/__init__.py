"""Sleep study reports: a report model, its figures and a PDF writer.

>>> model = build_report(recording, manual=hypnogram, auto=staging)   # doctest: +SKIP
>>> write_report_pdf(model, "night.pdf")                              # doctest: +SKIP

The GUI and the ``sleepfm report`` command call the same two functions. Heavy libraries
(matplotlib, reportlab) load only when a figure or PDF is made.
"""
from __future__ import annotations

from .model import (MISSING, ReportModel, RiskRow, build_report, format_duration,
                    format_ratio, format_statistic, risk_rows, summary_columns,
                    transition_matrix)


def write_report_pdf(model: ReportModel, path, paper: str = "A4"):
    """Write ``model`` as a PDF atomically; see :func:`sleepfm_engine.report.pdf.write_report_pdf`."""
    from .pdf import write_report_pdf as _write

    return _write(model, path, paper=paper)


__all__ = ["ReportModel", "RiskRow", "build_report", "write_report_pdf", "format_statistic",
           "format_ratio", "format_duration", "risk_rows", "transition_matrix",
           "summary_columns", "MISSING"]
