"""``lwd episodes``: list, inspect, label, export, import and verify recorded episodes.

Read-only commands open the store without taking the recording lock, so they are safe while a
hub records into the same directory (they never close its running episodes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lwd_core.store import EpisodeStore, StoreError

_REL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str | None) -> float | None:
    """``2h``, ``30m``, ``7d`` (ago) or an ISO date/time -> epoch seconds."""
    if not text:
        return None
    m = _REL.match(text.strip())
    if m:
        return time.time() - float(m.group(1)) * _UNIT[m.group(2)]
    return dt.datetime.fromisoformat(text).timestamp()


def _when(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task")
    p.add_argument("--robot")
    p.add_argument("--outcome", choices=["success", "failure", "unlabeled"])
    p.add_argument("--status", choices=["running", "ended", "aborted"])
    p.add_argument("--policy-version", type=int, help="episodes that used this policy version")
    p.add_argument("--since", help="started after: 2h, 30m, 7d or an ISO date")
    p.add_argument("--source", choices=["robot", "demo"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default="recordings", help="recordings directory")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="episodes, newest first")
    _filters(p)
    p.add_argument("--limit", type=int, default=50)
    p = sub.add_parser("show", help="one episode: summary, interventions, label audit trail")
    p.add_argument("episode")
    p = sub.add_parser("label", help="set an episode's outcome (audited)")
    p.add_argument("episode")
    p.add_argument("outcome", choices=["success", "failure", "unlabeled"])
    p.add_argument("--by", required=True, help="operator name")
    p.add_argument("--note", default="")
    p = sub.add_parser("export", help="export to a LeRobotDataset v3.0 folder (video: each step's "
                       "aligned camera frame; episodes without frames are left out and listed)")
    p.add_argument("out")
    _filters(p)
    p.add_argument("--fps", type=int)
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("import", help="import a LeRobotDataset v3.0 folder (our own export is restored "
                       "as recorded; anyone else's becomes demonstrations) or an LWD demo folder")
    p.add_argument("path")
    p.add_argument("--prefix", help="episode id prefix (default: the folder name for demonstrations, "
                   "none for our own export)")
    p.add_argument("--no-frames", action="store_true", help="skip decoding videos")
    p = sub.add_parser("verify", help="check every chunk digest and the index integrity")
    p = sub.add_parser("metrics", help="success and intervention rates per task, robot, version")
    p.add_argument("--since", help="episodes started after: 2h, 30m, 7d or an ISO date")


def _select(store: EpisodeStore, args, limit: int | None = None) -> list[dict]:
    return store.list_episodes(
        task=args.task,
        robot=args.robot,
        outcome=args.outcome,
        status=args.status,
        policy_version=args.policy_version,
        since=parse_since(args.since),
        source=args.source,
        limit=limit,
    )


def run(args: argparse.Namespace) -> int:
    console = Console(width=140)
    writes = args.action == "import"
    try:
        store = EpisodeStore(args.root, writer=writes)
        if writes and not store.is_writer:
            raise StoreError(f"a hub is recording into {args.root}; import when it is stopped")
        with store:
            return _ACTIONS[args.action](store, args, console)
    except (StoreError, KeyError, ValueError, FileExistsError) as e:
        console.print(f"[red]error:[/red] {e}")
        return 1


def _list(store, args, console) -> int:
    rows = _select(store, args, args.limit)
    t = Table(title=f"{len(rows)} episodes")
    for col in (
        "episode",
        "robot",
        "task",
        "started",
        "status",
        "outcome",
        "steps",
        "human",
        "policy",
        "tags",
    ):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["id"],
            r["robot"],
            r["task"],
            _when(r["started_at"]),
            r["status"],
            r["outcome"],
            str(r["steps"]),
            str(r["human_steps"]),
            ",".join(map(str, r["policy_versions"])),
            ",".join(r["tags"]),
        )
    console.print(t)
    return 0


def _show(store, args, console) -> int:
    r = store.get(args.episode)
    t = Table(title=f"episode {r['id']}", show_header=False)
    for k in (
        "robot",
        "task",
        "instruction",
        "source",
        "status",
        "end_reason",
        "outcome",
        "labelled_by",
        "steps",
        "stored_steps",
        "human_steps",
        "human_seconds",
        "policy_versions",
        "gaps",
        "notes",
        "tags",
    ):
        t.add_row(k, str(r[k]))
    t.add_row("started", _when(r["started_at"]))
    t.add_row("ended", _when(r["ended_at"]))
    t.add_row("labelled at", _when(r["labelled_at"]))
    t.add_row("cameras", ", ".join(store.cameras(args.episode)) or "-")
    console.print(t)
    iv = Table(title="interventions")
    for col in ("start step", "end step", "operator"):
        iv.add_column(col)
    for i in store.interventions(args.episode):
        iv.add_row(str(i["start_step"]), str(i["end_step"]), i["operator"] or "-")
    console.print(iv)
    audit = Table(title="label audit trail")
    for col in ("when", "who", "old", "new", "note"):
        audit.add_column(col)
    for a in store.label_history(args.episode):
        audit.add_row(_when(a["at"]), a["who"], a["old"], a["new"], a["note"] or "")
    console.print(audit)
    return 0


def _label(store, args, console) -> int:
    old = store.get(args.episode)["outcome"]
    store.label(args.episode, args.outcome, args.by, args.note)
    console.print(f"{args.episode}: {old} -> {args.outcome} by {args.by}")
    return 0


def _export(store, args, console) -> int:
    from lwd_core.store.lerobot_export import export_lerobot

    rows = [r for r in _select(store, args) if r["status"] != "running"]
    rows.sort(key=lambda r: (r["started_at"] or 0, r["id"]))
    skipped: list[tuple[str, str]] = []
    info = export_lerobot(
        store,
        [r["id"] for r in rows],
        args.out,
        fps=args.fps,
        overwrite=args.overwrite,
        progress=sys.stderr.isatty(),
        on_skip=lambda ep, why: skipped.append((ep, why)),
    )
    console.print(
        f"exported {info['total_episodes']} episodes, {info['total_frames']} frames "
        f"at {info['fps']} fps to {args.out}"
    )
    for ep, why in skipped:
        console.print(f"left out {ep}: {why}")
    return 0


def _import(store, args, console) -> int:
    from lwd_core.data.demo_folder import DemoFolder, is_demo_folder
    from lwd_core.store.lerobot_import import import_lerobot

    if is_demo_folder(args.path):
        known = {e["id"] for e in store.list_episodes(source="demo", limit=None)}
        ids = []
        for ep in DemoFolder(args.path):
            ep.episode_id = f"{args.prefix or ''}{ep.episode_id}"
            if ep.episode_id not in known:  # importing the same folder twice adds nothing
                store.add_episode(ep, source="demo")
                ids.append(ep.episode_id)
        console.print(f"imported {len(ids)} episodes from demo folder {args.path}")
        return 0

    ids = import_lerobot(
        store,
        args.path,
        id_prefix=args.prefix,
        frames=not args.no_frames,
        progress=sys.stderr.isatty(),
    )
    ours = (Path(args.path) / "meta/info.json").exists() and ids and store.get(ids[0])["source"] != "demo"
    what = "restored as recorded" if ours else "as demonstrations"
    console.print(f"imported {len(ids)} episodes from {args.path} {what}")
    return 0


def _verify(store, args, console) -> int:
    rep = store.verify()
    console.print(f"index integrity: {rep.integrity}; {rep.chunks} chunks, {rep.bytes} bytes")
    for p in rep.problems:
        console.print(f"[red]problem:[/red] {p}")
    console.print("[green]ok[/green]" if rep.ok else f"[red]{len(rep.problems)} problems[/red]")
    return 0 if rep.ok else 1


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _metrics(store, args, console) -> int:
    from lwd_core.store import metrics

    since = parse_since(args.since)
    tot = metrics.totals(store, since=since)
    console.print(
        f"{tot.episodes} closed episodes, {tot.labelled} labelled, success {_pct(tot.success_rate)}, "
        f"intervention {_pct(tot.intervention_rate)}, {tot.human_minutes:.1f} human minutes"
    )
    for group in ("task", "robot", "policy_version"):
        t = Table(title=f"per {group.replace('_', ' ')}")
        for col in (group, "episodes", "labelled", "success", "steps", "intervention", "human min"):
            t.add_column(col)
        for r in metrics.rates_by(store, group, since=since):
            t.add_row(
                str(r.key),
                str(r.episodes),
                str(r.labelled),
                _pct(r.success_rate),
                str(r.steps),
                _pct(r.intervention_rate),
                f"{r.human_minutes:.1f}",
            )
        console.print(t)
    return 0


_ACTIONS = {
    "list": _list,
    "show": _show,
    "label": _label,
    "export": _export,
    "import": _import,
    "verify": _verify,
    "metrics": _metrics,
}
