"""One test per way an authorized key tried to pass for someone else (issue: security and
integrity): each is refused, logged with the key's name, and the real robot keeps its slot, its
episodes and its control loop."""

import logging

import numpy as np
import pytest
import zmq

from lwd_core.protocol import decode, encode
from lwd_core.protocol.messages import (
    Alert,
    BlobSpec,
    ClientHello,
    EpisodeEvent,
    Refuse,
    StepBatch,
    Take,
    Telemetry,
)
from lwd_core.store import EpisodeStore
from lwd_operator.auth import secure_client
from lwd_operator.client import HubClient
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sockets import Endpoints
from tests.operator.hostile import robot_hello
from tests.util import wait_until


@pytest.fixture
def rec_hub(hub_cfg, tmp_path):
    h = Hub(hub_cfg, recorder=open_recorder(tmp_path / "rec")).start()
    yield h
    h.stop()


def _dealer(ctx, endpoint, keys):
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    secure_client(s, keys)
    s.connect(endpoint)
    return s


def _ask(sock, frames):
    sock.send_multipart(frames)
    assert sock.poll(10_000), "no answer"
    return decode(sock.recv_multipart())[0]


def _healthy(hub, node):
    """The real robot: registered with its own key and stepping."""
    wait_until(lambda: "r1" in hub.fleet.robots and node.step > 5 and node.link.connected, timeout=60,
               what="r1 running")
    return hub.fleet.robots["r1"]


def _still_healthy(hub, node, entry, step_before):
    now = hub.fleet.robots["r1"]
    assert now.identity == entry.identity and now.key == "robot" and now.hello.session == node.session
    wait_until(lambda: node.step > step_before + 10, what="r1 keeps stepping")
    # Waited for, not read at one instant: on a loaded machine an in-process hub can be silent
    # past the link's 4 heartbeats, and the link then says hello again (connected is False for
    # that moment) with nobody attacking it.
    wait_until(lambda: node.mode == "policy" and node.link.connected and node.episode_id, timeout=60,
               what="r1 under its policy and connected")


def _logged(caplog, key):
    return any(f"from key {key}" in r.getMessage() for r in caplog.records)


def test_hello_as_another_robot_is_refused_and_the_robot_keeps_its_slot(rec_hub, make_robot, make_keys, caplog):
    hub = rec_hub
    mallory = make_keys("mallory", role="robot", robots=["evil"])
    spare = make_keys("spare", role="robot", robots=["*"])  # bound to every id, still not a live one
    node = make_robot("r1", policy="noise")
    entry = _healthy(hub, node)
    step, episode = node.step, node.episode_id
    ctx = zmq.Context()
    try:
        with caplog.at_level(logging.INFO, logger="lwd.hub"):
            reply = _ask(_dealer(ctx, hub.endpoints.robots, mallory), encode(robot_hello("r1", seq=1)))
            assert isinstance(reply, Refuse) and "not bound to robot 'r1'" in reply.reason
            reply = _ask(_dealer(ctx, hub.endpoints.robots, spare), encode(robot_hello("r1", session="x", seq=1)))
            assert isinstance(reply, Refuse) and "held by a live connection" in reply.reason
        assert _logged(caplog, "mallory") and _logged(caplog, "spare")
        assert hub.rejected["robot:impersonation"] == 2
        _still_healthy(hub, node, entry, step)
        with HubClient(Endpoints(port=hub.cfg.port), make_keys("alice"), "alice") as c:  # commands reach r1
            assert c.take("r1").ok
            wait_until(lambda: node.mode == "human" and node.operator == "alice", what="r1 taken")
            assert c.give("r1").ok
    finally:
        ctx.destroy(linger=0)
    hub.recorder.stop()
    assert EpisodeStore(hub.recorder.store.root, writer=False).get(episode)["status"] != "aborted"


def _forged_steps(robot_id, episode_id, first=0):
    arrays = {"state": np.full((2, 39), 7.77, np.float32), "action": np.full((2, 4), 0.777, np.float32),
              "source": np.zeros(2, np.uint8), "policy_version": np.zeros(2, np.int32), "t_ns": np.zeros(2, np.int64)}
    specs = [BlobSpec(k, str(a.dtype), a.shape) for k, a in arrays.items()]
    return StepBatch(robot_id=robot_id, episode_id=episode_id, first_step=first, n=2, blobs=specs), list(arrays.values())


