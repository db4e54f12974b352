"""Learner speed on this CPU: gradient steps/s at batch 256 per agent, and the inference latency
of one action chunk at batch 1 (what a robot pays at each chunk boundary).

    .venv/bin/python scripts/bench/learner_speed.py [--threads 2] [--steps 30] [--cameras 1]

``--cameras N`` adds N random 64x64 camera images to every observation (the optional CNN).

Baseline: the BC agent's step rate in the same run (``× BC`` column).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_core.data.chunk_dataset import ChunkDataset  # noqa: E402
from lwd_core.data.episode import SOURCE_DEMO, Episode  # noqa: E402
from lwd_core.learning import snapshot  # noqa: E402
from lwd_core.learning.agents import AGENTS  # noqa: E402
from lwd_core.learning.policy import FlowPolicy  # noqa: E402


def synthetic(tasks, n_eps=40, T=150, obs_dim=39, act_dim=4):
    rng = np.random.default_rng(0)
    ds = ChunkDataset(tasks, obs_dim, act_dim, horizon=8)
    ds.add_episodes([Episode(f"e{i}", tasks[i % len(tasks)], rng.normal(size=(T, obs_dim)).astype(np.float32),
                             rng.uniform(-1, 1, (T, act_dim)).astype(np.float32), np.full(T, SOURCE_DEMO, np.uint8),
                             np.zeros(T, np.int32), outcome="success" if i % 2 else "failure")
                     for i in range(n_eps)], online=False)
    return ds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cameras", type=int, default=0, help="64x64 camera images per observation (CNN encoder)")
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(0)

    def images(n):
        return torch.randint(0, 256, (n, args.cameras, 3, 64, 64), generator=gen, dtype=torch.uint8)

    def batch():
        b = ds.sample(256)
        if args.cameras:
            b.images, b.next_images = images(256), images(256)
        return b

    torch.set_num_threads(args.threads)
    tasks = [f"task{i}" for i in range(10)]
    ds = synthetic(tasks)
    m, s = ds.obs_stats()
    print(f"# learner speed, {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, {args.threads} threads, "
          f"batch 256, {args.cameras} camera(s)")
    print("| agent | pretrain steps/s | RL steps/s | RL × BC |")
    print("|---|---|---|---|")
    base = None
    for name in ("bc", "expectile_qam", "divl_qam"):
        config = AGENTS[name].config_class(cameras=args.cameras)
        ag = AGENTS[name].create(obs_dim=39, action_dim=4, horizon=8, tasks=tasks, obs_mean=m, obs_std=s, config=config)
        batches = [batch() for _ in range(args.steps + 3)]
        for b in batches[:3]:
            ag.pretrain_step(b)
        t0 = time.perf_counter()
        for b in batches[3:]:
            ag.pretrain_step(b)
        pre = args.steps / (time.perf_counter() - t0)
        ag.end_pretraining()
        ag.update(batches[0])
        t0 = time.perf_counter()
        for b in batches[3:]:
            ag.update(b)
        rl = args.steps / (time.perf_counter() - t0)
        base = base or rl
        print(f"| {name} | {pre:.1f} | {rl:.1f} | {rl / base:.2f} |", flush=True)
        if name == "divl_qam":
            d = tempfile.mkdtemp()
            snapshot.save(ag, d, version=1)
            pol = FlowPolicy.from_snapshot(d)
            obs = np.zeros(39, np.float32)
            im = images(1)[0].numpy() if args.cameras else None
            print()
            for n in (1, 8):
                pol.agent.config = dataclasses.replace(pol.agent.config, best_of_n=n)
                for _ in range(20):
                    pol.act(obs, "task0", images=im)
                ts = []
                for _ in range(500):
                    t0 = time.perf_counter()
                    pol.act(obs, "task0", images=im)
                    ts.append(time.perf_counter() - t0)
                print(f"inference, batch 1, one chunk (H 8, K 10 Euler steps, best of {n}): "
                      f"p50 {1e3 * np.percentile(ts, 50):.2f} ms, p99 {1e3 * np.percentile(ts, 99):.2f} ms "
                      "(target p99 <= 5 ms)")


if __name__ == "__main__":
    main()
