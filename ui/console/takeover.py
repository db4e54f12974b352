"""Takeover: take / give, teleop at the control rate from keyboard, SpaceMouse or gamepad, and
the banner that always says which robot you drive and what it does if you let go.

Safety: teleop is only sent while the hub answers; when the hub goes quiet the banner says the
robot is in a safe stop (its deadman fires: it holds still and does not resume its policy).
"""

from __future__ import annotations

import logging
import time

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QLabel

from lwd_operator.client import HubError
from lwd_operator.devices import (
    KEY_HELP,
    DeviceSpeeds,
    GamepadTeleop,
    KeyboardTeleop,
    SdlGamepad,
    SpaceMouseReader,
    SpaceMouseTeleop,
    TeleopCommand,
)

log = logging.getLogger("lwd.console.takeover")


class TakeoverController(QObject):
    """Owns the driven robot and the teleop timer. Every action is one ``HubClient`` call."""

    changed = pyqtSignal()
    notice = pyqtSignal(str)
    gamepad_action = pyqtSignal(str)
    """``take``, ``give``, ``success``, ``failure`` or ``rerecord`` from the gamepad preset."""

    def __init__(self, client, speeds: DeviceSpeeds | None = None, control_hz: float = 20.0,
                 deadman_ms: int = 300, use_devices: bool = True, parent=None):
        super().__init__(parent)
        self.client, self.speeds, self.deadman_ms = client, speeds or DeviceSpeeds(), deadman_ms
        self.robot: str | None = None
        self.took_at = 0.0
        self.keyboard = KeyboardTeleop(self.speeds)
        self.spacemouse = SpaceMouseTeleop(self.speeds)
        self.gamepad = GamepadTeleop(self.speeds)
        self.device = "keyboard"
        self.held_still = False
        self.hub_lost = False
        self.last_error = ""
        self.sent = 0
        self.last_command: TeleopCommand | None = None
        self._sm_reader = self._pad = None
        if use_devices:
            self._open_devices()
        self.timer = QTimer(self)
        self.timer.setInterval(max(10, int(1000 / control_hz)))
        self.timer.timeout.connect(self.tick)
        self.error_timer = QTimer(self)
        self.error_timer.setSingleShot(True)
        self.error_timer.setInterval(8000)
        self.error_timer.timeout.connect(self._clear_error)
        self.pad_timer = QTimer(self)
        self.pad_timer.setInterval(20)
        self.pad_timer.timeout.connect(self.poll_gamepad)
        if self._pad is not None:
            self.pad_timer.start()

    def _open_devices(self) -> None:
        reader = SpaceMouseReader(self.spacemouse)
        if reader.open():
            self._sm_reader = reader
        else:
            log.info("SpaceMouse: %s", reader.problem)
        pad = SdlGamepad()
        if pad.open():
            self._pad = pad
        else:
            log.info("gamepad: %s", pad.problem)

    @property
    def devices(self) -> list[str]:
        return ["keyboard"] + (["spacemouse"] if self._sm_reader else []) + (
            ["gamepad"] if self._pad and self._pad.controllers else [])

    # --- actions --------------------------------------------------------------------------------

    def take(self, robot_id: str) -> bool:
        if self.robot == robot_id:
            return True
        if self.robot is not None:
            self.give()
        try:
            rep = self.client.take(robot_id)
        except HubError as e:
            rep = None
            self.last_error = str(e)
        if rep is None or not rep.ok:
            self.last_error = rep.error if rep is not None else self.last_error
            self.notice.emit(f"cannot take {robot_id}: {self.last_error}")
            self.changed.emit()
            self.error_timer.start()  # a child timer: it dies with this object, a lambda would not
            return False
        self.robot, self.held_still, self.last_error = robot_id, False, ""
        self.took_at = time.monotonic()
        self.keyboard.stop()
        self.client.watch_telemetry(robot_id)
        self.timer.start()
        self.notice.emit(f"you drive {robot_id}")
        self.changed.emit()
        return True

    def _clear_error(self) -> None:
        """A refusal stays on the banner for a few seconds (it remains in the status log)."""
        if self.last_error and self.robot is None:
            self.last_error = ""
            self.changed.emit()

    def give(self) -> bool:
        rid = self.robot
        if rid is None:
            return False
        self.timer.stop()
        try:
            rep = self.client.give(rid)
            ok, err = rep.ok, rep.error
        except HubError as e:
            ok, err = False, str(e)
        self.robot = None
        self.keyboard.stop()
        self.notice.emit(f"gave {rid} back to its policy" if ok else f"give {rid}: {err}")
        self.changed.emit()
        return ok

    def stop(self) -> None:
        """Esc: hold the robot still (zero motion) until a movement key is pressed again."""
        self.keyboard.stop()
        self.held_still = True
        if self.robot:
            self._send(TeleopCommand((0.0, 0.0, 0.0), self._gripper()))
        self.changed.emit()

    def forget(self, why: str) -> None:
        """The hub no longer gives us this robot (it released our lock after losing us): stop
        sending, and say why; the robot stays in its safe stop until someone takes it."""
        if self.robot is None:
            return
        rid, self.robot = self.robot, None
        self.timer.stop()
        self.keyboard.stop()
        self.hub_lost = False
        self.last_error = f"you no longer hold {rid}: {why}"
        self.notice.emit(self.last_error)
        self.changed.emit()

    def abandon(self) -> None:
        """The console is closing while driving: stop sending. With the client closed the hub
        hears nothing more, the robot's deadman fires and it holds still (safe stop); it does not
        resume its policy until an operator takes and gives it."""
        self.timer.stop()
        self.pad_timer.stop()
        if self._sm_reader:
            self._sm_reader.close()
        if self._pad:
            self._pad.close()

    # --- input ----------------------------------------------------------------------------------

    def key_press(self, name: str) -> bool:
        if self.robot is None:
            return False
        used = self.keyboard.press(name)
        if used:
            self.device, self.held_still = "keyboard", False
            self.changed.emit()
        return used

    def key_release(self, name: str) -> bool:
        return self.robot is not None and self.keyboard.release(name)

    def poll_gamepad(self) -> None:
        if self._pad is None:
            return
        for ev in self._pad.poll():
            self.gamepad.feed(ev)
            if ev.kind == "axis" and abs(ev.value) > self.speeds.deadzone:
                self.device = "gamepad"
        actions, self.gamepad.actions = self.gamepad.actions, []
        for a in actions:
            self.gamepad_action.emit(a)

    def _gripper(self) -> float:
        return {"spacemouse": self.spacemouse, "gamepad": self.gamepad}.get(self.device, self.keyboard).gripper

    def command(self) -> TeleopCommand:
        if self.device == "spacemouse":
            if self._sm_reader is not None:
                with self._sm_reader.lock:
                    return self.spacemouse.command()
            return self.spacemouse.command()
        if self.device == "gamepad":
            return self.gamepad.command()
        return self.keyboard.command()

    def tick(self) -> None:
        """Control-rate timer: send the active device's command while the hub answers."""
        if self.robot is None:
            return
        lost = self.client.hub_stale
        if lost != self.hub_lost:
            self.hub_lost = lost
            self.notice.emit(f"HUB LOST: {self.robot} is in a safe stop" if lost else "hub is back")
            self.changed.emit()
        if lost:
            return
        if self._sm_reader is not None and self.spacemouse.command().moving:
            self.device = "spacemouse"
        if self.spacemouse.give_requested:
            self.spacemouse.give_requested = False
            self.give()
            return
        cmd = TeleopCommand((0.0, 0.0, 0.0), self._gripper()) if self.held_still else self.command()
        self._send(cmd)

    def _send(self, cmd: TeleopCommand) -> None:
        self.client.teleop(self.robot, cmd.dpos, cmd.gripper)
        self.last_command = cmd
        self.sent += 1


