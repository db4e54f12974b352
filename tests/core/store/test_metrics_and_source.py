"""Metrics on a hand-built history, and the learner's incremental episode source."""

from __future__ import annotations

import numpy as np
import pytest

from lwd_core.data.episode import SOURCE_DEMO, Episode
from lwd_core.store import EpisodeStore
from lwd_core.store import metrics as m
from lwd_core.store.episode_source import StoreEpisodeSource


def record(store, ep_id, robot, task, n, human, version, outcome, ended_at):
    """One closed episode: ``human`` human steps at the end, the rest from ``version``."""
    src = np.zeros(n, np.uint8)
    src[n - human :] = 1
    arrays = {
        "state": np.zeros((n, 2), np.float32),
        "action": np.zeros((n, 1), np.float32),
        "source": src,
        "policy_version": np.where(src == 0, version, 0).astype(np.int32),
        "t_ns": np.arange(n, dtype=np.int64) * 100_000_000,
    }  # 10 Hz
    store.begin_episode(robot, ep_id, task, started_at=ended_at - 10)
    store.append_steps(robot, ep_id, 0, arrays)
    store.end_episode(ep_id, reason="done", steps=n, ended_at=ended_at)
    if outcome != "unlabeled":
        store.label(ep_id, outcome, "bot")


@pytest.fixture
def history(tmp_path):
    s = EpisodeStore(tmp_path)
    t0 = 1_020_000.0  # a multiple of 60: buckets start at t0
    record(s, "a1", "r1", "reach", 100, 0, 1, "success", t0 + 10)
    record(s, "a2", "r1", "reach", 100, 50, 1, "failure", t0 + 20)
    record(s, "a3", "r2", "push", 200, 20, 2, "success", t0 + 70)
    record(s, "a4", "r2", "push", 100, 0, 2, "unlabeled", t0 + 80)
    s.begin_episode("r3", "live", "push")  # running: not counted
    yield s
    s.close()


def test_rates_per_task_robot_version(history):
    by_task = {r.key: r for r in m.rates_by(history, "task")}
    assert by_task["reach"].success_rate == 0.5
    assert by_task["reach"].intervention_rate == pytest.approx(50 / 200)
    assert by_task["push"].success_rate == 1.0  # the unlabeled episode is not a failure
    assert by_task["push"].intervention_rate == pytest.approx(20 / 300)
    by_version = {r.key: r for r in m.rates_by(history, "policy_version")}
    assert by_version[1].episodes == 2 and by_version[2].steps == 300
    by_robot = {r.key: r for r in m.rates_by(history, "robot")}
    assert set(by_robot) == {"r1", "r2"}
    tot = m.totals(history)
    assert (tot.episodes, tot.labelled, tot.successes, tot.steps, tot.human_steps) == (
        4,
        3,
        2,
        500,
        70,
    )
    assert tot.human_minutes == pytest.approx(70 * 0.1 / 60)
    assert m.episode_counts(history) == {
        "ended": 4,
        "running": 1,
        "success": 2,
        "failure": 1,
        "unlabeled": 2,
        "demo": 0,
    }


def test_rates_over_time_and_fleet_steps(history):
    buckets = m.over_time(history, 60.0)
    t0 = 1_020_000.0
    assert [(b, r.episodes, r.successes) for b, r in buckets] == [(t0, 2, 1), (t0 + 60, 2, 1)]
    curve = m.over_fleet_steps(history, 250)
    assert [(w, r.episodes, r.human_steps) for w, r in curve] == [(250, 2, 50), (500, 2, 20)]
    per_task = m.over_time(history, 60.0, group="task")
    assert {r.key for _, r in per_task} == {"reach", "push"}


def test_store_episode_source_is_incremental(tmp_path):
    s = EpisodeStore(tmp_path)
    src = StoreEpisodeSource(s)
    assert src.new_episodes() == []
    record(s, "e1", "r1", "reach", 10, 0, 1, "success", 100.0)
    record(s, "e2", "r1", "reach", 10, 0, 1, "unlabeled", 110.0)
    got = src.new_episodes()
    assert [e.episode_id for e in got] == ["e1"] and got[0].rewards[-1] == 1.0
    assert src.new_episodes() == []  # nothing is returned twice
    s.label("e2", "failure", "alice")  # labelled later: becomes ready now
    s.label("e1", "failure", "alice")  # relabel: not returned again
    assert [e.episode_id for e in src.new_episodes()] == ["e2"]
    s.begin_episode("r1", "e3", "reach")
    s.label("e3", "success", "bot")  # labelled while running: ready only once it ends
    assert src.new_episodes() == []
    s.append_steps(
        "r1",
        "e3",
        0,
        {
            "state": np.zeros((3, 2)),
            "action": np.zeros((3, 1)),
            "source": np.zeros(3),
            "policy_version": np.ones(3),
            "t_ns": np.arange(3),
        },
    )
    s.end_episode("e3", steps=3)
    assert [e.episode_id for e in src.new_episodes()] == ["e3"]
    demo = Episode(
        "d1",
        "reach",
        np.zeros((4, 2), np.float32),
        np.zeros((4, 1), np.float32),
        np.full(4, SOURCE_DEMO, np.uint8),
        np.zeros(4, np.int32),
        outcome="success",
    )
    s.add_episode(demo)
    assert src.new_episodes() == []  # demos are offline data, not the live feed
    resumed = StoreEpisodeSource(s, include_demo=True)
    assert [e.episode_id for e in resumed.new_episodes()] == ["e1", "e2", "e3", "d1"]
