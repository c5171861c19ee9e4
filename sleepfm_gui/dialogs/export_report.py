"""File ▸ Export report: what goes into the PDF that ``sleepfm report`` writes.

The dialog gathers :class:`ReportChoices` — output file, lights off/on, de-identification,
which hypnogram(s), which sections, paper — and :meth:`ReportChoices.build_kwargs` turns them
into the arguments of :func:`sleepfm_engine.report.build_report`, the call the command line
makes. Defaults are the command's: lights from the recording's annotations
(:func:`sleepfm_engine.report.discover.find_lights`), identified, A4.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTime
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QMessageBox, QPushButton, QSpinBox, QTimeEdit, QVBoxLayout,
                               QWidget)

from sleepfm_engine.events import EventSet

__all__ = ["EVENT_CHOICES", "ReportChoices", "ExportReportDialog", "lights_clock"]

#: Where the events of the report's event sections come from: key -> what the dialog says.
EVENT_CHOICES: dict[str, str] = {
    "scored": "Events of this study (as the Events panel's indices)",
    "recording": "The recording's own annotations (as `sleepfm report`)",
    "none": "No event sections",
}


def lights_clock(seconds: float | None, start: _dt.datetime | None) -> _dt.datetime | None:
    """Clock time of ``seconds`` after the recording start (None stays None)."""
    if seconds is None or start is None:
        return None
    return start + _dt.timedelta(seconds=float(seconds))


@dataclass(frozen=True)
class ReportChoices:
    """What the user chose for one report.

    Attributes
    ----------
    lights_off, lights_on : datetime or None
        Clock times; statistics count only the epochs between them.
    deidentify : bool
    shift_days : int
    pseudonym : str
        Subject name when de-identified ("" = the engine's default).
    manual, auto : bool
        Report the manual scoring / the automatic staging.
    events : str
        A key of :data:`EVENT_CHOICES`.
    risk : bool
        Include the disease-risk section (when a result exists).
    paper : str
        ``"A4"`` or ``"Letter"``.
    """

    lights_off: _dt.datetime | None = None
    lights_on: _dt.datetime | None = None
    deidentify: bool = False
    shift_days: int = 0
    pseudonym: str = ""
    manual: bool = True
    auto: bool = True
    events: str = "scored"
    risk: bool = True
    paper: str = "A4"

    def __post_init__(self) -> None:
        if self.events not in EVENT_CHOICES:
            raise ValueError(f"events must be one of {', '.join(EVENT_CHOICES)}, got {self.events!r}")
        if self.paper not in ("A4", "Letter"):
            raise ValueError(f"paper must be A4 or Letter, got {self.paper!r}")

    @classmethod
    def defaults(cls, study: Any) -> "ReportChoices":
        """The command line's defaults for ``study``: lights from the recording's annotations,
        every hypnogram and result it has, its scored events when it has any."""
        from sleepfm_engine.report.discover import find_lights

        rec = study.recording
        off, on = find_lights(rec) if rec is not None else (None, None)
        start = getattr(rec, "start", None)
        session = study.session
        scored = session is not None and len(session.events) > 0
        return cls(lights_off=lights_clock(off, start), lights_on=lights_clock(on, start),
                   manual=study.scored_manual() is not None,
                   auto=session is not None and session.auto is not None,
                   events="scored" if scored else "recording", risk=study.risk is not None)

    def build_kwargs(self, study: Any) -> dict[str, Any]:
        """Keyword arguments of :func:`sleepfm_engine.report.build_report` for ``study``
        (everything but the recording), taken now on the caller's thread."""
        from sleepfm_engine.provenance import combine

        session = study.session
        manual = study.scored_manual() if self.manual else None
        auto = session.auto if (self.auto and session is not None) else None
        risk = study.risk if self.risk else None
        if self.events == "scored":
            events = session.events.copy() if session is not None else EventSet()
        elif self.events == "none":
            events = EventSet()  # an empty set reports no event section
        else:
            events = None  # the engine reads the recording's own annotations
        provenance = combine(study.auto_provenance if auto is not None else None,
                             study.risk_provenance if risk is not None else None)
        # The staging's out-of-distribution check travels with its result into the study;
        # None lets the engine look for a record staged beside an imported hypnogram.
        ood = study.auto_ood if auto is not None else None
        # Each detector layer's run record (its OOD check) travels the same way; the engine
        # prints the verdicts of those whose events are reported.
        return {"manual": manual, "auto": auto, "risk": risk, "provenance": provenance, "ood": ood,
                "event_provenance": study.layer_provenance,
                "channel_map": study.channel_map, "events": events,
                "deidentify": self.deidentify, "shift_days": self.shift_days,
                "pseudonym": self.pseudonym or None,
                "lights_off": self.lights_off, "lights_on": self.lights_on}


class _ClockField(QWidget):
    """A clock time that may be left unset (a check box before a time editor)."""

    def __init__(self, label: str, value: _dt.datetime | None, parent=None):
        super().__init__(parent)
        self.check = QCheckBox(label)
        self.edit = QTimeEdit()
        self.edit.setDisplayFormat("HH:mm:ss")
        if value is not None:
            self.edit.setTime(QTime(value.hour, value.minute, value.second))
        self.check.setChecked(value is not None)
        self.edit.setEnabled(value is not None)
        self.check.toggled.connect(self.edit.setEnabled)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.check)
        lay.addWidget(self.edit, 1)

    def clock(self, start: _dt.datetime | None) -> _dt.datetime | None:
        """The chosen time as the first such clock time from an hour before ``start`` on (the
        command line's ``--lights-off``/``--lights-on`` rule)."""
        if not self.check.isChecked() or start is None:
            return None
        from sleepfm_engine.cli.cmd_report import clock_time

        return clock_time(self.edit.time().toString("HH:mm:ss"), start)


