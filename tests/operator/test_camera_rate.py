"""A costly camera slows while its robot's control ticks run late, and climbs back; a cheap one
never slows (lwd_operator.robot.camera_rate)."""

import time

import numpy as np
import pytest
import zmq

from lwd_core.protocol import decode
from lwd_core.protocol.messages import CameraSpec
from lwd_operator.robot.camera import CameraPublisher
from lwd_operator.robot.camera_rate import CHEAP_FRAME_S, DECREASE, RAMP_FRAMES, CameraRate
from lwd_operator.robot.node import NodeConfig, RobotNode
from lwd_operator.robot.policies import make_builtin
from lwd_operator.sim.metaworld_driver import MetaWorldConfig, MetaWorldDriver
from lwd_operator.sockets import Endpoints

COSTLY = 10 * CHEAP_FRAME_S


def test_costly_camera_backs_off_on_late_ticks_to_its_floor_and_climbs_back():
    r = CameraRate(10.0, min_fps=1.0, budget_ms=1.0)
    r.after_frame(COSTLY, 5.0)
    assert r.fps == pytest.approx(10.0 * DECREASE)
    for _ in range(30):
        period = r.after_frame(COSTLY, 5.0)
    assert r.fps == 1.0 and period == pytest.approx(1.0)  # never below the floor
    r.after_frame(COSTLY, 0.75)  # within budget but not within half of it: hold
    assert r.fps == 1.0
    for _ in range(RAMP_FRAMES):
        r.after_frame(COSTLY, 0.1)
    assert r.fps == 10.0  # back at the configured rate, never above it
    r.after_frame(COSTLY, None)  # no tick since the last frame: no news, no change
    assert r.fps == 10.0


def test_cheap_camera_and_zero_budget_keep_the_configured_rate():
    cheap = CameraRate(30.0, budget_ms=1.0)
    fixed = CameraRate(30.0, budget_ms=0.0)
    for _ in range(20):
        cheap.after_frame(CHEAP_FRAME_S / 10, 50.0)
        fixed.after_frame(COSTLY, 50.0)
    assert cheap.fps == fixed.fps == 30.0
    assert CameraRate(0.5, min_fps=1.0).min_fps == 0.5  # a floor above the rate is the rate


def test_publisher_slows_a_costly_camera_while_the_loop_is_late():
    """A real PUB socket and a render that costs 10x the cheap threshold: fed late ticks, the
    publisher's rate falls to the floor; fed on-time ticks, it climbs."""
    ctx = zmq.Context()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.subscribe(b"")
    late = {"ms": 20.0, "ticks": 0}

    def lateness(since):
        late["ticks"] += 1  # one new tick per frame
        return late["ticks"], late["ms"]

    def render():
        time.sleep(COSTLY)
        return np.zeros((8, 8, 3), np.uint8)

    cam = CameraPublisher(pub, "r1", CameraSpec("front", 8, 8, 50.0), render,
                          rate=CameraRate(50.0, min_fps=5.0, budget_ms=1.0), lateness=lateness)
    cam.start()
    try:
        deadline = time.monotonic() + 60
        while cam.rate.fps > 5.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cam.rate.fps == 5.0
        late["ms"] = 0.0
        while cam.rate.fps < 50.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cam.rate.fps == 50.0
        assert sub.poll(10_000)  # and the frames went out meanwhile
        msg, blobs = decode(sub.recv_multipart()[1:])
        assert msg.camera == "front" and blobs[0][:2] == b"\xff\xd8"
    finally:
        cam.stop()
        ctx.destroy(linger=0)


def test_robot_reports_its_control_ticks_lateness_to_its_cameras():
    """``RobotNode.lateness_since``: the tick count moves on and each call covers only the ticks
    after the previous one."""
    drv = MetaWorldDriver(MetaWorldConfig(task="reach-v3", camera="none", seed=0))
    node = RobotNode(NodeConfig(robot_id="r1", control_hz=50.0), drv,
                     make_builtin("hold", np.zeros(4, np.float32)), Endpoints(port=1), None)
    try:
        assert node.lateness_since(0) == (0, None)
        for p in (0.020, 0.020, 0.035, 0.020):  # the third tick came 15 ms late
            node._periods.append(p)  # noqa: SLF001 (what the control loop appends each tick)
            node.ticks.add(p)
        n, late = node.lateness_since(0)
        assert n == 4 and late == pytest.approx(15.0)
        n2, late2 = node.lateness_since(3)
        assert n2 == 4 and late2 == pytest.approx(0.0, abs=1e-9)
        assert node.lateness_since(4) == (4, None)
    finally:
        node.ctx.destroy(linger=0)  # never started: its sockets must still go, or the process hangs at exit
