"""Small dialogs: recording information, display filters, derivations, analysis settings."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QTextBrowser,
                               QVBoxLayout, QWidget)

from sleepfm_engine.display import (AASM_FILTERS, FILTERABLE_KINDS, KIND_DESCRIPTIONS, Derivation,
                                    FilterSpec, suggest_derivations)

from .qt_axes import clock_text


def recording_info_html(rec: Any, modalities: dict[str, str] | None = None) -> str:
    """Patient and recording fields, start, duration and channels of ``rec`` as HTML."""
    e = html.escape
    dur = rec.duration
    h, rem = divmod(int(round(dur)), 3600)
    m, s = divmod(rem, 60)
    rows = [("File", str(rec.path)), ("Format", rec.format),
            ("Start", rec.start.strftime("%Y-%m-%d %H:%M:%S")),
            ("End", clock_text(rec.start, dur)),
            ("Duration", f"{h} h {m:02d} min {s:02d} s ({dur:g} s, {int(dur // 30)} epochs)")]
    p = rec.patient
    for key, name in (("code", "Patient code"), ("name", "Patient name"), ("sex", "Sex"),
                      ("birthdate", "Birth date"), ("additional", "Patient (more)")):
        if p.get(key):
            rows.append((name, p[key]))
    if not any(p.get(k) for k in ("code", "name", "sex", "birthdate")) and p.get("raw"):
        rows.append(("Patient field", p["raw"]))
    r = rec.recording_info
    for key, name in (("admin_code", "Admin code"), ("technician", "Technician"),
                      ("equipment", "Equipment"), ("additional", "Recording (more)")):
        if r.get(key):
            rows.append((name, r[key]))
    if not any(r.get(k) for k in ("admin_code", "technician", "equipment")) and r.get("raw"):
        rows.append(("Recording field", r["raw"]))
    out = ["<table cellspacing='2'>"]
    out += [f"<tr><td><b>{e(k)}</b></td><td>{e(str(v))}</td></tr>" for k, v in rows]
    out.append("</table>")
    if rec.warnings:
        out.append("<p><b>Warnings while reading the file</b></p><ul>")
        out += [f"<li>{e(w)}</li>" for w in rec.warnings]
        out.append("</ul>")
    out.append(f"<p><b>{len(rec.channels)} channels</b></p>")
    out.append("<table cellspacing='2' cellpadding='1'><tr><th align='left'>Label</th>"
               "<th align='right'>Rate</th><th>Unit</th><th align='left'>Modality</th>"
               "<th align='left'>Transducer</th><th align='left'>Prefilter</th></tr>")
    for c in rec.channels:
        mod = (modalities or {}).get(c.label, "")
        out.append(f"<tr><td>{e(c.label)}</td><td align='right'>{c.rate:g} Hz</td>"
                   f"<td>{e(c.raw_unit)}</td><td>{e(mod)}</td><td>{e(c.transducer)}</td>"
                   f"<td>{e(c.prefilter)}</td></tr>")
    out.append("</table>")
    return "".join(out)


class RecordingInfoDialog(QDialog):
    """Patient/recording fields, start, duration and the channels with their rates."""

    def __init__(self, rec: Any, modalities: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Recording information — {rec.path.name}")
        self.browser = QTextBrowser()
        self.browser.setHtml(recording_info_html(rec, modalities))
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
        self.resize(720, 560)


def _cutoff_spin(value: float | None, maximum: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, maximum)
    spin.setDecimals(2)
    spin.setSingleStep(0.1)
    spin.setSpecialValueText("off")
    spin.setSuffix(" Hz")
    spin.setValue(0.0 if value is None else value)
    return spin


class FilterDialog(QDialog):
    """Display filters per kind of channel, with the AASM defaults one click away."""

    def __init__(self, filters: dict[str, FilterSpec], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Display filters")
        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Channels</b>"), 0, 0)
        grid.addWidget(QLabel("<b>High-pass</b>"), 0, 1)
        grid.addWidget(QLabel("<b>Low-pass</b>"), 0, 2)
        grid.addWidget(QLabel("<b>AASM</b>"), 0, 3)
        self.spins: dict[str, tuple[QDoubleSpinBox, QDoubleSpinBox]] = {}
        for i, kind in enumerate(FILTERABLE_KINDS, start=1):
            spec = filters.get(kind, FilterSpec())
            lo, hi = _cutoff_spin(spec.low, 100.0), _cutoff_spin(spec.high, 1000.0)
            self.spins[kind] = (lo, hi)
            grid.addWidget(QLabel(f"{kind} — {KIND_DESCRIPTIONS[kind]}"), i, 0)
            grid.addWidget(lo, i, 1)
            grid.addWidget(hi, i, 2)
            grid.addWidget(QLabel(AASM_FILTERS[kind].describe()), i, 3)
        note = QLabel("Filters change what is drawn only; SleepFM always sees the recording "
                      "as preprocessed for it. Level channels (SpO2, rates, position) are never "
                      "filtered; a cut-off above 95% of Nyquist is skipped.")
        note.setWordWrap(True)
        reset = QPushButton("AASM defaults")
        reset.clicked.connect(self.reset)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.error = QLabel()
        self.error.setStyleSheet("color: #B00")
        bottom = QHBoxLayout()
        bottom.addWidget(reset)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(note)
        lay.addWidget(self.error)
        lay.addLayout(bottom)
        self.result_filters: dict[str, FilterSpec] = dict(filters)

    def reset(self) -> None:
        for kind, (lo, hi) in self.spins.items():
            spec = AASM_FILTERS[kind]
            lo.setValue(spec.low or 0.0)
            hi.setValue(spec.high or 0.0)

    def values(self) -> dict[str, FilterSpec]:
        """The filters entered (raises ValueError if a band is inverted)."""
        out = {}
        for kind, (lo, hi) in self.spins.items():
            out[kind] = FilterSpec(lo.value() or None, hi.value() or None)
        return out

    def _accept(self) -> None:
        try:
            self.result_filters = self.values()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class DerivationDialog(QDialog):
    """Add a derivation ``plus − minus`` of two channels of the same rate."""

    def __init__(self, rec: Any, existing: list[Derivation], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add a derivation")
        self.rec = rec
        self.plus = QComboBox()
        self.minus = QComboBox()
        for c in rec.channels:
            text = f"{c.label} ({c.rate:g} Hz)"
            self.plus.addItem(text, c.label)
            self.minus.addItem(text, c.label)
        if self.minus.count() > 1:
            self.minus.setCurrentIndex(1)
        self.label = QLineEdit()
        self.label.setPlaceholderText("automatic (plus-minus)")
        form = QFormLayout()
        form.addRow("Channel (+)", self.plus)
        form.addRow("Reference (−)", self.minus)
        form.addRow("Label", self.label)
        taken = {d.label for d in existing}
        self.suggestions = QListWidget()
        for d in suggest_derivations(rec.labels, [c.rate for c in rec.channels]):
            if d.label in taken:
                continue
            item = QListWidgetItem(f"{d.label}  =  {d.plus} − {d.minus}")
            item.setData(Qt.UserRole, d)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            self.suggestions.addItem(item)
        self.error = QLabel()
        self.error.setStyleSheet("color: #B00")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        if self.suggestions.count():
            lay.addWidget(QLabel("AASM derivations this file can make (tick to add):"))
            lay.addWidget(self.suggestions)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.result_derivations: list[Derivation] = []

    def derivations(self) -> list[Derivation]:
        """The ticked suggestions, or else the one built from the two menus."""
        ticked = [self.suggestions.item(i).data(Qt.UserRole)
                  for i in range(self.suggestions.count())
                  if self.suggestions.item(i).checkState() == Qt.Checked]
        if ticked:
            return ticked
        plus, minus = self.plus.currentData(), self.minus.currentData()
        p, m = self.rec.channel(plus), self.rec.channel(minus)
        if p.rate != m.rate:
            raise ValueError(f"{plus} is sampled at {p.rate:g} Hz but {minus} at {m.rate:g} Hz; "
                             "a derivation needs the same rate")
        return [Derivation(plus, minus, self.label.text().strip())]

    def _accept(self) -> None:
        try:
            self.result_derivations = self.derivations()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class AnalysisSettingsDialog(QDialog):
    """Model folder and device for the analysis jobs."""

    DEVICES = (("auto", "Automatic (GPU when present, else CPU)"), ("cpu", "CPU"),
               ("cuda", "CUDA GPU"), ("mps", "Apple GPU (MPS)"))

    def __init__(self, model_dir: str, device: str, parent=None, age: float | None = None,
                 sex: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Analysis settings")
        self.model_edit = QLineEdit(model_dir)
        self.model_edit.setPlaceholderText("folder with model_base/, model_sleep_staging/, "
                                           "model_diagnosis/")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.model_edit, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.device_combo = QComboBox()
        for key, text in self.DEVICES:
            self.device_combo.addItem(text, key)
        i = self.device_combo.findData(device)
        self.device_combo.setCurrentIndex(max(i, 0))
        self.age_spin = QDoubleSpinBox()
        self.age_spin.setRange(0, 120)
        self.age_spin.setDecimals(0)
        self.age_spin.setSpecialValueText("from the file")
        self.age_spin.setValue(age or 0)
        self.sex_combo = QComboBox()
        for key, text in (("", "from the file"), ("F", "female"), ("M", "male")):
            self.sex_combo.addItem(text, key)
        self.sex_combo.setCurrentIndex(max(self.sex_combo.findData(sex), 0))
        form = QFormLayout()
        form.addRow("Model folder", holder)
        form.addRow("Device", self.device_combo)
        form.addRow("Age (disease risk)", self.age_spin)
        form.addRow("Sex (disease risk)", self.sex_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.resize(620, 200)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "SleepFM model folder",
                                                  self.model_edit.text() or str(Path.home()))
        if folder:
            self.model_edit.setText(folder)

    @property
    def model_dir(self) -> str:
        return self.model_edit.text().strip()

    @property
    def device(self) -> str:
        return str(self.device_combo.currentData())

    @property
    def age(self) -> float | None:
        return self.age_spin.value() or None

    @property
    def sex(self) -> str:
        return str(self.sex_combo.currentData())
