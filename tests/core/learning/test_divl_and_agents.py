"""DIVL on known distributions, the chain MDP, agents' losses, snapshots and the inference policy."""

import numpy as np
import pytest
import torch

from lwd_core.data.chunk_dataset import ChunkDataset
from lwd_core.data.episode import SOURCE_DEMO, Episode
from lwd_core.learning import divl, snapshot
from lwd_core.learning.agents import AGENTS, DIVLQAMConfig
from lwd_core.learning.policy import FlowPolicy


# --- Check 7: a two-point in-sample value distribution. ---
def test_categorical_fit_quantiles_and_entropy_on_two_points():
    atoms = divl.make_atoms(61)  # spacing 0.02: 0.1 and 0.9 fall exactly on atoms
    gen = torch.Generator().manual_seed(0)
    q = torch.where(torch.rand(20000, generator=gen) < 0.7, 0.1, 0.9)
    logits = torch.zeros(61, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        loss = divl.distribution_loss(logits.expand(len(q), 61), divl.two_hot(q, atoms))
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = logits.softmax(-1).detach()
    near = lambda v: p[(atoms - v).abs() < 0.01].sum().item()  # noqa: E731
    assert near(0.1) == pytest.approx(0.7, abs=0.02) and near(0.9) == pytest.approx(0.3, abs=0.02)
    quant = lambda tau: divl.quantile(p[None], atoms, torch.tensor([tau]))[0].item()  # noqa: E731
    dz = (atoms[1] - atoms[0]).item()
    assert abs(quant(0.6) - 0.1) <= dz and abs(quant(0.75) - 0.9) <= dz
    assert (p * atoms).sum().item() == pytest.approx(0.34, abs=0.01)
    # Prop. 1: the categorical tau-quantile equals the pinball-loss scalar fit within one bin.
    for tau in (0.5, 0.6, 0.72, 0.8):
        pinball = torch.quantile(q, tau).item()
        assert abs(quant(tau) - pinball) <= dz + 1e-6
    two_point = torch.zeros(1, 51)
    two_point[0, 5], two_point[0, 40] = 0.7, 0.3
    assert divl.normalized_entropy(two_point).item() == pytest.approx(0.611 / np.log(51), abs=1e-3)
    assert divl.normalized_entropy(two_point).item() == pytest.approx(0.155, abs=1e-3)
    tau = divl.adaptive_tau(p[None], 0.6)
    assert tau.item() == pytest.approx(0.6 - 0.3 * divl.normalized_entropy(p[None]).item())


# --- Check 8: a chain MDP; Q of the good action converges to the discounted success value. ---
def chain_dataset(L=4, H=2, episodes=300, p_good=0.75, seed=0):
    rng = np.random.default_rng(seed)
    eps = []
    for e in range(episodes):
        states, actions, outcome = [], [], "success"
        for k in range(L):
            good = rng.random() < p_good
            for _ in range(H):
                states.append(np.eye(L, dtype=np.float32)[k])
                actions.append([1.0 if good else -1.0])
            if not good:
                outcome = "failure"
                break
        n = len(states)
        eps.append(Episode(f"c{e}", "chain", np.array(states), np.array(actions, np.float32),
                           np.full(n, SOURCE_DEMO, np.uint8), np.zeros(n, np.int32), outcome=outcome))
    ds = ChunkDataset(["chain"], L, 1, horizon=H, seed=seed)
    ds.add_episodes(eps, online=False)
    return ds


@pytest.mark.parametrize("agent", ["divl_qam"])
def test_chain_mdp_q_converges_to_discounted_success_value(agent):
    # (A scalar expectile at 0.7 does not: on this bimodal in-sample value distribution it sits
    # below the good action's value, the gap that DIVL's quantile read-out closes.)
    # At the default tau_base 0.9 (adaptive tau ~0.82 here) DIVL converges to the good action's
    # value, unbiased: at each state the in-sample values are a point mass at 0 (failures, 25-35 %
    # of the rows) and one at the good value, and any quantile above the failure mass reads the
    # good value; tau_base 0.6 reads slightly low (-0.01 to -0.035, growing along the chain).
    # What the thread count changes is the path: seed 0 still overshoots by 0.125 at 1500 steps
    # with 1 thread (0.031 with 2: the failure this test once had), and after convergence the
    # online critic's SGD noise alone moves single read-outs by up to 0.03. So: 3000 steps (past
    # every transient seen, seeds 0-4, 1 and 2 threads) and the online Q averaged over the last
    # 1000 (Polyak-Ruppert), which removes the noise and keeps any bias. atol 0.04 is several
    # times the averaged error measured (scripts/bench/chain_mdp.py, docs/benchmarks.md).
    L, H, gamma = 4, 2, 0.9
    ds = chain_dataset(L, H)
    cls = AGENTS[agent]
    cfg = cls.config_class(hidden=64, z_dim=64, gamma=gamma, critic_lr=1e-3)
    assert cfg.tau_offline == 0.9  # the default this test vouches for
    ag = cls.create(obs_dim=L, action_dim=1, horizon=H, tasks=["chain"], config=cfg, seed=0)
    states, task, good = torch.eye(L), torch.zeros(L, dtype=torch.long), torch.ones(L, H)
    q, n = torch.zeros(L), 0
    for i in range(1, 3001):
        ag._critic_step(ds.sample(128))
        if i > 2000 and i % 20 == 0:
            with torch.no_grad():
                q += ag.q(ag.critic_encoder(states, task), good).min(0).values
            n += 1
    q /= n
    # Rows start at every step, and a state is the same at each of its H steps, so the last state's
    # value averages the windows that start at each offset (reward H-1, ..., 0 steps away); earlier
    # states bootstrap H steps on from the next state's quantile (the good action's value).
    last = float(np.mean([gamma ** (H - 1 - o) for o in range(H)]))
    expected = torch.tensor([gamma ** (H * (L - 1 - k)) * last for k in range(L)])
    torch.testing.assert_close(q, expected, atol=0.04, rtol=0)


def test_lower_tau_moves_value_toward_behaviour_average():
    ds = chain_dataset(episodes=200, p_good=0.6)
    out = {}
    for tau in (0.3, 0.9):
        torch.manual_seed(0)
        cfg = DIVLQAMConfig(hidden=64, z_dim=64, gamma=0.9, critic_lr=1e-3, tau_offline=tau, tau_alpha=0.0)
        ag = AGENTS["divl_qam"].create(obs_dim=4, action_dim=1, horizon=2, tasks=["chain"], config=cfg)
        for _ in range(1200):
            ag._critic_step(ds.sample(128))
        with torch.no_grad():
            q = ag.q(ag.critic_encoder(torch.eye(4)[:1], torch.zeros(1, dtype=torch.long)), torch.ones(1, 2))
        out[tau] = q.min().item()
    assert out[0.3] < out[0.9] - 0.1


# --- Agents learn on a synthetic batch; snapshots round-trip and refuse tampering. ---
@pytest.fixture(scope="module")
def small_ds():
    return chain_dataset(episodes=100, p_good=1.0)  # one action per state: BC can reach ~0


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_agent_losses_decrease(name, small_ds):
    torch.manual_seed(0)
    cfg = AGENTS[name].config_class(hidden=64, z_dim=64)
    ag = AGENTS[name].create(obs_dim=4, action_dim=1, horizon=2, tasks=["chain"], config=cfg)
    first = [ag.pretrain_step(small_ds.sample(128)) for _ in range(5)]
    for _ in range(250):
        ag.pretrain_step(small_ds.sample(128))
    last = [ag.pretrain_step(small_ds.sample(128)) for _ in range(5)]
    assert np.mean([i["bc_loss"] for i in last]) < 0.5 * np.mean([i["bc_loss"] for i in first])
    ag.end_pretraining()
    infos = [ag.update(small_ds.sample(64)) for _ in range(5)]
    assert all(np.isfinite(v) for i in infos for v in i.values())
    chunk = ag.sample_actions(torch.eye(4)[:2], torch.zeros(2, dtype=torch.long))
    assert chunk.shape == (2, 2, 1) and chunk.abs().max() <= 1


def test_snapshot_round_trip_and_refusals(tmp_path, small_ds):
    ag = AGENTS["divl_qam"].create(obs_dim=4, action_dim=1, horizon=2, tasks=["chain"],
                                   config=DIVLQAMConfig(hidden=32, z_dim=32))
    ag.end_pretraining()
    meta = snapshot.save(ag, tmp_path / "s", version=2, parent=1, learner_step=10)
    assert meta["version"] == 2 and len(meta["sha256"]) == 64
    pol = FlowPolicy.from_snapshot(tmp_path / "s")
    torch.manual_seed(0)
    obs = np.eye(4, dtype=np.float32)[0]
    assert pol.act(obs, "chain").shape == (2, 1) and pol.version == 2
    for k, v in ag.state_dict().items():
        torch.testing.assert_close(pol.agent.state_dict()[k], v)
    weights = tmp_path / "s" / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(snapshot.SnapshotError, match="digest"):
        snapshot.load(tmp_path / "s")
    other = AGENTS["divl_qam"].create(obs_dim=4, action_dim=1, horizon=2, tasks=["chain"],
                                      config=DIVLQAMConfig(hidden=48, z_dim=32))
    snapshot.save(other, tmp_path / "t", version=1)
    import json

    meta_t = json.loads((tmp_path / "t" / "meta.json").read_text())
    meta_t["config"]["hidden"] = 32  # claims one shape, carries another
    (tmp_path / "t" / "meta.json").write_text(json.dumps(meta_t))
    with pytest.raises(snapshot.SnapshotError, match="wrong shapes"):
        snapshot.load(tmp_path / "t")
    meta_t["config"]["no_such_field"] = 1
    (tmp_path / "t" / "meta.json").write_text(json.dumps(meta_t))
    with pytest.raises(snapshot.SnapshotError, match="config"):
        snapshot.load(tmp_path / "t")
