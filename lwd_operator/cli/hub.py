"""``lwd hub``: run the hub (fleet registry, takeover lock, frame relay, recorder)."""

from __future__ import annotations

import signal

from lwd_operator.cli.common import add_hub_args, resolve


def add_arguments(p) -> None:
    add_hub_args(p)
    p.add_argument("--no-record", action="store_true", help="do not record episodes (steps are acknowledged and dropped)")


def run(args) -> int:
    from lwd_operator.hub.hub import Hub
    from lwd_operator.recorder import open_recorder

    cfg, _, _ = resolve(args)
    hub = Hub(cfg.hub, insecure_no_auth=args.insecure_no_auth, rollout=cfg.rollout,
              recorder=None if args.no_record else open_recorder(cfg.hub.recordings))
    signal.signal(signal.SIGTERM, lambda *_: hub._stop.set())
    print(f"lwd hub: robots {hub.endpoints.robots}, clients {hub.endpoints.clients}, "
          f"frames {hub.endpoints.frames_in} -> {hub.endpoints.frames_out}", flush=True)
    try:
        hub.run()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0

