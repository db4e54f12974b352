"""Takeover over the real protocol: lock, teleop direction, release, deadman."""

import logging
import time

import numpy as np
import pytest

from lwd_operator.client import HubClient
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


@pytest.fixture
def alice(hub, make_keys):
    with HubClient(Endpoints(port=hub.cfg.port), make_keys("alice"), "alice") as c:
        yield c


@pytest.fixture
def bob(hub, make_keys):
    with HubClient(Endpoints(port=hub.cfg.port), make_keys("bob"), "bob") as c:
        yield c


def _running(hub, node):
    wait_until(lambda: "r1" in hub.fleet.robots and node.step > 3, what="robot running")


def test_takeover_lock_is_exclusive(hub, make_robot, alice, bob):
    node = make_robot("r1")
    _running(hub, node)
    assert alice.take("r1").ok
    rep = bob.take("r1")
    assert not rep.ok and "held by alice" in rep.error
    rep = bob.give("r1")
    assert not rep.ok and "not by you" in rep.error
    assert alice.take("r1").ok  # taking again is idempotent for the holder
    wait_until(lambda: node.mode == "human" and node.operator == "alice", what="human mode")
    assert alice.give("r1").ok
    assert bob.take("r1").ok
    wait_until(lambda: node.operator == "bob", what="bob drives")
    assert not alice.take("unknown-robot").ok


@pytest.mark.parametrize("axis, sign", [(0, 1), (1, -1), (2, 1)])
def test_teleop_moves_end_effector_in_commanded_direction(hub, make_robot, alice, axis, sign):
    node = make_robot("r1")
    _running(hub, node)
    alice.watch_telemetry("r1")
    assert alice.take("r1").ok
    wait_until(lambda: node.mode == "human", what="human mode")
    time.sleep(0.2)
    start = np.array(wait_until(lambda: alice.latest_telemetry.get("r1"), what="telemetry").ee_pos)
    d = [0.0, 0.0, 0.0]
    d[axis] = sign * 0.005
    for _ in range(15):
        alice.teleop("r1", d, -1.0)
        time.sleep(0.05)
    time.sleep(0.15)
    moved = np.array(alice.latest_telemetry["r1"].ee_pos) - start
    assert sign * moved[axis] > 0.02, moved  # at least 2 cm the right way
    others = [i for i in range(3) if i != axis]
    assert np.all(np.abs(moved[others]) < 0.5 * abs(moved[axis])), moved


def test_release_returns_control_to_policy_between_ticks(hub, make_robot, alice):
    node = make_robot("r1", policy="noise")
    _running(hub, node)
    assert alice.take("r1").ok
    wait_until(lambda: node.mode == "human", what="human mode")
    steps_human = node._human_steps
    assert alice.give("r1").ok
    wait_until(lambda: node.mode == "policy" and node.operator == "", what="policy mode")
    wait_until(lambda: len(node._rows) >= 1 and node._rows[-1][2] == 0, what="policy steps recorded")
    assert node._human_steps >= steps_human


def test_deadman_stops_robot_within_deadman_plus_one_tick(hub, make_robot, client_keys, caplog):
    caplog.set_level(logging.WARNING, logger="lwd.robot")
    node = make_robot("r1", policy="noise")
    _running(hub, node)
    c = HubClient(Endpoints(port=hub.cfg.port), client_keys, "carol").start()
    assert c.take("r1").ok
    wait_until(lambda: node.mode == "human", what="human mode")
    for _ in range(10):
        c.teleop("r1", (0.003, 0, 0), -1)
        time.sleep(0.05)
    c.close(goodbye=False)  # the operator vanishes: no more teleop, no more heartbeats
    wait_until(lambda: node.mode == "stopped", timeout=30, what="safe stop")
    # "Within deadman plus one tick" on the robot's own clock, so that the verdict holds on a
    # loaded machine too: the tick that stops is the first one after the deadline, so the
    # silence it saw is at most the deadman plus the period that led up to that tick (the
    # longest period of the last 200 ticks bounds it; ~50 ms on an idle machine).
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("deadman:")]
    assert len(said) == 1, said
    silence_ms = float(said[0].split("for ")[1].split(" ms")[0])
    longest_tick_ms = max(node._periods) * 1000
    # (+5 ms: the period is timed at the top of the loop, the silence a few lines later.)
    # (<= on the left: the robot stops once the silence exceeds the deadman, and the log rounds
    # it to 0.1 ms, so 300.04 ms reads 300.0.)
    assert hub.cfg.deadman_ms <= silence_ms <= hub.cfg.deadman_ms + longest_tick_ms + 5, (silence_ms, longest_tick_ms)
    target = node.driver.env.data.mocap_pos.copy()  # where the arm is commanded to be
    time.sleep(0.8)  # the hand settles onto its (now fixed) target within ~10 ticks
    ee = node.driver.ee_position().copy()
    time.sleep(0.5)
    assert node.mode == "stopped"  # it never resumes the policy by itself
    np.testing.assert_array_equal(node.driver.env.data.mocap_pos, target)
    assert np.linalg.norm(node.driver.ee_position() - ee) < 0.002
    assert any(a.code == "deadman" for a in hub.alerts)


def test_heartbeats_alone_keep_a_human_controlled_robot_alive(hub, make_robot, alice):
    node = make_robot("r1", policy="noise")
    _running(hub, node)
    assert alice.take("r1").ok
    time.sleep(1.0)  # no teleop for 1 s, but the client heartbeats every 100 ms
    assert node.mode == "human"


def test_reset_and_help_requests_go_through_the_hub(hub, make_robot, alice, bob):
    node = make_robot("r1", policy="noise")
    _running(hub, node)
    alice.subscribe(hz=10)
    first = node.episode_id
    assert alice.reset_episode("r1").ok
    wait_until(lambda: node.episode_id != first, what="new episode")
    assert bob.request_help("r1", "gripper looks stuck").ok
    wait_until(lambda: any(a.code == "help" and "gripper" in a.text for a in alice.alerts), what="help alert")
    assert alice.take("r1").ok
    rep = bob.reset_episode("r1")
    assert not rep.ok and "held by alice" in rep.error  # only the holder resets a held robot
    assert not bob.request_help("nope").ok