class ExportReportDialog(QDialog):
    """Choose the report's file and contents.

    Parameters
    ----------
    study : Study
        The open night.
    suggested : str
        Proposed output file.
    """

    def __init__(self, study: Any, suggested: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.study = study
        self._start = getattr(study.recording, "start", None)
        d = ReportChoices.defaults(study)
        session = study.session

        self.path_edit = QLineEdit(suggested)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)

        self.lights_off = _ClockField("Lights off", d.lights_off)
        self.lights_on = _ClockField("Lights on", d.lights_on)

        self.deid_check = QCheckBox("De-identify (no name, birth date, IDs or file names)")
        self.shift_spin = QSpinBox()
        self.shift_spin.setRange(-36500, 36500)
        self.shift_spin.setSuffix(" days")
        self.pseudonym_edit = QLineEdit()
        self.pseudonym_edit.setPlaceholderText("subject name in the report (default pseudonym)")
        for w in (self.shift_spin, self.pseudonym_edit):
            w.setEnabled(False)
            self.deid_check.toggled.connect(w.setEnabled)

        self.manual_check = QCheckBox("Manual scoring")
        self.manual_check.setChecked(d.manual)
        self.manual_check.setEnabled(study.scored_manual() is not None)
        self.auto_check = QCheckBox("Automatic staging (SleepFM)")
        self.auto_check.setChecked(d.auto)
        self.auto_check.setEnabled(session is not None and session.auto is not None)
        if not self.manual_check.isEnabled():
            self.manual_check.setToolTip("No epoch is scored by hand yet")
        if not self.auto_check.isEnabled():
            self.auto_check.setToolTip("No automatic staging yet")

        self.events_combo = QComboBox()
        for key, text in EVENT_CHOICES.items():
            self.events_combo.addItem(text, key)
        self.events_combo.setCurrentIndex(self.events_combo.findData(d.events))
        self.risk_check = QCheckBox("Disease risk (research only)")
        self.risk_check.setChecked(d.risk)
        self.risk_check.setEnabled(study.risk is not None)
        self.paper_combo = QComboBox()
        self.paper_combo.addItems(["A4", "Letter"])

        form = QFormLayout()
        holder = QWidget()
        holder.setLayout(path_row)
        path_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("File", holder)
        form.addRow(self.lights_off)
        form.addRow(self.lights_on)
        form.addRow(self.deid_check)
        form.addRow("Shift dates by", self.shift_spin)
        form.addRow("Pseudonym", self.pseudonym_edit)
        hyp_box = QGroupBox("Hypnograms")
        hl = QVBoxLayout(hyp_box)
        hl.addWidget(self.manual_check)
        hl.addWidget(self.auto_check)
        sec_box = QGroupBox("Sections")
        sl = QFormLayout(sec_box)
        sl.addRow("Clinical events", self.events_combo)
        sl.addRow(self.risk_check)
        sl.addRow("Paper", self.paper_combo)
        note = QLabel("The PDF is the one <tt>sleepfm report</tt> writes for these choices.")
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(hyp_box)
        lay.addWidget(sec_box)
        lay.addWidget(note)
        lay.addWidget(buttons)
        # Hooks tests replace: the overwrite question (None = a message box).
        self.ask_overwrite = None
        self.resize(560, 0)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export report", self.path_edit.text(),
                                              "PDF (*.pdf)")
        if path:
            self.path_edit.setText(path)

    def output_path(self) -> Path:
        """The chosen file, with a ``.pdf`` suffix."""
        p = Path(self.path_edit.text().strip())
        return p if p.suffix.lower() == ".pdf" else p.with_name(p.name + ".pdf")

    def choices(self) -> ReportChoices:
        """What the dialog shows now."""
        return ReportChoices(
            lights_off=self.lights_off.clock(self._start), lights_on=self.lights_on.clock(self._start),
            deidentify=self.deid_check.isChecked(),
            shift_days=self.shift_spin.value() if self.deid_check.isChecked() else 0,
            pseudonym=self.pseudonym_edit.text().strip() if self.deid_check.isChecked() else "",
            manual=self.manual_check.isEnabled() and self.manual_check.isChecked(),
            auto=self.auto_check.isEnabled() and self.auto_check.isChecked(),
            events=self.events_combo.currentData(),
            risk=self.risk_check.isEnabled() and self.risk_check.isChecked(),
            paper=self.paper_combo.currentText())

    def problem(self) -> str:
        """Why the choices cannot be exported ("" when they can)."""
        if not self.path_edit.text().strip():
            return "Name the report's file."
        c = self.choices()
        if c.lights_off and c.lights_on and c.lights_on <= c.lights_off:
            return f"Lights on ({c.lights_on:%H:%M:%S}) is not after lights off ({c.lights_off:%H:%M:%S})."
        if not (c.manual or c.auto) and (self.manual_check.isEnabled() or self.auto_check.isEnabled()):
            return "Choose at least one hypnogram: a report without one has no sleep statistics."
        return ""

    def accept(self) -> None:  # noqa: D401 (Qt slot)
        problem = self.problem()
        if problem:
            QMessageBox.warning(self, "Export report", problem)
            return
        out = self.output_path()
        if out.exists():
            ask = self.ask_overwrite or (lambda p: QMessageBox.question(
                self, "Export report", f"{p.name} exists. Replace it?",
                QMessageBox.Yes | QMessageBox.No, QMessageBox.No) == QMessageBox.Yes)
            if not ask(out):
                return
        super().accept()
