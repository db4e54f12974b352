"""Policy versions through a live hub and real robot nodes (Meta-World, no camera): publish,
canary -> promote, automatic roll-back of a worse candidate, pins, refusal of tampered and
misshapen snapshots, and the exact policy version of every step recorded around a swap."""

import dataclasses
import os

import numpy as np
import pytest

from lwd_core.store import EpisodeStore
from lwd_operator.client import HubClient
from lwd_operator.config import RolloutConfig
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.robot.hot_swap import preload_learning
from lwd_operator.sockets import Endpoints
from tests.operator.policy_helpers import Labeller, lying_snapshot, tiny_snapshot
from tests.util import wait_until

ROLLOUT = RolloutConfig(canary_robots=1, min_episodes=4, success_margin=0.5, evaluate_s=0.3)
"""Small samples for tests: with 4+ episodes a side, all-success vs all-success is "not worse"
only with a wide margin (Newcombe's interval at n=4 spans about +-0.5), and all-failure vs
all-success is "clearly worse"."""


@pytest.fixture(autouse=True)
def _learning_loaded():
    """``lwd robot`` loads torch before its control loop (``preload_torch``); robots in this
    process share one interpreter, so load it once here, before any thread starts."""
    preload_learning()


@pytest.fixture
def rhub(tmp_path, hub_cfg):
    h = Hub(dataclasses.replace(hub_cfg, recordings=str(tmp_path / "rec")),
            recorder=open_recorder(tmp_path / "rec"), rollout=ROLLOUT).start()
    yield h
    h.stop()


@pytest.fixture
def alice(rhub, hub_cfg, make_keys):
    with HubClient(Endpoints(port=hub_cfg.port), make_keys("alice", role="admin"), "alice") as c:
        c.subscribe(hz=10)
        yield c


def _robots(make_robot, *ids, task="push-v3"):
    return {i: make_robot(i, task=task, policy="hold", control_hz=50.0, max_episode_steps=12) for i in ids}


def _table(client) -> str:
    from rich.console import Console

    from lwd_operator.status import fleet_table

    con = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    con.print(fleet_table(client.latest_fleet))
    return con.export_text()


def _status(client, version):
    return next(v for v in client.policy_versions() if v.version == version).status


def test_canary_is_promoted_and_a_pinned_robot_stays_pinned(tmp_path, rhub, alice, make_robot):
    nodes = _robots(make_robot, "a", "b", "c")
    v1 = alice.publish_policy(tiny_snapshot(tmp_path / "s1"), note="first")
    assert _status(alice, v1) == "candidate"
    assert alice.deploy(v1, why="baseline").ok
    wait_until(lambda: all(n.policy.version == v1 for n in nodes.values()), what="fleet on v1")
    assert alice.pin("c", v1, why="hold c for a comparison").ok
    labeller = Labeller(alice, lambda view: "success")
    try:
        v2 = alice.publish_policy(tiny_snapshot(tmp_path / "s2", seed=1), learner_step=100)
        rep = alice.canary(v2, why="try v2")
        assert rep.ok, rep.error
        assert alice.latest_fleet is not None
        wait_until(lambda: nodes["a"].policy.version == v2, what="canary robot a on v2")
        assert nodes["b"].policy.version == v1 and nodes["c"].policy.version == v1
        wait_until(lambda: "(pinned)" in _table(alice) and f"canary v{v2} on a" in _table(alice),
                   what="status table shows the pin and the canary")
        wait_until(lambda: _status(alice, v2) == "active", timeout=60, what="v2 promoted")
        wait_until(lambda: nodes["b"].policy.version == v2, what="b follows the promotion")
        wait_until(lambda: alice.latest_fleet.rollout.active == v2, what="fleet state shows v2 active")
        assert nodes["c"].policy.version == v1  # pinned: untouched by the promotion
        view_c = next(r for r in alice.latest_fleet.robots if r.robot_id == "c")
        assert view_c.pinned and view_c.policy_target == v1
        assert _status(alice, v1) == "retired"
        audit = alice.policy_audit()
        assert [(e.who, e.action) for e in audit if e.version == v2][:2] == [("rollout", "promote"), ("alice", "canary")]
        assert any(a.code == "promote" for a in alice.alerts)
        assert alice.unpin("c", why="done").ok
        wait_until(lambda: nodes["c"].policy.version == v2, what="unpinned c follows the fleet")
        versions = {v.version: v for v in alice.policy_versions()}
        assert versions[v2].parent == v1 and versions[v2].learner_step == 100 and versions[v2].labelled >= 4
    finally:
        labeller.stop()


