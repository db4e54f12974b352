"""Does DIVL's critic converge to the good action's value on the chain MDP, or is it biased?

The chain of tests/core/learning/test_divl_and_agents.py: L states, H steps each, the good action
with probability p_good (a bad one ends the episode in failure), success reward at the end. The
expected Q of the good chunk is known in closed form; this prints Q - expected per state at
checkpoints, over seeds (dataset and network), thread counts and tau_base.

    .venv/bin/python scripts/bench/chain_mdp.py --seeds 0,1,2,3,4 --threads 1 --tau 0.9
    .venv/bin/python scripts/bench/chain_mdp.py --seeds 0 --threads 2 --tau 0.9,0.6

Baseline: tau_base 0.6 (LWD's offline value) in the same run, when asked for with --tau.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_core.learning import divl  # noqa: E402
from lwd_core.learning.agents import AGENTS  # noqa: E402
from tests.core.learning.test_divl_and_agents import chain_dataset  # noqa: E402


def run(seed: int, tau: float, alpha: float, steps: int, checkpoints: set[int], p_good: float):
    L, H, gamma = 4, 2, 0.9
    ds = chain_dataset(L, H, p_good=p_good, seed=seed)
    cls = AGENTS["divl_qam"]
    cfg = cls.config_class(hidden=64, z_dim=64, gamma=gamma, critic_lr=1e-3, tau_offline=tau, tau_alpha=alpha)
    ag = cls.create(obs_dim=L, action_dim=1, horizon=H, tasks=["chain"], config=cfg, seed=seed)
    last = float(np.mean([gamma ** (H - 1 - o) for o in range(H)]))
    expected = np.array([gamma ** (H * (L - 1 - k)) * last for k in range(L)])
    avg_from, avg, n_avg = steps - steps // 3, np.zeros(L), 0
    for i in range(1, steps + 1):
        ag._critic_step(ds.sample(128))
        if i > avg_from and i % 20 == 0:  # the test's read-out: online Q averaged over the last third
            with torch.no_grad():
                z = ag.critic_encoder(torch.eye(L), torch.zeros(L, dtype=torch.long))
                avg += ag.q(z, torch.ones(L, H)).min(0).values.numpy()
                n_avg += 1
        if i in checkpoints:
            with torch.no_grad():
                task = torch.zeros(L, dtype=torch.long)
                z = ag.critic_encoder(torch.eye(L), task)
                q = ag.q(z, torch.ones(L, H)).min(0).values.numpy()
                # The target critic (EMA, rate 0.005: ~200 steps) is what bootstraps; it
                # averages out the online critic's SGD noise.
                qt = ag.target_q(ag.target_encoder(torch.eye(L), task), torch.ones(L, H)).min(0).values.numpy()
                tau_eff = divl.adaptive_tau(ag.v(z).softmax(-1), tau, alpha).mean().item()
            yield i, q - expected, qt - expected, tau_eff
    yield f"avg {avg_from + 1}-{steps}", avg / max(n_avg, 1) - expected, np.full(L, np.nan), float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (dataset and network)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--tau", default="0.9", help="comma-separated tau_base values")
    ap.add_argument("--alpha", type=float, default=0.3, help="entropy coefficient of the adaptive tau")
    ap.add_argument("--steps", type=int, default=4000, help="critic steps")
    ap.add_argument("--every", type=int, default=500, help="checkpoint interval")
    ap.add_argument("--p-good", type=float, default=0.75, help="probability of the good action")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    checkpoints = set(range(args.every, args.steps + 1, args.every))
    print(f"# chain MDP, {time.strftime('%Y-%m-%d %H:%M')}, {args.threads} torch thread(s), p_good {args.p_good}")
    print("| tau_base | seed | step | eff. tau | max abs err | Q - expected, states 0..3 | target: max abs err | target: Q - expected |")
    print("|---|---|---|---|---|---|---|---|")
    for tau in (float(t) for t in args.tau.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            for step, err, terr, tau_eff in run(seed, tau, args.alpha, args.steps, checkpoints, args.p_good):
                target = "— | —" if np.isnan(terr).all() else (f"{np.abs(terr).max():.3f} | "
                                                                 f"{' '.join(f'{e:+.3f}' for e in terr)}")
                print(f"| {tau:g} | {seed} | {step} | {'—' if np.isnan(tau_eff) else f'{tau_eff:.2f}'} | "
                      f"{np.abs(err).max():.3f} | {' '.join(f'{e:+.3f}' for e in err)} | {target} |", flush=True)


if __name__ == "__main__":
    main()