def test_steps_events_and_alerts_naming_another_robot_are_refused(rec_hub, make_robot, make_keys, caplog):
    hub = rec_hub
    mallory = make_keys("mallory", role="robot", robots=["evil"])
    node = make_robot("r1", policy="noise")
    entry = _healthy(hub, node)
    step, victim = node.step, node.episode_id
    ctx = zmq.Context()
    try:
        s = _dealer(ctx, hub.endpoints.robots, mallory)
        hello = robot_hello("evil", seq=1)
        hello.obs_dim, hello.action_dim = 39, 4
        assert not isinstance(_ask(s, encode(hello)), Refuse)  # mallory's own robot is welcome
        forged = [
            _forged_steps("r1", victim, first=1),  # names another robot
            _forged_steps("evil", victim, first=1),  # its own name, another robot's episode
            (EpisodeEvent(robot_id="r1", episode_id=victim, task="t", event="ended", success=True), []),
            (EpisodeEvent(robot_id="evil", episode_id=victim, task="t", event="ended", success=True), []),
            (Alert(robot_id="r1", level="critical", code="forged", text="r1 is on fire"), []),
        ]
        with caplog.at_level(logging.INFO, logger="lwd.hub"):
            for i, (msg, blobs) in enumerate(forged):
                msg.seq = 10 + i
                reply = _ask(s, encode(msg, blobs))
                assert isinstance(reply, Refuse) and ("names robot 'r1'" in reply.reason
                                                      or "belongs to robot 'r1'" in reply.reason), reply
        assert _logged(caplog, "mallory") and hub.rejected["robot:not_yours"] == len(forged)
        _still_healthy(hub, node, entry, step)
        assert not [a for a in hub.alerts if a.code == "forged"]
    finally:
        ctx.destroy(linger=0)
    node.stop()
    hub.recorder.stop()
    store = EpisodeStore(hub.recorder.store.root, writer=False)
    ep = store.read_episode(victim)
    assert len(ep) > 0 and not np.isclose(ep.actions, 0.777).all(axis=1).any()  # no forged row
    assert store.get(victim)["end_reason"] in ("timeout", "success", "shutdown")  # its own end


def test_path_traversal_ids_are_refused_and_nothing_is_written_outside(rec_hub, tmp_path, make_keys, caplog):
    hub = rec_hub
    anyone = make_keys("anyone", role="robot", robots=["*"])
    outside = sorted(p.name for p in tmp_path.parent.iterdir())
    ctx = zmq.Context()
    try:
        s = _dealer(ctx, hub.endpoints.robots, anyone)
        for i, rid in enumerate(["..", "../..", "a/../../b", ".git"]):
            reply = _ask(s, encode(robot_hello(rid, seq=i + 1)))
            assert isinstance(reply, Refuse) and "path separators" in reply.reason, reply
        assert not isinstance(_ask(s, encode(robot_hello("ok-1", seq=10))), Refuse)
        for i, ep in enumerate(["..", "../../x", "ok-1/../.."]):
            msg, blobs = _forged_steps("ok-1", ep)
            msg.seq = 20 + i
            assert isinstance(_ask(s, encode(msg, blobs)), Refuse)
    finally:
        ctx.destroy(linger=0)
    assert hub.rejected["robot:bad_field"] == 7
    hub.recorder.stop()
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == outside
    assert not [p for p in (tmp_path / "rec").rglob("*") if ".." in p.name]


def test_observer_and_wrong_port_keys_are_refused(hub, make_robot, observer_keys, robot_keys, client_keys, caplog):
    node = make_robot("r1")
    _healthy(hub, node)
    with caplog.at_level(logging.INFO, logger="lwd.hub"):
        with HubClient(Endpoints(port=hub.cfg.port), observer_keys, "not-an-observer", role="operator") as c:
            assert c.subscribe(hz=2).ok  # observers watch
            for rep in (c.take("r1"), c.label("r1", node.episode_id, "success"), c.reset_episode("r1")):
                assert not rep.ok and "role observer may not" in rep.error, rep
        ctx = zmq.Context()
        try:
            reply = _ask(_dealer(ctx, hub.endpoints.clients, robot_keys), encode(ClientHello(operator="x", seq=1)))
            assert not reply.ok and "role robot may not speak on the client port" in reply.error
            reply = _ask(_dealer(ctx, hub.endpoints.robots, client_keys), encode(robot_hello("r1", seq=1)))
            assert isinstance(reply, Refuse) and "role admin may not speak on the robot port" in reply.reason
        finally:
            ctx.destroy(linger=0)
    assert _logged(caplog, "observer") and _logged(caplog, "robot") and _logged(caplog, "client")
    assert node.mode == "policy" and hub.locks.holder("r1") is None


