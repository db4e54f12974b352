"""The whole system on one machine: what ``lwd demo`` starts and stops.

A hub (with recording), a simulated Meta-World fleet in its own processes and the operator bot.
Keys are generated on first run; nothing runs unauthenticated. The front end (the rich live
table here; the console or the TUI) is a client of the stack, chosen by the caller.
"""

from __future__ import annotations

import dataclasses
import time

from lwd_operator.auth import init_keys, load_client_keys
from lwd_operator.config import Config

DEFAULT_TASKS = "push-v3,reach-v3,drawer-open-v3,button-press-topdown-v3"


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    robots: int = 4
    tasks: str = DEFAULT_TASKS
    camera_fps: float = 2.0
    bot: bool = True
    config_path: str | None = None
    verbose: int = 0


class DemoStack:
    """Hub, fleet processes and operator bot, started together and stopped in reverse order."""

    def __init__(self, cfg: Config, opts: DemoOptions):
        self.cfg, self.opts = cfg, opts
        self.hub = self.bot = self.bot_client = None
        self.procs: list = []

    def start(self) -> DemoStack:
        from lwd_operator.client import HubClient
        from lwd_operator.hub.hub import Hub
        from lwd_operator.recorder import open_recorder
        from lwd_operator.sim.fleet import FleetSpec, parse_tasks, start_robots
        from lwd_operator.sim.operator_bot import OperatorBot

        cfg = self.cfg
        init_keys(cfg.hub.keys_dir)  # first run: make keys; later runs: reuse them
        self.keys = load_client_keys(cfg.hub.keys_dir)
        self.hub = Hub(cfg.hub, recorder=open_recorder(cfg.hub.recordings), rollout=cfg.rollout).start()
        self.procs = start_robots(FleetSpec(
            tasks=parse_tasks(self.opts.tasks), n=self.opts.robots, camera_fps=self.opts.camera_fps,
            config=self.opts.config_path, port=cfg.hub.port, keys_dir=cfg.hub.keys_dir, verbose=self.opts.verbose))
        if self.opts.bot:
            self.bot_client = HubClient(self.endpoints, self.keys, operator="operator-bot", role="bot").start()
            self.bot = OperatorBot(self.bot_client, cfg.bot).start()
        return self

    @property
    def endpoints(self):
        from lwd_operator.sockets import Endpoints

        return Endpoints(self.cfg.hub.host, self.cfg.hub.port)

    def client(self, operator: str, role: str = "observer"):
        """A new hub client for a front end (the caller closes it)."""
        from lwd_operator.client import HubClient

        return HubClient(self.endpoints, self.keys, operator=operator, role=role).start()

    def bot_summary(self) -> str:
        if not self.bot:
            return ""
        s = self.bot.stats
        return f"bot: {s.takeovers} takeovers, {s.labelled} labelled, {s.successes} successes"

    def stop(self) -> None:
        from lwd_operator.sim.fleet import stop_processes

        if self.bot:
            self.bot.stop()
            self.bot_client.close()
        stop_processes(self.procs)
        if self.hub:
            self.hub.stop()

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_table_view(stack: DemoStack, duration: float | None = None) -> None:
    """The rich live table of the fleet until Ctrl-C or ``duration`` seconds."""
    from rich.console import Console
    from rich.live import Live

    from lwd_operator.status import fleet_table

    viewer = stack.client("demo-view")
    viewer.subscribe(hz=2)
    end = time.monotonic() + duration if duration else None
    watched: set[str] = set()
    try:
        with Live(fleet_table(None), console=Console(), refresh_per_second=2) as live:
            while end is None or time.monotonic() < end:
                fleet = viewer.latest_fleet
                for r in fleet.robots if fleet else []:
                    if r.robot_id not in watched:
                        watched.add(r.robot_id)
                        viewer.watch_frames(r.robot_id)
                summary = stack.bot_summary()
                title = "LWD demo" + (f"  |  {summary}" if summary else "")
                live.update(fleet_table(fleet, viewer.latest_frames, title))
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        viewer.close()
