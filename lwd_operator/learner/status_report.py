"""The learner's reports to the hub: what it is doing and its last losses (``LearnerStatus``).

Sent every ``LearnerConfig.status_every_s`` seconds and at once after each candidate, through
a send-and-forget callable (``HubClient.report_learner_status``), so a slow or absent hub never
holds up learning. Only finite loss terms travel as numbers (the wire refuses NaN); terms that
were NaN or infinite are named in ``nonfinite``, so a diverging run shows as one.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable

from lwd_core.protocol.messages import MAX_LOSS_TERMS, LearnerPhase, LearnerStatus

log = logging.getLogger("lwd.learner")

RATE_WINDOW_S = 10.0
"""Updates per second are measured over this long."""


def split_losses(info: dict | None) -> tuple[dict[str, float], list[str]]:
    """(finite terms, names of non-finite ones) of an agent step's info, at most
    ``MAX_LOSS_TERMS`` together (the first ones, in the agent's order)."""
    finite: dict[str, float] = {}
    bad: list[str] = []
    for name, value in list((info or {}).items())[:MAX_LOSS_TERMS]:
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue  # not a number (an agent's extra info): not a loss
        if math.isfinite(v):
            finite[str(name)[:40]] = v
        else:
            bad.append(str(name)[:40])
    return finite, bad


class StatusReporter:
    """Builds and sends the learner's status; ``clock`` is monotonic seconds (tests pass one)."""

    def __init__(self, send: Callable[[LearnerStatus], None], every_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self.send, self.every_s, self.clock = send, every_s, clock
        self.next_at = 0.0
        self.marks: collections.deque[tuple[float, int]] = collections.deque()
        """(time, updates) over the last ``RATE_WINDOW_S``: the update rate."""
        self.candidate_at: float | None = None
        self.checkpoint_at: float | None = None
        self.sent = 0

    def rate(self, now: float, updates: int) -> float:
        if len(self.marks) >= 2 and now - self.marks[-2][0] < 0.25:
            self.marks[-1] = (now, updates)  # a few marks a second: the window stays small
        else:
            self.marks.append((now, updates))
        while len(self.marks) > 2 and now - self.marks[1][0] >= RATE_WINDOW_S:
            self.marks.popleft()
        (t0, u0), (t1, u1) = self.marks[0], self.marks[-1]
        return (u1 - u0) / (t1 - t0) if t1 > t0 else 0.0

    def maybe(self, learner, phase: LearnerPhase, force: bool = False) -> bool:
        """Send the status of ``learner`` (a ``service.Learner``) if it is due (or ``force``)."""
        now = self.clock()
        rate = self.rate(now, learner.counters["updates"])
        if self.every_s <= 0 or not (force or now >= self.next_at):
            return False
        self.next_at = now + self.every_s
        losses, bad = split_losses(getattr(learner, "last_info", None))
        agent = getattr(learner, "agent", None)
        cfg = getattr(agent, "config", None)
        tau = -1.0
        if cfg is not None and hasattr(cfg, "tau_online"):
            tau = cfg.tau_online if getattr(agent, "online", False) else getattr(cfg, "tau_offline", cfg.tau_online)
        ds = getattr(learner, "ds", None)
        status = LearnerStatus(
            agent=learner.cfg.agent, phase=phase, updates=learner.counters["updates"],
            online_updates=learner.counters["online_updates"], updates_per_s=round(max(0.0, rate), 3),
            episodes=learner.episodes.count, steps=learner.episodes.steps, cursor=learner.episodes.cursor,
            online_share=min(1.0, max(0.0, float(ds.online_fraction))) if ds is not None else 0.0,
            tau=float(tau), losses=losses, nonfinite=bad, candidate_version=learner.counters["version"],
            candidate_age_s=now - self.candidate_at if self.candidate_at is not None else -1.0,
            checkpoint_age_s=now - self.checkpoint_at if self.checkpoint_at is not None else -1.0)
        try:
            self.send(status)
        except Exception as e:  # reporting must never stop learning
            log.warning("could not report the learner status: %s", e)
            return False
        self.sent += 1
        return True
