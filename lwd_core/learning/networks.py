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


class ImageEncoder(nn.Module):
    """A small CNN for camera images: uint8 [B, n_cam, 3, h, w] -> one feature per observation.

    Four stride-2 convolutions (3 -> 32 -> 64 -> 64 -> 64) shared by all cameras, then one linear
    layer over the concatenated camera features. Sized for 64x64 (or 32x32) frames on a CPU.
    """

    def __init__(self, cameras: int, size: int, out: int):
        super().__init__()
        if size < 16 or size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (four stride-2 convolutions), not {size}")
        self.cameras, self.size = cameras, size
        chans = (3, 32, 64, 64, 64)
        convs: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            convs += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.GELU()]
        self.conv = nn.Sequential(*convs, nn.Flatten())
        side = size // 16
        self.proj = nn.Sequential(nn.Linear(cameras * 64 * side * side, out), nn.LayerNorm(out))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:] != (self.cameras, 3, self.size, self.size):
            raise ValueError(f"images of shape {tuple(images.shape[1:])}, expected "
                             f"{(self.cameras, 3, self.size, self.size)} (cameras, RGB, size, size)")
        b = images.shape[0]
        x = images.reshape(b * self.cameras, 3, self.size, self.size).float() / 127.5 - 1.0
        return self.proj(self.conv(x).reshape(b, -1))


class ObsEncoder(nn.Module):
    """State (normalised by stored statistics) + task + optional cameras -> feature z.

    The task enters as a learned embedding of its index, or, when the model was built with
    ``instruction_dim > 0`` and an ``instruction`` embedding is given, as a projection of that
    embedding: one generalist policy can then serve tasks it knows by description rather than by
    index. Camera images (``cameras > 0``) go through ``ImageEncoder``.
    """

    def __init__(self, obs_dim: int, n_tasks: int, hidden: int, out: int, task_dim: int = 32,
                 instruction_dim: int = 0, cameras: int = 0, image_size: int = 64, image_dim: int = 128):
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.task = nn.Embedding(max(n_tasks, 1), task_dim)
        self.instruction = nn.Linear(instruction_dim, task_dim) if instruction_dim else None
        self.images = ImageEncoder(cameras, image_size, image_dim) if cameras else None
        self.net = mlp(obs_dim + task_dim + (image_dim if cameras else 0), hidden, out, 2, layer_norm=True)

    def forward(self, obs: torch.Tensor, task: torch.Tensor, images: torch.Tensor | None = None,
                instruction: torch.Tensor | None = None) -> torch.Tensor:
        x = (obs - self.obs_mean) / self.obs_std
        if instruction is not None and self.instruction is not None:
            e = self.instruction(instruction)
        else:
            e = self.task(task)
        parts = [x, e]
        if self.images is not None:
            if images is None:
                raise ValueError(f"this model needs {self.images.cameras} camera image(s) per observation")
            parts.append(self.images(images))
        return self.net(torch.cat(parts, -1))


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
