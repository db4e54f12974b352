"""The value/risk trace of the selected robot's current episode, painted by hand (cheap: one
polyline per series, repainted only when a new answer arrives).

What it shows (``lwd_operator.fleet_view.value_trace.ValueSeries``): the critic's watched value
quantile per action chunk against episode steps (white), the task's running level (grey), the
help threshold ``level - drop`` where it applied (red, dashed), and a red mark with "help" at the
step where the robot asked for help. A policy without a critic gets ``NO_CRITIC`` in words,
never an empty plot.
"""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QWidget

from lwd_operator.fleet_view.value_trace import ValueSeries
from ui.console.theme import STATE_COLOURS

VALUE = QColor(235, 235, 235)
LEVEL = QColor(140, 140, 150)
THRESHOLD = STATE_COLOURS["help"]


class ValuePlot(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.series: ValueSeries | None = None
        self.message = "value / risk trace: select a robot"
        """Shown instead of a plot (no robot, no signal, no answer yet, an error)."""
        self.setMinimumHeight(70)
        self.setMaximumHeight(110)
        self.setToolTip("critic value per action chunk (white) · running level (grey) · "
                        "help threshold (red dashes) · red mark: help asked")

    def set_series(self, series: ValueSeries | None, message: str = "") -> None:
        """Plot ``series`` when it has a value signal; otherwise show ``message`` (or the
        series' own caption, e.g. "no value signal (policy has no critic)")."""
        self.series = series if series is not None and series.has_signal else None
        self.message = message or (series.caption() if series is not None else "")
        self.update()

    @property
    def plotted(self) -> bool:
        return self.series is not None and bool(self.series.values)

    def paintEvent(self, _ev) -> None:
        p = QPainter(self)
        r = QRectF(self.rect())
        p.fillRect(r, QColor(32, 34, 40))
        s = self.series
        if s is None or not s.values:
            p.setPen(QColor(160, 160, 160))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.message if s is None else s.caption())
            p.end()
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = r.adjusted(4, 16, -4, -4)
        lo, hi = s.y_range()
        n = max(s.step, s.steps[-1] + 1, 1)

        def pt(step: float, y: float) -> QPointF:
            return QPointF(area.left() + area.width() * step / n,
                           area.bottom() - area.height() * (y - lo) / ((hi - lo) or 1.0))

        def line(ys, colour: QColor, style=Qt.PenStyle.SolidLine, width: float = 1.5) -> None:
            p.setPen(QPen(colour, width, style))
            run: list[QPointF] = []
            for step, y in zip(s.steps, ys, strict=True):
                if y is None:  # an unarmed stretch is a gap, not a line to zero
                    if len(run) > 1:
                        p.drawPolyline(QPolygonF(run))
                    run = []
                else:
                    run.append(pt(step, y))
            if len(run) > 1:
                p.drawPolyline(QPolygonF(run))
            elif run:
                p.drawEllipse(run[0], 1.5, 1.5)

        line(s.levels, LEVEL, Qt.PenStyle.DotLine, 1.0)
        line(s.thresholds, THRESHOLD, Qt.PenStyle.DashLine, 1.5)
        line(s.values, VALUE, Qt.PenStyle.SolidLine, 1.8)
        if s.help_step >= 0:
            x = pt(s.help_step, lo).x()
            p.setPen(QPen(THRESHOLD, 2))
            p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            p.drawText(QPointF(x + 3, area.top() + 10), "help")
        p.setPen(QColor(200, 200, 200))
        p.drawText(QRectF(r.left() + 4, r.top(), r.width() - 8, 16),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, s.caption())
        p.end()
