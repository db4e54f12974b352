"""When a robot asks for help by itself: a risk signal from DIVL's value distribution, plus the
no-progress detector (in the node).

At every action-chunk boundary under the policy, the runner reads the tau-quantile (``help_tau``,
default 0.25) of the critic's value distribution V(s) at the chunk's first state. With 0/1
success rewards that value is a discounted probability of success, so its scale is the same on
every task. The monitor keeps, per (policy version, task), a running level: an exponential
average (rate 0.05, about the last 20 chunks) of those values over all episodes. It asks for
help, once per episode, when:

- ``value_low``: the value is more than ``help_drop`` (0.3) below the running level, after
  ``help_warmup_chunks`` (20) chunks of that task have set the level; or
- ``value_falling``: it has fallen at each of the last ``help_falling_chunks`` (6) chunks of the
  episode, by at least ``help_drop / 2`` in total.

A low quantile (not the mean) is read because help is about risk: a state where the critic sees
a real chance of failure, even if failure is not the most likely outcome. Levels are kept per
version because a new critic has its own calibration.
"""

from __future__ import annotations

import collections
import dataclasses


@dataclasses.dataclass(frozen=True)
class HelpConfig:
    tau: float = 0.25
    """Quantile of the value distribution that is watched."""
    drop: float = 0.3
    """Distance below the task's running level that asks for help."""
    falling_chunks: int = 6
    """Consecutive falling chunks that ask for help."""
    warmup_chunks: int = 20
    """Chunks of a task before its running level is trusted."""
    level_rate: float = 0.05
    """Rate of the running level's exponential average."""


class HelpMonitor:
    """Control-thread only. ``observe`` once per chunk; ``new_episode`` at each reset."""

    def __init__(self, cfg: HelpConfig = HelpConfig()):
        self.cfg = cfg
        self.levels: dict[tuple[int, str], tuple[float, int]] = {}
        self._episode: collections.deque[float] = collections.deque(maxlen=cfg.falling_chunks + 1)

    def new_episode(self) -> None:
        self._episode.clear()

    def level(self, version: int, task: str, value: float) -> tuple[float, bool]:
        """The running level ``observe(version, task, value)`` would compare ``value`` against,
        and whether it is trusted yet (warmed up); reads only, changes nothing."""
        level, n = self.levels.get((version, task), (value, 0))
        return level, n >= self.cfg.warmup_chunks

    def observe(self, version: int, task: str, value: float) -> tuple[str, str] | None:
        """(signal, reason) when this value asks for help, else None."""
        c = self.cfg
        key = (version, task)
        level, n = self.levels.get(key, (value, 0))
        self._episode.append(value)
        out = None
        if n >= c.warmup_chunks and value < level - c.drop:
            out = ("value_low", f"value q{c.tau:.2f} {value:.2f} is {level - value:.2f} below "
                                f"the task's level {level:.2f}")
        elif len(self._episode) == self._episode.maxlen:
            vs = list(self._episode)
            if all(b < a for a, b in zip(vs, vs[1:], strict=False)) and vs[0] - vs[-1] >= c.drop / 2:
                out = ("value_falling", f"value q{c.tau:.2f} fell from {vs[0]:.2f} to {vs[-1]:.2f} "
                                        f"over {c.falling_chunks} chunks")
        self.levels[key] = (level + c.level_rate * (value - level) if n else value, n + 1)
        return out
