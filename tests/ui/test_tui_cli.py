"""``lwd tui`` and ``lwd demo --ui``: the launchers, without starting a fleet."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lwd(*args, timeout=60):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "lwd_operator.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


def test_tui_help_explains_itself():
    res = lwd("tui", "--help")
    assert res.returncode == 0
    assert "--sample" in res.stdout and "--no-bell" in res.stdout and "--operator" in res.stdout


def test_tui_without_a_hub_says_so(tmp_path):
    from lwd_operator.auth import init_keys

    keys = init_keys(tmp_path / "keys")
    res = lwd("tui", "--keys-dir", str(keys), "--port", "1", "--operator", "op-x", timeout=90)
    assert res.returncode == 1 and "no answer from hub" in res.stdout


def test_demo_ui_choice(monkeypatch):
    from lwd_operator.cli.demo import choose_ui

    assert choose_ui("tui") == "tui" and choose_ui("none") == "none"
    # under pytest stdin/stdout are not a terminal: without a display, the table
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert choose_ui("auto") == "table"
    monkeypatch.setenv("DISPLAY", ":99")  # with a display and the console package: the console
    assert choose_ui("auto") == "qt"
    help_text = lwd("demo", "--help").stdout
    assert "tui" in help_text and "qt" in help_text
