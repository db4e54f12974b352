"""Floods, counts and dead threads: rate limits and coalescing, episodes counted once, a dead
relay or recorder thread restarted, and the robot's own check on what it is told to do."""

import logging
import math

import numpy as np
import pytest
import zmq

from lwd_core.protocol import encode
from lwd_core.protocol.messages import ClientHello, EpisodeEvent, FleetState, RequestHelp, Subscribe
from lwd_operator.auth import secure_client
from lwd_operator.client import HubClient
from lwd_operator.hub.hub import Hub
from lwd_operator.hub.limits import LogThrottle, PeerBuckets, SequenceGuard
from lwd_operator.recorder import open_recorder
from lwd_operator.robot.policies import PolicyRunner
from lwd_operator.sockets import Endpoints
from tests.operator.hostile import robot_hello
from tests.util import wait_until


def test_limits_units(caplog):
    b = PeerBuckets(rate=1.0, burst=3.0)
    assert [b.allow("p", now=0.0) for _ in range(5)] == [True, True, True, False, False]
    assert b.allow("p", now=1.5) and b.limited["p"] == 2
    g = SequenceGuard()
    assert g.accept("a", 1) and g.accept("a", 5) and not g.accept("a", 5) and not g.accept("a", 2)
    assert g.accept("b", 1) and g.dropped == 2
    log = logging.getLogger("test.throttle")
    t = LogThrottle(log, per_window=3, window_s=3600)
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        for i in range(100):
            t(logging.INFO, "k", "line %d", i)
    assert len(caplog.records) == 3 and t.suppressed == 97


def test_help_flood_is_one_alert_and_bounded_pushes(hub, make_robot, operator_keys, observer_keys):
    node = make_robot("r1")
    wait_until(lambda: "r1" in hub.fleet.robots and node.step > 3, what="r1")
    ctx = zmq.Context()
    try:
        watcher = HubClient(Endpoints(port=hub.cfg.port), observer_keys, "w").start()
        pushes = []
        watcher.on_fleet = pushes.append
        watcher.subscribe(hz=1)
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        secure_client(s, operator_keys)
        s.connect(hub.endpoints.clients)
        s.send_multipart(encode(ClientHello(operator="x", seq=1)))
        assert s.poll(10_000)
        s.recv_multipart()
        n0 = len(pushes)
        for i in range(2000):
            s.send_multipart(encode(RequestHelp(robot_id="r1", reason="!", seq=2 + i)))
        wait_until(lambda: hub.help_coalesced + hub.rejected["client:rate"] >= 1999, timeout=60, what="flood handled")
        assert [a.code for a in hub.alerts].count("help") == 1
        assert len(pushes) - n0 < 100  # alerts coalesce into pushes at most 10 a second
        watcher.close()
    finally:
        ctx.destroy(linger=0)


def test_subscribe_hz_must_be_finite_and_not_negative(hub, observer_keys):
    with HubClient(Endpoints(port=hub.cfg.port), observer_keys, "w") as c:
        for hz in (math.nan, math.inf, -1.0):
            rep = c.request(Subscribe(hz=hz))
            assert not rep.ok and ("not finite" in rep.error or "finite number" in rep.error), rep
        assert c.subscribe(hz=2).ok
        assert isinstance(wait_until(lambda: c.latest_fleet, what="pushes"), FleetState)


def test_resent_episode_ends_are_counted_once(hub, robot_keys):
    ctx = zmq.Context()
    try:
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        secure_client(s, robot_keys)
        s.connect(hub.endpoints.robots)
        s.send_multipart(encode(robot_hello("r9", seq=1)))
        assert s.poll(10_000)
        s.recv_multipart()
        seq = 2
        for k in range(3):  # three episodes, each end resent five times (reconnects, ack timeouts)
            ep = f"r9-ep{k}"
            s.send_multipart(encode(EpisodeEvent(robot_id="r9", episode_id=ep, task="t", event="started", seq=seq)))
            seq += 1
            for _ in range(5):
                s.send_multipart(encode(EpisodeEvent(robot_id="r9", episode_id=ep, task="t", event="ended",
                                                     success=k == 0, reason="timeout", seq=seq)))
                seq += 1
        wait_until(lambda: "r9" in hub.fleet.robots and len(hub.fleet.robots["r9"].ended) == 3, what="ends")
        view = next(v for v in hub.fleet_state().robots if v.robot_id == "r9")
        assert (view.episodes, view.successes) == (3, 1)
    finally:
        ctx.destroy(linger=0)


