"""The simulated robot: real MuJoCo, success from the simulator, camera, distribution-shift knobs."""

import io
import signal

import numpy as np
import psutil
import pytest
from PIL import Image

from lwd_operator.robot.driver import DRIVERS
from lwd_operator.sim.metaworld_driver import MetaWorldConfig, MetaWorldDriver
from lwd_operator.sim.metaworld_env import MT10_TASKS, MetaWorldEnv
from tests.util import wait_until


def _driver(**kw):
    d = MetaWorldDriver(MetaWorldConfig(**{"task": "push-v3", "camera": "none", **kw}))
    d.connect()
    return d


def test_registered_and_describes_itself():
    assert DRIVERS["sim:metaworld"] is MetaWorldDriver
    d = _driver(task="reach-v3")
    assert (d.obs_dim, d.action_dim, d.cameras) == (39, 4, [])
    assert d.reset().shape == (39,)


@pytest.mark.parametrize("task", MT10_TASKS)
def test_expert_solves_every_mt10_task_through_the_driver(task):
    d = _driver(task=task, seed=3)
    obs = d.reset()
    for _ in range(300):
        d.send_action(d.expert_action(obs))
        obs = d.observation()
        if d.signal().success:
            break
    assert d.signal().success


def test_send_action_returns_clipped_action_and_teleop_maps_metres():
    d = _driver()
    d.reset()
    applied = d.send_action(np.array([5.0, -5.0, 0.2, 3.0]))
    np.testing.assert_allclose(applied, [1.0, -1.0, 0.2, 1.0])
    np.testing.assert_allclose(d.teleop_action(np.array([0.005, -0.02, 0.0]), 0.5), [0.5, -1.0, 0.0, 0.5])
    np.testing.assert_allclose(d.hold_action(), [0, 0, 0, 1.0])  # keeps the last gripper command


def test_seeding_is_reproducible_and_resets_vary():
    a, b = _driver(seed=7), _driver(seed=7)
    first = a.reset()
    np.testing.assert_array_equal(first, b.reset())
    assert not np.allclose(first, a.reset())  # a new placement every episode


def test_object_range_knob_changes_spread():
    def spread(scale):
        env = MetaWorldEnv("push-v3", seed=0, obj_range_scale=scale)
        return np.std([env.reset()[4:6] for _ in range(30)], axis=0).mean()

    assert spread(0.2) < 0.5 * spread(1.0)


def test_latency_knob_delays_actions_and_noise_knob_perturbs_them():
    d = _driver(latency_ticks=3)
    d.reset()
    z0 = d.observation()[2]
    d.send_action(np.array([0, 0, 1.0, -1]))
    d.send_action(np.array([0, 0, 1.0, -1]))
    assert abs(d.observation()[2] - z0) < 0.002  # nothing yet
    for _ in range(4):
        d.send_action(np.array([0, 0, 1.0, -1]))
    assert d.observation()[2] - z0 > 0.005
    n = _driver(action_noise=0.3, seed=1)
    n.reset()
    applied = np.array([n.send_action(np.zeros(4)) for _ in range(50)])
    assert 0.15 < applied[:, :3].std() < 0.45


def test_camera_frames_are_right_way_up():
    d = _driver(camera="mujoco", camera_size=64)
    d.reset()
    jpeg = d.render("corner")  # rendered and encoded by the driver's render process
    assert jpeg[:2] == b"\xff\xd8"
    img = np.asarray(Image.open(io.BytesIO(jpeg))).astype(float)
    assert img.shape == (64, 64, 3)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    wood = (r > 60) & (g / (r + 1) > 0.45) & (g / (r + 1) < 0.85) & (b < g)  # the table top
    half = img.shape[0] // 2
    assert wood[half:].mean() > 4 * wood[:half].mean()  # the table is at the bottom, not the top
    before = d.render("corner")
    for _ in range(10):
        d.send_action(np.array([0, 1.0, 1.0, -1]))
    assert d.render("corner") != before  # the renderer follows the state the control thread steps
    renderers = [c for c in psutil.Process().children() if "lwd_operator.sim.render_process" in c.cmdline()]
    assert len(renderers) == 1
    renderers[0].send_signal(signal.SIGINT)  # Ctrl-C reaches the whole group: the renderer stays quiet
    assert d.render("corner") and renderers[0].is_running()
    renderers[0].kill()  # a renderer that dies is replaced; the control side never notices
    renderers[0].wait(30)
    d.send_action(np.array([0, 0, 0, -1.0]))
    frame = wait_until(lambda: d.render("corner"), timeout=120, what="a frame from a new renderer")
    assert frame[:2] == b"\xff\xd8"
    renderers = [c for c in psutil.Process().children() if "lwd_operator.sim.render_process" in c.cmdline()]
    assert len(renderers) == 1
    d.disconnect()
    renderers[0].wait(30)  # the driver reaps it: psutil then has no exit code to give
    assert not renderers[0].is_running()  # the render process ends with the driver


def test_synthetic_camera_produces_distinct_jpegs():
    d = _driver(camera="synthetic")
    frames = [d.render("corner") for _ in range(3)]
    assert all(f[:2] == b"\xff\xd8" for f in frames) and len(set(frames)) == 3
