"""``lwd policy``: policy versions and their rollout, through the hub's client API.

    lwd policy list                       every version: status, lineage, live metrics
    lwd policy show N                     one version and its audit trail
    lwd policy publish DIR [--note T]     upload a snapshot folder (a new candidate)
    lwd policy deploy N [--canary [K]]    make N active fleet-wide, or canary it on K robots
    lwd policy deploy N --robots a,b      pin just those robots to N
    lwd policy promote N                  make a candidate or canary active
    lwd policy rollback [N]               roll back N (default: the canary, else the active)
    lwd policy pin ROBOT N / unpin ROBOT  hold a robot on a version through promotions

Every action is audited with the client's name and ``--why``.
"""

from __future__ import annotations

import datetime
import sys

from lwd_operator.cli.common import add_hub_args, resolve


def add_arguments(p) -> None:
    add_hub_args(p)
    p.add_argument("--operator", default="", help="name to ask for (an authenticated hub records the key's name, see --identity; default: $USER)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="every version with status, lineage and live metrics")
    s = sub.add_parser("show", help="one version and its audit trail")
    s.add_argument("version", type=int)
    s = sub.add_parser("publish", help="upload a snapshot folder as a new candidate")
    s.add_argument("snapshot", help="folder with meta.json and model.safetensors (lwd train)")
    s.add_argument("--parent", type=int, help="parent version (default: the active one)")
    s.add_argument("--note", default="", help="free text kept with the version")
    for name, help_ in (("deploy", "make a version active fleet-wide (or canary it, or pin robots)"),
                        ("promote", "make a candidate or canary version active"),
                        ("rollback", "roll back a version (default: the canary, else the active)"),
                        ("pin", "keep a robot on a version through promotions"),
                        ("unpin", "let a pinned robot follow the fleet again")):
        s = sub.add_parser(name, help=help_)
        if name in ("pin", "unpin"):
            s.add_argument("robot", help="robot id")
        if name != "unpin":
            s.add_argument("version", type=int, nargs="?" if name == "rollback" else None)
        if name == "deploy":
            s.add_argument("--canary", nargs="?", type=int, const=0, metavar="K",
                           help="run it on K robots first (default K from config) and let the hub decide")
            s.add_argument("--robots", help="comma-separated robot ids: pin only these to the version")
        s.add_argument("--why", default="", help="reason, kept in the audit trail")


def _rate(x: float) -> str:
    return "-" if x < 0 else f"{100 * x:.0f}%"


def _when(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def run(args) -> int:
    import getpass

    from lwd_operator.client import HubClient, HubError

    _, endpoints, keys = resolve(args)
    name = args.operator or getpass.getuser() or "operator"
    try:
        client = HubClient(endpoints, keys, operator=name).start()
    except (HubError, ValueError) as e:
        print(f"lwd policy: {e}", file=sys.stderr)
        return 1
    with client:
        try:
            return _act(client, args)
        except HubError as e:
            print(f"lwd policy: {e}", file=sys.stderr)
            return 1


def _act(client, args) -> int:
    a = args.action
    if a == "list":
        lst = client.policy_list()
        print(f"{'ver':>4} {'status':<11} {'parent':>6} {'step':>7} {'eps':>5} {'succ':>5} {'interv':>6}  author / robots")
        for v in lst.versions:
            robots = f" on {', '.join(v.robots)}" if v.robots else ""
            print(f"{v.version:>4} {v.status:<11} {v.parent:>6} {v.learner_step:>7} {v.episodes:>5} "
                  f"{_rate(v.success_rate):>5} {_rate(v.intervention_rate):>6}  {v.author}{robots}")
        if not lst.versions:
            print("no policy versions yet (lwd policy publish DIR)")
        return 0
    if a == "show":
        lst = client.policy_list(args.version)
        if not lst.versions:
            print(f"lwd policy: no version {args.version}", file=sys.stderr)
            return 1
        v = lst.versions[0]
        for k, val in (("version", v.version), ("status", v.status), ("parent", v.parent),
                       ("learner step", v.learner_step), ("sha256", v.sha256), ("created", _when(v.created)),
                       ("author", v.author), ("bytes", v.bytes), ("note", v.note),
                       ("episodes", f"{v.episodes} ({v.labelled} labelled, {v.successes} successes)"),
                       ("success rate", _rate(v.success_rate)), ("interventions", _rate(v.intervention_rate)),
                       ("robots", ", ".join(v.robots) or "-")):
            print(f"{k:>14}: {val}")
        print("audit:")
        for e in lst.audit:
            robots = f" [{', '.join(e.robots)}]" if e.robots else ""
            print(f"  {_when(e.at)}  {e.who:<12} {e.action:<8}{robots} {e.why}")
        return 0
    if a == "publish":
        v = client.publish_policy(args.snapshot, parent=args.parent, note=args.note)
        print(f"published v{v} (candidate)")
        return 0
    if a == "deploy" and args.canary is not None:
        rep = client.canary(args.version, args.canary or None, why=args.why)
    elif a == "deploy":
        robots = [r for r in (args.robots or "").split(",") if r]
        rep = client.deploy(args.version, robots or None, why=args.why)
    elif a == "promote":
        rep = client.promote(args.version, why=args.why)
    elif a == "rollback":
        rep = client.rollback(args.version, why=args.why)
    elif a == "pin":
        rep = client.pin(args.robot, args.version, why=args.why)
    else:
        rep = client.unpin(args.robot, why=args.why)
    if not rep.ok:
        print(f"lwd policy {a}: {rep.error}", file=sys.stderr)
        return 1
    print(rep.data.get("result", "ok"))
    return 0
