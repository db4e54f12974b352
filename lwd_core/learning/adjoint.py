"""QAM numerics: memoryless sampling, the lean adjoint, and the adjoint-matching loss.

Follows the official QAM code (shared/algorithms.md §2.3–2.5) on a grid t_i = i / K, h = 1 / K:

- Memoryless schedule sigma_i = sqrt(2 (1 - t_i + h) / (t_i + h)); the equivalent SDE of a
  linear-path flow has drift b = 2 f - x / (t + h). Trajectories come from the *current*
  fine-tuned f_theta (no gradient); the last step is a plain ODE step with the base f_beta.
- Lean adjoint: a_K = -beta * grad Q(x_K); going back, a_i = a_{i+1} + h J_i^T a_{i+1} with
  J_i the Jacobian of the *base* drift at (x_i, t_i) — one vector-Jacobian product through
  f_beta per step, never back-propagation through the sampling chain.
- Loss: sum_i || 2 (f_theta - f_beta)(x_i, t_i) / sigma_i + sigma_i a_i ||^2, whose minimiser
  is f_theta = f_beta - sigma_i^2 / 2 * a_i (a flow for the Q-tilted policy).

Everything is a pure function of velocity callables ``f(x, t)`` so tests can use exact ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def memoryless_sigma(K: int) -> torch.Tensor:
    """sigma_i for i = 0..K-1 (offset h keeps it finite at t = 0)."""
    h = 1.0 / K
    t = torch.arange(K, dtype=torch.float64) * h
    return torch.sqrt(2 * (1 - t + h) / (t + h))


@dataclasses.dataclass
class AdjointSolve:
    traj: torch.Tensor
    """[K + 1, B, d]: x_0 (noise) .. x_K (action), detached."""
    adjoints: torch.Tensor
    """[K, B, d]: a_i, the lean adjoint at x_i."""
    sigmas: torch.Tensor
    """[K]"""
    terminal: torch.Tensor
    """[B, d]: a_K = -beta grad Q(x_K)."""
    base: torch.Tensor | None = None
    """[K, B, d]: f_beta(x_i, t_i), detached, when the solve was asked to keep them (the loss then
    reuses them instead of evaluating f_beta again at the same points)."""


def _t(i: int, K: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((like.shape[0],), i / K, dtype=like.dtype, device=like.device)


@torch.no_grad()
def sample_memoryless(f_theta: Velocity, f_beta: Velocity, x0: torch.Tensor, K: int,
                      sigmas: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Trajectory [K + 1, B, d] of the memoryless SDE of f_theta, last step an ODE step of f_beta."""
    h = 1.0 / K
    sig = (memoryless_sigma(K) if sigmas is None else sigmas).to(x0.dtype)
    xs, x = [x0], x0
    for i in range(K):
        t = _t(i, K, x)
        if i < K - 1:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = x + h * (2 * f_theta(x, t) - x / (i * h + h)) + h**0.5 * sig[i] * noise
        else:
            x = x + h * f_beta(x, t)
        xs.append(x)
    return torch.stack(xs)


def sample_with_velocities(f_theta: Velocity, f_beta: Velocity, x0: torch.Tensor, K: int,
                           sigmas: torch.Tensor | None = None,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, list]:
    """``sample_memoryless`` (same trajectory, same random draws), also returning f_theta(x_i, t_i)
    for i < K - 1 *with* their autograd graph (x_i detached), so the adjoint-matching loss needs
    no second forward pass at those points; the entry for the last step, which the sampler takes
    with f_beta, is None."""
    h = 1.0 / K
    sig = (memoryless_sigma(K) if sigmas is None else sigmas).to(x0.dtype)
    xs, x, theta = [x0], x0, []
    for i in range(K):
        t = _t(i, K, x)
        if i < K - 1:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            v = f_theta(x, t)
            theta.append(v)
            x = x + h * (2 * v.detach() - x / (i * h + h)) + h**0.5 * sig[i] * noise
        else:
            theta.append(None)
            with torch.no_grad():
                x = x + h * f_beta(x, t)
        xs.append(x)
    return torch.stack(xs), theta


def lean_adjoint(f_beta: Velocity, traj: torch.Tensor, grad_q: Callable[[torch.Tensor], torch.Tensor],
                 beta: float, sigmas: torch.Tensor | None = None, qam_time_shift: bool = False,
                 keep_base: bool = False) -> AdjointSolve:
    """Backward pass along ``traj`` through the frozen base; returns every intermediate.

    By default the base drift's Jacobian is taken at the same (x_i, t_i) as the forward step,
    which makes -a_i exactly the back-propagated gradient of beta Q(x_K) through the discrete
    chain when f_theta = f_beta. ``qam_time_shift`` evaluates f_beta at t_i + h instead, as the
    official QAM code does: an O(h) difference (at K = 10 the linear-Q tilt is 0.213 with it,
    0.142 without, 0.18 in the continuous limit both approach). ``keep_base`` stores f_beta(x_i, t_i)
    in the result (only without the time shift, where those are the values the loss needs).
    """
    if keep_base and qam_time_shift:
        raise ValueError("keep_base needs f_beta at t_i, qam_time_shift evaluates it at t_i + h")
    K = traj.shape[0] - 1
    h = 1.0 / K
    a = -beta * grad_q(traj[-1]).detach()
    terminal = a
    out, base = [None] * K, [None] * K
    for i in range(K - 1, -1, -1):
        x = traj[i].detach().requires_grad_(True)
        t = _t(i + 1 if qam_time_shift else i, K, x)
        with torch.enable_grad():
            fb = f_beta(x, t)
            drift = fb if i == K - 1 else 2 * fb - x / (i * h + h)
            (vjp,) = torch.autograd.grad(drift, x, grad_outputs=a)
        a = (a + h * vjp).detach()
        out[i], base[i] = a, fb.detach()
    sig = (memoryless_sigma(K) if sigmas is None else sigmas).to(traj.dtype)
    return AdjointSolve(traj.detach(), torch.stack(out), sig, terminal, torch.stack(base) if keep_base else None)


def adjoint_matching_loss(f_theta: Velocity, f_beta: Velocity, solve: AdjointSolve,
                          theta: list | None = None) -> torch.Tensor:
    """Mean over the batch of sum_i ||2 (f_theta - f_beta) / sigma_i + sigma_i a_i||^2.

    f_beta's values come from ``solve.base`` when it kept them, f_theta's from ``theta`` (as
    ``sample_with_velocities`` returns them) where an entry is not None; the others are evaluated
    here. Either way the loss is the same function of the same evaluations."""
    K = solve.adjoints.shape[0]
    total = 0.0
    for i in range(K):
        x = solve.traj[i]
        t = _t(i, K, x)
        if solve.base is not None:
            base = solve.base[i]
        else:
            with torch.no_grad():
                base = f_beta(x, t)
        v = theta[i] if theta is not None and theta[i] is not None else f_theta(x, t)
        u = 2 * (v - base) / solve.sigmas[i] + solve.sigmas[i] * solve.adjoints[i]
        total = total + (u**2).sum(-1).mean()
    return total
