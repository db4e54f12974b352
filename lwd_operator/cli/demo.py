"""``lwd demo``: the whole system on one machine with sensible defaults.

A hub (with recording), a simulated Meta-World fleet in its own processes, the operator bot,
and a live view of the fleet. Keys are generated on first run; nothing runs unauthenticated.
"""

from __future__ import annotations

import dataclasses

from lwd_operator.cli.common import setup_logging
from lwd_operator.config import ConfigError, load_config
from lwd_operator.demo import DEFAULT_TASKS, DemoOptions, DemoStack, run_table_view


def add_arguments(p) -> None:
    p.add_argument("--config", help="TOML configuration file (default: $LWD_CONFIG or ./lwd.toml)")
    p.add_argument("-n", "--robots", type=int, default=4, help="number of simulated robots (default 4)")
    p.add_argument("--tasks", default=DEFAULT_TASKS, help=f"comma-separated Meta-World tasks or mt10 (default {DEFAULT_TASKS})")
    p.add_argument("--port", type=int, help="hub base port (default from config: 5750)")
    p.add_argument("--camera-fps", type=float, default=2.0, help="camera rate per robot (default 2: rendering costs ~80 ms of CPU a frame)")
    p.add_argument("--no-bot", action="store_true", help="no operator bot: failing robots wait for you")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--ui", choices=["auto", "qt", "tui", "table", "none"], default="auto",
                   help="front end: qt console, tui (terminal), table (rich, works in a pipe) or none; "
                        "auto: the console with a display, else the TUI in a terminal, else the table")
    p.add_argument("--operator", help="operator name for the front end (default: [tui] operator, else $USER)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def run(args) -> int:
    setup_logging(args.verbose)
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        raise SystemExit(f"lwd demo: {e}") from None
    if args.port:
        cfg = dataclasses.replace(cfg, hub=dataclasses.replace(cfg.hub, port=args.port))
    opts = DemoOptions(robots=args.robots, tasks=args.tasks, camera_fps=args.camera_fps, bot=not args.no_bot,
                       config_path=args.config, verbose=args.verbose)
    ui = choose_ui(args.ui)
    with DemoStack(cfg, opts) as stack:
        if ui == "qt":
            import getpass

            from lwd_operator.cli.console import run_on_stack

            run_on_stack(stack, args.operator or getpass.getuser() or "op-1", args.duration)
        elif ui == "tui":
            import getpass

            from ui.tui.app import run_tui

            name = args.operator or cfg.tui.operator or getpass.getuser() or "tui"
            client = stack.client(name, role="operator")
            try:
                run_tui(client, operator=name, config=cfg.tui, duration=args.duration)
            finally:
                client.close()
        elif ui == "table":
            run_table_view(stack, args.duration)
        else:
            wait_quietly(stack, args.duration)
    return 0


def choose_ui(asked: str) -> str:
    """``auto``: the console when a display and the console package exist, else the TUI when
    stdin and stdout are a terminal, else the rich table (it works in a pipe)."""
    import importlib.util
    import os
    import sys

    has_console = importlib.util.find_spec("ui.console") is not None
    if asked != "auto":
        return asked
    if has_console and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "qt"
    if sys.stdin.isatty() and sys.stdout.isatty():
        return "tui"
    return "table"


def wait_quietly(stack, duration: float | None) -> None:
    import time

    end = time.monotonic() + duration if duration else None
    print("lwd demo: running without a front end; Ctrl-C stops it")
    try:
        while end is None or time.monotonic() < end:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    summary = stack.bot_summary()
    if summary:
        print(summary)
