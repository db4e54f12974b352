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


def camera_store(root):
    """Two labelled episodes of 'reach' with a 96x96 camera at a quarter of the step rate."""
    import io

    from PIL import Image

    from lwd_core.store import EpisodeStore

    store = EpisodeStore(root)
    rng = np.random.default_rng(0)
    for k in range(2):
        n = 24
        store.begin_episode("r1", f"e{k}", "reach-v3")
        t = 10**12 + np.arange(n, dtype=np.int64) * 50_000_000
        store.append_steps("r1", f"e{k}", 0, {
            "state": rng.normal(size=(n, 39)).astype(np.float32),
            "action": rng.uniform(-1, 1, (n, 4)).astype(np.float32),
            "source": np.zeros(n, np.uint8), "policy_version": np.ones(n, np.int32), "t_ns": t})
        jpegs = []
        for j in range(n // 4):
            buf = io.BytesIO()
            Image.fromarray(np.full((96, 96, 3), 30 * j, np.uint8)).save(buf, "JPEG")
            jpegs.append(buf.getvalue())
        store.append_frames("r1", f"e{k}", "corner", list(range(n // 4)), t[::4].tolist(), jpegs)
        store.end_episode(f"e{k}", steps=n)
        store.label(f"e{k}", "success" if k else "failure", "test")
    return store


def test_camera_conditioned_agent_trains_from_a_store_and_an_export(tmp_path):
    from lwd_core.store.lerobot_export import export_lerobot

    store = camera_store(tmp_path / "rec")
    export_lerobot(store, ["e0", "e1"], tmp_path / "ds", progress=False)
    store.close()
    cfg = TrainConfig(bc_steps=3, rl_steps=2, batch_size=8, threads=1, cameras="corner", image_size=32)
    for path in (tmp_path / "rec", tmp_path / "ds"):
        ds = load_dataset(str(path), cfg)
        assert ds.cameras == ["corner"] and ds.n_frames == 12 and len(ds) == 48
        batch = ds.sample(8)
        assert batch.images.shape == (8, 1, 3, 32, 32) and batch.image_valid.min() == 1
        res = train(ds, cfg, None, progress=False)
        assert res.agent.config.cameras == 1 and res.history[-1]["phase"] == "rl"
    with pytest.raises(ValueError, match="no frames from front"):
        load_dataset(str(tmp_path / "rec"), TrainConfig(cameras="front"))
