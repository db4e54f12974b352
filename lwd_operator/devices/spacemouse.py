"""3Dconnexion SpaceMouse: HID report parser, mapping to teleop, and the optional device reader.

Two report layouts exist (the same as pyspacemouse and the Linux spacenavd driver know):

- old (SpaceNavigator, SpaceMouse Pro/Wireless before 2019): report 1 = translation x, y, z,
  report 2 = rotation rx, ry, rz, each three little-endian int16; report 3 = button bitmask.
- new (SpaceMouse Compact/Wireless since 2019, the "one report" firmware): report 1 carries all
  six axes (12 bytes), report 3 the buttons.

Axis values run to about ±350 at full deflection. The puck's y axis points toward the user and
z down, so both are negated to get the robot frame (x forward, y left, z up).
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import threading
from collections.abc import Callable

from lwd_operator.devices.teleop import (
    GRIPPER_CLOSE,
    GRIPPER_OPEN,
    DeviceSpeeds,
    TeleopCommand,
    shape_axis,
)

log = logging.getLogger("lwd.devices.spacemouse")

FULL_SCALE = 350.0
VENDOR_IDS = (0x046D, 0x256F)
"""Logitech (older 3Dconnexion devices) and 3Dconnexion."""


@dataclasses.dataclass(frozen=True)
class SpaceMouseState:
    translation: tuple[int, int, int] = (0, 0, 0)
    rotation: tuple[int, int, int] = (0, 0, 0)
    buttons: int = 0


def parse_report(state: SpaceMouseState, report: bytes, layout: str = "auto") -> SpaceMouseState:
    """The state after one HID input report (first byte: report id). Unknown reports leave the
    state as it was; a short report raises ``ValueError``.

    ``layout`` is ``old``, ``new`` or ``auto`` (a 13-byte report 1 is the new layout).
    """
    if not report:
        raise ValueError("empty SpaceMouse report")
    rid, body = report[0], bytes(report[1:])
    if rid == 1:
        new = layout == "new" or (layout == "auto" and len(body) >= 12)
        if new:
            if len(body) < 12:
                raise ValueError(f"new-layout report 1 needs 12 bytes, got {len(body)}")
            v = struct.unpack_from("<6h", body)
            return dataclasses.replace(state, translation=v[:3], rotation=v[3:])
        if len(body) < 6:
            raise ValueError(f"report 1 needs 6 bytes, got {len(body)}")
        return dataclasses.replace(state, translation=struct.unpack_from("<3h", body))
    if rid == 2:
        if len(body) < 6:
            raise ValueError(f"report 2 needs 6 bytes, got {len(body)}")
        return dataclasses.replace(state, rotation=struct.unpack_from("<3h", body))
    if rid == 3:
        bits = int.from_bytes(body[:4].ljust(4, b"\0"), "little")
        return dataclasses.replace(state, buttons=bits)
    return state


BUTTON_LEFT = 1
BUTTON_RIGHT = 2


class SpaceMouseTeleop:
    """State -> command. The left button toggles the gripper (on press); the right button asks
    for give-back (``give_requested`` is set once per press)."""

    def __init__(self, speeds: DeviceSpeeds | None = None):
        self.speeds = speeds or DeviceSpeeds()
        self.state = SpaceMouseState()
        self.gripper = GRIPPER_OPEN
        self.give_requested = False

    def feed(self, report: bytes, layout: str = "auto") -> None:
        old = self.state.buttons
        self.state = parse_report(self.state, report, layout)
        pressed = self.state.buttons & ~old
        if pressed & BUTTON_LEFT:
            self.gripper = GRIPPER_CLOSE if self.gripper == GRIPPER_OPEN else GRIPPER_OPEN
        if pressed & BUTTON_RIGHT:
            self.give_requested = True

    def command(self) -> TeleopCommand:
        x, y, z = (v / FULL_SCALE for v in self.state.translation)
        step, dz = self.speeds.spacemouse_m_per_tick, self.speeds.deadzone
        dpos = (shape_axis(x, dz) * step, shape_axis(-y, dz) * step, shape_axis(-z, dz) * step)
        return TeleopCommand(tuple(round(v, 6) for v in dpos), self.gripper)  # type: ignore[arg-type]


class SpaceMouseReader:
    """Reads reports from the first SpaceMouse found (hidapi) on a thread; optional at run time.

    ``open()`` returns False (and logs why) when hidapi or a device is missing; the console then
    keeps the keyboard and says so.
    """

    def __init__(self, teleop: SpaceMouseTeleop, on_report: Callable[[], None] | None = None):
        self.teleop, self.on_report = teleop, on_report
        self.device = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.problem = ""

    def open(self) -> bool:
        try:
            import hid
        except ImportError as e:  # hidapi missing or its shared library absent
            self.problem = f"hidapi unavailable: {e}"
            return False
        for info in hid.enumerate():
            if info.get("vendor_id") in VENDOR_IDS and "space" in (info.get("product_string") or "").lower():
                dev = hid.device()
                try:
                    dev.open_path(info["path"])
                except OSError as e:
                    self.problem = f"cannot open {info.get('product_string')}: {e}"
                    continue
                dev.set_nonblocking(False)
                self.device = dev
                threading.Thread(target=self._run, name="spacemouse", daemon=True).start()
                return True
        self.problem = self.problem or "no SpaceMouse connected"
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            data = self.device.read(16, 100)
            if not data:
                continue
            try:
                with self.lock:
                    self.teleop.feed(bytes(data))
            except ValueError as e:
                log.info("ignored SpaceMouse report: %s", e)
                continue
            if self.on_report:
                self.on_report()

    def close(self) -> None:
        self._stop.set()
        if self.device is not None:
            self.device.close()
