"""The fleet status table (rich): what ``lwd status`` and ``lwd demo`` show."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text

from lwd_core.protocol.messages import FleetState

MODE_STYLE = {"policy": "green", "human": "bold yellow", "stopped": "bold red", "idle": "dim"}
COLUMNS = ("robot", "task", "mode", "policy", "ctrl Hz", "jitter p99", "cam fps", "frame age", "heartbeat",
           "operator", "episodes", "success", "alert")
DROP_FIRST = ("heartbeat", "cam fps", "frame age", "jitter p99", "ctrl Hz", "episodes", "operator", "policy",
              "task")
"""Columns a narrow terminal (or a pipe, 80 columns) loses, first to last; robot, mode, success
and alert always stay. A dropped column beats every column cut to "ro…"."""
RIGHT = {"ctrl Hz", "jitter p99", "cam fps", "frame age", "heartbeat", "episodes", "success"}


def fleet_table(fleet: FleetState | None, frames: dict | None = None, title: str = "LWD fleet",
                learner: str = "", width: int | None = None) -> Table:
    """The status table; ``frames`` maps (robot, camera) -> (Frame, jpeg, t_received);
    ``learner``: the learner's state line (``fleet_view.learner_state(...).line``), under it;
    ``width``: the terminal's columns (drops columns in ``DROP_FIRST`` order until it fits)."""
    rows = [] if fleet is None else _rows(fleet, frames)
    cols = list(COLUMNS)

    if width is not None:
        # Each column needs its widest cell + 2 padding + 1 rule (an alert may be a sentence:
        # rich wraps it in its column, so it counts for 20); the table 1 closing rule more.
        need = {c: 3 + max([len(c)] + [min(Text.from_markup(r[i]).cell_len, 20 if c == "alert" else 10**6)
                                       for r in rows])
                for i, c in enumerate(COLUMNS)}
        for c in DROP_FIRST:
            if 1 + sum(need[k] for k in cols) <= width:
                break
            cols.remove(c)
    t = Table(title=title, expand=False)
    for col in cols:
        t.add_column(col, justify="right" if col in RIGHT else "left")
    for r in rows:
        t.add_row(*(r[COLUMNS.index(c)] for c in cols))
    if fleet is None:
        t.caption = "waiting for the hub..."
        return t
    ro = fleet.rollout
    rollout = f"; active v{ro.active}" if ro.active else ""
    if ro.canary:
        rollout += f", canary v{ro.canary} on {', '.join(ro.canary_robots)} ({ro.state})"
    dropped = f" ({len(COLUMNS) - len(cols)} columns hidden: wider terminal)" if len(cols) < len(COLUMNS) else ""
    t.caption = f"{len(fleet.robots)} robots{rollout}{dropped}; Ctrl-C to quit" + (f"\n{learner}" if learner else "")
    return t


def _rows(fleet: FleetState, frames: dict | None) -> list[list[str]]:
    out = []
    now_ns = time.monotonic_ns()
    for r in fleet.robots:
        ages = [(now_ns - f.t_capture_ns) / 1e6 for (rid, _), (f, _, _) in (frames or {}).items() if rid == r.robot_id]
        mode = "stale" if r.stale else r.mode
        style = "bold red" if r.stale else MODE_STYLE.get(r.mode, "")
        rate = f"{100 * r.successes / r.episodes:.0f}%" if r.episodes else "-"
        policy = f"{r.policy} v{r.policy_version}"
        if r.policy_target and r.policy_target != r.policy_version and not r.policy_error:
            policy += f" → v{r.policy_target}"  # being offered, downloaded or loaded
        policy += " (pinned)" if r.pinned else " (canary)" if r.canary else ""
        alert = ("[yellow]help: " + r.help_reason + "[/]" if r.help_requested
                 else "[red]policy: " + r.policy_error + "[/]" if r.policy_error else "")
        out.append([r.robot_id, r.task, f"[{style}]{mode}[/]", policy,
                    f"{r.control_hz:.1f}", f"{r.jitter_p99_ms:.1f} ms", f"{r.camera_fps:.1f}",
                    f"{min(ages):.0f} ms" if ages else "-", f"{r.last_seen_s:.1f} s ago", r.operator or "-",
                    str(r.episodes), rate, alert])
    return out
