"""Hostile input on every hub socket, by class, while a healthy robot runs: no thread dies,
nothing refused is stored, the robot keeps its slot and keeps stepping, reasons are counted.

The attacker holds authorized keys (a robot key bound to ``fuzz-*``, an observer key, an
operator key), as an insider would; strangers are kept out by CURVE (test_hub_session).
"""

import collections
import os
import random
import subprocess
import sys
import time

import zmq

from lwd_core.protocol import decode, encode
from lwd_core.protocol.messages import Heartbeat, LabelEpisode, Take, Teleop
from lwd_core.store import EpisodeStore
from lwd_operator.auth import secure_client
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from tests.operator import hostile
from tests.util import wait_until

MESSAGES = 10_000


def _sock(ctx, kind, endpoint, keys):
    s = ctx.socket(kind)
    s.linger = 0
    s.sndhwm = 100_000
    secure_client(s, keys)
    s.connect(endpoint)
    return s


def _await_marker(sock, make, fresh_seq, timeout=120.0):
    """Send a message that gets an answer until it does; everything sent before it on this
    connection has then been handled."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        q = fresh_seq()
        sock.send_multipart(make(q))
        t = time.monotonic() + 3.0
        while time.monotonic() < t:
            if sock.poll(100):
                msg, _ = decode(sock.recv_multipart())
                if msg.corr == q:
                    return
    raise AssertionError("no answer to the marker")


def test_fuzz_by_class_against_a_live_hub(tmp_path, hub_cfg, keys_dir, make_keys, observer_keys,
                                          operator_keys, robot_keys):
    mallory = make_keys("mallory", role="robot", robots=["fuzz-*"])
    hub = Hub(hub_cfg, recorder=open_recorder(tmp_path / "rec")).start()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    robot = subprocess.Popen([sys.executable, "-m", "lwd_operator.cli", "robot", "--port", str(hub_cfg.port),
                              "--keys-dir", str(keys_dir), "--camera", "none", "--policy", "noise",
                              "--id", "healthy", "--max-steps", "100"], env=env)
    ctx = zmq.Context()
    stopped = [False]
    try:
        wait_until(lambda: "healthy" in hub.fleet.robots and hub.fleet.robots["healthy"].status, timeout=90,
                   what="healthy robot")
        healthy = hub.fleet.robots["healthy"]
        step0, episodes0 = healthy.status.step, healthy.episodes
        robot_as_mallory = _sock(ctx, zmq.DEALER, hub.endpoints.robots, mallory)
        robot_as_operator = _sock(ctx, zmq.DEALER, hub.endpoints.robots, operator_keys)  # wrong port
        client_as_observer = _sock(ctx, zmq.DEALER, hub.endpoints.clients, observer_keys)
        client_as_robot = _sock(ctx, zmq.DEALER, hub.endpoints.clients, robot_keys)  # wrong port
        client_as_operator = _sock(ctx, zmq.DEALER, hub.endpoints.clients, operator_keys)
        frames = _sock(ctx, zmq.PUB, hub.endpoints.frames_in, mallory)
        watcher = ctx.socket(zmq.SUB)
        secure_client(watcher, observer_keys)
        watcher.setsockopt(zmq.SUBSCRIBE, b"")
        watcher.connect(hub.endpoints.frames_out)
        # Mallory's own robot is registered, so its messages reach the deeper checks.
        robot_as_mallory.send_multipart(encode(hostile.robot_hello("fuzz-1", seq=1)))
        wait_until(lambda: "fuzz-1" in hub.fleet.robots, what="mallory's robot registered")
        for s, seq in ((client_as_observer, 1), (client_as_operator, 1)):
            s.send_multipart(encode(hostile.ClientHello(operator="healthy-operator", session="f", seq=seq)))
        wait_until(lambda: len(hub.clients) >= 2, what="fuzz clients registered")
        time.sleep(0.5)  # the relay has passed the watcher's subscription upstream
        victim_episode = hub.fleet.robots["healthy"].status.episode_id

        rng = random.Random(20261201)
        seq = collections.Counter({"robot": 10, "client": 10, "op": 10})
        sent = collections.Counter()

        def nxt(k):
            seq[k] += 1
            return seq[k]

        def send(sock, frames_, cls):
            sock.send_multipart(frames_)
            sent[cls] += 1

        t0 = time.monotonic()
        while sum(sent.values()) < MESSAGES:
            cls = rng.choice(["deep", "wide", "lying", "nan_steps", "non_finite", "hostile_id",
                              "wrong_role", "impersonation", "replay", "frames", "junk", "help"])
            if cls == "deep":
                send(rng.choice([robot_as_mallory, client_as_observer]), hostile.deep(rng, nxt("robot")), cls)
            elif cls == "wide":
                send(rng.choice([robot_as_mallory, client_as_observer]), hostile.wide(rng, nxt("robot")), cls)
            elif cls == "lying":
                send(robot_as_mallory, hostile.lying_blobs(rng, "fuzz-1", "fuzz-1-ep", nxt("robot")), cls)
            elif cls == "nan_steps":
                send(robot_as_mallory, hostile.non_finite_steps("fuzz-1", "fuzz-1-ep", 0, nxt("robot")), cls)
            elif cls == "non_finite":
                send(rng.choice([robot_as_mallory, client_as_operator]), hostile.non_finite(rng, nxt("robot")), cls)
            elif cls == "hostile_id":
                send(rng.choice([robot_as_mallory, client_as_operator]), hostile.hostile_id(rng, nxt("robot")), cls)
            elif cls == "wrong_role":
                choice = rng.randrange(4)
                if choice == 0:  # an observer acting
                    m = rng.choice([Take(robot_id="healthy"), Teleop(robot_id="healthy", dpos=(0.01, 0, 0), gripper=0),
                                    LabelEpisode(robot_id="healthy", episode_id=victim_episode, outcome="failure")])
                    m.seq = nxt("client")
                    send(client_as_observer, encode(m), cls)
                elif choice == 1:  # a robot key on the client port
                    send(client_as_robot, encode(Take(robot_id="healthy", seq=nxt("client"))), cls)
                elif choice == 2:  # an operator key on the robot port
                    send(robot_as_operator, encode(hostile.robot_hello("healthy", seq=nxt("client"))), cls)
                else:  # a robot key in the client's role
                    send(client_as_robot, encode(hostile.ClientHello(operator="x", seq=nxt("client"))), cls)
            elif cls == "impersonation":
                choice = rng.randrange(4)
                if choice == 0:
                    m = hostile.robot_hello("healthy", session="stolen", seq=nxt("robot"))
                elif choice == 1:
                    m = hostile.EpisodeEvent(robot_id="healthy", episode_id=victim_episode, task="t",
                                             event="ended", success=True, seq=nxt("robot"))
                elif choice == 2:
                    m = hostile.EpisodeEvent(robot_id="fuzz-1", episode_id=victim_episode, task="t",
                                             event="ended", success=True, seq=nxt("robot"))
                else:
                    m = hostile.Alert(robot_id="healthy", level="critical", code="forged", text="x", seq=nxt("robot"))
                send(robot_as_mallory, encode(m), cls)
            elif cls == "replay":
                m = Heartbeat(seq=0)  # every connection began above 0
                send(rng.choice([robot_as_mallory, client_as_operator]), encode(m), cls)
            elif cls == "frames":
                send(frames, hostile.frame_for(rng.choice(["healthy", "x/..", "zzz"]), rng, nxt("op")), cls)
            elif cls == "junk":
                send(rng.choice([robot_as_mallory, client_as_observer]), hostile.junk(rng), cls)
            else:  # a help-request flood from an operator: coalesced, rate-limited
                send(client_as_operator, hostile.help_request(nxt("op")), cls)
        elapsed = time.monotonic() - t0

        non_frame = sum(v for k, v in sent.items() if k != "frames")

        # Drained when a marker sent last on each connection is answered (per-connection order).
        for sock, make in ((robot_as_mallory, lambda q: hostile.lying_blobs(rng, "fuzz-1", "e", q)),
                           (client_as_observer, lambda q: encode(hostile.Subscribe(hz=1.0, seq=q))),
                           (client_as_operator, lambda q: encode(hostile.Subscribe(hz=1.0, seq=q)))):
            _await_marker(sock, make, lambda: nxt("robot") + nxt("op"))
        # The healthy robot: same slot, same key, still stepping in policy mode, never stale.
        entry = hub.fleet.robots["healthy"]
        assert entry is healthy or (entry.key == "robot" and entry.hello.session == healthy.hello.session)
        wait_until(lambda: hub.fleet.robots["healthy"].status.step != step0 or
                   hub.fleet.robots["healthy"].episodes > episodes0, timeout=60, what="the robot still steps")
        view = next(v for v in hub.fleet_state().robots if v.robot_id == "healthy")
        assert view.mode == "policy" and not view.stale and view.operator == ""
        assert not [a for a in hub.alerts if a.robot_id == "healthy" and a.code in ("deadman", "forged")]
        # No thread died, no handler blew up.
        assert not hub.crashes and hub.relay.crashes == 0, (hub.crashes, hub.relay.crashes)
        assert hub.relay.alive() and hub.recorder.alive() and not any(hub.watchdog.restarts.values())
        # Everything refused was counted (help requests beyond the first are coalesced instead).
        rejected = dict(hub.rejected)
        assert sum(rejected.values()) + hub.help_coalesced + 1 >= non_frame, (sorted(rejected.items()), sent)
        for cls in ("role", "replay", "too_deep", "bad_field", "not_yours", "impersonation"):
            assert any(k.endswith(":" + cls) for k in rejected), (cls, rejected)
        assert [a.code for a in hub.alerts].count("help") <= 2
        # Nothing from the frame port but the healthy robot's own telemetry reached watchers.
        relayed = 0
        while watcher.poll(0):
            topic = watcher.recv_multipart()[0]
            assert topic.startswith(b"tele/healthy/"), topic
            relayed += 1
        assert hub.relay.rejected > 0
        # Nothing refused was stored: no episode but the healthy robot's, no label from the fuzz,
        # no end forged onto the victim's episode (the robot's own ends always give a reason).
        hub.stop()
        stopped[0] = True
        store = EpisodeStore(tmp_path / "rec", writer=False)
        eps = store.list_episodes()
        assert eps and {e["robot"] for e in eps} == {"healthy"}, {e["robot"] for e in eps}
        assert all(not store.label_history(e["id"]) for e in eps)
        assert all(e["end_reason"] or e["status"] != "ended" for e in eps), eps
        total = sum(sent.values())
        print(f"\nfuzz: {total} messages in {elapsed:.1f} s by class {dict(sorted(sent.items()))}")
        print(f"fuzz: rejected by class {dict(sorted(rejected.items()))}; help coalesced {hub.help_coalesced}; "
              f"relay rejected {hub.relay.rejected}, relayed to watchers {relayed}")
        print(f"fuzz: crashed handlers {dict(hub.crashes)}, relay crashes {hub.relay.crashes}, "
              f"thread restarts {hub.watchdog.restarts}; log lines suppressed {hub.gate.log.suppressed}")
    finally:
        ctx.destroy(linger=0)
        robot.terminate()
        robot.wait(20)
        if not stopped[0]:
            hub.stop()
