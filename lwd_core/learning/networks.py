"""Network pieces shared by the agents: observation encoder, velocity field, critics."""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(inp: int, hidden: int, out: int, layers: int, layer_norm: bool = False) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = inp
    for _ in range(layers):
        mods += [nn.Linear(d, hidden)] + ([nn.LayerNorm(hidden)] if layer_norm else []) + [nn.GELU()]
        d = hidden
    mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)


class Fourier(nn.Module):
    """Flow time t in [0, 1] -> sin/cos features at fixed, log-spaced frequencies."""

    def __init__(self, dim: int = 32):
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(100.0), dim // 2)) * math.pi)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        a = t[..., None] * self.freqs
        return torch.cat([a.sin(), a.cos()], -1)


class ObsEncoder(nn.Module):
    """State (normalised by stored statistics) + task embedding -> feature z.

    ``instruction`` (an embedding vector per row) can replace the task id, so one generalist
    policy can serve tasks it knows by description rather than by index.
    """

    def __init__(self, obs_dim: int, n_tasks: int, hidden: int, out: int, task_dim: int = 32,
                 instruction_dim: int = 0):
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.task = nn.Embedding(max(n_tasks, 1), task_dim)
        self.instruction = nn.Linear(instruction_dim, task_dim) if instruction_dim else None
        self.net = mlp(obs_dim + task_dim, hidden, out, 2, layer_norm=True)

    def forward(self, obs: torch.Tensor, task: torch.Tensor, instruction: torch.Tensor | None = None) -> torch.Tensor:
        x = (obs - self.obs_mean) / self.obs_std
        e = self.instruction(instruction) if instruction is not None and self.instruction is not None else self.task(task)
        return self.net(torch.cat([x, e], -1))


class VelocityField(nn.Module):
    """f(z, x, t): the flow's velocity for a flattened action chunk x (d = H * A)."""

    def __init__(self, z_dim: int, d: int, hidden: int, layers: int = 3):
        super().__init__()
        self.t_embed = Fourier(32)
        self.net = mlp(z_dim + d + 32, hidden, d, layers)

    def forward(self, z: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        return self.net(torch.cat([z, x, self.t_embed(t)], -1))


class QEnsemble(nn.Module):
    """n independent Q(z, chunk) heads; ``forward`` returns [n, B]."""

    def __init__(self, z_dim: int, d: int, hidden: int, n: int = 2):
        super().__init__()
        self.heads = nn.ModuleList(mlp(z_dim + d, hidden, 1, 2, layer_norm=True) for _ in range(n))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        za = torch.cat([z, a], -1)
        return torch.stack([h(za).squeeze(-1) for h in self.heads])
