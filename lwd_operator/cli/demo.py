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
    p.add_argument("--camera-fps", type=float, default=5.0, help="camera rate per robot (default 5: a frame costs ~20 ms of CPU in each robot's render process)")
    p.add_argument("--no-bot", action="store_true", help="no operator bot: failing robots wait for you")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
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
    with DemoStack(cfg, opts) as stack:
        run_table_view(stack, args.duration)
    return 0