def test_labels_and_takeovers_carry_the_keys_name(rec_hub, make_robot, make_keys):
    hub = rec_hub
    node = make_robot("r1", policy="noise", max_episode_steps=20)
    _healthy(hub, node)
    with HubClient(Endpoints(port=hub.cfg.port), make_keys("alice"), "bob") as c:  # asks to be bob
        assert c.operator == "alice"  # the welcome says who the hub knows it as
        ended = []
        c.on_episode = lambda ev: ended.append(ev) if ev.event == "ended" else None
        c.subscribe(hz=5)
        assert c.take("r1").ok
        wait_until(lambda: node.operator == "alice", what="r1 driven by the key's name")
        assert c.give("r1").ok
        ev = wait_until(lambda: ended and ended[0], timeout=60, what="an episode end")
        assert c.label("r1", ev.episode_id, "failure", note="by key").ok  # ok: committed
        hist = EpisodeStore(hub.recorder.store.root, writer=False).label_history(ev.episode_id)
        assert [(h["who"], h["new"]) for h in hist] == [("alice", "failure")]


def test_frames_for_another_robot_are_dropped(hub, make_robot, make_keys, observer_keys, caplog):
    mallory = make_keys("mallory", role="robot", robots=["evil"])
    node = make_robot("r1")
    _healthy(hub, node)
    ctx = zmq.Context()
    try:
        pub = ctx.socket(zmq.PUB)
        secure_client(pub, mallory)
        pub.connect(hub.endpoints.frames_in)
        watcher = ctx.socket(zmq.SUB)
        secure_client(watcher, observer_keys)
        watcher.setsockopt(zmq.SUBSCRIBE, b"tele/r1/")
        watcher.connect(hub.endpoints.frames_out)
        fake = Telemetry(robot_id="r1", step=-42, mode="human", state=[0.0], ee_pos=[], success=True, task="t",
                         episode_id="")
        with caplog.at_level(logging.INFO, logger="lwd.hub.relay"):
            rejected0 = hub.relay.rejected
            seen = []

            def fake_rejected_and_real_seen():
                pub.send_multipart([b"tele/r1/", *encode(fake)])
                while watcher.poll(0):
                    seen.append(decode(watcher.recv_multipart()[1:])[0])
                return hub.relay.rejected > rejected0 + 5 and seen

            wait_until(fake_rejected_and_real_seen, timeout=30, interval=0.05, what="relay at work")
        assert all(t.step != -42 for t in seen)  # only the real robot's telemetry got through
        assert any("from key mallory" in r.getMessage() and "not bound to robot 'r1'" in r.getMessage()
                   for r in caplog.records)
    finally:
        ctx.destroy(linger=0)


def test_replays_and_rewinds_are_dropped(hub, make_robot, operator_keys, caplog):
    node = make_robot("r1")
    _healthy(hub, node)
    ctx = zmq.Context()
    try:
        s = _dealer(ctx, hub.endpoints.clients, operator_keys)
        assert _ask(s, encode(ClientHello(operator="op", session="s1", seq=5)))
        assert _ask(s, encode(Take(robot_id="r1", seq=6))).ok
        with caplog.at_level(logging.INFO, logger="lwd.hub"):
            for seq in (6, 3, 0):  # the same request again, then older ones
                rep = _ask(s, encode(Take(robot_id="r1", seq=seq)))
                assert not rep.ok and "replay or rewind" in rep.error
        assert hub.rejected["client:replay"] == 3
        assert _logged(caplog, "operator")
        # A restarted client (new session) starts again from 1.
        assert _ask(s, encode(ClientHello(operator="op", session="s2", seq=1)))
        assert _ask(s, encode(Take(robot_id="r1", seq=2))).ok
    finally:
        ctx.destroy(linger=0)
