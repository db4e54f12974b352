"""The learner panel (pyqtgraph): success and intervention rate against cumulative fleet steps,
overall and per task; the learner's state and its losses against updates; the policy versions
table with deploy / canary / promote / roll back / pin (``HubClient`` rollout calls) and the
rollout history."""

from __future__ import annotations

import collections

import pyqtgraph as pg
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lwd_core.protocol.messages import MAX_LOSS_HISTORY
from lwd_operator.client import HubError
from lwd_operator.fleet_view.learner import LearnerState, learner_state

ROLLOUT_ACTIONS = ("deploy", "canary", "promote", "rollback", "pin")
VERSION_COLUMNS = ("version", "status", "parent", "learner step", "labelled/episodes", "success",
                   "interventions", "robots")
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
        self.loss_plot = self._plot("learner losses", "learner updates")
        plots.addWidget(self.loss_plot)
        self.learner_state = learner_state(None, error="not asked yet")
        self.learner_line = QLabel(self.learner_state.line)
        self.learner_line.setStyleSheet("font-weight: bold;")
        self.learner_detail = QLabel("")
        self.learner_detail.setStyleSheet("color: #aaa;")
        self.learner_detail.setWordWrap(True)
        lay.addWidget(self.learner_line)
        lay.addWidget(self.learner_detail)
        lay.addWidget(QLabel("policy versions (select a row for the actions)"))
        self.versions = QTableWidget(0, len(VERSION_COLUMNS))
        self.versions.setHorizontalHeaderLabels(VERSION_COLUMNS)
        self.versions.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.versions.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.versions.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.versions, 1)
        actions = QHBoxLayout()
        self.action_buttons = {}
        self.available = [a for a in ROLLOUT_ACTIONS if callable(getattr(client, a, None))]
        for a in ROLLOUT_ACTIONS:
            b = QPushButton({"rollback": "Roll back", "pin": "Pin robot"}.get(a, a.capitalize()))
            b.setEnabled(a in self.available)
            b.clicked.connect(lambda _=False, a=a: self.act(a))
            self.action_buttons[a] = b
            actions.addWidget(b)
        self.pin_robot = QLineEdit(placeholderText="robot to pin (default: selected on the wall)")
        actions.addWidget(self.pin_robot)
        self.rollout_note = QLabel("" if self.available else
                                   "rollout actions are disabled: this hub client has no rollout API")
        self.rollout_note.setWordWrap(True)
        self.rollout_note.setStyleSheet("color: #e0b040;")
        actions.addWidget(self.rollout_note, 1)
        lay.addLayout(actions)
        lay.addWidget(QLabel("rollout history"))
        self.history = QTableWidget(0, 5)
        self.history.setHorizontalHeaderLabels(("when", "who", "action", "version", "why"))
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.history, 1)
        self.selected_robot = ""
        self.policy_rows = []

    def _plot(self, title: str, x: str = "cumulative fleet steps") -> pg.PlotWidget:
        w = pg.PlotWidget(title=title)
        w.showGrid(x=True, y=True, alpha=0.3)
        w.setLabel("bottom", x)
        w.addLegend(offset=(5, 5))
        return w

    def refresh_learner(self, history: bool = True) -> LearnerState:
        """Ask the hub for the learner's state (and, with ``history``, its loss history); show
        the state line, and the loss terms (names with ``loss``) against updates."""
        try:
            views = self.client.learner_status(history=MAX_LOSS_HISTORY if history else 0, timeout=2.0)
        except (HubError, AttributeError) as e:
            self.learner_state = learner_state(None, error=str(e) or type(e).__name__)
        else:
            self.learner_state = learner_state(views)
        s = self.learner_state
        colour = {"online": "#3c3", "pretrain": "#3c3", "waiting": "#e0b040", "stale": "#e05050"}.get(s.state, "#aaa")
        self.learner_line.setText(s.line)
        self.learner_line.setStyleSheet(f"font-weight: bold; color: {colour};")
        self.learner_detail.setText("\n".join(x for x in (s.detail, s.losses_line) if x))
        if history:
            self.loss_plot.clear()
            curves = [c for c in s.curves if "loss" in c.name] or list(s.curves)
            values = [v for c in curves for v in c.values]
            # Terms apart by decades (BC ~40 beside a critic ~0.01) read on a log axis.
            log_y = bool(values) and min(values) > 0 and max(values) / min(values) > 100
            self.loss_plot.setLogMode(False, log_y)
            self.loss_plot.setLabel("left", "log scale" if log_y else "")
            for i, c in enumerate(curves):
                self.loss_plot.plot(list(c.updates), list(c.values), pen=pg.mkPen(PALETTE[(i + 1) % len(PALETTE)], width=2),
                                    name=c.name)
        return s

    def refresh(self) -> None:
        self.refresh_learner()
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
        """Versions from the hub's policy store (with live metrics); without the rollout API,
        the versions the fleet rows report."""
        if callable(getattr(self.client, "policy_list", None)):
            try:
                pl = self.client.policy_list()
            except HubError as e:
                self.rollout_note.setText(f"policy list: {e}")
            else:
                self.policy_rows = sorted(pl.versions, key=lambda v: -v.version)
                self._fill_history(pl.audit)
                if self.policy_rows:
                    self._fill_versions(self.policy_rows)
                    return
                self.rollout_note.setText("no published versions in the hub's policy store yet "
                                          "(`lwd policy publish`); showing what the robots report")
        by = collections.defaultdict(list)
        for r in rows:
            by[r.policy_version].append(r.robot_id)
        self.versions.setRowCount(len(by))
        for i, (v, ids) in enumerate(sorted(by.items(), reverse=True)):
            vals = (f"v{v}", "in use", "", "", "", "", "", ", ".join(ids))
            for j, text in enumerate(vals):
                self.versions.setItem(i, j, QTableWidgetItem(text))

    def _fill_versions(self, versions) -> None:
        self.versions.setRowCount(len(versions))
        pct = lambda x: "-" if x < 0 else f"{100 * x:.0f} %"  # noqa: E731
        for i, v in enumerate(versions):
            vals = (f"v{v.version}", v.status, f"v{v.parent}" if v.parent > 0 else "-", str(v.learner_step),
                    f"{v.labelled}/{v.episodes}", pct(v.success_rate), pct(v.intervention_rate), ", ".join(v.robots))
            for j, text in enumerate(vals):
                self.versions.setItem(i, j, QTableWidgetItem(text))

    def _fill_history(self, audit) -> None:
        import datetime as dt

        rows = list(audit)[-100:][::-1]
        self.history.setRowCount(len(rows))
        for i, a in enumerate(rows):
            vals = (dt.datetime.fromtimestamp(a.at).strftime("%m-%d %H:%M:%S"), a.who, a.action, f"v{a.version}",
                    a.why + (f" ({', '.join(a.robots)})" if a.robots else ""))
            for j, text in enumerate(vals):
                self.history.setItem(i, j, QTableWidgetItem(text))

    def act(self, action: str) -> bool:
        """One rollout call for the selected version (``pin``: the robot named or selected)."""
        sel = self.versions.selectionModel().selectedRows()
        if not sel or sel[0].row() >= len(self.policy_rows):
            self.rollout_note.setText("select a version first")
            return False
        v = self.policy_rows[sel[0].row()].version
        why = "from the console"
        try:
            if action == "pin":
                robot = self.pin_robot.text().strip() or self.selected_robot
                if not robot:
                    self.rollout_note.setText("name a robot to pin (or select one on the wall)")
                    return False
                rep = self.client.pin(robot, v, why=why)
            elif action == "canary":
                rep = self.client.canary(v, why=why)
            else:
                rep = getattr(self.client, action)(v, why=why)
        except HubError as e:
            self.rollout_note.setText(f"{action} v{v}: {e}")
            return False
        self.rollout_note.setText(f"{action} v{v}: " + ("done" if rep.ok else f"refused: {rep.error}"))
        self.set_versions([])
        return rep.ok
