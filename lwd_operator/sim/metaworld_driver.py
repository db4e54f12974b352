"""Simulated robot: a Meta-World task behind the ``Driver`` interface (``--driver sim:metaworld/<task>``).

The action space is Meta-World's own: end-effector deltas (x, y, z) in units of 1 cm per step
and a gripper command, all in [-1, 1]. Teleop deltas in metres map onto it directly.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from lwd_core.protocol.messages import CameraSpec
from lwd_operator.robot.driver import Driver, DriverConfig, EpisodeSignal, register_driver
from lwd_operator.sim.metaworld_env import ACTION_SCALE_M, MetaWorldEnv
from lwd_operator.sim.render_process import ProcessCamera
from lwd_operator.sim.synthetic import SyntheticFrames


@dataclasses.dataclass(frozen=True)
class MetaWorldConfig(DriverConfig):
    task: str = "push-v3"
    """Meta-World v3 task name."""
    camera: str = "mujoco"
    """Camera source: mujoco (rendered offscreen on the CPU, in a separate process), synthetic
    (pre-encoded frames, for load tests) or none."""
    camera_size: int = 96
    """Square image size in pixels."""
    action_noise: float = 0.0
    """Distribution shift: std of Gaussian noise added to every applied action."""
    obj_range_scale: float = 1.0
    """Distribution shift: scale of the range object and goal positions are drawn from."""
    latency_ticks: int = 0
    """Distribution shift: actions take effect this many ticks late."""


@register_driver("sim:metaworld")
class MetaWorldDriver(Driver):
    config_class = MetaWorldConfig
    config: MetaWorldConfig

    def __init__(self, config: MetaWorldConfig):
        super().__init__(config)
        self.env: MetaWorldEnv | None = None
        self._camera = None
        self._pending: collections.deque[np.ndarray] = collections.deque()
        self._last_grip = -1.0

    def connect(self) -> None:
        c = self.config
        # The node enforces episode length; the env's own limit only needs to stay out of the way.
        self.env = MetaWorldEnv(c.task, c.seed, max_steps=100_000, action_noise=c.action_noise,
                                obj_range_scale=c.obj_range_scale)
        if c.camera == "mujoco":
            # Rendered in its own process: MuJoCo's frame (~20 ms of CPU) and the JPEG encode never
            # compete with the control loop for this process's GIL.
            self._camera = ProcessCamera(self.env, c.task, c.camera_size, c.camera_size)
        elif c.camera == "synthetic":
            self._camera = SyntheticFrames(c.camera_size, c.camera_size, seed=c.seed)
        elif c.camera != "none":
            raise ValueError(f"camera must be mujoco, synthetic or none, not {c.camera!r}")

    def disconnect(self) -> None:
        if isinstance(self._camera, ProcessCamera):
            self._camera.close()
        self._camera = None

    @property
    def obs_dim(self) -> int:
        return MetaWorldEnv.obs_dim

    @property
    def action_dim(self) -> int:
        return MetaWorldEnv.action_dim

    @property
    def cameras(self) -> list[CameraSpec]:
        if self.config.camera == "none":
            return []
        s = self.config.camera_size
        return [CameraSpec(name="corner", width=s, height=s, fps=10.0)]

    def reset(self) -> np.ndarray:
        self._pending.clear()
        self._last_grip = -1.0
        obs = self.env.reset()
        self._capture()
        return obs

    def observation(self) -> np.ndarray:
        return self.env.observation()

    def send_action(self, action: np.ndarray) -> np.ndarray:
        a = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        if self.config.latency_ticks > 0:
            self._pending.append(a)
            if len(self._pending) <= self.config.latency_ticks:
                a = self.hold_action()
            else:
                a = self._pending.popleft()
        _, applied, _ = self.env.step(a)
        self._last_grip = float(applied[3])
        self._capture()
        return applied

    def _capture(self) -> None:
        if isinstance(self._camera, ProcessCamera):
            self._camera.capture_state()

    def hold_action(self) -> np.ndarray:
        # Zero motion and the last gripper command: a held object is neither dropped nor squeezed.
        return np.array([0.0, 0.0, 0.0, self._last_grip], np.float32)

    def teleop_action(self, dpos: np.ndarray, gripper: float) -> np.ndarray:
        xyz = np.clip(np.asarray(dpos, np.float32) / ACTION_SCALE_M, -1.0, 1.0)
        return np.concatenate([xyz, [np.float32(np.clip(gripper, -1, 1))]]).astype(np.float32)

    def signal(self) -> EpisodeSignal:
        return EpisodeSignal(success=bool(self.env.success))

    def ee_position(self) -> np.ndarray:
        return self.env.ee_position()

    def expert_action(self, observation: np.ndarray) -> np.ndarray:
        return self.env.expert_action(observation)

    def render(self, camera: str) -> bytes | None:
        """A JPEG of the newest state (both camera sources hand over encoded frames)."""
        return None if self._camera is None else (self._camera.render() if isinstance(self._camera, ProcessCamera) else self._camera())


def parse_driver_spec(spec: str) -> tuple[str, str]:
    """``sim:metaworld/push-v3`` -> (``sim:metaworld``, ``push-v3``)."""
    name, _, task = spec.partition("/")
    return name, task
