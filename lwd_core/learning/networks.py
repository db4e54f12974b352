"""Network pieces shared by the agents: observation encoder, velocity field, critics."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
    """n independent Q(z, chunk) heads run one after another; ``forward`` returns [n, B].

    The original layout (``heads.{j}.{layer}.weight``), kept as the numerical reference for
    ``BatchedQEnsemble`` and for the benchmark's "before" column (``batched_heads=False``).
    """

    def __init__(self, z_dim: int, d: int, hidden: int, n: int = 2, layers: int = 2):
        super().__init__()
        self.n_heads, self.layers = n, layers
        self.heads = nn.ModuleList(mlp(z_dim + d, hidden, 1, layers, layer_norm=True) for _ in range(n))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        za = torch.cat([z, a], -1)
        return torch.stack([h(za).squeeze(-1) for h in self.heads])


class BatchedQEnsemble(nn.Module):
    """The same n heads as ``QEnsemble``, with each layer's weights stacked over heads so that a
    layer is one matrix product for all heads (the first, whose input all heads share, one plain
    matmul; the others one batched matmul) instead of a Python loop of n small ones.

    Guarantees: built with the same seed it starts from exactly the weights ``QEnsemble`` would
    (it is initialised from one), and its outputs and gradients equal the loop's up to float
    rounding (tests/core/learning/test_batched_q.py). Parameters: ``weights.{l}`` [n, out, in]
    (nn.Linear's layout per head), ``biases.{l}`` [n, out], ``norm_weights.{l}`` and
    ``norm_biases.{l}`` [n, hidden]. A state dict in the loop's layout (``heads.{j}...``, e.g.
    from an older snapshot) is converted on load (``stack_legacy``).
    """

    def __init__(self, z_dim: int, d: int, hidden: int, n: int = 2, layers: int = 2):
        super().__init__()
        if layers < 1:
            raise ValueError(f"a Q head needs at least one hidden layer, not {layers}")
        self.n_heads, self.layers, self.hidden = n, layers, hidden
        loop = QEnsemble(z_dim, d, hidden, n, layers)
        stacked = self.stack_legacy(loop.state_dict(), "", n, layers)
        self.weights = nn.ParameterList(nn.Parameter(stacked[f"weights.{i}"]) for i in range(layers + 1))
        self.biases = nn.ParameterList(nn.Parameter(stacked[f"biases.{i}"]) for i in range(layers + 1))
        self.norm_weights = nn.ParameterList(nn.Parameter(stacked[f"norm_weights.{i}"]) for i in range(layers))
        self.norm_biases = nn.ParameterList(nn.Parameter(stacked[f"norm_biases.{i}"]) for i in range(layers))
        self._register_load_state_dict_pre_hook(self._upgrade_hook)

    @staticmethod
    def stack_legacy(state: dict, prefix: str, n: int, layers: int) -> dict:
        """Replace, in ``state`` (in place, and return it), the loop layout's keys under ``prefix``
        by the stacked ones; a state without them is returned unchanged."""
        if f"{prefix}heads.0.0.weight" not in state:
            return state
        # mlp(..., layer_norm=True): per hidden layer Linear, LayerNorm, GELU; then the output Linear.
        for i in range(layers + 1):
            for kind, name in (("weight", "weights"), ("bias", "biases")):
                keys = [f"{prefix}heads.{j}.{3 * i}.{kind}" for j in range(n)]
                state[f"{prefix}{name}.{i}"] = torch.stack([state.pop(k) for k in keys])
        for i in range(layers):
            for kind, name in (("weight", "norm_weights"), ("bias", "norm_biases")):
                keys = [f"{prefix}heads.{j}.{3 * i + 1}.{kind}" for j in range(n)]
                state[f"{prefix}{name}.{i}"] = torch.stack([state.pop(k) for k in keys])
        return state

    def _upgrade_hook(self, state, prefix, *args) -> None:
        self.stack_legacy(state, prefix, self.n_heads, self.layers)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        za = torch.cat([z, a], -1)
        n, b = self.n_heads, za.shape[0]
        w0 = self.weights[0]
        # Shared input: one [B, in] x [in, n * hidden] product for every head's first layer.
        h = F.linear(za, w0.reshape(-1, w0.shape[-1]), self.biases[0].reshape(-1))
        h = h.view(b, n, -1).transpose(0, 1)  # [n, B, hidden]
        for i in range(self.layers):
            if i:
                h = torch.baddbmm(self.biases[i][:, None, :], h, self.weights[i].transpose(1, 2))
            h = F.layer_norm(h, (self.hidden,))
            h = F.gelu(h * self.norm_weights[i][:, None, :] + self.norm_biases[i][:, None, :])
        out = torch.baddbmm(self.biases[-1][:, None, :], h, self.weights[-1].transpose(1, 2))
        return out.squeeze(-1)


def upgrade_state_dict(module: nn.Module, state: dict) -> dict:
    """Convert, in place, every older per-head Q layout in ``state`` that ``module`` now holds as a
    ``BatchedQEnsemble`` (so a snapshot's tensor names can be checked before loading)."""
    for name, sub in module.named_modules():
        if isinstance(sub, BatchedQEnsemble):
            sub.stack_legacy(state, f"{name}." if name else "", sub.n_heads, sub.layers)
    return state
