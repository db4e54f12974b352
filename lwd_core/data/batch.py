"""The training batch: what every dataset yields and every agent consumes.

A row is one action chunk starting at step ``t`` of an episode. With ``n_step`` chunks of horizon
``H`` the reward window has ``L = n_step * H`` steps. The window stops early (``valid`` turns 0)
at the end of the episode and, for n-step windows, at a switch between policy and human
actions; ``bootstrap_steps`` says how many steps after ``t`` the bootstrap observation
``next_obs`` is, and ``done`` says the episode ended inside the window (no bootstrap).

The TD target an agent builds from a row is
``y = sum_i gamma**i * rewards[i] * valid[i] + gamma**bootstrap_steps * (1 - done) * V(next_obs)``.

Padding: action rows past the end of the episode repeat the last executed action, so the
policy learns to hold at the end; they are marked invalid so no reward is read from them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch


@dataclasses.dataclass
class ChunkBatch:
    obs: torch.Tensor
    """float32 [B, obs_dim]: state at step t"""
    task: torch.Tensor
    """int64 [B]: task index (see the dataset's ``tasks`` list)"""
    actions: torch.Tensor
    """float32 [B, H, action_dim]: executed actions t..t+H-1 in robot units (agents normalise
    them to [-1, 1] with the per-dimension range they store)"""
    rewards: torch.Tensor
    """float32 [B, L]: per-step rewards over the window (L = n_step * H)"""
    valid: torch.Tensor
    """float32 [B, L]: 1 where the step exists in the episode (and in the window)"""
    next_obs: torch.Tensor
    """float32 [B, obs_dim]: bootstrap state, ``bootstrap_steps`` after t"""
    next_task: torch.Tensor
    """int64 [B]"""
    bootstrap_steps: torch.Tensor
    """int64 [B]: steps from t to next_obs (H for a full 1-step chunk window)"""
    done: torch.Tensor
    """float32 [B]: 1 if the episode ended inside the window (success or failure)"""
    source: torch.Tensor
    """uint8 [B, H]: 0 policy, 1 human, 2 demo for each action of the chunk"""
    is_online: torch.Tensor
    """bool [B]: row drawn from online (deployment) data rather than offline data"""
    images: torch.Tensor | None = None
    """optional uint8 [B, n_cam, 3, h, w] camera images at step t"""
    next_images: torch.Tensor | None = None
    """optional uint8 [B, n_cam, 3, h, w] camera images at the bootstrap state"""
    image_valid: torch.Tensor | None = None
    """optional float32 [B, n_cam]: 1 where ``images`` holds the step's own frame (aligned
    within tolerance), 0 where it is a held older frame or a blank (the camera sent none)"""
    instruction: torch.Tensor | None = None
    """optional float32 [B, instruction_dim]: an embedding of the task's instruction text"""

    def to(self, device: str | torch.device) -> ChunkBatch:
        return ChunkBatch(
            **{
                f.name: (v.to(device) if isinstance(v, torch.Tensor) else v)
                for f in dataclasses.fields(self)
                for v in [getattr(self, f.name)]
            }
        )

    @property
    def size(self) -> int:
        return int(self.obs.shape[0])


def discounted_window_return(rewards: np.ndarray, valid: np.ndarray, gamma: float) -> np.ndarray:
    """sum_i gamma**i * r_i * valid_i over the last axis (reference implementation for tests)."""
    g = gamma ** np.arange(rewards.shape[-1])
    return (rewards * valid * g).sum(-1)