def test_a_worse_candidate_is_rolled_back_automatically_with_an_alert(tmp_path, rhub, alice, make_robot):
    nodes = _robots(make_robot, "a", "b")
    v1 = alice.publish_policy(tiny_snapshot(tmp_path / "s1"))
    assert alice.deploy(v1).ok
    wait_until(lambda: all(n.policy.version == v1 for n in nodes.values()), what="fleet on v1")
    v2 = alice.publish_policy(tiny_snapshot(tmp_path / "s2", seed=2), note="deliberately worse")
    labeller = Labeller(alice, lambda view: "failure" if view.policy_version == v2 else "success")
    try:
        assert alice.canary(v2, k=1).ok
        wait_until(lambda: nodes["a"].policy.version == v2, what="canary on v2")
        wait_until(lambda: _status(alice, v2) == "rolled_back", timeout=60, what="automatic roll-back")
        wait_until(lambda: any(a.code == "rollback" for a in alice.alerts), what="roll-back alert")
        wait_until(lambda: nodes["a"].policy.version == v1, what="canary robot back on v1")
        assert _status(alice, v1) == "active" and alice.latest_fleet.rollout.canary == 0
        entry = next(e for e in alice.policy_audit() if e.action == "rollback")
        assert entry.who == "rollout" and "worse" in entry.why
    finally:
        labeller.stop()


def test_tampered_and_misshapen_snapshots_are_refused_and_the_old_version_keeps_running(
        tmp_path, rhub, alice, make_robot):
    node = _robots(make_robot, "a")["a"]
    v1 = alice.publish_policy(tiny_snapshot(tmp_path / "s1"))
    assert alice.deploy(v1).ok
    wait_until(lambda: node.policy.version == v1, what="robot on v1")
    v2 = alice.publish_policy(tiny_snapshot(tmp_path / "s2", seed=3))
    weights = rhub.rollout.store.folder(v2) / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one byte changed on the hub's disk after publishing
    weights.write_bytes(bytes(raw))
    cases = [(v2, "digest")]
    cases.append((alice.publish_policy(tiny_snapshot(tmp_path / "s3", obs_dim=7)), "shapes do not fit"))
    cases.append((alice.publish_policy(lying_snapshot(tmp_path / "s4")), "wrong shapes"))
    for version, why in cases:
        assert alice.deploy(version, why=f"expect refusal: {why}").ok
        wait_until(lambda v=version: v in rhub.rollout.refused.get("a", {}), what=f"v{version} refused")
        assert why in rhub.rollout.refused["a"][version]
        wait_until(lambda v=version: any(a.code == "policy_load" and f"v{v}" in a.text for a in alice.alerts),
                   what="policy_load alert")
        wait_until(lambda v=version: any(i.kind == "policy_load" and i.robot_id == "a"
                                         for i in alice.latest_fleet.attention), what="attention item")
        assert node.policy.version == v1 and why in node.policy.error
        step = node.step + node.episode_index * 1000
        wait_until(lambda s=step: node.step + node.episode_index * 1000 > s + 5, what="robot still running")
        assert node.policy.version == v1
    view = next(r for r in alice.latest_fleet.robots if r.robot_id == "a")
    assert view.policy_version == v1 and view.policy_error


def test_steps_recorded_around_swaps_carry_the_exact_version(tmp_path, rhub, alice, make_robot):
    node = make_robot("a", task="reach-v3", policy="hold", control_hz=50.0, max_episode_steps=200)
    reports = []
    alice.on_policy_report = reports.append
    versions = []
    for i in range(2):
        v = alice.publish_policy(tiny_snapshot(tmp_path / f"s{i}", seed=i))
        assert alice.deploy(v).ok
        wait_until(lambda v=v: node.policy.version == v and any(r.version == v for r in reports),
                   what=f"swap to v{v} reported")
        versions.append(v)
    episode = node.episode_id
    node.stop()
    rhub.recorder.stop()
    store = EpisodeStore(rhub.recorder.store.root, writer=False)
    seen = []
    for row in store.list_episodes(robot="a", limit=None):
        ep = store.read_episode(row["id"])
        pv = ep.policy_versions[ep.sources == 0]
        seen += [int(x) for x in np.unique(pv)]
        changes = np.flatnonzero(np.diff(pv)) + 1
        for c in changes:  # a new version starts exactly at a chunk boundary of the old one
            old = int(pv[c - 1])
            horizon = 8 if old == 0 else 4  # hold policy chunks are 8 steps, the snapshots' 4
            assert c % horizon == 0, (row["id"], c, old)
        assert (np.diff(pv) >= 0).all()  # never back to an older version
    assert {0, *versions} <= set(seen)
    assert all(r.ok and r.missed_ticks >= 0 for r in reports)
    for r in reports:  # where the time went: the phases happen in order within offer -> swap
        assert r.fetch_ms >= 0 and r.queue_ms >= 0 and r.build_ms > 0 and r.build_cpu_ms > 0
        assert r.fetch_ms + r.queue_ms + r.build_ms <= r.load_ms + 1.0
    assert [r.previous for r in reports if r.ok] == [0, versions[0]]
    assert episode
