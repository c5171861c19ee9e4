"""Display filters per kind of channel, with the AASM defaults one click away."""
from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDoubleSpinBox, QGridLayout,
                               QHBoxLayout, QLabel, QPushButton, QVBoxLayout)

from sleepfm_engine.display import AASM_FILTERS, FILTERABLE_KINDS, KIND_DESCRIPTIONS, FilterSpec

__all__ = ["FilterDialog"]


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
