"""BC: a flow-matching action-chunk policy trained by behaviour cloning alone (the baseline, and
the reference policy pi_beta every other agent starts from)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from torch import nn

from lwd_core.data.batch import ChunkBatch
from lwd_core.learning.flow import euler_sample, flow_matching_loss
from lwd_core.learning.networks import ObsEncoder, VelocityField, upgrade_state_dict


@dataclasses.dataclass(frozen=True)
class BCConfig:
    hidden: int = 256
    """Width of every MLP (256 keeps a gradient step at batch 256 fast on two CPU cores)."""
    z_dim: int = 256
    """Size of the observation feature."""
    flow_steps: int = 10
    """K: Euler steps of the sampler (QAM's sensitivity study: >= 10 matters)."""
    lr: float = 3e-4
    """Adam learning rate (LWD's 2e-5 is for billion-parameter nets)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    cameras: int = 0
    """Camera images per observation, each through a small CNN (0: state and task only)."""
    image_size: int = 64
    """Side of the square camera images the CNN takes (a multiple of 16)."""
    instruction_dim: int = 0
    """Size of an instruction-text embedding that may stand in for the task id (0: task id only)."""
    actor_layers: int = 3
    """Hidden layers of the velocity MLP (the QAM reference uses 4 x 512)."""
    fused_optim: bool = True
    """Adam with ``fused=True``: one kernel updates every parameter (same arithmetic up to float
    rounding; False: the per-parameter loop, the "before" column of scripts/bench/learner_speed.py)."""


class BCAgent(nn.Module):
    name = "bc"
    config_class = BCConfig

    def __init__(self, obs_dim: int, action_dim: int, horizon: int, tasks: list[str], config=None, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = config or self.config_class()
        self.obs_dim, self.action_dim, self.horizon, self.tasks = obs_dim, action_dim, horizon, list(tasks)
        self.d = horizon * action_dim
        c = self.config
        self.encoder = self.make_encoder()
        # Actions are learned in [-1, 1]: the data's per-dimension range, stored in the model.
        self.register_buffer("action_low", -torch.ones(action_dim))
        self.register_buffer("action_high", torch.ones(action_dim))
        self.actor = VelocityField(c.z_dim, self.d, c.hidden, c.actor_layers)
        self.actor_opt = self.make_optimizer(list(self.encoder.parameters()) + list(self.actor.parameters()), c.lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.online = False

    def make_encoder(self) -> ObsEncoder:
        c = self.config
        return ObsEncoder(self.obs_dim, len(self.tasks), c.hidden, c.z_dim, instruction_dim=c.instruction_dim,
                          cameras=c.cameras, image_size=c.image_size)

    @classmethod
    def create(cls, *, obs_dim, action_dim, horizon, tasks, obs_mean=None, obs_std=None, action_low=None,
               action_high=None, seed=0, config=None):
        agent = cls(obs_dim, action_dim, horizon, tasks, config, seed)

        def as_t(x):
            return torch.as_tensor(np.asarray(x), dtype=torch.float32)

        if obs_mean is not None:
            agent.encoder.obs_mean.copy_(as_t(obs_mean))
            agent.encoder.obs_std.copy_(as_t(obs_std))
        if action_low is not None:
            agent.action_low.copy_(as_t(action_low))
            agent.action_high.copy_(as_t(action_high))
        return agent

    # --- Inputs. ---
    def normalize_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Robot units [B, H, A] -> flattened [B, d] in [-1, 1]."""
        span = (self.action_high - self.action_low).clamp_min(1e-6)
        a = (2 * (actions - self.action_low) / span - 1).clamp(-1, 1)
        return a.reshape(actions.shape[0], self.d)

    def denormalize_actions(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened [B, d] in [-1, 1] -> robot units [B, H, A]."""
        x = x.clamp(-1, 1).reshape(-1, self.horizon, self.action_dim)
        return self.action_low + (x + 1) / 2 * (self.action_high - self.action_low)

    @staticmethod
    def encode(encoder: ObsEncoder, batch: ChunkBatch, next_state: bool = False) -> torch.Tensor:
        if next_state:
            return encoder(batch.next_obs, batch.next_task, batch.next_images, batch.instruction)
        return encoder(batch.obs, batch.task, batch.images, batch.instruction)

    def make_optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=lr, fused=True if self.config.fused_optim else None)

    @staticmethod
    def as_floats(info: dict) -> dict:
        """Loss terms kept as 0-dim tensors during the step -> floats, in one conversion at the
        end (one host synchronisation per step instead of one per term)."""
        keys = list(info)
        vals = torch.stack([torch.as_tensor(info[k], dtype=torch.float32).detach() for k in keys]).tolist()
        return dict(zip(keys, vals, strict=True))

    def upgrade_state_dict(self, state: dict) -> dict:
        """Convert, in place, tensor names of an older layout of this model (see networks.py)."""
        return upgrade_state_dict(self, state)

    def set_online(self, online: bool) -> None:
        self.online = online

    def _step(self, opt, loss, params) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        opt.step()

    # --- Flow-matching BC loss. ---
    def bc_loss(self, batch: ChunkBatch) -> tuple[torch.Tensor, dict]:
        z = self.encode(self.encoder, batch)
        a = self.normalize_actions(batch.actions)
        loss = flow_matching_loss(lambda x, t: self.actor(z, x, t), a, self.gen)
        return loss, {"bc_loss": loss.detach()}

    def _bc_step(self, batch: ChunkBatch) -> dict:
        loss, info = self.bc_loss(batch)
        self._step(self.actor_opt, loss, list(self.encoder.parameters()) + list(self.actor.parameters()))
        return info

    def pretrain_step(self, batch: ChunkBatch) -> dict:
        """One BC step; returns its loss terms as floats."""
        return self.as_floats(self._bc_step(batch))

    def update(self, batch: ChunkBatch) -> dict:
        return self.pretrain_step(batch)

    def end_pretraining(self) -> None:
        pass

    @torch.no_grad()
    def sample_actions(self, obs: torch.Tensor, task: torch.Tensor, generator: torch.Generator | None = None,
                       images: torch.Tensor | None = None, instruction: torch.Tensor | None = None) -> torch.Tensor:
        """Action chunks [B, H, A] in robot units (within the range seen in training)."""
        return self.denormalize_actions(self.sample_normalized(obs, task, generator, images, instruction))

    @torch.no_grad()
    def sample_normalized(self, obs, task, generator=None, images=None, instruction=None) -> torch.Tensor:
        """Flattened chunks [B, d] in [-1, 1]: the flow's ODE sample, before units are restored."""
        z = self.encoder(obs.float(), task.long(), images, instruction)
        x0 = torch.randn((obs.shape[0], self.d), generator=generator or self.gen)
        x = euler_sample(lambda x, t: self.actor(z, x, t), x0, self.config.flow_steps)
        return x.clamp(-1, 1)

    def freeze_copy(self, module: nn.Module) -> nn.Module:
        frozen = copy.deepcopy(module)
        for p in frozen.parameters():
            p.requires_grad_(False)
        return frozen
