"""The statistical test that decides a canary: is the candidate worse than the incumbent?

Data: closed robot episodes whose dominant policy version is the candidate (``c``) or the
incumbent (``i``), on the tasks the candidate ran (the incumbent's episodes on other tasks are
left out, so an easy task on the incumbent's side cannot flatter it). Pooled over those tasks.

Success rate (labelled episodes only): the difference d = p_c - p_i with Newcombe's hybrid
score interval (method 10 of Newcombe 1998: Wilson intervals of each rate combined), which
keeps its coverage at small counts and at rates of 0 or 1, where the Wald interval collapses.

Intervention rate: per episode, human steps / steps; the difference of the two means with a
normal (Welch) interval. Per-episode rates, not pooled steps, because the steps of one episode
are not independent (one takeover is tens of consecutive human steps).

Decision, with margins m_s, m_h and z from ``RolloutConfig``:
- too few data (< ``min_episodes`` labelled on either side): wait;
- **clearly worse** when the whole success interval is below 0, or the whole intervention
  interval above 0: roll back and alert;
- **not worse** when the success interval lies above -m_s and the intervention interval below
  +m_h (non-inferiority): promote (or wait for approval);
- otherwise undecided: keep collecting; past ``max_episodes`` candidate episodes the hub stops
  deciding and waits for an operator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

Row = tuple[str, str, int, int]
"""(task, outcome, steps, human steps) of one episode."""


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (n = 0: the whole [0, 1])."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def newcombe_diff(k1: int, n1: int, k2: int, n2: int, z: float = 1.96) -> tuple[float, float, float]:
    """p1 - p2 and Newcombe's hybrid score interval."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def mean_diff(x1: Sequence[float], x2: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """mean(x1) - mean(x2) with a normal interval from the two sample variances (Welch)."""
    def mv(x):
        m = sum(x) / len(x)
        v = sum((a - m) ** 2 for a in x) / (len(x) - 1) if len(x) > 1 else 0.0
        return m, v / len(x)

    (m1, v1), (m2, v2) = mv(x1), mv(x2)
    d, half = m1 - m2, z * math.sqrt(v1 + v2)
    return d, d - half, d + half


@dataclasses.dataclass(frozen=True)
class Comparison:
    verdict: str
    """insufficient, worse, not_worse or undecided."""
    text: str
    n_candidate: int = 0
    n_incumbent: int = 0
    success: tuple[float, float, float] | None = None
    intervention: tuple[float, float, float] | None = None


def compare(candidate: Sequence[Row], incumbent: Sequence[Row], *, min_episodes: int,
            success_margin: float, intervention_margin: float, z: float = 1.96) -> Comparison:
    """The test of the module docstring. ``incumbent`` should already be limited to the
    candidate's tasks (``PolicyStore.episode_rows(version, tasks)``)."""
    lc = [r for r in candidate if r[1] != "unlabeled"]
    li = [r for r in incumbent if r[1] != "unlabeled"]
    if len(lc) < min_episodes or len(li) < min_episodes:
        return Comparison("insufficient", f"waiting for data: {len(lc)} candidate and {len(li)} "
                          f"incumbent labelled episodes, {min_episodes} needed each", len(lc), len(li))
    s = newcombe_diff(sum(r[1] == "success" for r in lc), len(lc),
                      sum(r[1] == "success" for r in li), len(li), z)
    hc = [r[3] / r[2] for r in candidate if r[2] > 0]
    hi = [r[3] / r[2] for r in incumbent if r[2] > 0]
    h = mean_diff(hc, hi, z) if hc and hi else (0.0, 0.0, 0.0)
    text = (f"success {s[0]:+.2f} [{s[1]:+.2f}, {s[2]:+.2f}], interventions {h[0]:+.3f} "
            f"[{h[1]:+.3f}, {h[2]:+.3f}] over {len(lc)} vs {len(li)} episodes")
    if s[2] < 0 or h[1] > 0:
        verdict = "worse"
    elif s[1] > -success_margin and h[2] < intervention_margin:
        verdict = "not_worse"
    else:
        verdict = "undecided"
    return Comparison(verdict, f"{verdict.replace('_', ' ')}: {text}", len(lc), len(li), s, h)
