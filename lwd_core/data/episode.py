"""The in-memory episode: the unit the recorder writes, the exporter reads and the learner samples.

This is the contract between the episode store (which persists and indexes episodes) and the
learning code (which turns episodes into training batches of action chunks).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

SOURCE_POLICY = 0
SOURCE_HUMAN = 1
SOURCE_DEMO = 2
"""Offline demonstrations (scripted experts, imported datasets)."""
SOURCE_NAMES = {SOURCE_POLICY: "policy", SOURCE_HUMAN: "human", SOURCE_DEMO: "demo"}

Outcome = Literal["success", "failure", "unlabeled"]


@dataclasses.dataclass
class Episode:
    """One episode of one robot on one task.

    Row ``t`` holds the observation *before* action ``t`` and the action actually executed;
    ``final_state`` is the observation after the last action (None while the episode runs or
    when it was aborted before the last step was known).
    """

    episode_id: str
    task: str
    states: np.ndarray
    """float32 [T, obs_dim]"""
    actions: np.ndarray
    """float32 [T, action_dim]"""
    sources: np.ndarray
    """uint8 [T]: SOURCE_POLICY, SOURCE_HUMAN or SOURCE_DEMO"""
    policy_versions: np.ndarray
    """int32 [T]: policy version that produced each policy step (0 for human/demo steps)"""
    outcome: Outcome = "unlabeled"
    final_state: np.ndarray | None = None
    robot_id: str = ""
    instruction: str = ""
    t_ns: np.ndarray | None = None
    """int64 [T]: step times on the robot's monotonic clock (when read with frames)"""
    frames: dict[str, tuple[np.ndarray, list[bytes]]] | None = None
    """camera -> (capture times int64, JPEGs), on the clock of ``t_ns``; None when not read.
    ``lwd_core.data.frame_alignment`` says which frame belongs to which step."""

    def __post_init__(self):
        n = len(self.states)
        for name in ("actions", "sources", "policy_versions"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"episode {self.episode_id}: {name} has {len(getattr(self, name))} rows, states {n}")

    def __len__(self) -> int:
        return len(self.states)

    @property
    def rewards(self) -> np.ndarray:
        """Sparse reward: 1 at the last step of a successful episode, else 0 (float32 [T])."""
        r = np.zeros(len(self), np.float32)
        if self.outcome == "success" and len(self):
            r[-1] = 1.0
        return r

    @property
    def human_steps(self) -> int:
        return int((self.sources == SOURCE_HUMAN).sum())
