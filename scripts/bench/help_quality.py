"""Help-request quality (issue 15): precision, recall and F1 of the robots' own help requests
against the episodes that failed, for the value signals alone, the no-progress detector alone
(the baseline, measured in the same run) and both together (what a robot actually does).

A real hub (no recorder: steps are acknowledged and dropped), one ``lwd robot`` process per
robot (Meta-World, state only, no cameras) running ``--policy DIR`` in real time, and an
observer client that keeps every episode's end event. Nobody takes over, so every episode's
outcome is the policy's own (definitions: ``lwd_operator.sim.help_quality``).

    python scripts/bench/help_quality.py --policy runs/closed_loop/starting-policy/start-*/snapshot
    python scripts/bench/help_quality.py --tasks reach-v3,push-v3 --episodes 3 \\
        --policy /work/bench_out/start/start-97013ddc521e/snapshot --stall-s 1.5   # smoke

Without ``--policy``: the closed-loop benchmark's weak starting snapshot (made once and cached
under ``--start-root``, as ``closed_loop.py`` makes it). ``scripts/bench/closed_loop.py
--help-quality-episodes N`` runs the same measurement on the starting and each arm's final
policy. Timing note: the no-progress detector watches wall-clock seconds (``--stall-s``) while
episodes end after ``--max-steps`` ticks, so on a loaded machine (slower ticks) it fires more.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def write_config(path: pathlib.Path, *, port: int, keys: pathlib.Path, hz: float, max_steps: int,
                 stall_s: float, phase_chunks: int | None = None) -> None:
    path.write_text(
        # A generous client timeout: the observer, starved while robots load, keeps its
        # subscription (end events sent while it was timed out would be lost to it).
        f'[hub]\nport = {port}\nkeys_dir = "{keys}"\nrecordings = "{path.parent / "recordings"}"\n'
        f'client_timeout_s = 60.0\n\n'
        f'[robot]\ncontrol_hz = {hz}\nmax_episode_steps = {max_steps}\ncamera = "none"\n'
        f'camera_fps = 0.0\nstall_s = {stall_s}\n'
        + ("" if phase_chunks is None else f"help_phase_chunks = {phase_chunks}\n"))


def measure(policy: str | pathlib.Path, tasks: list[str], out: pathlib.Path, *, keys: pathlib.Path | None = None,
            robots_per_task: int = 1, episodes: int = 5, hz: float = 40.0, max_steps: int = 150,
            stall_s: float = 4.0, seed: int = 0, max_wall_s: float = 1800.0, skip_episodes: int = 0,
            label: str = "", phase_chunks: int | None = None) -> dict:
    """Run the fleet on ``policy`` until every robot ended ``skip_episodes + episodes`` counted
    episodes (or ``max_wall_s``); returns the records (each robot's first ``skip_episodes``
    left out), ignored ends and wall time. Takes no decision for anyone."""
    from lwd_operator.auth import init_keys, load_client_keys
    from lwd_operator.client import HubClient
    from lwd_operator.config import load_config
    from lwd_operator.hub.hub import Hub
    from lwd_operator.sim.fleet import FleetSpec, start_robots, stop_processes
    from lwd_operator.sim.help_quality import HelpObserver
    from lwd_operator.sockets import Endpoints
    from tests.conftest import free_port_block

    out.mkdir(parents=True, exist_ok=True)
    keys = keys or init_keys(out / "keys")
    port = free_port_block(4)
    cfg_path = out / "lwd.toml"
    write_config(cfg_path, port=port, keys=keys, hz=hz, max_steps=max_steps, stall_s=stall_s,
                 phase_chunks=phase_chunks)
    cfg = load_config(cfg_path)
    hub = Hub(cfg.hub, rollout=cfg.rollout).start()
    client = HubClient(Endpoints(port=port), load_client_keys(keys), operator="help-observer",
                       role="observer").start()
    observer = HelpObserver().attach(client)
    client.subscribe(hz=2)  # before the robots start: their first episodes count too
    n = len(tasks) * robots_per_task
    procs = start_robots(FleetSpec(tasks=tuple(tasks), n=n, policy=str(policy), camera="none", seed=seed,
                                   config=str(cfg_path), port=port, keys_dir=str(keys)))
    t0 = last = time.monotonic()
    try:
        while True:
            time.sleep(1.0)
            done = observer.per_robot()
            wall = time.monotonic() - t0
            if time.monotonic() - last >= 15:
                last = time.monotonic()
                print(f"  [{label or 'help'}] {wall:5.0f} s  episodes {sum(done.values()):4d}"
                      f"  robots done {sum(v >= episodes for v in done.values())}/{n}", flush=True)
            if (len(done) == n and min(done.values()) >= skip_episodes + episodes) or wall >= max_wall_s:
                break
    finally:
        wall = time.monotonic() - t0
        stop_processes(procs)
        client.close()
        hub.stop()
    seen: dict[str, int] = {}
    records = []
    for r in observer.records:  # in arrival order, which is each robot's episode order
        seen[r.robot_id] = seen.get(r.robot_id, 0) + 1
        if seen[r.robot_id] > skip_episodes:
            records.append(r)
    return {"records": records, "ignored": dict(observer.ignored), "wall_s": wall}


def run_and_report(policy, tasks, out: pathlib.Path, title: str, **kw) -> tuple[str, dict]:
    """``measure`` then the printed report and a results dict (written to OUT/help_quality.json;
    the per-episode records to OUT/episodes.json)."""
    from lwd_operator.sim.help_quality import report, summary

    res = measure(policy, tasks, out, label=title, **kw)
    text = report(res["records"], title)
    text += (f"ignored ends: {res['ignored'] or 'none'}; wall {res['wall_s']:.0f} s\n"
             f"stall_s {kw.get('stall_s', 4.0)}; {kw.get('max_steps', 150)} steps at {kw.get('hz', 40.0)} Hz; "
             f"first {kw.get('skip_episodes', 0)} episodes per robot left out\n")
    data = {"policy": str(policy), **summary(res["records"]), "ignored": res["ignored"], "wall_s": res["wall_s"]}
    (out / "help_quality.json").write_text(json.dumps(data, indent=1))
    (out / "episodes.json").write_text(json.dumps([dataclasses.asdict(r) for r in res["records"]], indent=0))
    return text, data


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", help="DIVL + QAM snapshot folder (default: the closed loop's starting snapshot)")
    p.add_argument("--tasks", default="mt10", help="mt10 or comma-separated Meta-World tasks")
    p.add_argument("--robots-per-task", type=int, default=1)
    p.add_argument("--episodes", type=int, default=10, help="counted episodes per robot")
    p.add_argument("--hz", type=float, default=40.0, help="control rate (closed_loop.py's)")
    p.add_argument("--max-steps", type=int, default=150, help="episode step limit (closed_loop.py's)")
    p.add_argument("--stall-s", type=float, default=None,
                   help="no-progress detector window in seconds (default: the robot config's, 4.0)")
    p.add_argument("--skip-episodes", type=int, default=0,
                   help="leave out each robot's first K episodes (while the value signal's running "
                        "level warms up: help_warmup_chunks per task and version; a fresh robot, or "
                        "one that just swapped versions, starts cold too)")
    p.add_argument("--phase-chunks", default=None,
                   help="robot.help_phase_chunks, or a comma list to compare settings in one run "
                        "(e.g. 0,4: one level a task, then levels per 4-chunk phase; default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-wall-s", type=float, default=3600.0)
    p.add_argument("--out", default="runs/help_quality")
    p.add_argument("--start-root", default="runs/closed_loop/starting-policy",
                   help="where the default starting snapshot is cached")
    args = p.parse_args()
    from lwd_operator.config import RobotConfig
    from lwd_operator.sim.fleet import parse_tasks

    tasks = list(parse_tasks(args.tasks))
    stall_s = RobotConfig().stall_s if args.stall_s is None else args.stall_s
    if stall_s * 0.95 >= args.max_steps / args.hz:
        print(f"note: an episode lasts {args.max_steps / args.hz:.1f} s at full rate, under the no-progress "
              f"window ({stall_s} s): the detector fires only when ticks run late")
    policy = args.policy
    if policy is None:
        from lwd_operator.learner.starting_policy import StartRecipe, starting_snapshot

        policy = starting_snapshot(args.start_root, StartRecipe(tasks=tuple(parse_tasks("mt10")),
                                                                max_steps=args.max_steps), progress=True)
    name = "/".join(pathlib.Path(policy).resolve().parts[-2:])
    settings = [None] if args.phase_chunks is None else [int(x) for x in args.phase_chunks.split(",")]
    for pc in settings:
        out = pathlib.Path(args.out) if pc is None else pathlib.Path(args.out) / f"phase{pc}"
        title = f"help-request quality: {name}" + ("" if pc is None else f", help_phase_chunks {pc}")
        text, _ = run_and_report(policy, tasks, out, title,
                                 robots_per_task=args.robots_per_task, episodes=args.episodes, hz=args.hz,
                                 max_steps=args.max_steps, stall_s=stall_s, seed=args.seed,
                                 max_wall_s=args.max_wall_s, skip_episodes=args.skip_episodes, phase_chunks=pc)
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
