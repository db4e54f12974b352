"""A costly camera's frame rate: as high as the control loop allows.

A MuJoCo camera renders in its own process (``lwd_operator.sim.render_process``), so it never
holds the control loop's GIL, but on a small machine its CPU still delays the control loop's
wake-ups: 8 robots rendering 96 px frames at 10 fps ask for ~1.8 of 2 cores, and their control
ticks then run 2-4 ms late where they run 0.3 ms late with cameras off. No fixed rate suits every
fleet size and machine, so each costly camera adapts, the way TCP adapts to a link (AIMD):

- after each frame it looks at its robot's control ticks since the previous frame;
- if one was later than ``budget_ms``, the rate drops to ``DECREASE`` of itself (never below
  ``min_fps``);
- if all were within half the budget, it climbs by ``max_fps / RAMP_FRAMES`` (never above
  ``max_fps``, the configured rate).

Every camera of the fleet sees the same late ticks, so together they settle at the rate the
machine has room for, and climb back when the load goes. A camera whose frames cost little
(``CHEAP_FRAME_S``, e.g. synthetic frames or a USB camera's ready JPEG) never slows: lowering
its rate would not give the control loop anything back.
"""

from __future__ import annotations

import dataclasses

DECREASE = 0.7
"""Multiplicative decrease per frame that saw a late tick (a few frames halve the rate)."""
RAMP_FRAMES = 50
"""Frames of good news to climb from nothing back to ``max_fps`` (seconds, not a blink: a
saturated machine is not probed every frame)."""
CHEAP_FRAME_S = 0.002
"""A frame that takes less than this to produce (mean) costs the machine too little to slow."""


@dataclasses.dataclass
class CameraRate:
    max_fps: float
    """The configured rate: the most the camera sends."""
    min_fps: float = 1.0
    """The least the camera sends, however busy the machine: an operator still sees the robot."""
    budget_ms: float = 1.0
    """Control-tick lateness (|period - target|) a costly camera may cause; 0: fixed rate."""
    fps: float = dataclasses.field(init=False)
    """The rate now."""
    frame_s: float = dataclasses.field(init=False, default=0.0)
    """Mean time to produce a frame (exponential average)."""

    def __post_init__(self) -> None:
        self.min_fps = min(self.min_fps, self.max_fps)
        self.fps = self.max_fps

    @property
    def adaptive(self) -> bool:
        return self.budget_ms > 0 and self.frame_s >= CHEAP_FRAME_S

    def after_frame(self, frame_s: float, late_ms: float | None) -> float:
        """Record a frame that took ``frame_s`` to produce, with ``late_ms`` the worst control
        tick since the previous frame (None: no tick since); returns the period to wait."""
        self.frame_s = frame_s if self.frame_s == 0.0 else 0.8 * self.frame_s + 0.2 * frame_s
        if not self.adaptive:
            self.fps = self.max_fps
        elif late_ms is not None and late_ms > self.budget_ms:
            self.fps = max(self.min_fps, self.fps * DECREASE)
        elif late_ms is not None and late_ms < self.budget_ms / 2:
            self.fps = min(self.max_fps, self.fps + self.max_fps / RAMP_FRAMES)
        return 1.0 / self.fps
