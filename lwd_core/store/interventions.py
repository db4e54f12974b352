"""Human segments of an episode and the policy steps just before each takeover (Sirius)."""

from __future__ import annotations

import numpy as np

from lwd_core.data.episode import SOURCE_HUMAN

DEFAULT_PRE_INTERVENTION_K = 15
"""Policy steps before a takeover marked ``pre_intervention`` unless configured otherwise."""


def human_segments(sources: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of human steps as half-open ``(start, end)`` step ranges, in order."""
    human = np.asarray(sources) == SOURCE_HUMAN
    if not human.any():
        return []
    edges = np.diff(np.concatenate([[0], human.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def pre_intervention_mask(sources: np.ndarray, k: int = DEFAULT_PRE_INTERVENTION_K) -> np.ndarray:
    """bool [T]: the last ``k`` non-human steps before each human segment.

    The window stops at the previous human segment: steps already under a human never count,
    and a window never reaches back across an earlier takeover.
    """
    sources = np.asarray(sources)
    mask = np.zeros(len(sources), bool)
    prev_end = 0
    for start, end in human_segments(sources):
        lo = max(prev_end, start - max(k, 0))
        mask[lo:start] = True
        prev_end = end
    return mask


def human_seconds(sources: np.ndarray, t_ns: np.ndarray) -> float:
    """Seconds spent under human control, from step timestamps (median period for the last)."""
    sources = np.asarray(sources)
    if len(sources) == 0:
        return 0.0
    t = np.asarray(t_ns, dtype=np.int64)
    dt = np.diff(t).astype(np.float64) / 1e9
    period = float(np.median(dt)) if len(dt) else 0.0
    if not np.isfinite(period) or period < 0:
        period = 0.0
    dt = np.clip(np.concatenate([dt, [period]]), 0.0, 10.0 * max(period, 1e-3))
    return float(dt[sources == SOURCE_HUMAN].sum())
