"""``lwd demo``: the whole system on one machine with sensible defaults.

A hub (with recording), a simulated Meta-World fleet in its own processes, the operator bot,
and a live view of the fleet. Keys are generated on first run; nothing runs unauthenticated.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from rich.console import Console
from rich.live import Live

from lwd_operator.auth import init_keys, load_client_keys
from lwd_operator.cli_common import setup_logging
from lwd_operator.config import ConfigError, load_config

DEFAULT_TASKS = "push-v3,reach-v3,drawer-open-v3,button-press-topdown-v3"


def add_arguments(p) -> None:
    p.add_argument("--config", help="TOML configuration file (default: $LWD_CONFIG or ./lwd.toml)")
    p.add_argument("-n", "--robots", type=int, default=4, help="number of simulated robots (default 4)")
    p.add_argument("--tasks", default=DEFAULT_TASKS, help=f"comma-separated Meta-World tasks or mt10 (default {DEFAULT_TASKS})")
    p.add_argument("--port", type=int, help="hub base port (default from config: 5750)")
    p.add_argument("--camera-fps", type=float, default=2.0, help="camera rate per robot (default 2: rendering costs ~80 ms of CPU a frame)")
    p.add_argument("--no-bot", action="store_true", help="no operator bot: failing robots wait for you")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def run(args) -> int:
    from lwd_operator.client import HubClient
    from lwd_operator.fleet_cli import start_robots, stop_processes
    from lwd_operator.hub.hub import Hub
    from lwd_operator.hub_cli import make_recorder
    from lwd_operator.sim.operator_bot import OperatorBot
    from lwd_operator.sockets import Endpoints
    from lwd_operator.status import fleet_table

    setup_logging(args.verbose)
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        raise SystemExit(f"lwd demo: {e}") from None
    if args.port:
        cfg = dataclasses.replace(cfg, hub=dataclasses.replace(cfg.hub, port=args.port))
    init_keys(cfg.hub.keys_dir)  # first run: make keys; later runs: reuse them
    keys = load_client_keys(cfg.hub.keys_dir)
    hub = Hub(cfg.hub, recorder=make_recorder(cfg, argparse.Namespace(no_record=False))).start()
    fleet_args = argparse.Namespace(
        tasks=args.tasks, n=args.robots, prefix="sim", policy=None, camera=None, camera_fps=args.camera_fps,
        fast=False, seed=0, config=args.config, host=None, port=cfg.hub.port, keys_dir=cfg.hub.keys_dir,
        insecure_no_auth=False, verbose=args.verbose)
    procs = start_robots(fleet_args)
    endpoints = Endpoints(cfg.hub.host, cfg.hub.port)
    bot_client = bot = None
    viewer = HubClient(endpoints, keys, operator="demo-view", role="observer").start()
    viewer.subscribe(hz=2)
    if not args.no_bot:
        bot_client = HubClient(endpoints, keys, operator="operator-bot", role="bot").start()
        bot = OperatorBot(bot_client, cfg.bot).start()
    end = time.monotonic() + args.duration if args.duration else None
    watched: set[str] = set()
    console = Console()
    try:
        with Live(fleet_table(None), console=console, refresh_per_second=2) as live:
            while end is None or time.monotonic() < end:
                fleet = viewer.latest_fleet
                for r in fleet.robots if fleet else []:
                    if r.robot_id not in watched:
                        watched.add(r.robot_id)
                        viewer.watch_frames(r.robot_id)
                title = "LWD demo"
                if bot:
                    s = bot.stats
                    title += f"  |  bot: {s.takeovers} takeovers, {s.labelled} labelled, {s.successes} successes"
                live.update(fleet_table(fleet, viewer.latest_frames, title))
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if bot:
            bot.stop()
            bot_client.close()
        viewer.close()
        stop_processes(procs)
        hub.stop()
    return 0
