"""Input devices to the exact Teleop messages they produce (no Qt, no hardware).

SpaceMouse: HID report bytes in both firmware layouts (data/spacemouse_reports.json).
Gamepad: controller events synthesized through SDL2 itself (SDL_PushEvent), read back by the
same ``SdlGamepad.poll`` the console uses.
"""

import ctypes
import json
import pathlib

import pytest

from lwd_core.protocol.messages import Teleop
from lwd_operator.devices import (
    DeviceSpeeds,
    GamepadTeleop,
    KeyboardTeleop,
    SdlGamepad,
    SpaceMouseState,
    SpaceMouseTeleop,
    parse_report,
)

REPORTS = json.loads((pathlib.Path(__file__).parent / "data" / "spacemouse_reports.json").read_text())
SPEEDS = DeviceSpeeds(spacemouse_m_per_tick=0.01, gamepad_m_per_tick=0.01, deadzone=0.1)


def feed(teleop, hexes, layout="auto"):
    for h in hexes:
        teleop.feed(bytes.fromhex(h), layout)


def test_old_layout_translation_rotation_buttons():
    s = SpaceMouseState()
    s = parse_report(s, bytes.fromhex("015e0100000000"))
    assert s.translation == (350, 0, 0)
    s = parse_report(s, bytes.fromhex("02010002000300"))
    assert s.rotation == (1, 2, 3) and s.translation == (350, 0, 0)
    s = parse_report(s, bytes.fromhex("0303"))
    assert s.buttons == 3


def test_new_layout_single_report_carries_six_axes():
    s = parse_report(SpaceMouseState(), bytes.fromhex("0100002c01af00100000000000" + "00"))
    assert s.translation == (0, 300, 175) and s.rotation == (16, 0, 0)


def test_short_report_is_refused():
    with pytest.raises(ValueError, match="report 1"):
        parse_report(SpaceMouseState(), bytes.fromhex("015e01"))


@pytest.mark.parametrize("layout", ["old", "new"])
def test_spacemouse_full_push_forward_is_one_step_forward(layout):
    t = SpaceMouseTeleop(SPEEDS)
    feed(t, REPORTS[layout]["push_forward_full"])
    msg = t.command().to_message("r1")
    assert msg == Teleop(robot_id="r1", dpos=(0.01, 0.0, 0.0), gripper=-1.0)


def test_spacemouse_old_layout_lift_and_left():
    t = SpaceMouseTeleop(SPEEDS)
    feed(t, REPORTS["old"]["lift_half_and_left"])
    # y=-91 (toward the left of the user), z=-175 (puck pulled up): robot +y, +z.
    # Normalised: 91/350=0.26 -> (0.26-0.1)/0.9*0.01; 175/350=0.5 -> (0.5-0.1)/0.9*0.01.
    msg = t.command().to_message("r1")
    assert msg.dpos == (0.0, round((91 / 350 - 0.1) / 0.9 * 0.01, 6), round(0.4 / 0.9 * 0.01, 6))


def test_spacemouse_new_layout_down_and_right():
    t = SpaceMouseTeleop(SPEEDS)
    feed(t, REPORTS["new"]["down_and_right_with_twist"])
    msg = t.command().to_message("r1")
    assert msg.dpos == (0.0, round(-(300 / 350 - 0.1) / 0.9 * 0.01, 6), round(-0.4 / 0.9 * 0.01, 6))


@pytest.mark.parametrize("layout", ["old", "new"])
def test_spacemouse_left_button_toggles_gripper_right_asks_give_back(layout):
    t = SpaceMouseTeleop(SPEEDS)
    feed(t, REPORTS[layout]["left_button_press_release"])
    assert t.command().to_message("r1") == Teleop(robot_id="r1", dpos=(0.0, 0.0, 0.0), gripper=1.0)
    feed(t, REPORTS[layout]["left_button_press_release"])
    assert t.command().gripper == -1.0
    assert not t.give_requested
    feed(t, REPORTS["old"]["right_button"])
    assert t.give_requested


def test_keyboard_held_keys_and_fine():
    k = KeyboardTeleop(DeviceSpeeds(keyboard_m_per_tick=0.008, fine_factor=0.25))
    k.press("W")
    k.press("r")
    assert k.command().to_message("r1") == Teleop(robot_id="r1", dpos=(0.008, 0.0, 0.008), gripper=-1.0)
    k.press("shift")
    k.press("e")
    assert k.command().to_message("r1") == Teleop(robot_id="r1", dpos=(0.002, 0.0, 0.002), gripper=1.0)
    k.release("w")
    k.release("shift")
    assert k.command().dpos == (0.0, 0.0, 0.008)
    k.stop()
    assert k.command().dpos == (0.0, 0.0, 0.0)
    assert not k.press("z")


@pytest.fixture
def sdl_pad():
    pad = SdlGamepad()
    assert pad.open(), pad.problem
    pad.poll()  # drop device events from start-up
    yield pad
    pad.close()


def push_axis(sdl2, axis, value):
    e = sdl2.SDL_Event()
    e.type = sdl2.SDL_CONTROLLERAXISMOTION
    e.caxis.axis, e.caxis.value = axis, value
    assert sdl2.SDL_PushEvent(ctypes.byref(e)) == 1


def push_button(sdl2, button, down):
    e = sdl2.SDL_Event()
    e.type = sdl2.SDL_CONTROLLERBUTTONDOWN if down else sdl2.SDL_CONTROLLERBUTTONUP
    e.cbutton.button = button
    assert sdl2.SDL_PushEvent(ctypes.byref(e)) == 1


def test_gamepad_sdl_events_to_teleop_lerobot_preset(sdl_pad):
    sdl2 = sdl_pad.sdl
    g = GamepadTeleop(SPEEDS)
    push_button(sdl2, sdl2.SDL_CONTROLLER_BUTTON_RIGHTSHOULDER, True)  # hold RB: intervene
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_LEFTY, -32768)  # stick fully up: forward
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_RIGHTY, 32767)  # right stick down: z down
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_LEFTX, 1000)  # inside the deadzone
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_TRIGGERLEFT, 32767)  # LT: close gripper
    for ev in sdl_pad.poll():
        g.feed(ev)
    assert g.intervening and g.actions == ["take"]
    assert g.command().to_message("r3") == Teleop(robot_id="r3", dpos=(0.01, 0.0, -0.01), gripper=1.0)
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_TRIGGERRIGHT, 32767)  # RT: open
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_LEFTY, 0)
    push_axis(sdl2, sdl2.SDL_CONTROLLER_AXIS_RIGHTY, 0)
    push_button(sdl2, sdl2.SDL_CONTROLLER_BUTTON_Y, True)
    push_button(sdl2, sdl2.SDL_CONTROLLER_BUTTON_Y, False)
    push_button(sdl2, sdl2.SDL_CONTROLLER_BUTTON_RIGHTSHOULDER, False)
    for ev in sdl_pad.poll():
        g.feed(ev)
    assert g.command().to_message("r3") == Teleop(robot_id="r3", dpos=(0.0, 0.0, 0.0), gripper=-1.0)
    assert g.actions == ["take", "success", "give"]
