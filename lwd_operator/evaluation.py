"""Evaluate a chunk policy in simulation: per-task success rates with confidence intervals.

Episodes of one task run in lockstep so the policy is called once per chunk for all of them
(batch inference is what makes evaluation affordable on a CPU). A policy is any callable
``(obs [B, S] float32, task_index [B] int64) -> chunks [B, H, A]`` in Meta-World action units;
the first ``execute`` actions of each chunk run open-loop, then the policy is asked again
(receding horizon; ``execute = H`` is plain open-loop chunking).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from lwd_operator.sim.metaworld_env import MetaWorldEnv

ChunkPolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class EvalResult:
    task: str
    episodes: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / max(self.episodes, 1)

    def wilson(self, z: float = 1.96) -> tuple[float, float]:
        """95 % Wilson score interval of the success rate."""
        n, p = self.episodes, self.rate
        if n == 0:
            return 0.0, 1.0
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)


def evaluate_task(policy: ChunkPolicy, task: str, task_index: int, episodes: int, *, seed: int = 10_000,
                  max_steps: int = 200, execute: int = 4) -> EvalResult:
    envs = [MetaWorldEnv(task, seed=seed + i, max_steps=max_steps) for i in range(episodes)]
    obs = np.stack([e.reset() for e in envs])
    live = np.ones(episodes, bool)
    while live.any():
        idx = np.flatnonzero(live)
        chunks = policy(obs[idx], np.full(len(idx), task_index, np.int64))
        for k in range(min(execute, chunks.shape[1])):
            for j, i in enumerate(idx):
                if live[i]:
                    obs[i], _, _ = envs[i].step(chunks[j, k])
                    live[i] = not envs[i].done
    return EvalResult(task, episodes, sum(e.success for e in envs))


def evaluate(policy: ChunkPolicy, tasks: Sequence[str], episodes: int, **kw) -> list[EvalResult]:
    return [evaluate_task(policy, t, i, episodes, **kw) for i, t in enumerate(tasks)]


def expert_policy(tasks: Sequence[str], horizon: int = 4) -> ChunkPolicy:
    """The scripted experts as a chunk policy (closed loop only with ``execute=1``): a yardstick."""
    import metaworld.policies as policies

    experts = [policies.ENV_POLICY_MAP[t]() for t in tasks]

    def act(obs: np.ndarray, task_index: np.ndarray) -> np.ndarray:
        a = np.stack([experts[t].get_action(o.astype(np.float64)) for o, t in zip(obs, task_index, strict=True)])
        return np.repeat(np.clip(a, -1, 1)[:, None, :], horizon, 1).astype(np.float32)

    return act
