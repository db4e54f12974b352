"""The console's main window: status line, Fleet (attention queue · camera wall · detail),
Episodes, Learning and Settings tabs, the keys, the hub-loss safe stop and a safe close.

Timers, not threads, drive the GUI: the model refreshes at ``model_hz`` from what the client
received; a tile shows a camera's new frame as soon as the decoder thread has it (``FrameBell``),
and the display timer refreshes the robot detail and the tiles' frame-age badges at
``display_hz`` (a stream that stops rings no bell, and its age must still grow on screen).
"""

from __future__ import annotations

import logging
import time

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer
from PyQt6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from lwd_operator.alerts import AlertSounder
from lwd_operator.client import HubError
from lwd_operator.fleet_view import FleetView, FleetViewConfig, fmt_pct
from lwd_operator.fleet_view.learning import learning_series, sparkline, versions_in_use
from ui.console.attention import AttentionPanel
from ui.console.detail import RobotDetail
from ui.console.episodes import EpisodesBrowser
from ui.console.frames import FrameBell, FrameDecoder
from ui.console.learner import LearnerPanel
from ui.console.settings import ConsoleSettings, SettingsPanel, qsettings
from ui.console.takeover import TakeoverBanner, TakeoverController
from ui.console.wall import CameraWall

log = logging.getLogger("lwd.console")

KEY_NAMES = {
    Qt.Key.Key_W: "w", Qt.Key.Key_A: "a", Qt.Key.Key_S: "s", Qt.Key.Key_D: "d", Qt.Key.Key_R: "r",
    Qt.Key.Key_F: "f", Qt.Key.Key_Q: "q", Qt.Key.Key_E: "e", Qt.Key.Key_Up: "up", Qt.Key.Key_Down: "down",
    Qt.Key.Key_Left: "left", Qt.Key.Key_Right: "right", Qt.Key.Key_PageUp: "pageup",
    Qt.Key.Key_PageDown: "pagedown", Qt.Key.Key_Shift: "shift",
}
TEXT_INPUTS = (QLineEdit, QTextEdit, QAbstractSpinBox, QComboBox)


class _Keys(QObject):
    """Application-wide key filter: the console's keys work whatever widget has focus, except
    while typing in a text field."""

    def __init__(self, window: ConsoleWindow):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, ev) -> bool:
        t = ev.type()
        if t not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self.window:
            return False
        if isinstance(obj, TEXT_INPUTS) and ev.key() != Qt.Key.Key_Escape:
            return False
        if ev.isAutoRepeat():
            return ev.key() in KEY_NAMES  # held keys already act; swallow the repeats
        return self.window.handle_key(ev, t == QEvent.Type.KeyPress)


