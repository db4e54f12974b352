"""``lwd status``: a refreshing terminal table of the fleet, from the hub's client API."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live

from lwd_operator.cli.common import add_hub_args, resolve
from lwd_operator.status import fleet_table


def add_arguments(p) -> None:
    add_hub_args(p)
    p.set_defaults(identity="observer")  # watching needs no more than an observer key
    p.add_argument("--once", action="store_true", help="print the table once and exit")
    p.add_argument("--hz", type=float, default=2.0, help="refresh rate (default 2)")


def learner_line(client) -> str:
    """The learner's state in one line (or why the hub could not say)."""
    from lwd_operator.client import HubError
    from lwd_operator.fleet_view.learner import learner_state

    try:
        return learner_state(client.learner_status(timeout=2.0)).line
    except HubError as e:
        return learner_state(None, error=str(e)).line


def run(args) -> int:
    from lwd_operator.client import HubClient, HubError

    _, endpoints, keys = resolve(args)
    try:
        client = HubClient(endpoints, keys, operator="status", role="observer").start()
    except HubError as e:
        print(f"lwd status: {e}")
        return 1
    with client:
        client.subscribe(hz=max(args.hz, 1.0))
        watched: set[str] = set()
        console = Console()
        if args.once:
            time.sleep(1.5)
            console.print(fleet_table(client.latest_fleet, client.latest_frames, learner=learner_line(client),
                                      width=console.width))
            return 0
        try:
            with Live(fleet_table(None), console=console, refresh_per_second=args.hz, screen=False) as live:
                learner, learner_at = "", 0.0
                while True:
                    if time.monotonic() - learner_at > 3.0:  # learners report every few seconds
                        learner, learner_at = learner_line(client), time.monotonic()
                    fleet = client.latest_fleet
                    for r in fleet.robots if fleet else []:
                        if r.robot_id not in watched:
                            watched.add(r.robot_id)
                            client.watch_frames(r.robot_id)
                    live.update(fleet_table(fleet, client.latest_frames, learner=learner, width=console.width))
                    time.sleep(1 / args.hz)
        except KeyboardInterrupt:
            pass
    return 0
