"""``lwd operator-bot``: a simulated operator that rescues failing simulated robots."""

from __future__ import annotations

import signal
import threading
import time

from lwd_operator.cli.common import add_hub_args, resolve


def add_arguments(p) -> None:
    add_hub_args(p)
    p.set_defaults(identity="operator")  # the bot takes over and labels: an operator key
    p.add_argument("--name", default="operator-bot", help="operator name asked for (the hub shows and records the key's name)")
    p.add_argument("--patience", type=float, help="seconds without success before taking over (default from config: 3)")
    p.add_argument("--no-label", action="store_true", help="do not label finished episodes")
    p.add_argument("--duration", type=float, help="stop after this many seconds")


def run(args) -> int:
    import dataclasses

    from lwd_operator.client import HubClient, HubError
    from lwd_operator.sim.operator_bot import OperatorBot

    stopping = threading.Event()  # SIGTERM (lwd demo, a service manager) exits as cleanly as ^C
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    cfg, endpoints, keys = resolve(args)
    bot_cfg = cfg.bot if args.patience is None else dataclasses.replace(cfg.bot, patience_s=args.patience)
    try:
        client = HubClient(endpoints, keys, operator=args.name, role="bot").start()
    except (HubError, ValueError) as e:  # ValueError: a name the hub would refuse
        print(f"lwd operator-bot: {e}")
        return 1
    bot = OperatorBot(client, bot_cfg, label=not args.no_label).start()
    end = time.monotonic() + args.duration if args.duration else None
    try:
        while (end is None or time.monotonic() < end) and not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        bot.stop()
        client.close()
    s = bot.stats
    print(f"operator bot: {s.takeovers} takeovers, {s.labelled} labelled ({s.successes} success, {s.failures} failure)")
    return 0
