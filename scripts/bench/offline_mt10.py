"""Offline MT10: BC vs scalar-expectile + QAM vs DIVL + QAM, same data, same budget, same run.

    .venv/bin/python scripts/bench/offline_mt10.py                 # generates data, 3 seeds
    .venv/bin/python scripts/bench/offline_mt10.py --data DIR --seeds 0,1 --set beta=30
    .venv/bin/python scripts/bench/offline_mt10.py --merge runs/a.json runs/b.json   # pool seeds

Data: `lwd gen-data` (scripted experts with Gaussian action noise at two levels: near-expert
successes, and struggling episodes that fail on the harder tasks). Each agent trains for the
same number of gradient steps at the same batch size on the same data (BC does BC steps
throughout; the QAM agents do BC + critic steps, then critic + adjoint-matching steps), through
the same code as `lwd train --offline`, then is evaluated on `--episodes` episodes per task per
seed on placements none of the data used. Prints per-task and average success with 95 % Wilson
intervals over all evaluation episodes (seeds pooled), each agent's difference to BC (the
baseline of the same run) with a 95 % interval, and writes the results as JSON to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_operator.evaluation import EvalResult, evaluate  # noqa: E402
from lwd_operator.gen_data import generate  # noqa: E402
from lwd_operator.sim.metaworld_env import MT10_TASKS  # noqa: E402
from lwd_operator.training import (  # noqa: E402
    TrainConfig,
    load_dataset,  # noqa: E402
    policy_fn,
    train,
)

AGENTS = ("bc", "expectile_qam", "divl_qam")
DEFAULTS = TrainConfig()


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # a plain string, e.g. actor_q=mean
    return out


def best_of_column(text: str) -> tuple[str, str | None]:
    """'8' -> ('8', None); '8min' -> ('8', 'min'): an argparse type, so a typo is a usage error."""
    m = re.fullmatch(r"(\d+)(min|mean)?", text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a best-of-N column (e.g. 8, 8min, 8mean)")
    return m.groups()


def diff_interval(s1: int, n1: int, s0: int, n0: int, z: float = 1.96) -> tuple[float, float, float]:
    """Difference of two success rates with a 95 % normal-approximation interval."""
    p1, p0 = s1 / n1, s0 / n0
    half = z * math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1 - p0, p1 - p0 - half, p1 - p0 + half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="demo folder (default: generate one)")
    ap.add_argument("--episodes-per-level", type=int, default=25, help="generated episodes per task and noise level")
    ap.add_argument("--noise", default="0.2,1.0", help="action-noise levels of the generated data")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--bc-steps", type=int, default=DEFAULTS.bc_steps)
    ap.add_argument("--rl-steps", type=int, default=DEFAULTS.rl_steps)
    ap.add_argument("--n-step", type=int, default=DEFAULTS.n_step, help="chunks per TD window")
    ap.add_argument("--beta", type=float, default=DEFAULTS.beta, help="QAM inverse temperature")
    ap.add_argument("--batch", type=int, default=DEFAULTS.batch_size)
    ap.add_argument("--episodes", type=int, default=30, help="evaluation episodes per task per seed")
    ap.add_argument("--tasks", default="mt10")
    ap.add_argument("--out", default="runs/offline_mt10.json")
    ap.add_argument("--agents", default=",".join(AGENTS), help="subset of agents to run")
    ap.add_argument("--best-of", default="1,8", type=lambda v: [best_of_column(c) for c in v.split(",")], help="comma-separated best-of-N values at which to evaluate each "
                    "critic-based agent (one training, one column per N), e.g. 1,8; a suffix "
                    "min or mean sets how the Q heads rank the candidates (rank_q), e.g. 8min")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="agent config field for the RL agents (repeatable), e.g. --set actor_q=min")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="pool the --out files of earlier runs (other "
                    "seeds, same settings) into one table instead of training")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge)
        return
    tasks = list(MT10_TASKS) if args.tasks == "mt10" else args.tasks.split(",")
    overrides = parse_overrides(args.set)
    t_start = time.time()
    data = args.data
    if not data:
        data = tempfile.mkdtemp(prefix="lwd-mt10-")
        rates = generate(tasks, args.episodes_per_level, [float(x) for x in args.noise.split(",")], 200, 0, data,
                         progress=False)
        print("data success by task@noise:", {f"{t}@{n}": round(r, 2) for (t, n), r in rates.items()}, flush=True)
    trained = args.agents.split(",")
    best_of = args.best_of

    def columns(agent: str) -> list[tuple[str, dict]]:
        if agent == "bc":
            return [("bc", {})]
        return [(agent if n == "1" else f"{agent}@best{n}{rank or ''}",
                 {"best_of_n": int(n), **({"rank_q": rank} if rank else {})}) for n, rank in best_of]

    agents = [col for a in trained for col, _ in columns(a)]
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, dict[str, list[int]]] = {a: {t: [0, 0] for t in tasks} for a in agents}
    per_seed: dict[str, dict[int, float]] = {a: {} for a in agents}
    for seed in seeds:
        for agent in trained:
            cfg = TrainConfig(agent=agent, bc_steps=args.bc_steps, rl_steps=args.rl_steps, n_step=args.n_step,
                              batch_size=args.batch, seed=seed, threads=2, beta=args.beta)
            ds = load_dataset(data, cfg)
            t0 = time.time()
            res = train(ds, cfg, None, progress=sys.stderr.isatty(),
                        agent_overrides=overrides if agent != "bc" else None)
            t_train = time.time() - t0
            trained_config = res.agent.config
            for col, acting in columns(agent):
                res.agent.config = dataclasses.replace(trained_config, **acting)
                evals = evaluate(policy_fn(res.agent, seed), ds.tasks, args.episodes, seed=50_000 + 1000 * seed,
                                 max_steps=200, execute=cfg.eval_execute)
                for r in evals:
                    results[col][r.task][0] += r.successes
                    results[col][r.task][1] += r.episodes
                per_seed[col][seed] = float(np.mean([r.rate for r in evals]))
                print(f"seed {seed} {col}: mean success {100 * per_seed[col][seed]:.1f} % "
                      f"(train {t_train:.0f} s, {(cfg.bc_steps + cfg.rl_steps) / t_train:.1f} steps/s)", flush=True)
    header = (f"offline MT10, {time.strftime('%Y-%m-%d %H:%M')}, seeds {args.seeds}, {settings(vars(args))}, "
              f"{(time.time() - t_start) / 60:.0f} min")
    report(header, tasks, agents, results, per_seed)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "results": results, "per_seed": per_seed}, f, indent=1)


def settings(args: dict) -> str:
    """The run's training and evaluation settings, for a table's heading."""
    return (f"{args['bc_steps']}+{args['rl_steps']} steps at batch {args['batch']}, n-step {args['n_step']}, "
            f"beta {args['beta']}, overrides {parse_overrides(args['set']) or 'none'}, "
            f"{args['episodes']} eval episodes/task/seed")


def report(header: str, tasks: list[str], agents: list[str], results: dict, per_seed: dict) -> None:
    """Markdown table: per-task and average success (seeds pooled), per-seed means, gains over BC."""
    print(f"\n# {header}\n")
    print("| task | " + " | ".join(agents) + " |")
    print("|---|" + "---|" * len(agents))
    for t in tasks:
        cells = []
        for a in agents:
            s, n = results[a][t]
            lo, hi = EvalResult(t, n, s).wilson()
            cells.append(f"{100 * s / n:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}]")
        print(f"| {t} | " + " | ".join(cells) + " |")
    totals = {a: (sum(v[0] for v in results[a].values()), sum(v[1] for v in results[a].values())) for a in agents}
    avg = []
    for a in agents:
        s, n = totals[a]
        lo, hi = EvalResult("all", n, s).wilson()
        avg.append(f"**{100 * s / n:.1f} %** [{100 * lo:.1f}, {100 * hi:.1f}]")
    print("| **average** | " + " | ".join(avg) + " |")
    seeds = sorted({s for a in agents for s in per_seed[a]}, key=int)
    print("| per seed | " + " | ".join(", ".join(f"{100 * per_seed[a][s]:.1f}" for s in seeds) for a in agents) + " |")
    if "bc" in agents:
        for a in agents:
            if a != "bc":
                d, lo, hi = diff_interval(*totals[a], *totals["bc"])
                print(f"- {a} − bc: {100 * d:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]")


def merge(paths: list[str]) -> None:
    """Pool the results of several runs (e.g. other seeds, on other machines) into one table.

    Runs must share every setting but their seeds (and the data folder's path: give them the same
    data, or let each generate it, which `lwd gen-data` does deterministically); columns missing
    from any run are left out, so every pooled column covers the same seeds."""
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(json.load(f))
    ignore = {"seeds", "out", "merge", "agents", "best_of", "data"}
    first = {k: v for k, v in runs[0]["args"].items() if k not in ignore}
    for p, r in zip(paths[1:], runs[1:], strict=True):
        other = {k: v for k, v in r["args"].items() if k not in ignore}
        if other != first:
            diff = {k for k in first.keys() | other.keys() if first.get(k) != other.get(k)}
            raise SystemExit(f"{p}: settings differ from {paths[0]} in {sorted(diff)}; refusing to pool")
    agents = [a for a in runs[0]["results"] if all(a in r["results"] for r in runs)]
    if not agents:
        raise SystemExit("the runs have no column in common")
    seeds_by_run = [set(r["per_seed"][agents[0]]) for r in runs]
    if sum(len(s) for s in seeds_by_run) != len(set().union(*seeds_by_run)):
        raise SystemExit("runs overlap in seeds; refusing to count a seed twice")
    tasks = list(runs[0]["results"][agents[0]])
    results = {a: {t: [sum(r["results"][a][t][i] for r in runs) for i in (0, 1)] for t in tasks} for a in agents}
    per_seed = {a: {s: v for r in runs for s, v in r["per_seed"][a].items()} for a in agents}
    seeds = ",".join(sorted(per_seed[agents[0]], key=int))
    report(f"offline MT10, pooled from {len(runs)} runs, seeds {seeds}, {settings(runs[0]['args'])}",
           tasks, agents, results, per_seed)


if __name__ == "__main__":
    main()
