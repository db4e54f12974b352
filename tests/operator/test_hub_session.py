"""Handshake, version refusal and authentication, over real CurveZMQ sockets on loopback."""

import logging

import msgspec
import zmq
import zmq.auth

from lwd_core.protocol import decode, encode
from lwd_core.protocol.messages import PROTO, ClientHello, Refuse, RobotHello, Welcome
from lwd_operator.auth import ClientKeys, secure_client
from lwd_operator.client import HubClient, HubError
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def _dealer(ctx, endpoint, keys, ident=b"raw"):
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.routing_id = ident
    secure_client(s, keys)
    s.connect(endpoint)
    return s


def _hello(proto=PROTO, robot_id="raw-1"):
    return RobotHello(robot_id=robot_id, driver="test", task="t", tasks=["t"], obs_dim=3, action_dim=2,
                      action_space="x", cameras=[], policy="hold", policy_version=0, control_hz=20.0,
                      proto=proto)


def test_robot_handshake_registers_robot(hub, make_robot):
    make_robot("r1", task="reach-v3")
    robots = wait_until(lambda: hub.fleet.robots.get("r1"), what="r1 registered")
    assert robots.hello.task == "reach-v3" and robots.hello.obs_dim == 39 and robots.hello.action_dim == 4
    view = wait_until(lambda: [r for r in hub.fleet_state().robots if r.step > 0], what="steps")[0]
    assert view.mode == "policy" and not view.stale


def test_raw_hello_gets_welcome(hub, robot_keys):
    ctx = zmq.Context()
    s = _dealer(ctx, hub.endpoints.robots, robot_keys)
    s.send_multipart(encode(_hello()))
    assert s.poll(3000)
    msg, _ = decode(s.recv_multipart())
    assert isinstance(msg, Welcome) and msg.deadman_ms == hub.cfg.deadman_ms
    ctx.destroy()


def test_incompatible_version_refused_with_reason(hub, robot_keys, caplog):
    ctx = zmq.Context()
    s = _dealer(ctx, hub.endpoints.robots, robot_keys)
    raw = msgspec.to_builtins(_hello())
    raw["proto"] = [PROTO[0] + 1, 0]
    with caplog.at_level(logging.INFO, logger="lwd.hub"):
        s.send_multipart([msgspec.msgpack.encode(raw)])
        assert s.poll(3000)
        msg, _ = decode(s.recv_multipart())
    assert isinstance(msg, Refuse) and "incompatible" in msg.reason
    assert "raw-1" not in hub.fleet.robots
    assert any("incompatible" in r.getMessage() for r in caplog.records)
    ctx.destroy()


def test_unknown_curve_key_is_refused_and_reaches_no_robot(hub, make_robot, client_keys, caplog):
    node = make_robot("r1", policy="hold")
    wait_until(lambda: node.step > 5, what="robot running")
    pub, sec = zmq.curve_keypair()
    stranger = ClientKeys(public=pub, secret=sec, server_public=client_keys.server_public)
    with caplog.at_level(logging.WARNING, logger="lwd.auth"):
        try:
            HubClient(Endpoints(port=hub.cfg.port), stranger, "mallory").start(timeout=1.5)
            raise AssertionError("an unknown key got through")
        except HubError as e:
            assert "no answer" in str(e)
        # A raw stranger socket that fires commands at the robot port: nothing gets through.
        ctx = zmq.Context()
        s = _dealer(ctx, hub.endpoints.robots, stranger, b"r1")
        for _ in range(20):
            s.send_multipart(encode(_hello(robot_id="r1")), zmq.NOBLOCK)
        wait_until(lambda: any("unknown CURVE key" in r.getMessage() for r in caplog.records), what="refusal logged")
        ctx.destroy()
    assert pub.decode() in caplog.text
    assert "mallory" not in {c.operator for c in hub.clients.values()}
    assert node.mode == "policy" and node.operator == ""
    assert hub.fleet.robots["r1"].hello.driver == "sim:metaworld"  # the stranger's hello never landed


def test_client_must_say_hello_first(hub, client_keys):
    ctx = zmq.Context()
    s = _dealer(ctx, hub.endpoints.clients, client_keys)
    from lwd_core.protocol.messages import Take

    s.send_multipart(encode(Take(robot_id="r1", seq=7)))
    assert s.poll(3000)
    msg, _ = decode(s.recv_multipart())
    assert msg.ok is False and "client_hello" in msg.error and msg.corr == 7
    ctx.destroy()


def test_hub_refuses_when_keys_missing(tmp_path, port):
    from lwd_operator.auth import AuthError
    from lwd_operator.config import HubConfig
    from lwd_operator.hub.hub import Hub

    try:
        Hub(HubConfig(port=port, keys_dir=str(tmp_path / "none")))
        raise AssertionError("hub started without keys")
    except AuthError as e:
        assert "lwd keys init" in str(e)


def test_operator_names_come_from_the_key_and_escapes_are_refused(hub, operator_keys, caplog):
    """Names reach logs, the status table and the audit trail: they come from the key, and a
    hello with terminal escapes is refused outright."""
    ctx = zmq.Context()
    s = _dealer(ctx, hub.endpoints.clients, operator_keys)
    with caplog.at_level(logging.INFO, logger="lwd.hub"):
        s.send_multipart(encode(ClientHello(operator="eve\x1b[2J", seq=3)))
        assert s.poll(3000)
        msg, _ = decode(s.recv_multipart())
        assert isinstance(msg, Refuse) and "unprintable" in msg.reason
    assert b"raw" not in hub.clients and hub.rejected["client:bad_field"] == 1
    assert any("rejected from key operator" in r.getMessage() for r in caplog.records)
    for name in ("x" * 65, "Zoë Ångström"):  # whatever the hello asks for, the key decides
        s.send_multipart(encode(ClientHello(operator=name, seq=100 - len(name))))
        assert s.poll(3000)
        assert isinstance(decode(s.recv_multipart())[0], Welcome)
        assert hub.clients[b"raw"].operator == "operator"
    ctx.destroy()
    try:
        HubClient(Endpoints(port=hub.cfg.port), operator_keys, "bad\nname")
        raise AssertionError("HubClient accepted a name the hub refuses")
    except ValueError as e:
        assert "unprintable" in str(e)
