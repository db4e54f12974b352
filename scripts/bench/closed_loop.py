"""The product's claim, measured through the real system: a fleet learning while deploying.

Per arm, from the same weak starting policy, seeds and fleet-step budget: a recording hub, one
``lwd robot`` process per robot (Meta-World, ``--robots-per-task`` per task), the operator bot
(takes over on help requests and stalls, labels every episode) and, for the learning arms, an
``lwd learn`` process fed through the hub, whose candidates the auto-deployer makes active.

Arms:
- ``lwd``: DIVL + QAM online (every labelled step; offline data mixed in).
- ``hg_dagger``: flow BC retrained on successful episodes and human interventions (HG-DAgger).
- ``none``: no learning (the starting policy throughout).

Starting policy: ``--start-episodes`` scripted-expert episodes per task with action noise
``--start-noise`` (a small, weak offline set), then ``--start-bc-steps`` of BC (cached).

Reports (stdout, ``OUT/report.md``, ``OUT/results.json``, ``OUT/closed_loop.png``): success and
intervention rate per window of cumulative fleet steps, human takeover steps in total and until
a window first reaches 90 % autonomous success, final per-task success with 95 % Wilson intervals (the
last ``--final-share`` of the budget), wall time, learner updates; ratios against ``none``.
With ``--help-quality-episodes N``: help-request quality (``scripts/bench/help_quality.py``) of
the starting policy and of each learning arm's last deployed version, N episodes per robot with
nobody taking over, appended to the report and written to ``OUT/help_quality.json``.

    python scripts/bench/closed_loop.py --tasks mt10 --budget 200000            # the claim
    python scripts/bench/closed_loop.py --tasks reach-v3,push-v3 --robots-per-task 1 \\
        --budget 3000 --start-bc-steps 200 --hidden 64 --max-wall-s 150                        # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ARMS = {
    "lwd": ["--agent", "divl_qam", "--learn-from", "all"],
    "hg_dagger": ["--agent", "bc", "--learn-from", "successes_and_interventions"],
    "none": None,
}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def episode_rows(recordings: pathlib.Path) -> list[tuple]:
    """(task, steps, human_steps, outcome) of closed robot episodes, in end order."""
    from lwd_core.store import EpisodeStore

    store = EpisodeStore(recordings, writer=False)
    try:
        return store.db.execute(
            "SELECT task, stored_steps, human_steps, outcome FROM episodes WHERE source = 'robot'"
            " AND status != 'running' ORDER BY ended_at, id").fetchall()
    finally:
        store.close()


def write_config(path: pathlib.Path, args, port: int, keys: pathlib.Path, rec: pathlib.Path) -> None:
    path.write_text(
        f'[hub]\nport = {port}\nkeys_dir = "{keys}"\nrecordings = "{rec}"\n\n'
        f'[robot]\ncontrol_hz = {args.hz}\nmax_episode_steps = {args.max_steps}\ncamera = "none"\n'
        f'camera_fps = 0.0\n\n[bot]\npatience_s = {args.patience}\nmax_robots = 64\n\n'
        f'[learner]\nthreads = {args.learner_threads}\npublish_every_updates = {args.publish_every_updates}\n'
        f'publish_every_s = {args.publish_every_s}\nbatch_size = {args.batch_size}\n'
        f'online_ramp_steps = {args.online_ramp_steps}\nseed = {args.seed}\n'
        f'max_updates_per_s = {args.updates_per_s}\n')


def run_arm(name: str, args, tasks, start, keys: pathlib.Path, out: pathlib.Path) -> dict:
    from lwd_core.store import EpisodeStore, metrics
    from lwd_operator.auth import load_client_keys
    from lwd_operator.client import HubClient
    from lwd_operator.config import load_config
    from lwd_operator.hub.hub import Hub
    from lwd_operator.learner.auto_deploy import AutoDeployer
    from lwd_operator.learner.starting_policy import offline_folder
    from lwd_operator.recorder import open_recorder
    from lwd_operator.sim.fleet import FleetSpec, start_robots, stop_processes
    from lwd_operator.sim.operator_bot import OperatorBot
    from lwd_operator.sockets import Endpoints
    from tests.conftest import free_port_block

    arm_dir = out / name
    rec = arm_dir / "recordings"
    port = free_port_block(4)
    cfg_path = arm_dir / "lwd.toml"
    arm_dir.mkdir(parents=True, exist_ok=True)
    write_config(cfg_path, args, port, keys, rec)
    cfg = load_config(cfg_path)
    hub = Hub(cfg.hub, recorder=open_recorder(rec), rollout=cfg.rollout).start()
    n = len(tasks) * args.robots_per_task
    procs = start_robots(FleetSpec(tasks=tuple(tasks), n=n, policy=str(start), camera="none", seed=args.seed,
                                   config=str(cfg_path), port=port, keys_dir=str(keys)))
    ckeys = load_client_keys(keys)
    client = HubClient(Endpoints(port=port), ckeys, operator="operator-bot", role="bot").start()
    bot = OperatorBot(client, cfg.bot).start()
    learner = deployer = None
    if ARMS[name] is not None:
        cmd = [sys.executable, "-m", "lwd_operator.cli", "learn", "--config", str(cfg_path), "--init", str(start),
               "--offline", str(offline_folder(start)), "--out", str(arm_dir / "learner"), *ARMS[name]]
        learner = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL)
        deployer = AutoDeployer(client, args.deploy, poll_s=1.0).start()
    t0 = time.monotonic()
    store = EpisodeStore(rec, writer=False)
    steps = 0
    try:
        while True:
            time.sleep(2.0)
            tot = metrics.totals(store)
            steps = tot.steps
            wall = time.monotonic() - t0
            rate = f"{100 * tot.success_rate:.0f} %" if tot.labelled else "-"
            print(f"  [{name}] {wall:6.0f} s  fleet steps {steps:7d}/{args.budget}  episodes {tot.episodes:4d}  "
                  f"success {rate}  deployed {deployer.deployed[-1] if deployer and deployer.deployed else '-'}",
                  flush=True)
            if steps >= args.budget or wall >= args.max_wall_s:
                break
    finally:
        wall = time.monotonic() - t0
        if deployer:
            deployer.stop()
        if learner:
            stop_processes([learner], grace_s=60)
        bot.stop()
        client.close()
        stop_processes(procs)
        time.sleep(1.0)
        store.close()
        hub.stop()
    status = {}
    try:
        status = json.loads((arm_dir / "learner" / "status.json").read_text())
    except (OSError, ValueError):
        pass
    return {"wall_s": wall, "rows": episode_rows(rec), "learner": status,
            "deployed": deployer.deployed if deployer else [], "budget_reached": steps >= args.budget}


def summarise(res: dict, bins: int, budget: int, final_share: float) -> dict:
    rows = res["rows"]
    width = max(1, budget // bins)
    curve, cum = {}, 0
    to90 = None
    for _task, steps, human, outcome in rows:
        cum += int(steps)
        w = min(bins, (cum - 1) // width + 1) if cum else 1
        acc = curve.setdefault(w, [0, 0, 0, 0, 0])
        acc[0] += outcome == "success"
        acc[1] += outcome != "unlabeled"
        acc[2] += int(steps)
        acc[3] += int(human)
        acc[4] += outcome == "success" and int(human) == 0
    windows = []
    for w in sorted(curve):
        s, lab, st, hu, auto = curve[w]
        windows.append({"fleet_steps": w * width, "success": s / lab if lab else None,
                        "autonomous": auto / lab if lab else None,
                        "interventions": hu / st if st else None, "episodes": lab})
    cum_steps = _cumsum([r[1] for r in rows])
    cum_human = _cumsum([r[2] for r in rows])
    # Human takeover steps until the first window at >= 90 % autonomous success (rescued
    # episodes are labelled successes too, so the labelled rate alone is ~100 % from the start).
    for w in windows:
        if w["autonomous"] is not None and w["autonomous"] >= 0.9 and w["episodes"] >= 3:
            to90 = max([h for c, h in zip(cum_steps, cum_human, strict=True) if c <= w["fleet_steps"]], default=0)
            break
    total = sum(int(r[1]) for r in rows)
    final_from = total * (1 - final_share)
    per_task: dict[str, list[int]] = {}
    for (task, _s, _h, outcome), c in zip(rows, cum_steps, strict=True):
        if c > final_from and outcome != "unlabeled":
            acc = per_task.setdefault(task, [0, 0])
            acc[0] += outcome == "success"
            acc[1] += 1
    final = {t: {"success": k / n, "n": n, "ci95": wilson(k, n)} for t, (k, n) in sorted(per_task.items())}
    fin_k = sum(v[0] for v in per_task.values())
    fin_n = sum(v[1] for v in per_task.values())
    fin_auto = sum(1 for (_t, _s, h, o), c in zip(rows, cum_steps, strict=True)
                   if c > final_from and o == "success" and int(h) == 0)
    return {"windows": windows, "final_autonomous": fin_auto / fin_n if fin_n else None, "human_steps": sum(int(r[2]) for r in rows), "fleet_steps": total,
            "episodes": len(rows), "human_steps_to_90": to90, "final_success": fin_k / fin_n if fin_n else None,
            "final_ci95": wilson(fin_k, fin_n), "final_per_task": final, "wall_s": res["wall_s"],
            "learner_updates": res["learner"].get("online_updates", 0),
            "candidates": res["learner"].get("published", 0), "deployed": res["deployed"],
            "budget_reached": res["budget_reached"]}


def help_quality(args, start: pathlib.Path, keys: pathlib.Path, out: pathlib.Path, summary: dict) -> str:
    """Help-request quality of the starting policy and each arm's final (last deployed) policy,
    on the same tasks, rate and step limit as the arms, measured with nobody taking over."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("help_quality_bench", pathlib.Path(__file__).with_name("help_quality.py"))
    hq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hq)
    from lwd_operator.config import RobotConfig

    policies = [("start", start)]
    for arm, s in summary.items():
        if s["deployed"]:
            policies.append((arm, out / arm / "recordings" / "policies" / f"v{s['deployed'][-1]}"))
    texts, data = [], {}
    for name, policy in policies:
        print(f"help-request quality: {name} ({policy})", flush=True)
        text, data[name] = hq.run_and_report(
            policy, args.task_list, out / "help_quality" / name, f"Help-request quality, {name} policy:",
            keys=keys, robots_per_task=args.robots_per_task, episodes=args.help_quality_episodes, hz=args.hz,
            max_steps=args.max_steps, stall_s=RobotConfig().stall_s, seed=args.seed + 1000,
            max_wall_s=args.max_wall_s, skip_episodes=args.help_quality_skip)
        texts.append(text)
    skipped = [a for a, s in summary.items() if not s["deployed"]]
    if skipped:
        texts.append(f"(no deployed version, final policy = the starting one: {', '.join(skipped)})\n")
    (out / "help_quality.json").write_text(json.dumps(data, indent=1))
    return "\n```\n" + "\n".join(texts) + "```\n"


