"""A holder for a label whose text changes on every page flip, without re-laying out the window.

``QLabel.setText`` always invalidates the parent's layout; from a toolbar or a dock that posts a
chain of layout requests up to the main window and two or three extra repaints of the window per
page flip, though the label's size hints rarely change. In a :class:`LabelHolder` (a widget
without a layout) the request stops at the holder, which passes it on only when the label's size
hints did change, so the layout behaves as if the label sat in it directly.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QLabel, QWidget

__all__ = ["LabelHolder"]


class LabelHolder(QWidget):
    """Put ``label`` in a layout through this widget (``layout.addWidget(LabelHolder(label))``).

    The label fills the holder; the holder's size hints and size policy are the label's.
    """

    def __init__(self, label: QLabel, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = label
        label.setParent(self)
        self.setSizePolicy(label.sizePolicy())
        self.setMinimumSize(label.minimumSize())
        self._hints = self._label_hints()

    def _label_hints(self) -> tuple[QSize, QSize]:
        return self.label.sizeHint(), self.label.minimumSizeHint()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self._hints[0]

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self._hints[1]

    def event(self, ev) -> bool:
        if ev.type() == QEvent.LayoutRequest:
            hints = self._label_hints()
            if hints != self._hints:
                self._hints = hints
                self.updateGeometry()
            return True
        return super().event(ev)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.label.setGeometry(self.rect())
