"""Per-robot episode history and rate summaries, from the hub's episode events."""

from __future__ import annotations

import collections
import dataclasses

from lwd_core.protocol.messages import EpisodeEvent


@dataclasses.dataclass(frozen=True)
class EndedEpisode:
    robot_id: str
    episode_id: str
    task: str
    reason: str
    success: bool
    steps: int
    human_steps: int
    t_end: float
    """Monotonic time (of the model's clock) at which the end was seen."""


@dataclasses.dataclass(frozen=True)
class RobotSummary:
    """A robot's recent episodes in numbers (None where nothing is known yet)."""

    robot_id: str
    recent: int
    """Ended episodes counted (at most ``recent_episodes``)."""
    successes: int
    success_rate: float | None
    intervention_rate: float | None
    """Human steps / all steps over the recent episodes."""
    mean_steps: float | None
    episodes_per_min: float | None
    """Rate of ended episodes over the recent ones (needs two)."""
    last: EndedEpisode | None


class EpisodeHistory:
    """The last ``n`` ended episodes of every robot."""

    def __init__(self, n: int):
        self.n = n
        self.by_robot: dict[str, collections.deque[EndedEpisode]] = {}

    def add(self, ev: EpisodeEvent, now: float) -> EndedEpisode | None:
        if ev.event != "ended":
            return None
        e = EndedEpisode(ev.robot_id, ev.episode_id, ev.task, ev.reason, ev.success, ev.steps, ev.human_steps, now)
        self.by_robot.setdefault(ev.robot_id, collections.deque(maxlen=self.n)).append(e)
        return e

    def summary(self, robot_id: str) -> RobotSummary:
        eps = list(self.by_robot.get(robot_id, ()))
        if not eps:
            return RobotSummary(robot_id, 0, 0, None, None, None, None, None)
        ok = sum(e.success for e in eps)
        steps = sum(e.steps for e in eps)
        span = eps[-1].t_end - eps[0].t_end
        return RobotSummary(
            robot_id=robot_id,
            recent=len(eps),
            successes=ok,
            success_rate=ok / len(eps),
            intervention_rate=(sum(e.human_steps for e in eps) / steps) if steps else None,
            mean_steps=steps / len(eps),
            episodes_per_min=(60 * (len(eps) - 1) / span) if len(eps) > 1 and span > 0 else None,
            last=eps[-1],
        )
