"""Help-request quality: how well a robot's own help requests predict the episodes that fail.

Measured where nobody takes over (a takeover would hide whether the episode would have failed):
an observer client keeps every ended episode's ``EpisodeEvent``, which says whether the episode
succeeded (the environment's flag), whether and at which step the robot asked for help and by
which signal, and the first step at which each signal fired on its own (``help_signals``).

Definitions:
- An episode counts when it ended by itself under the policy: reason ``success`` or ``timeout``
  and no human step. Ends by shutdown, an operator's reset or a hub's abort say nothing about
  the policy and are left out (counted in ``HelpObserver.ignored``).
- Failed (the class to predict): not successful, i.e. it ran into the step limit.
- A detector asks in an episode when it fired at any step of it. Positive: it asked.
  precision = asked and failed / asked; recall = asked and failed / failed; F1 their harmonic
  mean. Lead time: steps from the request to the end of a failed episode it asked in.
- Detectors: ``value`` (the value signals alone: value_low or value_falling, from the robot's
  value-only monitor), ``no_progress`` (the no-progress detector alone: the baseline) and
  ``robot`` (what the robot actually did: its first request, whichever signal made it).
"""

from __future__ import annotations

import collections
import dataclasses
import statistics
import threading

from lwd_core.protocol.messages import EpisodeEvent

DETECTORS = ("value", "no_progress", "robot")
"""Rows of the report, in order; ``no_progress`` is the baseline."""
BASELINE = "no_progress"
COUNTED_REASONS = ("success", "timeout")


@dataclasses.dataclass(frozen=True)
class EpisodeRecord:
    """One counted episode, as its end event told it."""

    robot_id: str
    episode_id: str
    task: str
    steps: int
    failed: bool
    help_step: int = -1
    """The robot's first request (-1: none)."""
    help_signal: str = ""
    signal_steps: dict[str, int] = dataclasses.field(default_factory=dict)
    """Each signal's own first firing (``EpisodeEvent.help_signals``)."""

    @classmethod
    def from_event(cls, ev: EpisodeEvent) -> EpisodeRecord | None:
        """The record of an ``ended`` event that counts (see the module doc), else None."""
        if ev.event != "ended" or ev.reason not in COUNTED_REASONS or ev.human_steps > 0:
            return None
        return cls(robot_id=ev.robot_id, episode_id=ev.episode_id, task=ev.task, steps=ev.steps,
                   failed=not ev.success, help_step=ev.help_step, help_signal=ev.help_signal,
                   signal_steps=dict(ev.help_signals))

    def asked_at(self, detector: str) -> int | None:
        """Step at which ``detector`` asked in this episode, None if it did not."""
        if detector == "robot":
            return self.help_step if self.help_step >= 0 else None
        if detector == "value":
            steps = [s for k, s in self.signal_steps.items() if k.startswith("value")]
            return min(steps) if steps else None
        return self.signal_steps.get(detector)


