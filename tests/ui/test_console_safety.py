"""Safety edges of the console: losing the hub while driving, settings that persist, and the
``lwd console`` entry point against a live hub."""

import os
import subprocess
import sys

from PyQt6.QtCore import QSettings, Qt

from lwd_operator.devices import DeviceSpeeds
from ui.console.settings import ConsoleSettings

WAIT = 60_000


def test_losing_the_hub_while_driving_says_safe_stop_and_the_robot_holds_still(
        qtbot, recording_hub, make_robot, make_console):
    node = make_robot("r6", policy="hold")
    win = make_console("alice")
    qtbot.waitUntil(lambda: "r6" in win.wall.tiles, timeout=WAIT)
    win.select("r6")
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: node.mode == "human", timeout=WAIT)
    recording_hub.stopped_by_test = True
    recording_hub.stop()
    qtbot.waitUntil(lambda: win.ctl.hub_lost, timeout=WAIT)
    assert "HUB LOST" in win.banner.text() and "SAFE STOP" in win.banner.text()
    assert "LOST" in win.status_line.text()
    sent = win.ctl.sent
    qtbot.wait(500)
    assert win.ctl.sent == sent  # no teleop while the hub is gone
    qtbot.waitUntil(lambda: node.mode == "stopped", timeout=WAIT)


def test_settings_are_remembered_between_runs(tmp_path):
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    s = ConsoleSettings(host="10.0.0.7", port=6000, keys_dir="/k", operator="dana",
                        speeds=DeviceSpeeds(keyboard_m_per_tick=0.004, deadzone=0.2), on_close_driving="give")
    s.save(store)
    again = ConsoleSettings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert again == s
    assert ConsoleSettings.load(QSettings(str(tmp_path / "empty.ini"), QSettings.Format.IniFormat)) == ConsoleSettings()


def test_lwd_console_command_runs_against_a_live_hub(hub, hub_cfg, keys_dir, make_robot, tmp_path):
    make_robot("r7", policy="hold")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-m", "lwd_operator.cli", "console", "--port", str(hub_cfg.port),
                          "--keys-dir", str(keys_dir), "--operator", "erin", "--duration", "3", "--no-devices"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "console" in subprocess.run([sys.executable, "-m", "lwd_operator.cli", "console", "--help"],
                                       capture_output=True, text=True, env=env).stdout
