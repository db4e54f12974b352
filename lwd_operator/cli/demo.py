"""``lwd demo``: the whole system on one machine with sensible defaults, the loop closed.

A hub (with recording), a simulated Meta-World fleet in its own processes starting from a weak
policy (made on first run with a progress bar, then cached in runs/demo/), the
operator bot, the learner, and a live view of the fleet whose title shows the success and
intervention rates of the last minute and what the learner has done. Keys are generated on
first run; nothing runs unauthenticated.
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
    p.add_argument("--camera-fps", type=float, default=5.0, help="camera rate per robot (default 5: a frame costs ~20 ms of CPU in each robot's render process)")
    p.add_argument("--no-bot", action="store_true", help="no operator bot: failing robots wait for you")
    p.add_argument("--no-learner", action="store_true",
                   help="no learning: no starting policy, learner or auto-deploy (robots run the config's policy)")
    p.add_argument("--deploy", choices=("direct", "canary"), default="direct",
                   help="how candidates reach the fleet: direct (each at once, default) or canary (the hub "
                        "promotes or rolls back)")
    p.add_argument("--learner-agent", choices=("divl_qam", "bc"), default="divl_qam",
                   help="divl_qam (LWD, default) or bc (HG-DAgger-style: successes and interventions)")
    p.add_argument("--start-hidden", type=int, default=256,
                   help="network width of the starting policy and the learner (default 256)")
    p.add_argument("--work-dir", default="runs/demo",
                   help="cache of the starting policy and the learner's run folder (default runs/demo)")
    p.add_argument("--start-bc-steps", type=int, default=600,
                   help="pre-training steps of the weak starting policy (made once, cached; default 600)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--until-labelled", type=int, default=0, metavar="N",
                   help="stop once the operator bot has labelled N episodes (table and none front "
                        "ends; --duration still caps it; scripted smoke runs)")
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
                       learner=not args.no_learner, deploy=args.deploy, learner_agent=args.learner_agent,
                       start_bc_steps=args.start_bc_steps, work_dir=args.work_dir,
                       start_hidden=args.start_hidden, config_path=args.config, verbose=args.verbose)
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
            run_table_view(stack, args.duration, args.until_labelled)
        else:
            wait_quietly(stack, args.duration, args.until_labelled)
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


def wait_quietly(stack, duration: float | None, until_labelled: int = 0) -> None:
    import time

    end = time.monotonic() + duration if duration else None
    print("lwd demo: running without a front end; Ctrl-C stops it")
    try:
        while not stack.should_stop(end, until_labelled):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    summary = stack.bot_summary()
    if summary:
        print(summary)
