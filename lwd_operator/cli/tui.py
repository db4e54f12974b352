"""``lwd tui``: the terminal front end (Textual) for watching the fleet over ssh.

The CLI parses arguments, connects a ``HubClient`` and hands it to ``ui.tui``; the UI package is
imported inside ``run()`` only, so the headless layers never load Textual (see pyproject's
import-linter contract, which names this one allowed upward import).
"""

from __future__ import annotations

import dataclasses
import getpass

from lwd_operator.cli.common import add_hub_args, resolve


def add_arguments(p) -> None:
    add_hub_args(p)
    p.add_argument("--operator", help="your operator name (default: [tui] operator in the config, else $USER)")
    p.add_argument("--no-bell", action="store_true", help="never ring the terminal bell")
    p.add_argument("--hz", type=float, help="repaint rate (default from config: 4)")
    p.add_argument("--sample", type=int, metavar="N",
                   help="no hub: show N sample robots and sample episodes (to try the TUI)")


def tui_config(cfg, args):
    tc = cfg.tui
    if args.no_bell:
        tc = dataclasses.replace(tc, bell=False)
    if args.hz:
        tc = dataclasses.replace(tc, refresh_hz=args.hz)
    return tc


def operator_name(cfg, args) -> str:
    return args.operator or cfg.tui.operator or getpass.getuser() or "tui"


def run(args) -> int:
    from lwd_operator.client import HubClient, HubError

    cfg, endpoints, keys = resolve(args)
    tc, name = tui_config(cfg, args), operator_name(cfg, args)
    from ui.tui.app import LwdTui, run_tui

    if args.sample:
        from lwd_operator.fleet_view.samples import SampleHub

        hub = SampleHub(args.sample, operator=name)
        LwdTui(hub, operator=name, config=tc, on_tick=hub.advance).run()  # the sample fleet moves on
        return 0
    try:
        client = HubClient(endpoints, keys, operator=name, role="operator").start()
    except (HubError, ValueError) as e:
        print(f"lwd tui: {e}")
        return 1
    with client:
        run_tui(client, operator=name, config=tc)
    return 0
