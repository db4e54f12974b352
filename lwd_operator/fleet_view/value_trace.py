"""The value/risk trace of one robot's current episode, as front ends show it.

The hub answers ``GetValueTrace`` with the values the robot's critic read per action chunk
(``lwd_operator.robot.help_signal``). ``ValueTraceBook`` keeps, per robot, what a front end has
fetched so far and asks only for newer chunks next time (``since(robot_id)``); ``apply`` merges
an answer and returns the ``ValueSeries`` to draw: values against episode steps, the help
threshold where it applied, and the step at which help was asked. Qt-free: the console plots
it, the TUI draws ``ValueSeries.sparkline``.
"""

from __future__ import annotations

import dataclasses

from lwd_core.protocol.messages import ValuePoint, ValueTrace
from lwd_operator.fleet_view.learning import sparkline

NO_CRITIC = "no value signal (policy has no critic)"
"""What a front end shows instead of a plot for a robot whose policy has no critic."""


@dataclasses.dataclass(frozen=True)
class ValueSeries:
    """One episode's trace, ready to draw. Parallel tuples, oldest chunk first."""

    robot_id: str
    episode_id: str
    tau: float
    """Watched quantile; 0: the running policy has no critic."""
    steps: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    levels: tuple[float, ...] = ()
    thresholds: tuple[float | None, ...] = ()
    """``level - drop`` where the level was warmed up (the threshold applied), else None."""
    help_step: int = -1
    help_reason: str = ""
    step: int = 0
    """The episode's current step (the x axis runs to here)."""

    @property
    def has_signal(self) -> bool:
        """False for a policy without a critic: show ``NO_CRITIC`` instead of a plot."""
        return self.tau > 0 or bool(self.values)

    @property
    def last_threshold(self) -> float | None:
        return next((t for t in reversed(self.thresholds) if t is not None), None)

    def y_range(self) -> tuple[float, float]:
        """Bounds that hold every value and threshold, and at least [0, 1] (values are
        discounted success probabilities, so that scale reads the same on every task)."""
        ys = [*self.values, *(t for t in self.thresholds if t is not None)]
        return min([0.0, *ys]), max([1.0, *ys])

    def caption(self) -> str:
        """One line: what the plot shows now, in numbers."""
        if not self.has_signal:
            return NO_CRITIC
        if not self.values:
            return f"value q{self.tau:.2f}: no chunk read yet in this episode"
        thr = self.last_threshold
        text = (f"value q{self.tau:.2f} {self.values[-1]:.2f} · level {self.levels[-1]:.2f} · "
                + (f"help below {thr:.2f}" if thr is not None else "threshold warming up"))
        if self.help_step >= 0:
            text += f" · help asked at step {self.help_step}"
        return text

    def sparkline(self, width: int) -> str:
        """The values as block characters (TUI), on the ``y_range`` scale."""
        lo, hi = self.y_range()
        return sparkline(list(self.values), width, lo, hi)


class ValueTraceBook:
    """Robot id -> the points fetched so far of its current episode. Any single thread."""

    def __init__(self, keep: int = 2048):
        self.keep = keep
        self._points: dict[str, tuple[str, list[ValuePoint]]] = {}

    def since(self, robot_id: str) -> int:
        """The first chunk not held yet for ``robot_id`` (pass to ``HubClient.value_trace``)."""
        held = self._points.get(robot_id)
        return held[1][-1].chunk + 1 if held and held[1] else 0

    def apply(self, trace: ValueTrace) -> ValueSeries:
        """Merge a hub answer (a new episode starts over) and return the whole series."""
        episode, points = self._points.get(trace.robot_id, ("", []))
        if episode != trace.episode_id:
            episode, points = trace.episode_id, []
        nxt = points[-1].chunk + 1 if points else 0
        if trace.points and trace.points[0].chunk > nxt and points:
            points = []  # a gap (the hub's bounded trace moved on): keep what the hub still has
        points.extend(p for p in trace.points if p.chunk >= nxt)
        del points[:-self.keep]
        self._points[trace.robot_id] = (episode, points)
        return ValueSeries(
            robot_id=trace.robot_id, episode_id=episode, tau=trace.tau,
            steps=tuple(p.step for p in points), values=tuple(p.value for p in points),
            levels=tuple(p.level for p in points),
            thresholds=tuple(p.threshold if p.armed else None for p in points),
            help_step=trace.help_step, help_reason=trace.help_reason, step=trace.step)

    def forget(self, robot_id: str) -> None:
        self._points.pop(robot_id, None)


def sample_trace(robot_id: str, tick: int = 0, *, critic: bool = True, horizon: int = 4) -> ValueTrace:
    """A plausible trace for screenshots, render tests and benchmarks (no hub): a value that
    holds near its level, then sags below the threshold and asks for help at chunk 30."""
    from lwd_core.protocol.messages import ValuePoint

    if not critic:
        return ValueTrace(robot_id=robot_id, episode_id=f"{robot_id}-sample", tau=0.0, step=tick * horizon)
    points, level, help_step = [], 0.7, -1
    seed = sum(map(ord, robot_id))
    for c in range(min(tick + 1, 60)):
        wobble = 0.03 * ((c * 7 + seed) % 5 - 2)
        value = max(0.05, 0.72 + wobble - (0.03 * (c - 22) if c > 22 else 0.0))
        points.append(ValuePoint(chunk=c, step=c * horizon, value=round(value, 3), level=round(level, 3),
                                 threshold=round(level - 0.3, 3), armed=c >= 20))
        if c >= 20 and value < level - 0.3 and help_step < 0:
            help_step = c * horizon
        level += 0.05 * (value - level) if help_step < 0 else 0.0
    return ValueTrace(robot_id=robot_id, episode_id=f"{robot_id}-sample", tau=0.25, points=points,
                      help_step=help_step, help_reason="value low" if help_step >= 0 else "",
                      step=max(tick, len(points)) * horizon)
