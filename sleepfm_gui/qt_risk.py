"""Disease-risk table: the phenotypes SleepFM's disease head scores highest, for research only.

The released head outputs one log-hazard per phecode (1065 of them). Those numbers rank
phenotypes for one recording relative to the model's training cohort; they are neither
calibrated probabilities nor a diagnosis, and the view says so above the table, every time.
"""
from __future__ import annotations

import math
from typing import Any

from sleepfm_engine.report.model import RiskRow, risk_rows

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QSizePolicy,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

#: Shown above every risk table.
RESEARCH_NOTICE = (
    "<b>Research use only \u2014 not for diagnosis.</b> Scores are SleepFM's uncalibrated "
    "log-hazards: they rank phenotypes for this recording relative to the model's training "
    "cohort and are <u>not</u> probabilities or this person's risk.")
# The engine's reader of risk results, shared with the report.
RiskEntry = RiskRow


def risk_entries(risk: Any) -> tuple[list[RiskEntry], str]:
    """All finite rows of a risk result, highest score first, and the name of the score."""
    return risk_rows(risk, top=None)


def model_fit_text(risk: Any) -> str:
    """The disease head's out-of-distribution verdict on the night (``RiskTable.ood``), in
    words; ``""`` when the night is like the training data or was not compared."""
    ood = getattr(risk, "ood", None)
    if ood is None or not (ood.flagged or ood.unavailable):
        return ""
    head = ("This night is unlike the disease model's training data: read its ranking with "
            "caution." if ood.flagged else "Not checked against the disease model's training data.")
    return f"<b>{head}</b> " + "; ".join(ood.reasons()) + "."


def provenance_text(risk: Any) -> str:
    """What the scores came from: model, demographics fed to it, how much of the night it read."""
    parts = []
    model = getattr(risk, "model_id", "")
    if model:
        parts.append(f"Model {model}")
    age, sex = getattr(risk, "age", None), getattr(risk, "sex", "")
    if isinstance(age, (int, float)) and math.isfinite(age):
        parts.append(f"age {age:g}" + (f", sex {sex}" if sex else ""))
    elif sex:
        parts.append(f"sex {sex}")
    tokens = getattr(risk, "n_tokens_used", 0)
    if isinstance(tokens, int) and tokens > 0:
        from sleepfm_engine.contract import TOKEN_SECONDS

        hours = tokens * TOKEN_SECONDS / 3600
        parts.append(f"{hours:.1f} h of the night read"
                     + (" (truncated)" if getattr(risk, "truncated", False) else ""))
    return " \u00b7 ".join(parts)


class RiskView(QWidget):
    """Top phenotypes by SleepFM disease-head score, with the research-only notice."""

    def __init__(self, parent=None, top: int = 20):
        super().__init__(parent)
        self.notice = QLabel(RESEARCH_NOTICE)
        self.notice.setObjectName("researchNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.RichText)
        self.notice.setStyleSheet("QLabel#researchNotice { background: #FFF4CE; color: #5C3C00; "
                                  "border: 1px solid #E0B000; border-radius: 3px; padding: 6px; }")
        self.fit = QLabel()
        self.fit.setObjectName("riskModelFit")
        self.fit.setWordWrap(True)
        self.fit.setTextFormat(Qt.RichText)
        # Never squeezed below its wrapped text by the table: a verdict read in half is misread.
        self.fit.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)
        self.fit.setStyleSheet("QLabel#riskModelFit { background: #fff3cd; color: #664d03; "
                               "border: 1px solid #ffe69c; border-radius: 3px; padding: 6px; }")
        self.top_spin = QSpinBox()
        self.top_spin.setRange(5, 200)
        self.top_spin.setValue(int(top))
        self.top_spin.setPrefix("Show top ")
        self.top_spin.valueChanged.connect(self._refill)
        self.info = QLabel()
        self.info.setStyleSheet("color: #555;")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["#", "Phecode", "Phenotype", "Score"])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.Stretch)
        hh.setSectionResizeMode(3, QHeaderView.ResizeToContents)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(self.top_spin)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.notice)
        lay.addWidget(self.fit)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        self._rows: list[RiskEntry] = []
        self._score_name = "log-hazard"
        self._provenance = ""
        self.set_risk(None)

    def set_risk(self, risk: Any) -> None:
        """Show a risk result (see :func:`risk_entries`); None clears the table."""
        if risk is None:
            self._rows, self._score_name = [], "log-hazard"
        else:
            self._rows, self._score_name = risk_entries(risk)
        self._provenance = "" if risk is None else provenance_text(risk)
        fit = "" if risk is None else model_fit_text(risk)
        self.fit.setText(fit)
        self.fit.setVisible(bool(fit))
        self._refill()

    @property
    def rows(self) -> list[RiskEntry]:
        """Every row, highest score first (the table shows the top ones)."""
        return list(self._rows)

    def _refill(self) -> None:
        shown = self._rows[:self.top_spin.value()]
        self.table.setRowCount(len(shown))
        self.table.setHorizontalHeaderItem(3, QTableWidgetItem(f"Score ({self._score_name})"))
        for r, e in enumerate(shown):
            cells = [str(r + 1), e.phecode, e.phenotype, f"{e.score:+.3f}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (0, 3):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        if not self._rows:
            self.info.setText("No disease-risk result yet (run SleepFM risk on this recording).")
        else:
            text = f"{len(shown)} of {len(self._rows)} phenotypes, highest score first."
            self.info.setText(text + (f"  {self._provenance}" if self._provenance else ""))


__all__ = ["RiskView", "RiskEntry", "risk_entries", "provenance_text", "model_fit_text", "RESEARCH_NOTICE"]
