"""``lwd console``: the PyQt6 operator console (camera wall, attention queue, takeover, review,
learning). Qt is imported only inside ``run``: the headless layers never load it."""

from __future__ import annotations

import getpass
import sys

from lwd_operator.cli.common import add_hub_args, resolve


def add_arguments(p) -> None:
    add_hub_args(p)
    p.add_argument("--operator", help="your operator name (default: the saved setting, else your login)")
    p.add_argument("--duration", type=float, help="close after this many seconds (demos, smoke tests)")
    p.add_argument("--no-devices", action="store_true", help="keyboard only: do not look for a SpaceMouse or gamepad")


def run(args) -> int:
    cfg, endpoints, keys = resolve(args)
    from lwd_operator.client import HubClient, HubError

    try:
        from ui.console.app import application
        from ui.console.settings import ConsoleSettings, qsettings
    except ImportError as e:  # PyQt6 missing, or no Qt platform library
        sys.exit(f"lwd console: the Qt console cannot start ({e}); try `lwd status` or the TUI")
    application()
    saved = ConsoleSettings.load(qsettings())
    operator = args.operator or saved.operator or getpass.getuser()
    try:
        client = HubClient(endpoints, keys, operator=operator, role="operator").start()
    except (HubError, ValueError) as e:
        sys.exit(f"lwd console: {e}")
    from ui.console.app import run_console

    return run_console(client, duration=args.duration, use_devices=not args.no_devices,
                       deadman_ms=cfg.hub.deadman_ms)


def run_on_stack(stack, operator: str = "op-1", duration: float | None = None) -> int:
    """Open the console on a running ``DemoStack`` (``lwd demo`` with a display)."""
    from ui.console.app import run_on_stack as run_qt

    return run_qt(stack, operator, duration)