class _Boom(BaseException):
    """Escapes every ``except Exception``: kills the thread it is raised in."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the kills are on purpose
def test_dead_relay_and_recorder_threads_are_restarted_and_alerted(hub_cfg, tmp_path, make_robot, client_keys):
    hub = Hub(hub_cfg, recorder=open_recorder(tmp_path / "rec")).start()
    try:
        node = make_robot("r1", policy="noise", max_episode_steps=20)
        with HubClient(Endpoints(port=hub.cfg.port), client_keys, "admin") as c:
            ended = []
            c.on_episode = lambda ev: ended.append(ev) if ev.event == "ended" else None
            c.subscribe(hz=5)
            c.watch_telemetry("r1")
            wait_until(lambda: c.latest_telemetry.get("r1"), timeout=60, what="telemetry")
            check = hub.relay.check

            def boom(*a, **k):
                hub.relay.check = check
                raise _Boom()

            hub.relay.check = boom
            wait_until(lambda: hub.watchdog.restarts["frame relay"] >= 1, timeout=30, what="relay restarted")
            c.latest_telemetry.clear()
            wait_until(lambda: c.latest_telemetry.get("r1"), timeout=30, what="telemetry again")
            label = hub.recorder.store.label

            def boom_label(*a, **k):
                hub.recorder.store.label = label
                raise _Boom()

            hub.recorder.store.label = boom_label
            ev = wait_until(lambda: ended and ended[0], timeout=60, what="an episode end")
            try:
                c.label("r1", ev.episode_id, "success", timeout=5)  # dies with the writer: no ack
            except Exception:  # noqa: BLE001 - HubError: not acknowledged, as it must be
                pass
            wait_until(lambda: hub.watchdog.restarts["recorder"] >= 1, timeout=30, what="recorder restarted")
            assert c.label("r1", ev.episode_id, "success", timeout=30).ok
            codes = [a.code for a in hub.alerts]
            assert codes.count("thread_died") == 2
        assert node.step > 0
    finally:
        hub.stop()


class _BrokenPolicy(PolicyRunner):
    name = "broken"
    version = 0

    def next_chunk(self, obs, task):
        return np.array([[np.nan, 0, 0, 0], [5.0, 0, 0, 0], [0.1, 0, 0, -1]], np.float32)


def test_robot_holds_instead_of_sending_bad_actions_and_refuses_bad_teleop(hub, make_robot, make_keys):
    node = make_robot("r1", policy="noise")
    sent = []
    send = node.driver.send_action
    node.driver.send_action = lambda a: (sent.append(np.array(a, np.float32)), send(a))[1]
    node.policy.current = _BrokenPolicy()  # what runs inside the hot-swap wrapper
    node._chunk.clear()
    wait_until(lambda: node.check.held >= 2, timeout=30, what="bad policy actions held")
    wait_until(lambda: any(a.code == "bad_policy_action" for a in hub.alerts), what="alerted")
    with HubClient(Endpoints(port=hub.cfg.port), make_keys("alice"), "alice") as c:
        assert c.take("r1").ok
        wait_until(lambda: node.mode == "human", what="human")
        n = len(sent)
        for _ in range(5):
            c.teleop("r1", (0.5, 0.0, 0.0), 0.0)  # ten times the per-tick limit
        wait_until(lambda: node.check.refused >= 1, what="teleop refused at the robot")
        wait_until(lambda: any(a.code == "bad_teleop" for a in hub.alerts), what="alerted")
        assert c.give("r1").ok
    lo, hi = node.driver.action_limits()
    for a in sent:
        assert np.isfinite(a).all() and (a >= lo).all() and (a <= hi).all(), a
    assert all(np.abs(a[:3]).max() < 1.0 for a in sent[n:n + 20])  # the 0.5 m step never became motion