@dataclasses.dataclass(frozen=True)
class Score:
    """One detector's confusion counts over a set of episodes, and what follows from them."""

    detector: str
    episodes: int
    tp: int
    fp: int
    fn: int
    leads: tuple[int, ...] = ()
    """Lead time in steps of each true positive (request to the end of the failed episode)."""

    @property
    def asked(self) -> int:
        return self.tp + self.fp

    @property
    def failed(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float | None:
        return self.tp / self.asked if self.asked else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.failed if self.failed else None

    @property
    def f1(self) -> float | None:
        """2 TP / (2 TP + FP + FN); None when there is neither a request nor a failure."""
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else None

    @property
    def lead_median(self) -> float | None:
        return statistics.median(self.leads) if self.leads else None


def score(records: list[EpisodeRecord], detector: str) -> Score:
    tp = fp = fn = 0
    leads = []
    for r in records:
        at = r.asked_at(detector)
        if at is not None and r.failed:
            tp += 1
            leads.append(max(0, r.steps - at))
        elif at is not None:
            fp += 1
        elif r.failed:
            fn += 1
    return Score(detector, len(records), tp, fp, fn, tuple(leads))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


class HelpObserver:
    """Collects counted episodes from a subscribed ``HubClient`` (``attach``); thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records: list[EpisodeRecord] = []
        self._seen: set[str] = set()
        self.ignored: collections.Counter[str] = collections.Counter()
        """Ended episodes left out, by end reason (``human`` when a person drove steps)."""

    def attach(self, client) -> HelpObserver:
        client.on_episode = self.on_episode
        return self

    def on_episode(self, ev: EpisodeEvent) -> None:
        if ev.event != "ended":
            return
        rec = EpisodeRecord.from_event(ev)
        with self._lock:
            if ev.episode_id in self._seen:
                return  # a resent end (after a reconnect) is the same episode
            self._seen.add(ev.episode_id)
            if rec is None:
                self.ignored["human" if ev.human_steps > 0 else ev.reason or "?"] += 1
            else:
                self._records.append(rec)

    @property
    def records(self) -> list[EpisodeRecord]:
        with self._lock:
            return list(self._records)

    def per_robot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(r.robot_id for r in self._records)


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def report(records: list[EpisodeRecord], title: str = "") -> str:
    """The 80-column table, the per-task breakdown and the F1 ratios against the baseline."""
    scores = {d: score(records, d) for d in DETECTORS}
    failed = sum(r.failed for r in records)
    lines = [title] if title else []
    lines += [f"episodes {len(records)}, failed {failed}"
              f" ({_f(failed / len(records) if records else None, '{:.0%}')})",
              f"{'detector':<12}{'asked':>6}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>10}{'recall':>8}"
              f"{'F1':>6}{'lead med':>9}{'lead mean':>10}"]
    for d, s in scores.items():
        mean = statistics.fmean(s.leads) if s.leads else None
        lines.append(f"{d:<12}{s.asked:>6}{s.tp:>5}{s.fp:>5}{s.fn:>5}{_f(s.precision):>10}{_f(s.recall):>8}"
                     f"{_f(s.f1):>6}{_f(s.lead_median, '{:.0f}'):>9}{_f(mean, '{:.0f}'):>10}")
    base = scores[BASELINE].f1
    for d in DETECTORS:
        if d != BASELINE:
            lines.append(f"ratio F1 {d} / {BASELINE}: {_f(ratio(scores[d].f1, base))}"
                         + ("" if ratio(scores[d].f1, base) is not None else " (baseline F1 is 0 or undefined)"))
    by_task: dict[str, list[EpisodeRecord]] = collections.defaultdict(list)
    for r in records:
        by_task[r.task].append(r)
    lines += ["", "per task, precision/recall:",
              f"{'task':<24}{'eps':>4}{'fail':>5}" + "".join(f"{d:>12}" for d in DETECTORS)]
    for task in sorted(by_task):
        rs = by_task[task]
        cells = "".join(f"{_f(s.precision)}/{_f(s.recall)}".rjust(12) for s in (score(rs, d) for d in DETECTORS))
        lines.append(f"{task[:23]:<24}{len(rs):>4}{sum(r.failed for r in rs):>5}{cells}")
    return "\n".join(lines) + "\n"


def summary(records: list[EpisodeRecord]) -> dict:
    """The scores as plain data (for results files)."""
    out = {"episodes": len(records), "failed": sum(r.failed for r in records)}
    for d in DETECTORS:
        s = score(records, d)
        out[d] = {"asked": s.asked, "tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision,
                  "recall": s.recall, "f1": s.f1, "lead_median": s.lead_median}
    base = out[BASELINE]["f1"]
    out["f1_ratio"] = {d: ratio(out[d]["f1"], base) for d in DETECTORS if d != BASELINE}
    return out