def _cumsum(xs):
    out, c = [], 0
    for x in xs:
        c += int(x)
        out.append(c)
    return out


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def report(summary: dict, args, out: pathlib.Path) -> str:
    lines = [f"# Closed loop: {len(args.task_list)} tasks x {args.robots_per_task} robots, budget {args.budget} "
             f"fleet steps, seed {args.seed}", "",
             "Per window of cumulative fleet steps: success % (operator rescues count as success, as "
             "the labels say), autonomous success % (successes with no human step) and intervention % "
             "(human steps / steps):", ""]
    arms = list(summary)
    lines.append("| fleet steps | " + " | ".join(f"{a} success | {a} autonomous | {a} interv." for a in arms) + " |")
    lines.append("|---|" + "---|---|---|" * len(arms))
    all_w = sorted({w["fleet_steps"] for s in summary.values() for w in s["windows"]})
    for fs in all_w:
        cells = []
        for a in arms:
            w = next((w for w in summary[a]["windows"] if w["fleet_steps"] == fs), None)
            cells += [pct(w["success"]) if w else "-", pct(w["autonomous"]) if w else "-",
                      pct(w["interventions"]) if w else "-"]
        lines.append(f"| {fs} | " + " | ".join(cells) + " |")
    lines += ["", "| arm | final success % (95 % CI) | final autonomous % | human steps | human steps to 90 % | episodes | "
                  "fleet steps | learner updates | candidates deployed | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for a, s in summary.items():
        lo, hi = s["final_ci95"]
        lines.append(f"| {a} | {pct(s['final_success'])} ({100 * lo:.0f}-{100 * hi:.0f}) | "
                     f"{pct(s['final_autonomous'])} | {s['human_steps']} | "
                     f"{s['human_steps_to_90'] if s['human_steps_to_90'] is not None else 'not reached'} | "
                     f"{s['episodes']} | {s['fleet_steps']} | {s['learner_updates']} | {len(s['deployed'])} | "
                     f"{s['wall_s']:.0f} |")
    lines += ["", f"Final per-task success (last {100 * args.final_share:.0f} % of the budget):", ""]
    for a, s in summary.items():
        parts = [f"{t} {100 * v['success']:.0f} % ({100 * v['ci95'][0]:.0f}-{100 * v['ci95'][1]:.0f}, n={v['n']})"
                 for t, v in s["final_per_task"].items()]
        lines.append(f"- {a}: " + ("; ".join(parts) or "no labelled episodes"))
    base = summary.get("none")
    if base and base["final_success"]:
        lines.append("")
        for a, s in summary.items():
            if a != "none" and s["final_success"] is not None:
                lines.append(f"ratio {a} / none final success: {s['final_success'] / base['final_success']:.2f}")
    if "lwd" in summary and "hg_dagger" in summary and summary["hg_dagger"]["human_steps"]:
        lines.append(f"ratio lwd / hg_dagger human steps: "
                     f"{summary['lwd']['human_steps'] / summary['hg_dagger']['human_steps']:.2f}")
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def plot(summary: dict, out: pathlib.Path) -> pathlib.Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[dev]'): no plot")
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for arm, s in summary.items():
        xs = [w["fleet_steps"] for w in s["windows"]]
        line = a1.plot(xs, [100 * (w["success"] or 0) for w in s["windows"]], marker="o", label=arm)[0]
        a1.plot(xs, [100 * (w["autonomous"] or 0) for w in s["windows"]], ls="--", color=line.get_color(),
                label=f"{arm} (autonomous)")
        a2.plot(xs, [100 * (w["interventions"] or 0) for w in s["windows"]], marker="o", label=arm)
    a1.set(xlabel="cumulative fleet steps", ylabel="success %", title="success rate", ylim=(0, 100))
    a2.set(xlabel="cumulative fleet steps", ylabel="human steps %", title="intervention rate", ylim=(0, 100))
    a1.legend()
    fig.tight_layout()
    path = out / "closed_loop.png"
    fig.savefig(path, dpi=100)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="mt10", help="mt10 or comma-separated Meta-World tasks")
    p.add_argument("--robots-per-task", type=int, default=1)
    p.add_argument("--budget", type=int, default=200_000, help="fleet steps per arm")
    p.add_argument("--arms", default="lwd,hg_dagger,none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/closed_loop")
    p.add_argument("--hz", type=float, default=40.0, help="robot control rate")
    p.add_argument("--max-steps", type=int, default=150, help="episode length limit (ticks)")
    p.add_argument("--patience", type=float, default=2.5, help="operator bot: seconds before taking over")
    p.add_argument("--deploy", choices=("direct", "canary"), default="direct")
    p.add_argument("--start-episodes", type=int, default=6, help="offline episodes per task (weak set)")
    p.add_argument("--start-noise", type=float, default=0.6)
    p.add_argument("--start-bc-steps", type=int, default=600)
    p.add_argument("--hidden", type=int, default=256, help="network width of the starting policy (and learners)")
    p.add_argument("--publish-every-updates", type=int, default=200,
                   help="a candidate every N learner updates, the same N in both learning arms")
    p.add_argument("--publish-every-s", type=float, default=0.0,
                   help="also a candidate every T seconds (default 0: off; by time, the arm whose "
                        "update is cheaper, BC, would publish more often)")
    p.add_argument("--updates-per-s", type=float, default=4.0,
                   help="learner updates per second in both learning arms (robots run in real time, "
                        "so this fixes updates per fleet step; 0: as fast as each learner goes, "
                        "which gives BC ~25x the updates of DIVL + QAM)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--online-ramp-steps", type=int, default=2000)
    p.add_argument("--learner-threads", type=int, default=1)
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--final-share", type=float, default=0.3)
    p.add_argument("--max-wall-s", type=float, default=4 * 3600, help="per-arm wall-clock cap")
    p.add_argument("--help-quality-episodes", type=int, default=0,
                   help="after the arms: help-request quality of the starting and each arm's final "
                        "policy, N episodes per robot, nobody taking over (0: skip)")
    p.add_argument("--help-quality-skip", type=int, default=0,
                   help="...leaving out each robot's first K episodes (value level warm-up)")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the report from OUT/<arm>/recordings of an earlier run (no robots)")
    args = p.parse_args()
    from lwd_operator.auth import init_keys
    from lwd_operator.learner.starting_policy import StartRecipe, starting_snapshot
    from lwd_operator.sim.fleet import parse_tasks

    args.task_list = list(parse_tasks(args.tasks))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        summary = {}
        for arm in args.arms.split(","):
            try:
                status = json.loads((out / arm / "learner" / "status.json").read_text())
            except (OSError, ValueError):
                status = {}
            prev = json.loads((out / "results.json").read_text()).get(arm, {}) if (out / "results.json").exists() else {}
            res = {"wall_s": prev.get("wall_s", 0.0), "rows": episode_rows(out / arm / "recordings"), "learner": status,
                   "deployed": prev.get("deployed", []), "budget_reached": prev.get("budget_reached", False)}
            summary[arm] = summarise(res, args.bins, args.budget, args.final_share)
        (out / "results.json").write_text(json.dumps(summary, indent=1))
        print(report(summary, args, out))
        plot(summary, out)
        return 0
    keys = init_keys(out / "keys")
    t0 = time.monotonic()
    start = starting_snapshot(out / "starting-policy", StartRecipe(
        tasks=tuple(args.task_list), episodes_per_task=args.start_episodes, noise=args.start_noise,
        max_steps=args.max_steps, bc_steps=args.start_bc_steps, hidden=args.hidden, seed=args.seed), progress=True)
    print(f"starting policy: {start} ({time.monotonic() - t0:.0f} s)")
    summary = {}
    for arm in args.arms.split(","):
        if arm not in ARMS:
            sys.exit(f"unknown arm {arm!r}; arms: {', '.join(ARMS)}")
        print(f"arm {arm}:", flush=True)
        summary[arm] = summarise(run_arm(arm, args, args.task_list, start, keys, out), args.bins, args.budget,
                                 args.final_share)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    text = report(summary, args, out)
    if args.help_quality_episodes > 0:
        text += help_quality(args, start, keys, out, summary)
        (out / "report.md").write_text(text)
    print(text)
    path = plot(summary, out)
    if path:
        print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
