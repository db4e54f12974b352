"""Batches checked row by row on hand-built episodes."""

import numpy as np
import pytest

from lwd_core.data.chunk_dataset import ChunkDataset
from lwd_core.data.episode import SOURCE_DEMO, SOURCE_HUMAN, SOURCE_POLICY, Episode


def episode(ep_id, n, task="a", outcome="success", sources=None, start=0.0):
    states = (start + np.arange(n, dtype=np.float32))[:, None].repeat(2, 1)  # state t = [t, t]
    actions = np.stack([np.arange(n) / 100, -np.arange(n) / 100], 1).astype(np.float32)
    return Episode(ep_id, task, states, actions,
                   np.full(n, SOURCE_DEMO, np.uint8) if sources is None else np.asarray(sources, np.uint8),
                   np.zeros(n, np.int32), outcome=outcome, final_state=np.array([start + n] * 2, np.float32))


def test_chunk_rows_rewards_masks_padding_and_bootstrap():
    ds = ChunkDataset(["a"], 2, 2, horizon=4)
    ds.add_episodes([episode("e", 10)], online=False)
    b = ds.rows(np.array([0, 6, 7, 9]))
    # Row at t=0: a full chunk inside the episode: bootstrap 4 steps later, no reward.
    assert b.obs[0].tolist() == [0, 0] and b.next_obs[0].tolist() == [4, 4]
    assert b.bootstrap_steps[0] == 4 and b.done[0] == 0 and b.valid[0].tolist() == [1, 1, 1, 1]
    assert b.rewards[0].sum() == 0
    np.testing.assert_allclose(b.actions[0, :, 0].numpy(), [0, 0.01, 0.02, 0.03])
    # t=6: window 6..9 ends exactly at the last step: success reward at its last valid step, done.
    assert b.rewards[1].tolist() == [0, 0, 0, 1] and b.done[1] == 1 and b.bootstrap_steps[1] == 4
    assert b.next_obs[1].tolist() == [10, 10]  # the final state
    # t=7: only 3 real steps; the 4th action repeats the last executed one and is invalid.
    assert b.valid[2].tolist() == [1, 1, 1, 0] and b.rewards[2].tolist() == [0, 0, 1, 0]
    np.testing.assert_allclose(b.actions[2, :, 0].numpy(), [0.07, 0.08, 0.09, 0.09])
    # t=9: the last step alone.
    assert b.valid[3].tolist() == [1, 0, 0, 0] and b.rewards[3, 0] == 1 and b.done[3] == 1


def test_failure_episode_has_no_reward_but_is_terminal():
    ds = ChunkDataset(["a"], 2, 2, horizon=4)
    ds.add_episodes([episode("e", 6, outcome="failure")], online=False)
    b = ds.rows(np.arange(6))
    assert b.rewards.sum() == 0 and b.done.tolist() == [0, 0, 1, 1, 1, 1]


