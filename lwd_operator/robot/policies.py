"""Policy runners: what drives a robot when no human does. Each returns whole action chunks.

Built-ins exist for development and tests (``hold``, ``noise``); learned flow policies load from
verified snapshots (see the hot-swap module). A robot runs only a policy chosen explicitly.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np


class PolicyRunner(abc.ABC):
    name: str = ""
    version: int = 0
    horizon: int = 8
    digest: str = ""
    """sha256 of the weights this runner was loaded from (empty for built-ins)."""

    @abc.abstractmethod
    def next_chunk(self, obs: np.ndarray, task: str) -> np.ndarray:
        """Actions [H, action_dim] to execute open-loop from ``obs``."""

    def value_quantile(self, obs: np.ndarray, task: str, tau: float) -> float | None:
        """The tau-quantile of the critic's value distribution at ``obs``; None without a critic
        (built-in policies, BC): then only the no-progress detector asks for help."""
        return None


class HoldPolicy(PolicyRunner):
    """Keeps the robot still: useful for a robot that must wait for an operator."""

    name = "hold"

    def __init__(self, hold_action: np.ndarray, horizon: int = 8, **_):
        self._chunk = np.repeat(np.asarray(hold_action, np.float32)[None], horizon, 0)
        self.horizon = horizon

    def next_chunk(self, obs, task):
        return self._chunk.copy()


class NoisePolicy(PolicyRunner):
    """Uniform random actions in [-scale, scale]: a policy that fails, for exercising operators."""

    name = "noise"

    def __init__(self, hold_action: np.ndarray, horizon: int = 8, seed: int = 0, scale: float = 1.0, **_):
        self._dim = len(hold_action)
        self._rng = np.random.default_rng(seed)
        self.horizon, self.scale = horizon, scale

    def next_chunk(self, obs, task):
        return self._rng.uniform(-self.scale, self.scale, (self.horizon, self._dim)).astype(np.float32)


class SnapshotPolicy(PolicyRunner):
    """A learned flow policy, loaded only from a snapshot whose digest and shapes check out."""

    name = "flow"

    def __init__(self, path: str, seed: int = 0):
        from lwd_core.learning.policy import FlowPolicy  # torch loads only for learned policies

        self.flow = FlowPolicy.from_snapshot(path, seed=seed)
        if self.flow.agent.config.cameras:
            # The control loop feeds state only; camera frames arrive at their own, lower rate.
            raise ValueError(f"{path}: this policy needs {self.flow.agent.config.cameras} camera image(s) "
                             "per step; robot nodes run state-only policies for now")
        self.version = self.flow.version
        self.digest = str(self.flow.meta.get("sha256", ""))
        self.horizon = self.flow.horizon
        self.name = f"flow:{self.flow.meta.get('agent', '?')}"

    def next_chunk(self, obs, task):
        return self.flow.act(obs, task)

    def value_quantile(self, obs, task, tau):
        return self.flow.value_quantile(obs, task, tau)


BUILTIN_POLICIES: dict[str, Callable[..., PolicyRunner]] = {"hold": HoldPolicy, "noise": NoisePolicy}


def make_builtin(name: str, hold_action: np.ndarray, seed: int = 0) -> PolicyRunner:
    """A built-in policy by name, or a learned one from a snapshot directory path."""
    import os

    if os.path.isdir(name):
        return SnapshotPolicy(name, seed)
    if name not in BUILTIN_POLICIES:
        raise ValueError(f"unknown policy {name!r}; built-in policies: {', '.join(BUILTIN_POLICIES)}")
    return BUILTIN_POLICIES[name](hold_action=hold_action, seed=seed)
