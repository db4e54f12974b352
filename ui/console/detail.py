"""The selected robot in detail: large camera views, state and telemetry, the live episode's
timeline (policy/human bands built from telemetry), the value/risk trace of its current episode
(asked of the hub off the GUI thread, a couple of times a second while shown), and the action
buttons with their keys."""

from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lwd_operator.fleet_view.value_trace import ValueTraceBook
from ui.console.fetcher import LatestFetcher
from ui.console.timeline import TimelineBar
from ui.console.value_plot import ValuePlot

VALUE_POLL_MS = 500
"""How often the shown robot's value trace is asked for (only new chunks come back)."""


class CameraView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.image = None
        self.caption = ""
        self.setMinimumSize(240, 180)

    def set_frame(self, image, caption: str) -> None:
        self.image, self.caption = image, caption
        self.update()

    def paintEvent(self, _ev) -> None:
        p = QPainter(self)
        r = self.rect()
        p.fillRect(r, QColor(16, 16, 20))
        if self.image is not None:
            img = self.image
            s = min(r.width() / img.width(), r.height() / img.height())
            w, h = img.width() * s, img.height() * s
            p.drawImage(QRectF((r.width() - w) / 2, (r.height() - h) / 2, w, h), img)
        p.setPen(QColor(230, 230, 230))
        p.drawText(r.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                   self.caption or "no frame")
        p.end()


class RobotDetail(QWidget):
    take = pyqtSignal()
    give = pyqtSignal()
    stop = pyqtSignal()
    label = pyqtSignal(str)

    def __init__(self, decoder, client=None, parent=None):
        """``client``: the ``HubClient`` asked for value traces (None: no trace is shown)."""
        super().__init__(parent)
        self.decoder, self.client = decoder, client
        self.robot_id: str | None = None
        self.cameras: list[str] = []
        self._episode = ""
        self._kinds: dict[int, str] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.header = QLabel("no robot selected")
        self.header.setStyleSheet("font-weight: bold; font-size: 12pt;")
        self.header.setWordWrap(False)
        lay.addWidget(self.header)
        cams = QHBoxLayout()
        self.views = [CameraView(), CameraView()]
        for v in self.views:
            cams.addWidget(v)
        lay.addLayout(cams, 1)
        self.timeline = TimelineBar()
        lay.addWidget(QLabel("live episode timeline (green policy · blue human)"))
        lay.addWidget(self.timeline)
        self.telemetry = QLabel("-")
        self.telemetry.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.telemetry.setStyleSheet("font-family: monospace;")
        self.telemetry.setWordWrap(True)
        lay.addWidget(self.telemetry)
        lay.addWidget(QLabel("value / risk trace of this episode (critic value per chunk, help threshold)"))
        self.value_plot = ValuePlot()
        lay.addWidget(self.value_plot)
        self.values = ValueTraceBook()
        self.value_fetcher = LatestFetcher(self)
        self.value_fetcher.done.connect(self._on_value_trace)
        self.value_timer = QTimer(self)
        self.value_timer.setInterval(VALUE_POLL_MS)
        self.value_timer.timeout.connect(self.poll_values)
        if client is not None:
            self.value_timer.start()
        buttons = QGridLayout()
        for i, (text, sig) in enumerate((("Take  ␣", self.take), ("Give  ␣", self.give), ("Stop  Esc", self.stop))):
            b = QPushButton(text)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(sig.emit)
            buttons.addWidget(b, 0, i)
        for i, (text, outcome) in enumerate((("Success  S", "success"), ("Failure  F", "failure"))):
            b = QPushButton(text)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _=False, o=outcome: self.label.emit(o))
            buttons.addWidget(b, 1, i)
        lay.addLayout(buttons)

    def show_robot(self, robot_id: str | None, cameras: list[str]) -> None:
        changed = robot_id != self.robot_id
        if changed:
            self._episode, self._kinds = "", {}
        self.robot_id, self.cameras = robot_id, cameras
        if changed:
            self.value_plot.set_series(None, "value / risk trace: asking the hub…" if robot_id else "")
            self.poll_values()

    def poll_values(self) -> None:
        """Ask the hub for the shown robot's new value points (off the GUI thread); skipped
        while hidden or while the previous question is still out."""
        rid, client = self.robot_id, self.client
        if rid is None or client is None or not self.isVisible() or self.value_fetcher.busy:
            return
        since = self.values.since(rid)
        self.value_fetcher.request(rid, lambda: client.value_trace(rid, since_chunk=since, timeout=2.0))

    def _on_value_trace(self, rid: str, result, current: bool) -> None:
        if rid != self.robot_id:
            return
        if isinstance(result, Exception):
            self.value_plot.set_series(None, f"value / risk trace: {result}")
            return
        self.value_plot.set_series(self.values.apply(result))

    def close_fetchers(self) -> None:
        self.value_timer.stop()
        self.value_fetcher.close()

    def refresh(self, row, telemetry) -> None:
        """Display tick: newest frames, the row's state and the robot's telemetry."""
        if self.robot_id is None or row is None:
            self.header.setText("no robot selected")
            return
        self.header.setText(f"{row.robot_id} · {row.task} · v{row.policy_version} · {row.pill}")
        for i, v in enumerate(self.views):
            cam = self.cameras[i] if i < len(self.cameras) else None
            f = self.decoder.latest(self.robot_id, cam) if cam else None
            v.setVisible(cam is not None or i == 0)
            if f is not None:
                v.set_frame(f.image, cam)
        lines = [f"why: {row.reason}"] if row.reason else []
        lines.append(f"episode {row.episode_id}  step {row.step}  mode {row.mode}  {row.control_hz:.1f} Hz  "
                     f"jitter p99 {row.jitter_p99_ms:.1f} ms")
        if telemetry is not None and telemetry.robot_id == self.robot_id:
            ee = " ".join(f"{x:+.3f}" for x in telemetry.ee_pos)
            lines.append(f"end effector [{ee}]  success {telemetry.success}  telemetry step {telemetry.step}")
            self._track(telemetry.episode_id, telemetry.step, telemetry.mode)
        else:
            self._track(row.episode_id, row.step, row.mode)
        self.telemetry.setText("\n".join(lines))

    def _track(self, episode: str, step: int, mode: str) -> None:
        if episode != self._episode:
            self._episode, self._kinds = episode, {}
        self._kinds[step] = "human" if mode in ("human", "stopped") else "policy"
        steps = sorted(self._kinds)
        bands, start = [], None
        for s in steps:
            k = self._kinds[s]
            if start is None or k != bands[-1][2]:
                bands.append([s, s + 1, k])
                start = s
            else:
                bands[-1][1] = s + 1
        self.timeline.set_bands([tuple(b) for b in bands], max(step + 1, 1))
        self.timeline.set_cursor(step)
