"""The faster learner computes the same numbers as the original one.

- ``BatchedQEnsemble`` (weights stacked over heads) against ``QEnsemble`` (a loop over per-head
  MLPs) built from the same seed: identical initial weights, outputs and gradients equal to
  float32 rounding (tolerance: rtol 1e-5, atol 1e-6).
- The actor step that reuses f_theta's and f_beta's evaluations against the one that evaluates
  them again: the same loss and gradients (same tolerance).
- A whole update with every speed switch on against every switch off, three steps from the same
  seed: the same reported losses (rtol 1e-4; Adam divides by the gradient's running size, so
  float noise in near-zero gradients may grow a little) and weights within 1e-4 of each other.
- A snapshot saved in the per-head layout (as every snapshot before the batched heads) loads into
  the batched agent and gives the same Q values.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from lwd_core.learning import snapshot
from lwd_core.learning.agents import AGENTS, DIVLQAMConfig
from lwd_core.learning.networks import BatchedQEnsemble, QEnsemble
from tests.core.learning.test_policy_inputs import make_batch

TOL = {"rtol": 1e-5, "atol": 1e-6}
FAST = {"batched_heads": True, "reuse_evaluations": True, "fused_optim": True}
SLOW = {"batched_heads": False, "reuse_evaluations": False, "fused_optim": False}


def loop_and_batched(n=10, layers=3, hidden=64, z_dim=16, d=6):
    torch.manual_seed(3)
    loop = QEnsemble(z_dim, d, hidden, n, layers)
    torch.manual_seed(3)
    batched = BatchedQEnsemble(z_dim, d, hidden, n, layers)
    return loop, batched


def test_batched_heads_start_from_the_loops_weights():
    loop, batched = loop_and_batched()
    stacked = BatchedQEnsemble.stack_legacy(dict(loop.state_dict()), "", 10, 3)
    assert stacked.keys() == batched.state_dict().keys()
    for k, v in batched.state_dict().items():
        assert torch.equal(v, stacked[k]), k


def test_batched_heads_give_the_loops_outputs_and_gradients():
    loop, batched = loop_and_batched()
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(32, 16, generator=gen, requires_grad=True)
    a = torch.randn(32, 6, generator=gen, requires_grad=True)
    w = torch.randn(10, 32, generator=gen)  # a loss that weighs every head and row differently
    out_loop, out_batched = loop(z, a), batched(z, a)
    assert out_loop.shape == out_batched.shape == (10, 32)
    torch.testing.assert_close(out_batched, out_loop, **TOL)
    g_loop = torch.autograd.grad((w * out_loop).sum(), [z, a, *loop.parameters()])
    g_batched = torch.autograd.grad((w * out_batched).sum(), [z, a, *batched.parameters()])
    torch.testing.assert_close(g_batched[0], g_loop[0], **TOL)
    torch.testing.assert_close(g_batched[1], g_loop[1], **TOL)
    # Parameter gradients: stack the loop's per-head gradients into the batched layout.
    names = [k for k, _ in loop.named_parameters()]
    stacked = BatchedQEnsemble.stack_legacy(dict(zip(names, g_loop[2:], strict=True)), "", 10, 3)
    for (k, _), g in zip(batched.named_parameters(), g_batched[2:], strict=True):
        torch.testing.assert_close(g, stacked[k], **TOL, msg=k)


def make_agent(switches: dict, seed=0, **cfg):
    config = DIVLQAMConfig(hidden=64, z_dim=32, n_q=5, q_layers=3, actor_layers=3, **switches, **cfg)
    return AGENTS["divl_qam"].create(obs_dim=4, action_dim=2, horizon=3, tasks=["a", "b"], config=config, seed=seed)


def batches(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        b = make_batch(torch.randn(64, 4, generator=gen), torch.rand(64, 3, 2, generator=gen) * 2 - 1,
                       task=torch.randint(0, 2, (64,), generator=gen))
        b.rewards = (torch.rand(64, 3, generator=gen) < 0.2).float()
        b.done = (torch.rand(64, generator=gen) < 0.3).float()
        out.append(b)
    return out


def test_reusing_evaluations_gives_the_same_actor_loss_and_gradients():
    ag = make_agent(FAST)
    ag.end_pretraining()
    with torch.no_grad():  # f_theta != f_beta, so the loss is not trivially the adjoint term alone
        for p in ag.actor.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    batch = batches(1)[0]
    results = []
    for reuse in (False, True):
        ag.config = dataclasses.replace(ag.config, reuse_evaluations=reuse)
        ag.gen.manual_seed(7)
        loss, _ = ag.actor_loss(batch)
        results.append((loss.detach(), torch.autograd.grad(loss, list(ag.actor.parameters()))))
    (l0, g0), (l1, g1) = results
    torch.testing.assert_close(l1, l0, **TOL)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_every_speed_switch_leaves_the_update_unchanged():
    fast, slow = make_agent(FAST), make_agent(SLOW)
    data = batches(6)
    for b in data[:3]:
        f, s = fast.pretrain_step(b), slow.pretrain_step(b)
        assert f.keys() == s.keys()
        for k in f:
            assert f[k] == pytest.approx(s[k], rel=1e-4, abs=1e-6), k
    fast.end_pretraining()
    slow.end_pretraining()
    for b in data[3:]:
        f, s = fast.update(b), slow.update(b)
        assert f.keys() == s.keys() and "adjoint_loss" in f
        for k in f:
            assert f[k] == pytest.approx(s[k], rel=1e-4, abs=1e-6), k
    slow_state = fast.upgrade_state_dict(dict(slow.state_dict()))
    for k, v in fast.state_dict().items():
        torch.testing.assert_close(v, slow_state[k], rtol=0, atol=1e-4, msg=k)


def test_a_snapshot_with_per_head_q_weights_loads_into_the_batched_agent(tmp_path):
    old = make_agent(SLOW)
    old.end_pretraining()
    snapshot.save(old, tmp_path / "old", version=1)
    # As a snapshot written before these switches existed: its config does not name them.
    meta_path = tmp_path / "old" / "meta.json"
    meta = json.loads(meta_path.read_text())
    for field in ("batched_heads", "reuse_evaluations", "fused_optim"):
        del meta["config"][field]
    meta_path.write_text(json.dumps(meta))
    assert any(k.startswith("target_q.heads.") for k in old.state_dict())
    loaded = snapshot.load(tmp_path / "old")
    assert isinstance(loaded.q, BatchedQEnsemble) and isinstance(loaded.target_q, BatchedQEnsemble)
    gen = torch.Generator().manual_seed(0)
    z, a = torch.randn(16, 32, generator=gen), torch.randn(16, 6, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(loaded.q(z, a), old.q(z, a), **TOL)
        torch.testing.assert_close(loaded.target_q(z, a), old.target_q(z, a), **TOL)
    # The same conversion serves load_state_dict (e.g. a learner checkpoint of the old layout).
    fresh = make_agent(FAST, seed=5)
    fresh.end_pretraining()
    fresh.load_state_dict(old.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh.q(z, a), old.q(z, a), **TOL)
