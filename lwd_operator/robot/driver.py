"""Robot driver interface (real robots and simulators), in the style of lerobot's ``Robot``.

A driver owns the hardware or simulator. The robot node calls it from exactly one thread, the
control thread, except ``render`` (see ``CameraSource``), so drivers need no locking of their own
beyond what ``render`` needs.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import ClassVar, TypeVar

import numpy as np

from lwd_core.protocol.messages import CameraSpec


@dataclasses.dataclass(frozen=True)
class DriverConfig:
    """Settings common to every driver; drivers subclass it with their own fields."""

    task: str = ""
    """Task the robot performs (driver-specific name, e.g. ``push-v3``)."""
    seed: int = 0
    """Seed for anything random in the driver (simulators: initial states)."""


@dataclasses.dataclass(frozen=True)
class EpisodeSignal:
    """What the driver can tell about the running episode after a step."""

    success: bool
    """The task is accomplished (simulator ground truth; real robots may never say so)."""
    progress: float | None = None
    """Optional task-progress estimate in [0, 1] used for stall detection."""


class Driver(abc.ABC):
    """One robot. ``send_action`` returns the action actually applied (after clipping)."""

    name: ClassVar[str]
    config_class: ClassVar[type[DriverConfig]]
    action_space: ClassVar[str] = "ee_delta_xyz+gripper"

    def __init__(self, config: DriverConfig):
        self.config = config

    # --- lifecycle ---
    @abc.abstractmethod
    def connect(self) -> None: ...

    @abc.abstractmethod
    def disconnect(self) -> None: ...

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.disconnect()

    # --- description ---
    @property
    @abc.abstractmethod
    def obs_dim(self) -> int: ...

    @property
    @abc.abstractmethod
    def action_dim(self) -> int: ...

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def tasks(self) -> list[str]:
        return [self.config.task]

    @property
    def cameras(self) -> list[CameraSpec]:
        return []

    # --- control (control thread only) ---
    @abc.abstractmethod
    def reset(self) -> np.ndarray:
        """Start a new episode; returns the first observation."""

    @abc.abstractmethod
    def observation(self) -> np.ndarray:
        """Current state vector (float32, ``obs_dim``)."""

    @abc.abstractmethod
    def send_action(self, action: np.ndarray) -> np.ndarray:
        """Apply one action; returns what was applied (clipped to limits)."""

    @abc.abstractmethod
    def hold_action(self) -> np.ndarray:
        """The action that keeps the robot still (safe stop)."""

    @abc.abstractmethod
    def teleop_action(self, dpos: np.ndarray, gripper: float) -> np.ndarray:
        """Map an end-effector delta (metres per tick) and a gripper command to an action."""

    @abc.abstractmethod
    def signal(self) -> EpisodeSignal: ...

    teleop_limit_m: ClassVar[float] = 0.05
    """Largest end-effector step per tick (per axis, metres) a teleop command may ask for;
    larger or non-finite commands are refused by the node, never clipped into motion."""

    def action_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds (low, high) of a valid action; the node holds still instead of sending an
        action outside them (or a non-finite one) and raises an alert."""
        return (np.full(self.action_dim, -1.0, np.float32), np.full(self.action_dim, 1.0, np.float32))

    def ee_position(self) -> np.ndarray | None:
        return None

    def expert_action(self, observation: np.ndarray) -> np.ndarray | None:
        """A scripted expert's action for the current task, where one exists (simulators)."""
        return None

    # --- cameras (called from the camera thread) ---
    def render(self, camera: str) -> np.ndarray | bytes | None:
        """An RGB uint8 image (H, W, 3), right way up; or that image already JPEG-encoded (best:
        a driver that renders and encodes in another process keeps the work off the robot's
        GIL); or None if the driver has no camera or no frame yet.

        Must be safe to call from a thread other than the control thread and must not hold
        anything the control thread waits on for longer than a copy of the state.
        """
        return None


D = TypeVar("D", bound=type[Driver])
DRIVERS: dict[str, type[Driver]] = {}


def register_driver(name: str) -> Callable[[D], D]:
    def deco(cls: D) -> D:
        if name in DRIVERS:
            raise ValueError(f"driver {name!r} registered twice")
        cls.name = name
        DRIVERS[name] = cls
        return cls

    return deco
