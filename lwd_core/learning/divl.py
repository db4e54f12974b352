"""DIVL numerics: a categorical distribution over in-sample action values, read by quantile.

V_psi(s) is a categorical distribution on C equally spaced atoms (default 51 on [-0.1, 1.1]) fit
by cross-entropy to the two-hot projection of q = min_j Qbar_j(s, a) for replay actions a. The
bootstrap value is its tau-quantile, with tau adapted to the distribution's normalised entropy:
tau = clip(tau_base - alpha * H_norm, tau_min, tau_max) — uncertain states (flat distribution)
get a more conservative statistic. tau_base: LWD (App. B2) uses 0.6 offline, 0.9 online, alpha
0.3; our offline default is 0.9 too (DIVLQAMConfig.tau_offline says why).
Bounds [0.3, 0.95]: the paper does not give them; these keep tau away from the extreme
quantiles, whose estimates from a categorical fit are the least reliable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def make_atoms(n: int = 51, vmin: float = -0.1, vmax: float = 1.1) -> torch.Tensor:
    return torch.linspace(vmin, vmax, n)


def two_hot(values: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """[B] -> [B, C]: mass split linearly between the two atoms around each (clipped) value."""
    v = values.clamp(atoms[0], atoms[-1])
    dz = atoms[1] - atoms[0]
    pos = (v - atoms[0]) / dz
    lo = pos.floor().long().clamp(0, len(atoms) - 1)
    hi = (lo + 1).clamp(max=len(atoms) - 1)
    w_hi = pos - lo.to(pos.dtype)
    out = torch.zeros(*values.shape, len(atoms), dtype=values.dtype, device=values.device)
    out.scatter_add_(-1, lo[..., None], (1 - w_hi)[..., None])
    out.scatter_add_(-1, hi[..., None], w_hi[..., None])
    return out


def distribution_loss(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """C51 cross-entropy -sum_c m_c log p_c, mean over the batch."""
    return -(target_probs * F.log_softmax(logits, -1)).sum(-1).mean()


def quantile(probs: torch.Tensor, atoms: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Inverse CDF inf{v : F(v) >= tau}, linearly interpolated inside the bin below the atom."""
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, tau[..., None].expand(*cdf.shape[:-1], 1).contiguous()).clamp(max=len(atoms) - 1)
    idx = idx.squeeze(-1)
    cdf_prev = torch.where(idx > 0, cdf.gather(-1, (idx - 1).clamp(min=0)[..., None]).squeeze(-1), torch.zeros_like(tau))
    p = probs.gather(-1, idx[..., None]).squeeze(-1).clamp_min(1e-8)
    frac = ((tau - cdf_prev) / p).clamp(0, 1)
    dz = atoms[1] - atoms[0]
    return (atoms[idx] - dz + frac * dz).clamp(atoms[0], atoms[-1])


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(p) / log C in [0, 1]."""
    n = probs.shape[-1]
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1) / torch.log(torch.tensor(float(n)))


def adaptive_tau(probs: torch.Tensor, tau_base: float, alpha: float = 0.3, tau_min: float = 0.3,
                 tau_max: float = 0.95) -> torch.Tensor:
    return (tau_base - alpha * normalized_entropy(probs)).clamp(tau_min, tau_max)
