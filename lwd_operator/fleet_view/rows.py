"""Fleet rows: one flat, display-ready record per robot, and the columns that show them.

A row holds numbers (for sorting) and never needs the hub again; ``Column.text(row)`` gives the
exact text both front ends show, so the console and the TUI agree to the character. Columns carry
a priority: a narrow screen drops the highest numbers first instead of truncating values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

State = Literal["help", "stopped", "offline", "stalled", "you", "human", "policy", "idle"]
"""What a row means for the operator, most urgent first; colours key off this, and ``pill`` says
the same in words (state is never colour alone)."""

STATE_ORDER: dict[str, int] = {s: i for i, s in enumerate(
    ("help", "stopped", "offline", "stalled", "you", "human", "policy", "idle"))}


@dataclasses.dataclass(frozen=True)
class FleetRow:
    """One robot as the operator sees it. Ages are seconds (None: unknown); rates are 0..1."""

    robot_id: str
    task: str
    mode: str
    """The hub's mode: policy, human, stopped or idle."""
    state: State
    pill: str
    """Mode in words: POLICY, HUMAN <name>, YOU, STOPPED, HELP, OFFLINE, STALLED, IDLE."""
    operator: str
    policy: str
    policy_version: int
    episode_id: str
    step: int
    control_hz: float
    jitter_p50_ms: float
    jitter_p99_ms: float
    camera_fps: float
    frame_age_s: float | None
    heartbeat_age_s: float
    success_rate: float | None
    """Over the robot's last ``recent_episodes`` ended episodes (None before the first)."""
    recent_episodes: int
    episodes: int
    intervention_rate: float | None
    """Human steps / all steps over the same recent episodes."""
    stalled_s: float
    """Seconds the step counter has not moved (0 when moving or not under the policy)."""
    reason: str = ""
    """Why the row is in trouble (help reason, 'stalled 7 s', ...); empty when fine."""

    @property
    def urgency(self) -> int:
        return STATE_ORDER[self.state]


def fmt_age(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 120:
        return f"{s:.1f}s" if s < 10 else f"{s:.0f}s"
    return f"{s / 60:.0f}m"


def fmt_beat(s: float) -> str:
    """Heartbeat or frame age: a healthy link or stream (under half a second) reads ``<0.5s``
    instead of a number that changes on every refresh (noise to the eye, and a cell or a tile's
    badge to repaint for nothing)."""
    return "<0.5s" if s < 0.5 else fmt_age(s)


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


@dataclasses.dataclass(frozen=True)
class Column:
    """A fleet-table column: ``priority`` 0 is never dropped; larger numbers go first."""

    key: str
    title: str
    width: int
    priority: int
    text: Callable[[FleetRow], str]
    sort_key: Callable[[FleetRow], object]
    align: Literal["left", "right"] = "left"


def _num(x):
    return -1.0 if x is None else x


COLUMNS: tuple[Column, ...] = (
    Column("robot", "robot", 6, 0, lambda r: r.robot_id, lambda r: r.robot_id),
    Column("task", "task", 12, 1, lambda r: r.task, lambda r: r.task),
    Column("mode", "mode", 9, 0, lambda r: r.pill, lambda r: (r.urgency, r.robot_id)),
    Column("ver", "ver", 4, 1, lambda r: f"v{r.policy_version}", lambda r: r.policy_version, "right"),
    Column("step", "step", 4, 3, lambda r: str(r.step), lambda r: r.step, "right"),
    Column("hz", "Hz", 4, 2, lambda r: f"{r.control_hz:.1f}", lambda r: r.control_hz, "right"),
    Column("jitter", "jit99", 5, 5, lambda r: f"{r.jitter_p99_ms:.1f}", lambda r: r.jitter_p99_ms, "right"),
    Column("fps", "fps", 4, 6, lambda r: f"{r.camera_fps:.1f}", lambda r: r.camera_fps, "right"),
    Column("frame", "frame", 5, 4, lambda r: fmt_age(r.frame_age_s), lambda r: _num(r.frame_age_s), "right"),
    Column("beat", "beat", 5, 3, lambda r: fmt_beat(r.heartbeat_age_s), lambda r: r.heartbeat_age_s, "right"),
    Column("ok", "ok%", 4, 2, lambda r: fmt_pct(r.success_rate), lambda r: _num(r.success_rate), "right"),
    Column("int", "int%", 4, 5, lambda r: fmt_pct(r.intervention_rate), lambda r: _num(r.intervention_rate), "right"),
    Column("eps", "eps", 4, 6, lambda r: str(r.episodes), lambda r: r.episodes, "right"),
    Column("operator", "operator", 8, 7, lambda r: r.operator or "-", lambda r: r.operator),
    Column("why", "why", 12, 8, lambda r: r.reason, lambda r: r.reason),
)
"""Every fleet-table column in display order. ``why`` goes first when space runs out: its text
is long and the attention queue (and the row detail) already says it in full."""

COLUMN_BY_KEY = {c.key: c for c in COLUMNS}


def fit_columns(width: int, columns: tuple[Column, ...] = COLUMNS, gap: int = 1,
                widths: dict[str, int] | None = None) -> list[Column]:
    """The columns that fit in ``width`` characters, dropping the highest priority numbers first
    (later columns first among equals); order is kept. ``widths`` overrides a column's width
    (e.g. the longest value on screen) so no value is ever cut."""
    w = {c.key: max(c.width, len(c.title), (widths or {}).get(c.key, 0)) for c in columns}
    kept = list(columns)

    def total():
        return sum(w[c.key] for c in kept) + gap * (len(kept) - 1)

    drop_order = sorted(kept, key=lambda c: (-c.priority, -columns.index(c)))
    for c in drop_order:
        if total() <= width or c.priority == 0:
            break
        kept.remove(c)
    return kept


def sort_rows(rows: list[FleetRow], key: str = "robot", reverse: bool = False) -> list[FleetRow]:
    col = COLUMN_BY_KEY[key]
    return sorted(rows, key=lambda r: (col.sort_key(r), r.robot_id), reverse=reverse)


def filter_rows(rows: list[FleetRow], text: str) -> list[FleetRow]:
    """Rows whose id, task, pill, operator, version or reason contain every word of ``text``
    (case-insensitive); ``state:help`` style words match the state exactly."""
    words = text.lower().split()
    if not words:
        return rows
    out = []
    for r in rows:
        hay = " ".join((r.robot_id, r.task, r.pill, r.operator, f"v{r.policy_version}", r.reason)).lower()
        if all((w.split(":", 1)[1] == r.state) if w.startswith("state:") else (w in hay) for w in words):
            out.append(r)
    return out
