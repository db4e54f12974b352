"""The robot's own last check on what it is told to do, independent of the hub's checks.

Guarantees: a teleop command that is not finite or exceeds the driver's ``teleop_limit_m`` or
the gripper range is refused (never clipped into motion); an action from any source that is not
finite or lies outside ``Driver.action_limits()`` is replaced by ``hold_action()``. Either way
an alert is raised (at most one per kind every ``ALERT_EVERY_S``) and the action recorded is
the one actually sent to the driver.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

from lwd_core.protocol.messages import Alert
from lwd_operator.robot.driver import Driver

log = logging.getLogger("lwd.robot.check")

ALERT_EVERY_S = 5.0
TOLERANCE = 1e-4
"""Float slack on the action bounds (float32 rounding)."""


class CommandCheck:
    def __init__(self, driver: Driver, robot_id: str, post: Callable[[Alert], None]):
        self.driver, self.robot_id, self.post = driver, robot_id, post
        self.refused = 0
        self.held = 0
        self._alerted: dict[str, float] = {}
        self._limits: tuple[np.ndarray, np.ndarray] | None = None

    def teleop_problem(self, dpos, gripper: float) -> str | None:
        """Why a teleop command is refused, or None; refusals are alerted."""
        lim = self.driver.teleop_limit_m
        values = [*dpos, gripper]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            problem = f"teleop {values} is not finite"
        elif len(dpos) != 3 or any(abs(v) > lim for v in dpos) or abs(gripper) > 1.0:
            problem = f"teleop {values} exceeds the limits (|dpos| <= {lim} m, |gripper| <= 1)"
        else:
            return None
        self.refused += 1
        self._alert("bad_teleop", problem)
        return problem

    def checked(self, action: np.ndarray, source: str) -> np.ndarray:
        """``action`` if it is finite and within the driver's limits, else the hold action."""
        if self._limits is None:
            self._limits = self.driver.action_limits()
        low, high = self._limits
        a = np.asarray(action, np.float32)
        if a.shape == low.shape and np.isfinite(a).all() and (a >= low - TOLERANCE).all() \
                and (a <= high + TOLERANCE).all():
            return action
        self.held += 1
        self._alert(f"bad_{source}_action",
                    f"{source} action {np.array2string(a, precision=3)[:120]} is not finite or "
                    "outside the driver's limits; holding still instead")
        return self.driver.hold_action()

    def _alert(self, code: str, text: str) -> None:
        now = time.monotonic()
        if now - self._alerted.get(code, -1e9) < ALERT_EVERY_S:
            return
        self._alerted[code] = now
        log.warning("%s: %s", self.robot_id, text)
        self.post(Alert(robot_id=self.robot_id, level="critical", code=code, text=text[:500]))
