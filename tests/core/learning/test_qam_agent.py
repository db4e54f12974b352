"""QAM through the agent itself: a learned MLP velocity, the agent's normalisation, flattening
and actor loss, on a one-state bandit with a known linear Q (the critic is not under test here).

Base N(0, 0.3^2) per action dimension; Q = k * (first action of the chunk, first dimension) with
beta k = 2 moves that dimension's mean by beta k s^2 = 0.18 in the continuous limit, 0.14 with
K = 10 steps of our discretisation (test_numerics, check 3); every other dimension stays put. A
wrong sigma schedule gives ~0.06, a sign flip a negative shift, a flattening mix-up moves the
wrong dimension. The log tilt (the default, pi_beta Q^beta) is checked the same way with
Q = c exp(k a), whose log is the linear reward above whatever c is.
"""

import copy
import dataclasses

import torch
from torch import nn

from lwd_core.learning.agents import AGENTS, DIVLQAMConfig
from tests.core.learning.test_policy_inputs import make_batch


class LinearQ(nn.Module):
    """Q(z, a) = k * a[:, 0] for every head: [n_heads, B]."""

    def __init__(self, k: float, heads: int = 2):
        super().__init__()
        self.k, self.heads = k, heads

    def forward(self, z, a):
        return (self.k * a[:, 0]).expand(self.heads, -1)


def tilt_shifts(target_q: nn.Module, tilts: list[str]) -> dict[str, torch.Tensor]:
    """Mean shift of each action dimension after extraction with each tilt, from one BC base."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = DIVLQAMConfig(hidden=128, z_dim=32, beta=1.0, lr=1e-3, flow_steps=10)
    base_agent = AGENTS["divl_qam"].create(obs_dim=1, action_dim=2, horizon=2, tasks=["bandit"], config=cfg)
    obs = torch.zeros(256, 1)
    for _ in range(800):
        base_agent.pretrain_step(make_batch(obs, 0.3 * torch.randn(256, 2, 2, generator=gen)))
    probe = torch.zeros(20000, 1), torch.zeros(20000, dtype=torch.long)
    base = base_agent.sample_actions(*probe, generator=torch.Generator().manual_seed(1)).reshape(20000, 4).mean(0)
    shifts = {}
    for tilt in tilts:
        ag = copy.deepcopy(base_agent)
        ag.config = dataclasses.replace(cfg, tilt=tilt)
        ag.end_pretraining()
        ag.target_q = target_q
        for _ in range(400):
            loss, info = ag.actor_loss(make_batch(obs, torch.zeros(256, 2, 2)))
            ag._step(ag.actor_opt, loss, list(ag.actor.parameters()))
        tuned = ag.sample_actions(*probe, generator=torch.Generator().manual_seed(1)).reshape(20000, 4).mean(0)
        shifts[tilt] = tuned - base
    return shifts


def test_agent_qam_shifts_only_the_rewarded_dimension_by_the_tilt():
    shift = tilt_shifts(LinearQ(2.0), ["q"])["q"]
    assert 0.10 < shift[0].item() < 0.19, shift
    assert shift[1:].abs().max().item() < 0.04, shift


def test_best_of_n_runs_the_chunk_the_critic_values_most():
    torch.manual_seed(0)
    cfg = DIVLQAMConfig(hidden=32, z_dim=16, best_of_n=16)
    ag = AGENTS["divl_qam"].create(obs_dim=1, action_dim=2, horizon=2, tasks=["bandit"], config=cfg)
    ag.q = LinearQ(1.0)  # values the first action dimension
    obs, task = torch.zeros(500, 1), torch.zeros(500, dtype=torch.long)
    best = ag.sample_actions(obs, task, generator=torch.Generator().manual_seed(0))
    ag.config = DIVLQAMConfig(hidden=32, z_dim=16, best_of_n=1)
    one = ag.sample_actions(obs, task, generator=torch.Generator().manual_seed(0))
    assert best.shape == one.shape == (500, 2, 2)
    assert best[:, 0, 0].mean() > one[:, 0, 0].mean() + 0.3  # the max of 16 draws, not one draw
    assert abs(best[:, 1, 1].mean() - one[:, 1, 1].mean()) < 0.15  # the other dimensions: untouched


class DisagreeingQ(nn.Module):
    """Two heads that disagree on the first action dimension: +a and -2a."""

    def forward(self, z, a):
        return torch.stack([a[:, 0], -2 * a[:, 0]])


def test_best_of_n_ranks_by_the_chosen_head_combination():
    torch.manual_seed(0)
    cfg = DIVLQAMConfig(hidden=32, z_dim=16, best_of_n=16)
    ag = AGENTS["divl_qam"].create(obs_dim=1, action_dim=2, horizon=2, tasks=["bandit"], config=cfg)
    ag.q = DisagreeingQ()
    obs, task = torch.zeros(500, 1), torch.zeros(500, dtype=torch.long)
    mean = ag.sample_actions(obs, task, generator=torch.Generator().manual_seed(0))[:, 0, 0]
    ag.config = DIVLQAMConfig(hidden=32, z_dim=16, best_of_n=16, rank_q="min")
    pessimistic = ag.sample_actions(obs, task, generator=torch.Generator().manual_seed(0))[:, 0, 0]
    # The mean of the heads (-a/2) wants the most negative draw; their minimum peaks at a = 0.
    assert mean.mean() < pessimistic.mean() - 0.3
    assert pessimistic.abs().mean() < 0.5 * mean.abs().mean()


class ExpQ(nn.Module):
    """Q = c * exp(k * a[:, 0]): log Q = log c + k a, the linear Q above whatever c is."""

    def __init__(self, c: float, k: float):
        super().__init__()
        self.c, self.k = c, k

    def forward(self, z, a):
        return (self.c * torch.exp(self.k * a[:, 0])).expand(2, -1)


def test_log_q_tilt_is_the_same_whatever_the_scale_of_q():
    shifts = tilt_shifts(ExpQ(0.3, 2.0), ["log_q", "q"])
    # pi_beta * Q^beta with Q = c exp(2 a): the tilt of the linear reward 2a, for any c.
    low = shifts["log_q"]
    assert 0.10 < low[0].item() < 0.19, low
    assert low[1:].abs().max().item() < 0.04, low
    # The plain exp(beta Q) tilt of the same Q is ~0.4 times as strong (0.06): it depends on c.
    assert shifts["q"][0].item() < 0.7 * low[0].item(), shifts
