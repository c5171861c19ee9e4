"""Model folder, device, and the age and sex the disease-risk head needs."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

__all__ = ["AnalysisSettingsDialog"]


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
