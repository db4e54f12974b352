"""Teleop commands and the keyboard mapping: what every input device produces.

A device turns its raw input into a ``TeleopCommand`` (end-effector delta in metres per control
tick plus a gripper command in [-1, 1]); the console sends the newest command at the control
rate while a device is active. Nothing here knows Qt: the console names keys as strings.
"""

from __future__ import annotations

import dataclasses

from lwd_core.protocol.messages import Teleop

GRIPPER_OPEN = -1.0
GRIPPER_CLOSE = 1.0


@dataclasses.dataclass(frozen=True)
class DeviceSpeeds:
    """How fast each device moves the end effector."""

    keyboard_m_per_tick: float = 0.008
    """Keyboard step per control tick (20 Hz: 16 cm/s), under the robot's 5 cm/tick cap."""
    fine_factor: float = 0.25
    """Shift (fine) multiplies the keyboard step by this."""
    spacemouse_m_per_tick: float = 0.01
    """SpaceMouse full deflection per control tick."""
    gamepad_m_per_tick: float = 0.01
    """Gamepad full stick per control tick."""
    deadzone: float = 0.1
    """Fraction of full scale ignored around the rest position (sticks and puck drift)."""


@dataclasses.dataclass(frozen=True)
class TeleopCommand:
    dpos: tuple[float, float, float]
    gripper: float

    def to_message(self, robot_id: str) -> Teleop:
        """The wire message the console sends (the hub fills in the operator)."""
        return Teleop(robot_id=robot_id, dpos=self.dpos, gripper=self.gripper)

    @property
    def moving(self) -> bool:
        return any(abs(v) > 0 for v in self.dpos)


# key name -> (axis, sign); arrows and PgUp/PgDn mirror WASD/RF while driving.
KEY_AXES: dict[str, tuple[int, float]] = {
    "w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0),
    "up": (0, 1.0), "down": (0, -1.0), "left": (1, 1.0), "right": (1, -1.0),
    "pageup": (2, 1.0), "pagedown": (2, -1.0),
}
KEY_HELP = "W/S ±x · A/D ±y · R/F ±z (or arrows, PgUp/PgDn) · Shift fine · Q open · E close · Esc stop"


class KeyboardTeleop:
    """Held keys -> command. Keys act while held (key-down adds, key-up removes)."""

    def __init__(self, speeds: DeviceSpeeds | None = None):
        self.speeds = speeds or DeviceSpeeds()
        self.held: set[str] = set()
        self.fine = False
        self.gripper = GRIPPER_OPEN

    def press(self, key: str) -> bool:
        """Handle a key going down; True if the key belongs to teleop."""
        key = key.lower()
        if key == "q":
            self.gripper = GRIPPER_OPEN
        elif key == "e":
            self.gripper = GRIPPER_CLOSE
        elif key == "shift":
            self.fine = True
        elif key in KEY_AXES:
            self.held.add(key)
        else:
            return False
        return True

    def release(self, key: str) -> bool:
        key = key.lower()
        if key == "shift":
            self.fine = False
            return True
        if key in KEY_AXES:
            self.held.discard(key)
            return True
        return key in ("q", "e")

    def stop(self) -> None:
        """Forget every held key (Esc, focus lost): the next command holds still."""
        self.held.clear()
        self.fine = False

    def command(self) -> TeleopCommand:
        step = self.speeds.keyboard_m_per_tick * (self.speeds.fine_factor if self.fine else 1.0)
        d = [0.0, 0.0, 0.0]
        for k in self.held:
            axis, sign = KEY_AXES[k]
            d[axis] += sign
        dpos = tuple(float(max(-1.0, min(1.0, v)) * step) for v in d)
        return TeleopCommand(dpos, self.gripper)  # type: ignore[arg-type]


def shape_axis(value: float, deadzone: float) -> float:
    """A normalised axis in [-1, 1] with its deadzone removed and the rest rescaled to [-1, 1]."""
    v = max(-1.0, min(1.0, value))
    if abs(v) <= deadzone:
        return 0.0
    return (abs(v) - deadzone) / (1.0 - deadzone) * (1.0 if v > 0 else -1.0)
