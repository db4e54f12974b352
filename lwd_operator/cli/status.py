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
            console.print(fleet_table(client.latest_fleet, client.latest_frames))
            return 0
        try:
            with Live(fleet_table(None), console=console, refresh_per_second=args.hz, screen=False) as live:
                while True:
                    fleet = client.latest_fleet
                    for r in fleet.robots if fleet else []:
                        if r.robot_id not in watched:
                            watched.add(r.robot_id)
                            client.watch_frames(r.robot_id)
                    live.update(fleet_table(fleet, client.latest_frames))
                    time.sleep(1 / args.hz)
        except KeyboardInterrupt:
            pass
    return 0
