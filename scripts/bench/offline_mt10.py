"""Offline MT10: BC vs scalar-expectile + QAM vs DIVL + QAM, same data, same budget, same run.

    .venv/bin/python scripts/bench/offline_mt10.py                 # generates data, 2 seeds
    .venv/bin/python scripts/bench/offline_mt10.py --data DIR --seeds 0,1,2

Data: `lwd gen-data` (scripted experts with Gaussian action noise at two levels: successes and
failures). Each agent trains for the same number of gradient steps at the same batch size
(BC does BC steps throughout), then is evaluated on `--episodes` episodes per task per seed on
placements none of the data used. Prints per-task and average success with 95 % Wilson
intervals over all evaluation episodes (seeds pooled), and writes results JSON next to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_core.data.chunk_dataset import ChunkDataset  # noqa: E402
from lwd_core.data.demo_folder import DemoFolder  # noqa: E402
from lwd_operator.evaluation import EvalResult, evaluate  # noqa: E402
from lwd_operator.gen_data import generate  # noqa: E402
from lwd_operator.sim.metaworld_env import MT10_TASKS  # noqa: E402
from lwd_operator.training import TrainConfig, train  # noqa: E402

AGENTS = ("bc", "expectile_qam", "divl_qam")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="demo folder (default: generate one)")
    ap.add_argument("--episodes-per-level", type=int, default=25)
    ap.add_argument("--noise", default="0.1,0.5")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--bc-steps", type=int, default=1500)
    ap.add_argument("--rl-steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--episodes", type=int, default=20, help="evaluation episodes per task per seed")
    ap.add_argument("--tasks", default="mt10")
    ap.add_argument("--out", default="runs/offline_mt10.json")
    ap.add_argument("--agents", default=",".join(AGENTS), help="subset of agents to run")
    ap.add_argument("--beta", type=float, default=1.0, help="QAM inverse temperature")
    args = ap.parse_args()
    tasks = list(MT10_TASKS) if args.tasks == "mt10" else args.tasks.split(",")
    t_start = time.time()
    data = args.data
    if not data:
        data = tempfile.mkdtemp(prefix="lwd-mt10-")
        rates = generate(tasks, args.episodes_per_level, [float(x) for x in args.noise.split(",")], 200, 0, data,
                         progress=False)
        print("data success by task/noise:", {f"{t}@{n}": round(r, 2) for (t, n), r in rates.items()}, flush=True)
    folder = DemoFolder(data)
    agents = args.agents.split(",")
    results: dict[str, dict[str, list[int]]] = {a: {t: [0, 0] for t in tasks} for a in agents}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for agent in args.agents.split(","):
            cfg = TrainConfig(agent=agent, bc_steps=args.bc_steps, rl_steps=args.rl_steps,
                              batch_size=args.batch, seed=seed, threads=2, beta=args.beta)
            ds = ChunkDataset(folder.tasks, folder.obs_dim, folder.action_dim, horizon=cfg.horizon, seed=seed)
            ds.add_episodes(DemoFolder(data), online=False)
            t0 = time.time()
            res = train(ds, cfg, None, progress=False)
            t_train = time.time() - t0
            from lwd_operator.training import policy_fn

            evals = evaluate(policy_fn(res.agent, seed), ds.tasks, args.episodes, seed=50_000 + 1000 * seed,
                             max_steps=200, execute=cfg.eval_execute)
            for r in evals:
                results[agent][r.task][0] += r.successes
                results[agent][r.task][1] += r.episodes
            mean = np.mean([r.rate for r in evals])
            print(f"seed {seed} {agent}: mean success {100 * mean:.1f} % (train {t_train:.0f} s, "
                  f"{(cfg.bc_steps + cfg.rl_steps) / t_train:.1f} steps/s)", flush=True)
    print(f"\n# offline MT10, {time.strftime('%Y-%m-%d %H:%M')}, seeds {args.seeds}, "
          f"{args.bc_steps}+{args.rl_steps} steps at batch {args.batch}, {args.episodes} eval episodes/task/seed, "
          f"{(time.time() - t_start) / 60:.0f} min\n")
    print(f"beta {args.beta}")
    print("| task | " + " | ".join(agents) + " |")
    print("|---|" + "---|" * len(agents))
    for t in tasks:
        cells = []
        for a in agents:
            s, n = results[a][t]
            lo, hi = EvalResult(t, n, s).wilson()
            cells.append(f"{100 * s / n:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}]")
        print(f"| {t} | " + " | ".join(cells) + " |")
    avg = []
    for a in agents:
        s = sum(v[0] for v in results[a].values())
        n = sum(v[1] for v in results[a].values())
        lo, hi = EvalResult("all", n, s).wilson()
        avg.append(f"**{100 * s / n:.1f} %** [{100 * lo:.1f}, {100 * hi:.1f}]")
    print("| **average** | " + " | ".join(avg) + " |")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
