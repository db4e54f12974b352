"""Hub restarts and robot crashes: robots reconnect by themselves; the hub keeps serving."""

import os
import signal
import subprocess
import sys
import time

from lwd_operator.client import HubClient
from lwd_operator.hub.hub import Hub
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_robot_reconnects_by_itself_after_hub_restart(hub_cfg, make_robot):
    hub = Hub(hub_cfg).start()
    node = make_robot("r1", policy="noise")
    wait_until(lambda: node.link.connected and "r1" in hub.fleet.robots, what="first connection")
    hub.stop()
    time.sleep(1.5)  # the robot keeps running on its own meanwhile
    steps = node.step
    time.sleep(0.3)
    assert node.step > steps and not node.link.connected
    hub2 = Hub(hub_cfg).start()
    try:
        wait_until(lambda: "r1" in hub2.fleet.robots, timeout=10, what="robot back in the new hub")
        wait_until(lambda: node.link.connected, what="robot sees the new hub")
        view = wait_until(lambda: [r for r in hub2.fleet_state().robots if r.step > 0], what="status")[0]
        assert view.mode == "policy" and not view.stale
        assert node.link.reconnects >= 1
    finally:
        hub2.stop()


def test_hub_marks_killed_robot_stale_and_keeps_serving_the_rest(hub, hub_cfg, keys_dir, client_keys):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "lwd_operator.cli", "robot", "--port", str(hub_cfg.port), "--keys-dir",
           str(keys_dir), "--camera", "none", "--policy", "noise"]
    procs = [subprocess.Popen(cmd + ["--id", f"p{i}", "--seed", str(i)], env=env) for i in range(2)]
    try:
        wait_until(lambda: {"p0", "p1"} <= set(hub.fleet.robots), timeout=60, what="two robot processes")
        with HubClient(Endpoints(port=hub_cfg.port), client_keys, "alice") as c:
            c.subscribe(hz=10)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(5)
            state = wait_until(lambda: [r for r in c.latest_fleet.robots if r.robot_id == "p0" and r.stale],
                               timeout=5, what="p0 stale")[0]
            assert state.last_seen_s > hub_cfg.stale_ms / 1000
            alive = [r for r in c.latest_fleet.robots if r.robot_id == "p1"][0]
            assert not alive.stale and alive.control_hz > 0  # stepping is checked below, not a rate
            assert c.take("p1").ok  # the hub still serves the others
            step = alive.step
            wait_until(lambda: [r for r in c.latest_fleet.robots if r.robot_id == "p1" and r.step > step + 10],
                       what="p1 keeps stepping")
            assert any(a.code == "stale" and a.robot_id == "p0" for a in hub.alerts)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
