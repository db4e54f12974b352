"""An episode's timeline: policy / human bands and pre-intervention marks, with a cursor that
can be dragged to scrub (the review view) or follows the live step (the detail view)."""

from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import QWidget

from ui.console.theme import BAND_COLOURS


def bands_from_spans(steps: int, spans: list[tuple[int, int]], pre_k: int) -> list[tuple[int, int, str]]:
    """Bands over ``[0, steps)`` from human spans: human inside them, ``pre`` for the ``pre_k``
    policy steps before each, policy elsewhere (the store's pre-intervention rule)."""
    kind = ["policy"] * max(steps, 0)
    for start, end in spans:
        for s in range(max(0, start - pre_k), min(start, steps)):
            kind[s] = "pre"
        for s in range(max(0, start), min(end, steps)):
            kind[s] = "human"
    out, i = [], 0
    while i < len(kind):
        j = i
        while j < len(kind) and kind[j] == kind[i]:
            j += 1
        out.append((i, j, kind[i]))
        i = j
    return out


class TimelineBar(QWidget):
    scrubbed = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bands: list[tuple[int, int, str]] = []
        self.steps = 0
        self.cursor = -1
        self.setMinimumHeight(22)
        self.setMaximumHeight(28)
        self.setToolTip("episode timeline: green policy · blue human · amber pre-intervention")

    def set_bands(self, bands: list[tuple[int, int, str]], steps: int | None = None) -> None:
        self.bands = bands
        self.steps = steps if steps is not None else (bands[-1][1] if bands else 0)
        self.update()

    def set_cursor(self, step: int) -> None:
        if step != self.cursor:
            self.cursor = step
            self.update()

    def paintEvent(self, _ev) -> None:
        p = QPainter(self)
        r = self.rect()
        p.fillRect(r, QColor(40, 42, 48))
        n = max(self.steps, 1)
        for start, end, kind in self.bands:
            x0 = r.width() * start / n
            x1 = r.width() * end / n
            p.fillRect(QRectF(x0, 2, max(x1 - x0, 1.0), r.height() - 4), BAND_COLOURS.get(kind, QColor(90, 90, 90)))
        if self.cursor >= 0:
            x = r.width() * min(self.cursor, n) / n
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(int(x), 0, int(x), r.height())
        p.end()

    def _scrub(self, x: float) -> None:
        if self.steps > 0:
            step = int(min(max(x / max(self.width(), 1), 0.0), 1.0) * (self.steps - 1))
            self.set_cursor(step)
            self.scrubbed.emit(step)

    def mousePressEvent(self, ev) -> None:
        self._scrub(ev.position().x())

    def mouseMoveEvent(self, ev) -> None:
        if ev.buttons() & Qt.MouseButton.LeftButton:
            self._scrub(ev.position().x())
