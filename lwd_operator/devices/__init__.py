"""Input devices for teleop (keyboard, SpaceMouse, gamepad), free of any UI toolkit.

Each device turns raw input (key names, HID reports, SDL controller events) into a
``TeleopCommand``; the console owns the timer that sends it at the control rate.
"""

from lwd_operator.devices.gamepad import GamepadEvent, GamepadTeleop, SdlGamepad
from lwd_operator.devices.spacemouse import (
    SpaceMouseReader,
    SpaceMouseState,
    SpaceMouseTeleop,
    parse_report,
)
from lwd_operator.devices.teleop import KEY_HELP, DeviceSpeeds, KeyboardTeleop, TeleopCommand

__all__ = [
    "KEY_HELP", "DeviceSpeeds", "GamepadEvent", "GamepadTeleop", "KeyboardTeleop", "SdlGamepad",
    "SpaceMouseReader", "SpaceMouseState", "SpaceMouseTeleop", "TeleopCommand", "parse_report",
]