def test_n_step_window_stops_at_a_policy_human_switch_and_never_crosses_episodes():
    src = [SOURCE_POLICY] * 5 + [SOURCE_HUMAN] * 7
    ds = ChunkDataset(["a"], 2, 2, horizon=2, n_step=3)  # L = 6
    ds.add_episodes([episode("e1", 12, sources=src), episode("e2", 5, start=100)], online=True)
    b = ds.rows(np.array([1, 5, 11, 12]))
    assert b.bootstrap_steps[0] == 4 and b.done[0] == 0 and b.next_obs[0].tolist() == [5, 5]
    assert b.valid[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert b.source[0].tolist() == [SOURCE_POLICY, SOURCE_POLICY]
    assert b.bootstrap_steps[1] == 6 and b.source[1].tolist() == [SOURCE_HUMAN] * 2  # all human
    assert b.done[2] == 1 and b.valid[2].tolist() == [1, 0, 0, 0, 0, 0]  # e1's last step
    assert b.obs[3].tolist() == [100, 100] and b.bootstrap_steps[3] == 5 and b.done[3] == 1  # e2
    one = ChunkDataset(["a"], 2, 2, horizon=2, n_step=1)
    one.add_episodes([episode("e1", 12, sources=src)], online=True)
    assert one.rows(np.array([4])).bootstrap_steps.tolist() == [2]  # 1-step: no cut at the switch


def test_mixing_ratio_stratification_and_incremental_add():
    ds = ChunkDataset(["a", "b"], 2, 2, horizon=4, online_fraction=0.25, seed=1)
    ds.add_episodes([episode(f"off{i}", 50) for i in range(4)], online=False)
    b = ds.sample(256)
    assert not b.is_online.any()  # no online data yet: everything offline
    assert ds.add_episodes([episode("on", 10, task="b")], online=True) == 10
    b = ds.sample(400)
    assert b.is_online.sum() == 100 and (b.task[b.is_online] == 1).all()
    strat = ChunkDataset(["a", "b"], 2, 2, horizon=4, online_fraction=0.0, stratify_tasks=True, seed=2)
    strat.add_episodes([episode("a1", 200), episode("b1", 10, task="b")], online=False)
    share_b = (strat.sample(2000).task == 1).float().mean().item()
    assert 0.4 < share_b < 0.6  # tasks equally likely although task b has 5 % of the steps
    assert len(ds) == 210 and ds.n_episodes == 5


def test_rejects_unknown_task_and_wrong_shapes():
    ds = ChunkDataset(["a"], 2, 2)
    with pytest.raises(ValueError, match="task 'z'"):
        ds.add_episodes([episode("e", 3, task="z")], online=False)
    bad = episode("e", 3)
    bad.states = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        ds.add_episodes([bad], online=False)
    with pytest.raises(ValueError, match="empty"):
        ds.sample(4)


def test_top_up_from_the_live_store(tmp_path):
    from lwd_core.store import EpisodeStore
    from lwd_core.store.episode_source import StoreEpisodeSource

    store = EpisodeStore(tmp_path)
    for i in range(3):
        store.add_episode(episode(f"e{i}", 8), source="robot")
    src = StoreEpisodeSource(store, include_demo=True)
    ds = ChunkDataset(["a"], 2, 2, horizon=4)
    assert ds.top_up(src, online=True) == 24
    assert ds.top_up(src, online=True) == 0  # nothing new: nothing re-read
    store.add_episode(episode("e3", 5), source="robot")
    assert ds.top_up(src, online=True) == 5 and ds.n_episodes == 4
    b = ds.sample(64)
    assert b.actions.shape == (64, 4, 2) and b.rewards.shape == (64, 4)


def test_demo_folder_round_trip_and_corruption(tmp_path):
    from lwd_core.data.demo_folder import DemoFolder, DemoFolderError, DemoFolderWriter

    w = DemoFolderWriter(tmp_path / "d", 2, 2)
    for i in range(3):
        w.write(episode(f"e{i}", 5 + i, outcome="failure" if i else "success"))
    folder = DemoFolder(tmp_path / "d")
    eps = folder.new_episodes()
    assert [len(e) for e in eps] == [5, 6, 7] and folder.new_episodes() == []
    assert eps[0].outcome == "success" and eps[0].rewards[-1] == 1 and eps[0].final_state.tolist() == [5, 5]
    np.testing.assert_array_equal(eps[1].states, episode("x", 6).states)
    (tmp_path / "d" / "episodes" / "e2.npz").write_bytes(b"not a zip")
    with pytest.raises(DemoFolderError, match="e2"):
        folder.read("e2")
    (tmp_path / "d" / "meta.json").write_text('{"format": "other"}')
    with pytest.raises(DemoFolderError, match="not lwd-demo-folder"):
        DemoFolder(tmp_path / "d")


def test_dropping_the_oldest_online_episodes_equals_never_having_added_them():
    src = [SOURCE_POLICY] * 5 + [SOURCE_HUMAN] * 7
    eps = [(episode("off", 10), False), (episode("on1", 12, sources=src, start=100), True),
           (episode("on2", 5, task="b", start=200), True), (episode("on3", 8, sources=src[4:], start=300), True),
           (episode("off2", 6, task="b", start=400), False)]

    def build(kept):
        ds = ChunkDataset(["a", "b"], 2, 2, horizon=2, n_step=3, seed=0)
        for ep, online in kept:
            ds.add_episodes([ep], online=online)
        return ds

    ds = build(eps)
    assert ds.drop_oldest_online(keep_steps=25) == 0  # already within the bound
    assert ds.drop_oldest_online(keep_steps=13) == 12  # whole episodes: on1 goes, on2 + on3 stay
    want = build([eps[0], eps[2], eps[3], eps[4]])
    assert ds.episode_ids == want.episode_ids == ["off", "on2", "on3", "off2"] and len(ds) == len(want) == 29
    got_rows, want_rows = ds.rows(np.arange(29)), want.rows(np.arange(29))
    for field in ("obs", "task", "actions", "rewards", "valid", "next_obs", "bootstrap_steps", "done",
                  "source", "is_online"):
        assert getattr(got_rows, field).tolist() == getattr(want_rows, field).tolist(), field
    assert ds.drop_oldest_online(keep_steps=0) == 13  # offline episodes are never dropped
    assert ds.episode_ids == ["off", "off2"] and not ds.sample(64).is_online.any()
