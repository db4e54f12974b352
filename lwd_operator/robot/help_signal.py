"""When a robot asks for help by itself: a risk signal from DIVL's value distribution, plus the
no-progress detector (in the node).

At every action-chunk boundary under the policy, the runner reads the tau-quantile (``help_tau``,
default 0.25) of the critic's value distribution V(s) at the chunk's first state. With 0/1
success rewards that value is a discounted probability of success, so its scale is the same on
every task. The monitor keeps, per (policy version, task, episode phase), a running level: an
exponential average (rate 0.05, about the last 20 chunks) of those values over all episodes. The
phase (``phase_chunks`` chunks each, the last one open-ended) is there because a discounted
value rises as an episode gets near its goal: one level for the whole episode sat above every
first chunk, so ``value_low`` fired at the first chunk of most episodes (the help-quality bench
found it in 10 of the 11 episodes it flagged), on how far the goal was, not on risk. It asks
for help, once per episode, when:

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
    phase_chunks: int = 4
    """Chunks of an episode that share a level (0: one level for the whole episode)."""
    phases: int = 6
    """Phases with a level of their own; later chunks share the last one."""


class HelpMonitor:
    """Control-thread only. ``observe`` once per chunk; ``new_episode`` at each reset."""

    def __init__(self, cfg: HelpConfig = HelpConfig()):
        self.cfg = cfg
        self.levels: dict[tuple[int, str, int], tuple[float, int]] = {}
        self._episode: collections.deque[float] = collections.deque(maxlen=cfg.falling_chunks + 1)

    def new_episode(self) -> None:
        self._episode.clear()

    def _key(self, version: int, task: str, chunk: int) -> tuple[int, str, int]:
        c = self.cfg
        return version, task, min(chunk // c.phase_chunks, c.phases - 1) if c.phase_chunks > 0 else 0

    def level(self, version: int, task: str, value: float, chunk: int = 0) -> tuple[float, bool]:
        """The running level ``observe(version, task, value, chunk)`` would compare ``value``
        against, and whether it is trusted yet (warmed up); reads only, changes nothing."""
        level, n = self.levels.get(self._key(version, task, chunk), (value, 0))
        return level, n >= self.cfg.warmup_chunks

    def observe(self, version: int, task: str, value: float, chunk: int = 0) -> tuple[str, str] | None:
        """(signal, reason) when the value of the episode's chunk number ``chunk`` (from 0) asks
        for help, else None."""
        c = self.cfg
        key = self._key(version, task, chunk)
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
