"""Learner speed on this CPU: DIVL + QAM updates/s before and after the speed work, at two model
sizes, with the cores to itself and with a simulated fleet running beside it.

    .venv/bin/python scripts/bench/learner_speed.py --size both --fleet 8
    .venv/bin/python scripts/bench/learner_speed.py --size reference --seconds 20 --fleet 0
    .venv/bin/python scripts/bench/learner_speed.py --agents [--cameras 1]   # per-agent table

Sizes (batch 256, chunk 8 of 4-D actions, K = 10 flow steps):
  default    the agent's defaults: MLPs 256 wide, actor 3 hidden layers, 2 Q heads of 2 layers
  reference  the QAM reference (JAX): actor 4 x 512, critic 4 x 512 with LayerNorm, 10 Q heads

Paths, each measured in its own process (OpenMP reads its settings when torch loads):
  before  the original step: per-head Q loop, three actor passes, per-parameter Adam,
          OpenMP's default (spinning) wait policy
  after   batched Q heads, reused evaluations, fused Adam, OMP_WAIT_POLICY=PASSIVE
  old+passive (only with --paths) the original step with the passive wait policy: separates
          what the code changes gave from what the thread setting gave
Both use --threads intra-op threads. ``--fleet N`` then starts a hub and N simulated robots
(``lwd hub`` + ``lwd fleet``, MT10 tasks, noise policy, real-time control) and measures again.

Baselines in the same run: "after × before" is after's rate over before's under the same
conditions; "load / idle" is each path's rate with the fleet over its rate without.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, ROOT)

SIZES = {
    "default": {},
    "reference": {"hidden": 512, "actor_layers": 4, "q_layers": 4, "n_q": 10},
}
OLD_CODE = {"batched_heads": False, "reuse_evaluations": False, "fused_optim": False}
PATHS = {
    "before": (OLD_CODE, {}),
    "old+passive": (OLD_CODE, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "after": ({"batched_heads": True, "reuse_evaluations": True, "fused_optim": True},
              {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def synthetic(tasks, n_eps=40, T=150, obs_dim=39, act_dim=4):
    import numpy as np

    from lwd_core.data.chunk_dataset import ChunkDataset
    from lwd_core.data.episode import SOURCE_DEMO, Episode

    rng = np.random.default_rng(0)
    ds = ChunkDataset(tasks, obs_dim, act_dim, horizon=8)
    ds.add_episodes([Episode(f"e{i}", tasks[i % len(tasks)], rng.normal(size=(T, obs_dim)).astype(np.float32),
                             rng.uniform(-1, 1, (T, act_dim)).astype(np.float32), np.full(T, SOURCE_DEMO, np.uint8),
                             np.zeros(T, np.int32), outcome="success" if i % 2 else "failure")
                     for i in range(n_eps)], online=False)
    return ds


def worker(size: str, path: str, threads: int, seconds: float, max_steps: int) -> dict:
    """Time DIVL + QAM RL updates in this process: one warm-up, then until ``seconds`` pass."""
    import torch

    from lwd_core.learning.agents import AGENTS

    if os.environ.get("LWD_EXP_SLICE") == "1":
        from lwd_operator.robot.threads import ask_short_slice
        print("slice", ask_short_slice(), file=sys.stderr)
    torch.set_num_threads(threads)
    tasks = [f"task{i}" for i in range(10)]
    ds = synthetic(tasks)
    m, s = ds.obs_stats()
    cls = AGENTS["divl_qam"]
    config = cls.config_class(**SIZES[size], **PATHS[path][0])
    ag = cls.create(obs_dim=39, action_dim=4, horizon=8, tasks=tasks, obs_mean=m, obs_std=s, config=config)
    ag.end_pretraining()
    ag.update(ds.sample(256))
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(times) < max_steps and (not times or time.perf_counter() < t_end):
        b = ds.sample(256)
        t0 = time.perf_counter()
        ag.update(b)
        times.append(time.perf_counter() - t0)
    rates = sorted(1 / t for t in times)
    return {"steps": len(times), "rate": len(times) / sum(times), "slowest": rates[0], "fastest": rates[-1],
            "median": statistics.median(rates)}


def measure(size: str, path: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT, **PATHS[path][1]}
    if path == "before":
        env.pop("OMP_WAIT_POLICY", None)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", f"{size},{path}", "--threads", str(args.threads),
           "--seconds", str(args.seconds), "--max-steps", str(args.max_steps)]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice)] + cmd
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.worker_timeout)
    except subprocess.TimeoutExpired:
        # Not one step (after the warm-up) in the time allowed: report the bound, keep going.
        bound = 1 / args.worker_timeout
        return {"steps": 0, "rate": bound, "slowest": 0.0, "fastest": bound, "median": 0.0, "timed_out": True}
    if out.returncode:
        raise RuntimeError(f"worker {size}/{path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Fleet:
    """A hub and N simulated robots as separate processes, up until ``close``."""

    def __init__(self, n: int):
        from lwd_operator.auth import init_keys, load_client_keys
        from lwd_operator.client import HubClient
        from lwd_operator.sockets import Endpoints
        from tests.conftest import free_port_block

        keys = str(init_keys(tempfile.mkdtemp(prefix="lwd-bench-keys-")))
        port = free_port_block()
        lwd = [sys.executable, "-m", "lwd_operator.cli"]
        common = ["--port", str(port), "--keys-dir", keys]
        env = {**os.environ, "PYTHONPATH": ROOT}
        self.client = None
        self.procs = [subprocess.Popen(lwd + ["hub", "--no-record"] + common, env=env, stdout=subprocess.DEVNULL)]
        self.procs.append(subprocess.Popen(lwd + ["fleet", "-n", str(n), "--tasks", "mt10", "--policy", "noise"]
                                           + common, env=env, stdout=subprocess.DEVNULL))
        try:
            # A loaded machine can take a minute to import and start the hub.
            self.client = HubClient(Endpoints(port=port), load_client_keys(keys), "bench", role="observer")
            self.client.start(timeout=120)
            self.client.subscribe(hz=2)
            t_end = time.monotonic() + 300
            while time.monotonic() < t_end:
                fs = self.client.latest_fleet
                if fs and len(fs.robots) == n and all(r.step > 20 for r in fs.robots):
                    return
                time.sleep(0.5)
            raise RuntimeError(f"the fleet of {n} robots did not come up within 300 s")
        except BaseException:
            self.close()
            raise

    def robots(self) -> str:
        fs = self.client.latest_fleet
        hz = [r.control_hz for r in fs.robots]
        jit = max(r.jitter_p99_ms for r in fs.robots)
        return f"{len(hz)} robots at {sum(hz) / len(hz):.1f} Hz, jitter p99 {jit:.1f} ms"

    def cpu_seconds(self) -> float:
        """CPU time used so far by the hub, the fleet and every robot process under it."""
        total = 0.0
        for p in self.procs:
            try:
                ps = psutil.Process(p.pid)
                for q in [ps, *ps.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def cores(self, seconds: float) -> float:
        """Cores the fleet keeps busy on its own, averaged over ``seconds`` (nothing else timed)."""
        c0, t0 = self.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        return (self.cpu_seconds() - c0) / (time.monotonic() - t0)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def speed_table(args) -> None:
    sizes = ["default", "reference"] if args.size == "both" else [args.size]
    rows = {}

    def run(s, p, cond):
        rows[(s, p, cond)] = r = measure(s, p, args)
        print(f"# {s} {p} {cond}: {json.dumps(r)}", flush=True)

    paths = args.paths.split(",")
    conditions = args.conditions.split(",")
    for s in sizes:
        for p in paths:
            if "idle" in conditions:
                run(s, p, "idle")
    fleet_note = ""
    if args.fleet and "load" in conditions:
        fleet = Fleet(args.fleet)
        try:
            time.sleep(3)
            # What the fleet leaves the learner: 2 cores less what it uses alone. A learner that
            # keeps (cores - alone) / threads of its idle rate is taking all that is left to it.
            alone = fleet.cores(10.0)
            c0, t0 = fleet.cpu_seconds(), time.monotonic()
            for s in sizes:
                for p in paths:
                    run(s, p, "load")
            beside = (fleet.cpu_seconds() - c0) / (time.monotonic() - t0)
            fleet_note = (f"{fleet.robots()}; the fleet used {alone:.2f} cores alone, {beside:.2f} beside "
                          f"the learner, leaving it {max(0.0, (os.cpu_count() or 2) - alone):.2f} "
                          f"of {os.cpu_count()} cores")
        finally:
            fleet.close()
    print(f"# learner speed (DIVL + QAM RL update, batch 256), {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} CPUs, {args.threads} threads" + (f", nice {args.nice}" if args.nice else ""))
    if fleet_note:
        print(f"# under load: hub + {fleet_note} (at the end)")
    print("| size | path | idle upd/s (slowest-fastest) | load upd/s (slowest-fastest) | load / idle |")
    print("|---|---|---|---|---|")

    def cell(r):
        if not r:
            return "-"
        if r.get("timed_out"):
            return f"< {r['rate']:.4f} (no step in {args.worker_timeout:.0f} s)"
        return f"{r['rate']:.2f} ({r['slowest']:.2f}-{r['fastest']:.2f}, {r['steps']} steps)"

    for s in sizes:
        for p in paths:
            idle, load = rows.get((s, p, "idle")), rows.get((s, p, "load"))
            ratio = f"{load['rate'] / idle['rate']:.2f}" if load and idle else "-"
            print(f"| {s} | {p} | {cell(idle)} | {cell(load)} | {ratio} |")
        for cond in ("idle", "load"):
            for base in ("before", "old+passive"):
                if (s, "after", cond) in rows and (s, base, cond) in rows:
                    new, old = rows[(s, "after", cond)], rows[(s, base, cond)]
                    gain = new["rate"] / old["rate"]
                    # A timed-out rate is an upper bound: the ratio is then a bound or unknown.
                    text = ("unknown (after timed out)" if new.get("timed_out")
                            else f"> {gain:.2f}" if old.get("timed_out") else f"{gain:.2f}")
                    print(f"| {s} | after × {base}, {cond} | {text} | | |")


def agents_table(args) -> None:
    """Pre-train and RL steps/s of every agent at the default size, and inference latency."""
    import dataclasses

    import numpy as np
    import torch

    from lwd_core.learning import snapshot
    from lwd_core.learning.agents import AGENTS
    from lwd_core.learning.policy import FlowPolicy

    torch.set_num_threads(args.threads)
    tasks = [f"task{i}" for i in range(10)]
    ds = synthetic(tasks)
    m, s = ds.obs_stats()
    gen = torch.Generator().manual_seed(0)

    def images(n):
        return torch.randint(0, 256, (n, args.cameras, 3, 64, 64), generator=gen, dtype=torch.uint8)

    def batch():
        b = ds.sample(256)
        if args.cameras:
            b.images, b.next_images = images(256), images(256)
        return b

    print(f"# agents, {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, {args.threads} threads, "
          f"batch 256, {args.cameras} camera(s)")
    print("| agent | pretrain steps/s | RL steps/s | RL × BC |")
    print("|---|---|---|---|")
    base = None
    for name in ("bc", "expectile_qam", "divl_qam"):
        config = AGENTS[name].config_class(cameras=args.cameras)
        ag = AGENTS[name].create(obs_dim=39, action_dim=4, horizon=8, tasks=tasks, obs_mean=m, obs_std=s,
                                 config=config)
        batches = [batch() for _ in range(args.max_steps + 3)]
        for b in batches[:3]:
            ag.pretrain_step(b)
        t0 = time.perf_counter()
        for b in batches[3:]:
            ag.pretrain_step(b)
        pre = args.max_steps / (time.perf_counter() - t0)
        ag.end_pretraining()
        ag.update(batches[0])
        t0 = time.perf_counter()
        for b in batches[3:]:
            ag.update(b)
        rl = args.max_steps / (time.perf_counter() - t0)
        base = base or rl
        print(f"| {name} | {pre:.1f} | {rl:.1f} | {rl / base:.2f} |", flush=True)
    d = tempfile.mkdtemp()
    snapshot.save(ag, d, version=1)
    pol = FlowPolicy.from_snapshot(d)
    obs = np.zeros(39, np.float32)
    im = images(1)[0].numpy() if args.cameras else None
    for n in (1, 8):
        pol.agent.config = dataclasses.replace(pol.agent.config, best_of_n=n)
        for _ in range(20):
            pol.act(obs, "task0", images=im)
        ts = []
        for _ in range(500):
            t0 = time.perf_counter()
            pol.act(obs, "task0", images=im)
            ts.append(time.perf_counter() - t0)
        print(f"inference, batch 1, one chunk (best of {n}): p50 {1e3 * np.percentile(ts, 50):.2f} ms, "
              f"p99 {1e3 * np.percentile(ts, 99):.2f} ms (target p99 <= 5 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["default", "reference", "both"], default="both")
    ap.add_argument("--fleet", type=int, default=8, help="simulated robots beside the learner (0: idle only)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads of the learner")
    ap.add_argument("--nice", type=int, default=0, help="run the learner at this niceness (e.g. 10)")
    ap.add_argument("--seconds", type=float, default=30.0, help="time per measurement (after one warm-up step)")
    ap.add_argument("--max-steps", type=int, default=30, help="at most this many timed steps per measurement")
    ap.add_argument("--conditions", default="idle,load", help="idle, load (with --fleet N) or both")
    ap.add_argument("--worker-timeout", type=float, default=900.0,
                    help="seconds a measurement may take before it is reported as a bound")
    ap.add_argument("--paths", default="before,after", help="which of before, old+passive, after (comma-separated)")
    ap.add_argument("--agents", action="store_true", help="the per-agent table and inference latency instead")
    ap.add_argument("--cameras", type=int, default=0, help="with --agents: 64x64 camera images per observation")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        size, path = args.worker.split(",")
        print(json.dumps(worker(size, path, args.threads, args.seconds, args.max_steps)))
    elif args.agents:
        agents_table(args)
    else:
        speed_table(args)


if __name__ == "__main__":
    main()
