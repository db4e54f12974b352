"""The learner panel (pyqtgraph): success and intervention rate against cumulative fleet steps,
overall and per task; the policy versions in use; rollout actions when the hub offers them."""

from __future__ import annotations

import collections

import pyqtgraph as pg
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lwd_operator.client import HubError

ROLLOUT_ACTIONS = ("deploy", "canary", "promote", "rollback", "pin")
PALETTE = [(230, 230, 230), (80, 170, 255), (255, 160, 60), (120, 220, 120), (230, 90, 200),
           (255, 220, 80), (150, 150, 255), (90, 220, 220), (240, 110, 110), (180, 180, 120)]


def series(points) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """group -> (fleet steps, success rate %, intervention rate %) from ``Curves.points``;
    windows with nothing labelled have no success point (never drawn as 0 %)."""
    out: dict[str, tuple[list, list, list]] = collections.defaultdict(lambda: ([], [], []))
    for p in points:
        xs, succ, inter = out[p.group]
        xs.append(p.fleet_steps)
        succ.append(100.0 * p.successes / p.labelled if p.labelled else float("nan"))
        inter.append(100.0 * p.human_steps / p.steps if p.steps else float("nan"))
    return dict(out)


class LearnerPanel(QWidget):
    def __init__(self, client, parent=None):
        super().__init__(parent)
        self.client = client
        self.curves = None
        self.error = ""
        pg.setConfigOptions(antialias=True)
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.summary = QLabel("learning: no data yet")
        self.summary.setStyleSheet("font-weight: bold;")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top.addWidget(self.summary, 1)
        top.addWidget(refresh)
        lay.addLayout(top)
        plots = QHBoxLayout()
        self.success_plot = self._plot("success rate (%)")
        self.intervention_plot = self._plot("intervention rate (%)")
        plots.addWidget(self.success_plot)
        plots.addWidget(self.intervention_plot)
        lay.addLayout(plots, 2)
        self.loss_plot = self._plot("learner losses")
        self.loss_note = QLabel("learner losses: the hub does not relay the learner's losses yet "
                                "(see `lwd train` / TensorBoard logs)")
        self.loss_note.setStyleSheet("color: #aaa;")
        lay.addWidget(self.loss_plot, 1)
        lay.addWidget(self.loss_note)
        lay.addWidget(QLabel("policy versions"))
        self.versions = QTableWidget(0, 3)
        self.versions.setHorizontalHeaderLabels(("version", "robots", "robot ids"))
        self.versions.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.versions.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.versions, 1)
        actions = QHBoxLayout()
        self.action_buttons = {}
        available = [a for a in ROLLOUT_ACTIONS if callable(getattr(client, a, None))]
        for a in ROLLOUT_ACTIONS:
            b = QPushButton(a.capitalize())
            b.setEnabled(a in available)
            self.action_buttons[a] = b
            actions.addWidget(b)
        self.rollout_note = QLabel("" if available else
                                   "rollout actions are disabled: this hub client has no rollout API yet "
                                   "(deploy / canary / promote / roll back / pin arrive with the learner service)")
        self.rollout_note.setWordWrap(True)
        self.rollout_note.setStyleSheet("color: #e0b040;")
        actions.addWidget(self.rollout_note, 1)
        lay.addLayout(actions)

    def _plot(self, title: str) -> pg.PlotWidget:
        w = pg.PlotWidget(title=title)
        w.showGrid(x=True, y=True, alpha=0.3)
        w.setLabel("bottom", "cumulative fleet steps")
        w.addLegend(offset=(5, 5))
        return w

    def refresh(self) -> None:
        try:
            self.curves = self.client.curves(points=40)
        except HubError as e:
            self.error = str(e)
            self.summary.setText(f"learning: {e}")
            return
        data = series(self.curves.points)
        for plot, k in ((self.success_plot, 1), (self.intervention_plot, 2)):
            plot.clear()
            for i, (group, s) in enumerate(sorted(data.items(), key=lambda kv: kv[0] != "all")):
                pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=3 if group == "all" else 1.5)
                plot.plot(s[0], s[k], pen=pen, symbol="o", symbolSize=5, name=group, connect="finite")
            plot.setYRange(0, 100)
        overall = data.get("all")
        if overall:
            succ = [v for v in overall[1] if v == v]
            inter = [v for v in overall[2] if v == v]
            self.summary.setText(
                f"learning · {self.curves.total_steps:,} fleet steps · success "
                f"{succ[-1]:.0f} % (last window)" if succ else "learning · no labelled episodes yet")
            if inter:
                self.summary.setText(self.summary.text() + f" · interventions {inter[-1]:.0f} %")

    def set_versions(self, rows) -> None:
        by = collections.defaultdict(list)
        for r in rows:
            by[r.policy_version].append(r.robot_id)
        self.versions.setRowCount(len(by))
        for i, (v, ids) in enumerate(sorted(by.items(), reverse=True)):
            for j, text in enumerate((f"v{v}", str(len(ids)), ", ".join(ids))):
                self.versions.setItem(i, j, QTableWidgetItem(text))
