"""Flow matching on action chunks: linear path x_t = (1 - t) x0 + t a, x0 ~ N(0, I), t = 1 is the
action; the velocity target is a - x0. Sampling integrates the ODE with K Euler steps.

Velocities are plain callables ``v(x, t)`` so the numerics can be checked against exact ones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def flow_matching_loss(v: Velocity, actions: torch.Tensor, generator: torch.Generator | None = None,
                       weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of ||v(x_t, t) - (a - x0)||^2 summed over the d action dims."""
    x0 = torch.randn(actions.shape, generator=generator, dtype=actions.dtype)
    t = torch.rand(actions.shape[0], generator=generator, dtype=actions.dtype)
    xt = (1 - t[:, None]) * x0 + t[:, None] * actions
    err = ((v(xt, t) - (actions - x0)) ** 2).sum(-1)
    return (err * weight).sum() / weight.sum().clamp_min(1e-8) if weight is not None else err.mean()


def euler_sample(v: Velocity, x0: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 0 to 1 with ``steps`` Euler steps."""
    x, h = x0, 1.0 / steps
    for i in range(steps):
        t = torch.full((x.shape[0],), i * h, dtype=x.dtype)
        x = x + h * v(x, t)
    return x