class TakeoverBanner(QLabel):
    """Impossible to miss while you drive; hidden otherwise."""

    def __init__(self, ctl: TakeoverController, parent=None):
        super().__init__(parent)
        self.ctl = ctl
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.robot_mode = ""
        ctl.changed.connect(self.refresh)
        self.refresh()

    def set_robot_mode(self, mode: str) -> None:
        if mode != self.robot_mode:
            self.robot_mode = mode
            self.refresh()

    def refresh(self) -> None:
        c = self.ctl
        if c.robot is None:
            if c.last_error:
                self._show(f"Not driving: {c.last_error}", "#5a4a10")
            else:
                self.hide()
            return
        scale = {"keyboard": c.speeds.keyboard_m_per_tick, "spacemouse": c.speeds.spacemouse_m_per_tick,
                 "gamepad": c.speeds.gamepad_m_per_tick}[c.device] * 1000
        if c.hub_lost:
            self._show(f"HUB LOST — {c.robot} is in a SAFE STOP (deadman {c.deadman_ms} ms): it holds still "
                       "and stays stopped until an operator takes it again", "#a01818")
        elif self.robot_mode == "stopped":
            self._show(f"DEADMAN FIRED — {c.robot} holds still. Any key or the device resumes your control; "
                       "Space gives it back to its policy", "#b05a10")
        elif c.held_still:
            self._show(f"YOU HOLD {c.robot} STILL (Esc) — a movement key drives again · Space gives it back",
                       "#b05a10")
        else:
            self._show(f"YOU DRIVE {c.robot} — deadman armed ({c.deadman_ms} ms): if this console goes quiet "
                       f"{c.robot} holds still · {c.device} {scale:.0f} mm/tick\n{KEY_HELP}", "#1c4fb0")

    def _show(self, text: str, bg: str) -> None:
        self.setText(text)
        self.setStyleSheet(f"background: {bg}; color: white; font-weight: bold; padding: 6px; font-size: 11pt;")
        self.show()
