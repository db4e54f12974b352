"""A single Meta-World (v3, Farama) task as a plain, seedable environment.

Used by the simulated robot driver, the operator bot's experts, offline-data generation and
evaluation, so that all of them see exactly the same task variation and success signal.
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

MT10_TASKS = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)

ACTION_SCALE_M = 0.01
"""Meta-World moves the end effector by ``action[:3] * 0.01`` metres per step."""

_import_lock = threading.Lock()

# Meta-World's experts warn on every construction that their gains may be high; the env clips.
warnings.filterwarnings("ignore", message="Constant\\(s\\) may be too high", category=UserWarning)


def all_tasks() -> list[str]:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return sorted(ALL_V3_ENVIRONMENTS)


class MetaWorldEnv:
    """One Meta-World task; a new random object/goal placement on every ``reset``.

    Distribution-shift knobs: ``obj_range_scale`` widens (>1) or narrows (<1) the range from
    which object and goal positions are drawn; ``action_noise`` adds Gaussian noise (std, in
    action units) to every applied action.
    """

    obs_dim = 39
    action_dim = 4

    def __init__(
        self,
        task: str,
        seed: int = 0,
        *,
        max_steps: int = 500,
        action_noise: float = 0.0,
        obj_range_scale: float = 1.0,
    ):
        os.environ.setdefault("MUJOCO_GL", "osmesa")
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
        with _import_lock:
            import metaworld.policies as policies
            from metaworld.env_dict import ALL_V3_ENVIRONMENTS
        if task not in ALL_V3_ENVIRONMENTS:
            raise ValueError(f"unknown Meta-World task {task!r}; e.g. {', '.join(MT10_TASKS[:3])}")
        self.task = task
        self.max_steps = max_steps
        self.action_noise = action_noise
        self._rng = np.random.default_rng(seed)
        env = ALL_V3_ENVIRONMENTS[task]()
        env._partially_observable = False
        env._freeze_rand_vec = False
        env._set_task_called = True
        env.seeded_rand_vec = True  # draw placements from the env's own seeded generator
        try:
            del env.sawyer_observation_space  # cached while the goal was still hidden
        except AttributeError:
            pass
        env.seed(seed)
        env.max_path_length = max_steps + 1  # we enforce our own limit; theirs raises
        if obj_range_scale != 1.0:
            space = env._random_reset_space
            mid = (space.low + space.high) / 2
            half = (space.high - space.low) / 2 * obj_range_scale
            space.low, space.high = mid - half, mid + half
        self.env = env
        self._expert = policies.ENV_POLICY_MAP[task]()
        self.steps = 0
        self.success = False
        self._obs = np.zeros(self.obs_dim, np.float32)

    @property
    def model(self):
        return self.env.model

    @property
    def data(self):
        return self.env.data

    def reset(self) -> np.ndarray:
        obs, _ = self.env.reset()
        self.steps = 0
        self.success = False
        self._obs = np.asarray(obs, np.float32)
        return self._obs.copy()

    def observation(self) -> np.ndarray:
        return self._obs.copy()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Apply ``action``; returns (observation, applied action, success so far)."""
        a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        if self.action_noise > 0:
            a = np.clip(a + self._rng.normal(0, self.action_noise, a.shape), -1.0, 1.0)
        obs, _r, _term, _trunc, info = self.env.step(a)
        self.steps += 1
        self._obs = np.asarray(obs, np.float32)
        self.success = self.success or bool(info.get("success", 0.0) > 0.5)
        return self._obs.copy(), a.astype(np.float32), self.success

    @property
    def done(self) -> bool:
        return self.success or self.steps >= self.max_steps

    def expert_action(self, obs: np.ndarray | None = None) -> np.ndarray:
        o = self._obs if obs is None else obs
        return np.clip(np.asarray(self._expert.get_action(np.asarray(o, np.float64)), np.float32), -1, 1)

    def ee_position(self) -> np.ndarray:
        return self._obs[:3].copy()