class ConsoleWindow(QMainWindow):
    def __init__(self, client, *, settings: ConsoleSettings | None = None, store=None, owns_client: bool = True,
                 use_devices: bool = True, sync_decode: bool = False, view_config: FleetViewConfig | None = None,
                 deadman_ms: int = 300, display_hz: float = 30.0, model_hz: float = 5.0,
                 sounder: AlertSounder | None = None):
        super().__init__()
        self.client, self.owns_client = client, owns_client
        self.store = store if store is not None else qsettings()
        self.settings = settings or ConsoleSettings.load(self.store)
        self.view = FleetView(operator=client.operator, config=view_config)
        self.view.attach(client)
        self.decoder = FrameDecoder(client, sync=sync_decode)
        self.ctl = TakeoverController(client, self.settings.speeds, deadman_ms=deadman_ms, use_devices=use_devices,
                                      parent=self)
        self.sounder = sounder or AlertSounder(on_notice=self.notify)
        self.watched: set[str] = set()
        self.cameras: dict[str, list[str]] = {}
        self.messages: list[str] = []
        self.last_label: tuple[str, str, str] | None = None
        self.pending_note = ""
        self.closed = False
        self.setWindowTitle(f"LWD console — {client.operator}")
        self._build()
        self.ctl.notice.connect(self.notify)
        self.ctl.changed.connect(self._refresh_status)
        self.ctl.gamepad_action.connect(self._gamepad)
        self._keys = _Keys(self)
        from PyQt6.QtWidgets import QApplication

        QApplication.instance().installEventFilter(self._keys)
        try:
            client.subscribe(hz=model_hz)
        except HubError as e:
            self.notify(f"subscribe: {e}")
        self.model_timer = QTimer(self)
        self.model_timer.setInterval(int(1000 / model_hz))
        self.model_timer.timeout.connect(self.refresh_model)
        self.model_timer.start()
        self.bell = FrameBell(self.decoder, self)
        self.bell.ready.connect(self.wall.pull)
        self.display_timer = QTimer(self)
        self.display_timer.setInterval(max(5, int(1000 / display_hz)))
        self.display_timer.timeout.connect(self.refresh_display)
        self.display_timer.start()
        self.learning_timer = QTimer(self)
        self.learning_timer.setInterval(10_000)
        self.learning_timer.timeout.connect(self.refresh_learning_strip)
        self.learning_timer.start()
        self.learner_timer = QTimer(self)  # the learner reports every few seconds: the top bar follows
        self.learner_timer.setInterval(3_000)
        self.learner_timer.timeout.connect(self.refresh_learner)
        self.learner_timer.start()
        QTimer.singleShot(1500, self.refresh_learning_strip)

    # --- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        self.status_line = QLabel("connecting…")
        self.status_line.setStyleSheet("font-weight: bold; padding: 3px;")
        lay.addWidget(self.status_line)
        self.banner = TakeoverBanner(self.ctl)
        lay.addWidget(self.banner)
        self.tabs = QTabWidget()
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        fleet = QSplitter(Qt.Orientation.Horizontal)
        self.attention = AttentionPanel()
        self.attention.robot_chosen.connect(self.select)
        self.wall = CameraWall(self.decoder, self.view.cfg.stale_frame_s)
        self.wall.selected.connect(self._selected)
        self.wall.activated.connect(lambda rid: self.detail.setVisible(True))
        self.detail = RobotDetail(self.decoder, self.client)
        self.detail.take.connect(lambda: self.take_selected())
        self.detail.give.connect(lambda: self.ctl.give())
        self.detail.stop.connect(self.ctl.stop)
        self.detail.label.connect(self.label_selected)
        fleet.addWidget(self.attention)
        fleet.addWidget(self.wall)
        fleet.addWidget(self.detail)
        fleet.setSizes([300, 820, 480])
        self.fleet_tab = QWidget()
        fl = QVBoxLayout(self.fleet_tab)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(fleet, 1)
        self.learning_strip = QLabel("LEARNING: open the Learning tab for curves and versions")
        self.learning_strip.setStyleSheet("padding: 3px; font-family: monospace;")
        fl.addWidget(self.learning_strip)
        self.episodes = EpisodesBrowser(self.client, self.client.operator)
        self.learner = LearnerPanel(self.client)
        self.settings_panel = SettingsPanel(self.settings, self.store, on_change=self._settings_changed)
        self.tabs.addTab(self.fleet_tab, "Fleet")
        self.tabs.addTab(self.episodes, "Episodes")
        self.tabs.addTab(self.learner, "Learning")
        self.tabs.addTab(self.settings_panel, "Settings")
        self.tabs.currentChanged.connect(self._tab_changed)
        lay.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.resize(1600, 960)

    def _tab_changed(self, i: int) -> None:
        w = self.tabs.widget(i)
        if w is self.episodes:
            self.episodes.refresh()
        elif w is self.learner:
            self.learner.refresh()
            self.learner.set_versions(self.view.rows)

    def _settings_changed(self, s: ConsoleSettings) -> None:
        self.settings = s
        self.ctl.speeds = s.speeds
        for dev in (self.ctl.keyboard, self.ctl.spacemouse, self.ctl.gamepad):
            dev.speeds = s.speeds

    # --- timers -----------------------------------------------------------------------------------

    def refresh_model(self) -> None:
        changed = self.view.refresh()
        fleet = self.view.fleet
        for r in fleet.robots if fleet else []:
            self.cameras[r.robot_id] = [c.name for c in r.cameras]
            if r.robot_id not in self.watched:
                self.watched.add(r.robot_id)
                self.client.watch_frames(r.robot_id)
        for entry in self.view.take_sounds():
            self.sounder.alert(entry.code, entry.robot_id)
        if changed:
            self.wall.render(self.view.rows, self.cameras)
            self.attention.render(self.view.queue)
            if self.wall.current:
                self.detail.show_robot(self.wall.current, self.cameras.get(self.wall.current, []))
        if self.ctl.robot:
            row = self.view.row(self.ctl.robot)
            self.banner.set_robot_mode(row.mode if row else "")
            settled = time.monotonic() - self.ctl.took_at > 5.0  # fleet pushes lag a take
            if settled and row is not None and self.view.summary.connected and not self.client.hub_stale \
                    and row.operator != self.client.operator:
                # Back from a hub loss, but the hub released our lock meanwhile.
                self.ctl.forget(f"the hub released it while this console was cut off ({row.pill})")
        self._refresh_status()

    def refresh_learning_strip(self) -> None:
        """The LEARNING line under the wall: sparklines of success and interventions against
        fleet steps, and the versions in use (the Learning tab has the full plots)."""
        if self.closed or not self.view.summary.connected:
            return
        try:
            series = learning_series(self.client.curves(points=24, timeout=2.0))
        except HubError as e:
            self.learning_strip.setText(f"LEARNING: {e}")
            return
        overall = next((s for s in series if s.group == "all"), None)
        vers = " ".join(f"v{u.version}:{len(u.robots)}" for u in versions_in_use(self.view.rows))
        if overall is None:
            self.learning_strip.setText(f"LEARNING: no ended episodes yet · versions {vers}")
            return
        self.learning_strip.setText(
            f"LEARNING  success {sparkline(overall.success, 24)} {fmt_pct(overall.last_success)}"
            f"   interventions {sparkline(overall.intervention, 24)} {fmt_pct(overall.last_intervention)}"
            f"   over {overall.fleet_steps[-1]:,} fleet steps · versions in use {vers}")

    def refresh_learner(self) -> None:
        """The learner's word in the top bar; its loss history only while the Learning tab shows."""
        if self.closed or not self.view.summary.connected:
            return
        self.learner.refresh_learner(history=self.tabs.currentWidget() is self.learner)
        self._refresh_status()

    def refresh_display(self) -> None:
        self.wall.pull()
        rid = self.wall.current
        if rid and self.detail.isVisible() and self.tabs.currentWidget() is self.fleet_tab:
            self.detail.refresh(self.view.row(rid), self.client.latest_telemetry.get(rid))

    def _refresh_status(self) -> None:
        s = self.view.summary
        hub = "hub ● connected" if s.connected else "hub ● LOST — robots you drive are in a safe stop"
        sound = "muted (M)" if self.sounder.muted else ("sound" if self.sounder.available is not False else "no audio")
        panel = getattr(self, "learner", None)  # the status line exists before the Learning tab
        parts = [hub, f"you: {self.client.operator}", s.line(), *([panel.learner_state.short] if panel else []), sound]
        if self.ctl.robot:
            parts.insert(2, f"DRIVING {self.ctl.robot}")
        if self.messages:
            parts.append(self.messages[-1])
        self.status_line.setText("  │  ".join(parts))
        colour = "#1c6b2c" if s.connected else "#a01818"
        self.status_line.setStyleSheet(f"font-weight: bold; padding: 3px; background: {colour}; color: white;")

    def notify(self, text: str) -> None:
        """One line for the operator (status line); kept for tests and logs."""
        if not self.messages or self.messages[-1] != text:
            self.messages.append(text)
            self.messages = self.messages[-50:]
            log.info("%s", text)
        if hasattr(self, "status_line"):
            self._refresh_status()

    # --- selection and actions ----------------------------------------------------------------------

    def select(self, robot_id: str) -> None:
        self.wall.select(robot_id)

    def _selected(self, robot_id: str) -> None:
        self.learner.selected_robot = robot_id
        self.detail.show_robot(robot_id, self.cameras.get(robot_id, []))

    def jump_to_most_urgent(self) -> str | None:
        item = self.view.most_urgent()
        if item is not None:
            self.select(item.robot_id)
            return item.robot_id
        return None

    def take_selected(self) -> bool:
        rid = self.wall.current
        return bool(rid) and self.ctl.take(rid)

    def toggle_take(self) -> None:
        rid = self.wall.current
        if self.ctl.robot is not None and (rid is None or rid == self.ctl.robot):
            self.ctl.give()
        elif rid:
            self.ctl.take(rid)

    def label_selected(self, outcome: str) -> bool:
        """Label the selected robot's last ended episode (from the queue, else from the store)."""
        rid = self.wall.current
        if not rid:
            return False
        waiting = self.view.to_label(rid)
        eid = waiting[0].episode_id if waiting else ""
        old = "unlabeled"
        if not eid:
            try:
                rows = self.client.list_episodes(robot=rid, status="ended", limit=1)
            except HubError as e:
                self.notify(f"label: {e}")
                return False
            if not rows:
                self.notify(f"{rid} has no ended episode to label yet")
                return False
            eid, old = rows[0].episode_id, rows[0].outcome
        rep = self.client.label(rid, eid, outcome, note=self.pending_note)
        if not rep.ok:
            self.notify(f"label {eid}: {rep.error}")
            return False
        self.pending_note = ""
        self.last_label = (rid, eid, old)
        self.view.labelled(eid)
        self.notify(f"labelled {eid} {outcome} (Ctrl+Z undoes)")
        return True

    def undo_label(self) -> None:
        if self.last_label is None:
            return
        rid, eid, old = self.last_label
        rep = self.client.relabel(eid, old, note="undo")
        self.notify(f"undo: {eid} back to {old}" if rep.ok else f"undo refused: {rep.error}")
        self.last_label = None

    def ask_note(self) -> None:
        text, ok = QInputDialog.getText(self, "Note", "note for the next label:")
        if ok:
            self.pending_note = text.strip()

    def _gamepad(self, action: str) -> None:
        if action == "take":
            self.take_selected()
        elif action == "give":
            self.ctl.give()
        elif action in ("success", "failure"):
            self.label_selected(action)
        elif action == "rerecord" and self.ctl.robot:
            self.client.reset_episode(self.ctl.robot)

    def toggle_mute(self) -> None:
        muted = self.sounder.toggle_mute()
        self.view.set_muted(muted)
        self.notify("alerts muted" if muted else "alerts sound again")

    # --- keys -------------------------------------------------------------------------------------

    def handle_key(self, ev, press: bool) -> bool:
        key, mods = ev.key(), ev.modifiers()
        name = KEY_NAMES.get(key)
        driving = self.ctl.robot is not None
        if not press:
            return driving and name is not None and self.ctl.key_release(name)
        if key == Qt.Key.Key_Escape:
            self.ctl.stop()
            return True
        if driving and name is not None and self.ctl.key_press(name):
            return True  # while driving, S and F move the robot; label after giving it back
        if key == Qt.Key.Key_Space:
            self.toggle_take()
            return True
        if key == Qt.Key.Key_J:
            self.jump_to_most_urgent()
            return True
        if key == Qt.Key.Key_M:
            self.toggle_mute()
            return True
        if key == Qt.Key.Key_Z and mods & Qt.KeyboardModifier.ControlModifier:
            self.undo_label()
            return True
        if key == Qt.Key.Key_N:
            self.ask_note()
            return True
        if not driving and key in (Qt.Key.Key_S, Qt.Key.Key_F):
            self.label_selected("success" if key == Qt.Key.Key_S else "failure")
            return True
        moves = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
                 Qt.Key.Key_Down: (0, 1), Qt.Key.Key_Tab: (1, 0), Qt.Key.Key_Backtab: (-1, 0)}
        if key in moves and self.tabs.currentWidget() is self.fleet_tab:
            self.wall.move(*moves[key])
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.detail.setVisible(not self.detail.isVisible())
            return True
        return False

    # --- closing ------------------------------------------------------------------------------------

    def closeEvent(self, ev) -> None:
        self.shutdown()
        super().closeEvent(ev)

    def shutdown(self) -> None:
        """Stop timers and devices; a robot being driven is left in a safe stop (or given back,
        by setting); the client is closed if this window owns it."""
        if self.closed:
            return
        self.closed = True
        from PyQt6.QtWidgets import QApplication

        QApplication.instance().removeEventFilter(self._keys)
        self.model_timer.stop()
        self.display_timer.stop()
        self.learning_timer.stop()
        self.detail.close_fetchers()
        self.episodes.fetcher.close()
        self.learner_timer.stop()
        goodbye = True
        if self.ctl.robot is not None:
            if self.settings.on_close_driving == "give":
                self.ctl.give()
            else:
                log.warning("console closed while driving %s: it holds still (deadman safe stop)", self.ctl.robot)
                # No goodbye: a goodbye hands held robots back to their policy. Vanishing lets the
                # deadman stop the robot, and the hub's timeout alerts that its operator left.
                goodbye = False
        self.ctl.abandon()
        self.decoder.close()
        if self.owns_client:
            self.client.close(goodbye=goodbye)
