"""What the hub knows of its learners: the newest ``LearnerStatus`` of each and a bounded history
of its losses, answered to ``GetLearnerStatus``.

Guarantees:
- A learner is named by the key it speaks with (``LearnerStatus.learner`` from the wire is
  overwritten), so one learner cannot report as another.
- A status is accepted whole or refused whole, with a reason (``problem``): the codec already
  refuses non-finite numbers; this adds the bounds of the learner's own fields.
- Memory is bounded: ``MAX_LEARNERS`` learners (the one silent longest is forgotten first) and
  ``MAX_LOSS_HISTORY`` loss points each; one answer stays under the header limit
  (``MAX_ANSWER_VALUES`` history values in all, evenly thinned).
- Ages in an answer are as of the answer: the learner's ages at sending plus the time since.
"""

from __future__ import annotations

import collections
import dataclasses
import math

import msgspec

from lwd_core.protocol.messages import (
    MAX_LOSS_HISTORY,
    MAX_LOSS_TERMS,
    LearnerStates,
    LearnerStatus,
    LearnerView,
    LossSeries,
)

MAX_LEARNERS = 16
"""Most learners remembered at once."""
MAX_TERM_NAME = 40
"""Longest loss term name."""
MAX_VALUE = 1e12
"""Largest magnitude of a loss or rate: beyond it a number is garbage, not a loss."""
MAX_COUNT = 2**53
"""Largest counter (updates, steps, cursor): exact in a float, far beyond any real run."""
MAX_ANSWER_VALUES = 2000
"""History values in one answer, all learners and terms together (~28 kB of msgpack: with 16
learners of 16 terms the answer stays under the 64 kB header limit; tested)."""


def problem(msg: LearnerStatus) -> str | None:
    """Why ``msg`` cannot be kept (out of bounds), or None."""
    for name in ("updates", "online_updates", "episodes", "steps", "cursor", "candidate_version"):
        v = getattr(msg, name)
        if not 0 <= v <= MAX_COUNT:
            return f"{name}={v} is out of range 0..2^53"
    for name in ("updates_per_s", "tau", "candidate_age_s", "checkpoint_age_s"):
        v = getattr(msg, name)
        if not math.isfinite(v) or abs(v) > MAX_VALUE:
            return f"{name}={v!r} is not a finite number under {MAX_VALUE:g}"
    if not 0.0 <= msg.online_share <= 1.0:
        return f"online_share={msg.online_share!r} is not in 0..1"
    if len(msg.losses) + len(msg.nonfinite) > MAX_LOSS_TERMS:
        return f"{len(msg.losses) + len(msg.nonfinite)} loss terms exceed {MAX_LOSS_TERMS}"
    for name in (*msg.losses, *msg.nonfinite):
        if not name or len(name) > MAX_TERM_NAME or not name.isprintable():
            return f"loss term name {name[:MAX_TERM_NAME]!r}: 1 to {MAX_TERM_NAME} printable characters"
    for name, v in msg.losses.items():
        if not math.isfinite(v) or abs(v) > MAX_VALUE:
            return f"loss {name}={v!r} is not a finite number under {MAX_VALUE:g}"
    if len(msg.agent) > MAX_TERM_NAME:
        return f"agent name longer than {MAX_TERM_NAME} characters"
    return None


@dataclasses.dataclass
class _Learner:
    status: LearnerStatus
    at: float
    """Hub monotonic time the status arrived."""
    history: collections.deque = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=MAX_LOSS_HISTORY))
    """(updates, {term: value}) per accepted status whose update count moved."""


class LearnerBoard:
    """The learners' newest state (hub loop thread only: no lock)."""

    def __init__(self, stale_s: float):
        self.stale_s = stale_s
        self.learners: dict[str, _Learner] = {}

    def note(self, learner: str, msg: LearnerStatus, now: float) -> str | None:
        """Keep ``msg`` as the newest status of ``learner`` (the sender's key name); returns why
        it was refused instead, or None."""
        why = problem(msg)
        if why is not None:
            return why
        status = msgspec.structs.replace(msg, learner=learner)
        entry = self.learners.get(learner)
        if entry is None:
            if len(self.learners) >= MAX_LEARNERS:
                del self.learners[min(self.learners, key=lambda k: self.learners[k].at)]
            entry = self.learners[learner] = _Learner(status, now)
        elif msg.updates < entry.status.updates:
            entry.history.clear()  # a new run under the same key: its counts start over
        last = entry.history[-1][0] if entry.history else -1
        if status.losses and status.updates != last:
            entry.history.append((status.updates, dict(status.losses)))
        entry.status, entry.at = status, now
        return None

    def answer(self, now: float, history: int = 0) -> LearnerStates:
        """Every learner, most recently heard first, with up to ``history`` loss points each."""
        entries = sorted(self.learners.values(), key=lambda e: -e.at)
        terms = sum(max((len(losses) for _, losses in e.history), default=0) for e in entries) or 1
        points = max(0, min(int(history), MAX_LOSS_HISTORY, MAX_ANSWER_VALUES // terms))
        return LearnerStates(learners=[self._view(e, now, points) for e in entries])

    def _view(self, e: _Learner, now: float, points: int) -> LearnerView:
        since = max(0.0, now - e.at)
        st = msgspec.structs.replace(
            e.status,
            candidate_age_s=e.status.candidate_age_s + since if e.status.candidate_age_s >= 0 else -1.0,
            checkpoint_age_s=e.status.checkpoint_age_s + since if e.status.checkpoint_age_s >= 0 else -1.0)
        return LearnerView(status=st, seen_s_ago=since, stale=since > self.stale_s,
                           history=thinned_series(list(e.history), points))


def thinned_series(history: list[tuple[int, dict[str, float]]], points: int) -> list[LossSeries]:
    """At most ``points`` points spread evenly over ``history`` (the newest always kept), as one
    series per term, terms by name."""
    if points <= 0 or not history:
        return []
    if len(history) > points:
        n = len(history)
        history = [history[n - 1 - round(i * (n - 1) / max(1, points - 1))] for i in range(points)][::-1]
    names = sorted({k for _, losses in history for k in losses})
    out = []
    for name in names:
        pts = [(u, losses[name]) for u, losses in history if name in losses]
        out.append(LossSeries(name=name, updates=[u for u, _ in pts], values=[v for _, v in pts]))
    return out
