"""kill -9 of the hub while several robots record, and of a robot: nothing acknowledged is lost.

The hub runs as a real ``lwd hub`` process with recording on; robots run in this process so the
test can see exactly which bytes each one sent. After the hub is killed and restarted, the robots
reconnect by themselves and resend what was never acknowledged.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from lwd_core.protocol import blob_arrays
from lwd_core.protocol.messages import StepBatch
from lwd_core.store import EpisodeStore
from lwd_operator.client import HubClient
from lwd_operator.robot.node import NodeConfig, RobotNode
from lwd_operator.robot.policies import make_builtin
from lwd_operator.sim.metaworld_driver import MetaWorldConfig, MetaWorldDriver
from lwd_operator.sockets import Endpoints
from tests.conftest import ports_free
from tests.util import wait_until


def _start_hub(port, keys_dir, recordings, tmp_path):
    cfg = tmp_path / "lwd.toml"
    cfg.write_text(f'[hub]\nrecordings = "{recordings}"\nstale_ms = 800\n')
    return subprocess.Popen([sys.executable, "-m", "lwd_operator.cli", "hub", "--config", str(cfg),
                             "--port", str(port), "--keys-dir", str(keys_dir)],
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


class SentLog:
    """Taps a robot's link: every step row it ever posted, by episode and step."""

    def __init__(self, node: RobotNode):
        self.rows: dict[str, dict[int, tuple[bytes, bytes, int]]] = {}
        self.lock = threading.Lock()
        post = node.link.post

        def tapped(msg, blobs=()):
            if isinstance(msg, StepBatch):
                arrays = blob_arrays(msg.blobs, list(blobs))
                with self.lock:
                    ep = self.rows.setdefault(msg.episode_id, {})
                    for i in range(msg.n):
                        ep[msg.first_step + i] = (arrays["state"][i].tobytes(),
                                                  arrays["action"][i].tobytes(), int(arrays["source"][i]))
            post(msg, blobs)

        node.link.post = tapped


@pytest.fixture
def port():
    """A free block below the ephemeral range: robots reconnecting to a killed hub open many
    outgoing connections, whose source ports must not take the restarted hub's ports."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, low - 8)
        if ports_free(base, 4):
            return base
    raise RuntimeError("no free port block below the ephemeral range")


@pytest.fixture
def recordings(tmp_path):
    return tmp_path / "recordings"


def _robot(i, port, keys):
    drv = MetaWorldDriver(MetaWorldConfig(task="reach-v3", camera="none", seed=i))
    node = RobotNode(NodeConfig(robot_id=f"r{i}", control_hz=50, max_episode_steps=60, shutdown_ack_s=60), drv,
                     make_builtin("noise", np.zeros(4, np.float32), seed=i), Endpoints(port=port), keys)
    return node, SentLog(node)


def test_hub_sigkill_loses_nothing_acknowledged(tmp_path, port, keys_dir, client_keys, robot_keys, recordings):
    hub = _start_hub(port, keys_dir, recordings, tmp_path)
    robots = [_robot(i, port, robot_keys) for i in range(3)]
    labelled: dict[str, str] = {}
    try:
        for node, _ in robots:
            node.start()
        # The hub process may take a while to start under load: wait for it generously.
        with HubClient(Endpoints(port=port), client_keys, "labeller", heartbeat_s=0.1).start(timeout=180) as c:
            ended = []
            c.on_episode = lambda ev: ended.append(ev) if ev.event == "ended" else None
            c.subscribe(hz=5)
            wait_until(lambda: len(ended) >= 4, timeout=120, what="finished episodes")
            for ev in list(ended):
                outcome = "success" if ev.success else "failure"
                assert c.label(ev.robot_id, ev.episode_id, outcome, timeout=60).ok
                labelled[ev.episode_id] = outcome
            # No pause here: a label answered ok is committed, so the kill may come at once.
            hub.send_signal(signal.SIGKILL)  # mid-recording: robots are stepping and sending
        hub.wait(10)
        time.sleep(1.5)  # robots keep running and journaling while the hub is gone
        wait_until(lambda: all(not n.link.connected for n, _ in robots), timeout=30, what="hub loss noticed")
        hub = _start_hub(port, keys_dir, recordings, tmp_path)
        wait_until(lambda: all(n.link.connected for n, _ in robots), timeout=180, what="reconnected")
        time.sleep(1.5)
    finally:
        # Stop together: each ends its episode and waits (bounded) for its last acks.
        stoppers = [threading.Thread(target=node.stop) for node, _ in robots]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        hub.send_signal(signal.SIGTERM)  # flushes the recorder
        hub.wait(60)

    left = {n.cfg.robot_id: [(m.episode_id, m.first_step, m.n) for m, _ in n.link.journal.pending()] for n, _ in robots}
    assert not any(left.values()), f"unacknowledged at the end: {left}"
    with sqlite3.connect(recordings / "index.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = EpisodeStore(recordings, writer=False)
    sent = {ep: rows for _, log in robots for ep, rows in log.rows.items()}
    assert labelled
    for ep_id, outcome in labelled.items():  # acknowledged before the kill: survives, complete
        ep = store.read_episode(ep_id)
        rows = sent[ep_id]
        assert len(ep) == len(rows) == max(rows) + 1
        assert ep.outcome == outcome
        for t in range(len(ep)):
            assert ep.states[t].tobytes() == rows[t][0] and ep.actions[t].tobytes() == rows[t][1]
    for ep_id, rows in sent.items():  # every episode: resends filled gaps, no duplicates
        steps = store.read_steps(ep_id, prefix_only=False)
        assert sorted(steps["step"].tolist()) == sorted(set(steps["step"].tolist())) == sorted(rows)
        assert store.get(ep_id)["status"] == "ended"


def test_killed_robot_episode_is_aborted_and_readable(tmp_path, port, keys_dir, client_keys, recordings):
    hub = _start_hub(port, keys_dir, recordings, tmp_path)
    cmd = [sys.executable, "-m", "lwd_operator.cli", "robot", "--port", str(port), "--keys-dir",
           str(keys_dir), "--camera", "none", "--policy", "noise", "--id", "victim", "--max-steps", "100000"]
    robot = subprocess.Popen(cmd)
    try:
        with HubClient(Endpoints(port=port), client_keys, "watcher") as c:
            c.subscribe(hz=10)
            view = wait_until(lambda: [r for r in (c.latest_fleet.robots if c.latest_fleet else [])
                                       if r.robot_id == "victim" and r.step > 60], timeout=60, what="steps")[0]
            first_episode = view.episode_id
            robot.send_signal(signal.SIGKILL)
            robot.wait(10)
            robot = subprocess.Popen(cmd)  # the same robot comes back with a new episode
            wait_until(lambda: [r for r in c.latest_fleet.robots
                                if r.robot_id == "victim" and r.episode_id != first_episode and r.step > 5],
                       timeout=60, what="robot back")
            time.sleep(1.0)
    finally:
        robot.terminate()
        robot.wait(10)
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)
    store = EpisodeStore(recordings, writer=False)
    row = store.get(first_episode)
    assert row["status"] == "aborted"
    ep = store.read_episode(first_episode)
    assert len(ep) >= 50 and np.isfinite(ep.states).all()  # acknowledged steps survive
