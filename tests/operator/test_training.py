"""The offline training path shared by `lwd train` and the MT10 benchmark: the dataset honours the
training config, agent overrides are checked, and action ranges come from the data."""

import numpy as np
import pytest

from lwd_operator.gen_data import generate
from lwd_operator.training import TrainConfig, build_agent, load_dataset, train


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate(["reach-v3"], 2, [0.5], 40, 0, str(out), progress=False)
    return str(out)


def test_dataset_and_agent_follow_the_config(demo):
    cfg = TrainConfig(n_step=3, horizon=4)
    ds = load_dataset(demo, cfg)
    assert ds.n_step == 3 and ds.horizon == 4
    assert ds.sample(8).rewards.shape == (8, 12)
    agent = build_agent("divl_qam", ds, cfg, {"actor_q": "min", "n_q": 3})
    assert agent.config.actor_q == "min" and agent.q.n_heads == 3 and agent.config.beta == cfg.beta
    low, high = ds.action_stats()
    np.testing.assert_allclose(agent.action_low.numpy(), low)
    np.testing.assert_allclose(agent.action_high.numpy(), high)
    with pytest.raises(ValueError, match="no config field 'betta'"):
        build_agent("divl_qam", ds, cfg, {"betta": 3.0})
    with pytest.raises(ValueError, match="actor_q"):
        build_agent("divl_qam", ds, cfg, {"actor_q": "max"})


def test_train_runs_both_phases_and_snapshots(demo, tmp_path):
    cfg = TrainConfig(bc_steps=6, rl_steps=4, batch_size=16, snapshot_every=5, threads=1)
    res = train(load_dataset(demo, cfg), cfg, tmp_path / "run", progress=False)
    phases = [h["phase"] for h in res.history]
    assert phases[0] == "bc" and phases[-1] == "rl" and "adjoint_loss" in res.history[-1]
    assert [p.name for p in res.snapshots] == ["snapshot-0001", "snapshot-0002"]
    assert any((tmp_path / "run" / "tb").iterdir())
