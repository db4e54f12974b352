"""Gamepad: a LeRobot-style preset over SDL2 game-controller events.

The preset matches LeRobot's gamepad teleoperator so its users feel at home: hold the right
bumper (upper-right trigger) to intervene; left stick moves x/y, right stick vertical moves z;
the left trigger closes the gripper and the right one opens it; Y labels the episode a
success, A a failure, X asks to re-record (reset the episode).

``GamepadTeleop`` is pure (events in, command and actions out); ``SdlGamepad`` turns SDL2
controller events (pysdl2, imported only when a gamepad is used) into ``GamepadEvent``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os

from lwd_operator.devices.teleop import (
    GRIPPER_CLOSE,
    GRIPPER_OPEN,
    DeviceSpeeds,
    TeleopCommand,
    shape_axis,
)

log = logging.getLogger("lwd.devices.gamepad")

AXES = ("leftx", "lefty", "rightx", "righty", "lefttrigger", "righttrigger")
"""SDL_GameControllerAxis order."""
BUTTONS = ("a", "b", "x", "y", "back", "guide", "start", "leftstick", "rightstick",
           "leftshoulder", "rightshoulder")
"""SDL_GameControllerButton order (the first eleven)."""
TRIGGER_PRESSED = 0.5


@dataclasses.dataclass(frozen=True)
class GamepadEvent:
    kind: str
    """``axis`` or ``button``."""
    name: str
    """An entry of ``AXES`` or ``BUTTONS``."""
    value: float
    """Axis in [-1, 1] (triggers [0, 1]); button 1.0 pressed, 0.0 released."""


class GamepadTeleop:
    """LeRobot preset. ``actions`` collects one-shot requests: ``take``, ``give``, ``success``,
    ``failure``, ``rerecord``; the caller drains it."""

    def __init__(self, speeds: DeviceSpeeds | None = None):
        self.speeds = speeds or DeviceSpeeds()
        self.axes = dict.fromkeys(AXES, 0.0)
        self.buttons: set[str] = set()
        self.gripper = GRIPPER_OPEN
        self.actions: list[str] = []

    @property
    def intervening(self) -> bool:
        return "rightshoulder" in self.buttons

    def feed(self, ev: GamepadEvent) -> None:
        if ev.kind == "axis" and ev.name in self.axes:
            before = self.axes[ev.name]
            self.axes[ev.name] = max(-1.0, min(1.0, ev.value))
            if ev.name == "lefttrigger" and before < TRIGGER_PRESSED <= ev.value:
                self.gripper = GRIPPER_CLOSE
            elif ev.name == "righttrigger" and before < TRIGGER_PRESSED <= ev.value:
                self.gripper = GRIPPER_OPEN
        elif ev.kind == "button":
            down = ev.value >= 0.5
            was = ev.name in self.buttons
            (self.buttons.add if down else self.buttons.discard)(ev.name)
            if ev.name == "rightshoulder" and down != was:
                self.actions.append("take" if down else "give")
            elif down and not was:
                action = {"y": "success", "a": "failure", "x": "rerecord"}.get(ev.name)
                if action:
                    self.actions.append(action)

    def command(self) -> TeleopCommand:
        step, dz = self.speeds.gamepad_m_per_tick, self.speeds.deadzone
        a = self.axes
        # Stick up reads negative in SDL; forward (x) and up (z) are positive for the robot.
        dpos = (shape_axis(-a["lefty"], dz) * step, shape_axis(-a["leftx"], dz) * step,
                shape_axis(-a["righty"], dz) * step)
        return TeleopCommand(tuple(round(v, 6) for v in dpos), self.gripper)  # type: ignore[arg-type]


def sdl_axis_value(raw: int, axis: str) -> float:
    """SDL's int16 axis reading, normalised (triggers read 0..32767)."""
    return raw / 32767.0 if raw >= 0 else raw / 32768.0


class SdlGamepad:
    """SDL2 game-controller input, polled (call ``poll`` from a timer; SDL needs no thread).

    ``open()`` returns False with ``problem`` set when pysdl2/SDL2 is missing; a controller
    plugged in later is opened on its SDL_CONTROLLERDEVICEADDED event.
    """

    def __init__(self):
        self.sdl = None
        self.controllers: list = []
        self.problem = ""

    def open(self) -> bool:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # no window: Qt owns the display
        try:
            import sdl2
        except ImportError as e:
            self.problem = f"pysdl2 unavailable: {e}"
            return False
        if sdl2.SDL_Init(sdl2.SDL_INIT_GAMECONTROLLER | sdl2.SDL_INIT_EVENTS) != 0:
            self.problem = f"SDL init failed: {sdl2.SDL_GetError().decode(errors='replace')}"
            return False
        self.sdl = sdl2
        for i in range(sdl2.SDL_NumJoysticks()):
            self._open_index(i)
        return True

    def _open_index(self, index: int) -> None:
        sdl2 = self.sdl
        if sdl2.SDL_IsGameController(index):
            c = sdl2.SDL_GameControllerOpen(index)
            if c:
                self.controllers.append(c)
                log.info("gamepad: %s", sdl2.SDL_GameControllerName(c))

    def poll(self) -> list[GamepadEvent]:
        """Every controller event since the last call, oldest first."""
        if self.sdl is None:
            return []
        sdl2, out = self.sdl, []
        ev = sdl2.SDL_Event()
        while sdl2.SDL_PollEvent(ctypes.byref(ev)):
            if ev.type == sdl2.SDL_CONTROLLERAXISMOTION and ev.caxis.axis < len(AXES):
                name = AXES[ev.caxis.axis]
                out.append(GamepadEvent("axis", name, sdl_axis_value(ev.caxis.value, name)))
            elif ev.type in (sdl2.SDL_CONTROLLERBUTTONDOWN, sdl2.SDL_CONTROLLERBUTTONUP):
                if ev.cbutton.button < len(BUTTONS):
                    out.append(GamepadEvent("button", BUTTONS[ev.cbutton.button],
                                            1.0 if ev.type == sdl2.SDL_CONTROLLERBUTTONDOWN else 0.0))
            elif ev.type == sdl2.SDL_CONTROLLERDEVICEADDED:
                self._open_index(ev.cdevice.which)
        return out

    def close(self) -> None:
        if self.sdl is not None:
            for c in self.controllers:
                self.sdl.SDL_GameControllerClose(c)
            self.sdl.SDL_QuitSubSystem(self.sdl.SDL_INIT_GAMECONTROLLER | self.sdl.SDL_INIT_EVENTS)
            self.sdl = None
