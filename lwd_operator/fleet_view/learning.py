"""Learning curves and policy versions as front ends show them (from the hub's ``Curves``)."""

from __future__ import annotations

import collections
import dataclasses

from lwd_core.protocol.messages import Curves
from lwd_operator.fleet_view.rows import FleetRow


@dataclasses.dataclass(frozen=True)
class CurveSeries:
    """One group's rates per window of cumulative fleet steps (None: nothing labelled / no steps)."""

    group: str
    """``all`` or a task."""
    fleet_steps: tuple[int, ...]
    success: tuple[float | None, ...]
    intervention: tuple[float | None, ...]
    episodes: int
    labelled: int
    successes: int

    @property
    def success_rate(self) -> float | None:
        """Over every window (not the last one only)."""
        return self.successes / self.labelled if self.labelled else None

    @property
    def last_success(self) -> float | None:
        return next((v for v in reversed(self.success) if v is not None), None)

    @property
    def last_intervention(self) -> float | None:
        return next((v for v in reversed(self.intervention) if v is not None), None)


def learning_series(curves: Curves | None) -> list[CurveSeries]:
    """``all`` first, then tasks by name."""
    if curves is None:
        return []
    by = collections.defaultdict(list)
    for p in curves.points:
        by[p.group].append(p)
    out = []
    for group in sorted(by, key=lambda g: (g != "all", g)):
        pts = sorted(by[group], key=lambda p: p.fleet_steps)
        out.append(CurveSeries(
            group=group,
            fleet_steps=tuple(p.fleet_steps for p in pts),
            success=tuple((p.successes / p.labelled) if p.labelled else None for p in pts),
            intervention=tuple((p.human_steps / p.steps) if p.steps else None for p in pts),
            episodes=sum(p.episodes for p in pts),
            labelled=sum(p.labelled for p in pts),
            successes=sum(p.successes for p in pts),
        ))
    return out


@dataclasses.dataclass(frozen=True)
class VersionUse:
    """A policy version and the robots running it now."""

    version: int
    policy: str
    robots: tuple[str, ...]


def versions_in_use(rows: list[FleetRow]) -> list[VersionUse]:
    """Newest version first."""
    by: dict[tuple[int, str], list[str]] = collections.defaultdict(list)
    for r in rows:
        by[(r.policy_version, r.policy)].append(r.robot_id)
    return [VersionUse(v, p, tuple(sorted(ids))) for (v, p), ids in sorted(by.items(), key=lambda kv: -kv[0][0])]


BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float | None, ...] | list[float | None], width: int, lo: float = 0.0,
              hi: float = 1.0) -> str:
    """``values`` (0..1 by default) as at most ``width`` block characters, newest on the right;
    a gap (no data) is a space. Resampled by taking the last value of each slot."""
    vals = list(values)[-max(width, 1) * 8:]
    if not vals:
        return ""
    if len(vals) > width:
        step = len(vals) / width
        vals = [vals[min(len(vals) - 1, int((i + 1) * step) - 1)] for i in range(width)]
    span = (hi - lo) or 1.0
    out = []
    for v in vals:
        if v is None:
            out.append(" ")
        else:
            out.append(BARS[min(len(BARS) - 1, max(0, int((v - lo) / span * (len(BARS) - 1) + 0.5)))])
    return "".join(out)
