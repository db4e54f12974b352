"""The Qt-free presentation model of the fleet, shared by the console (PyQt6) and the TUI.

Pure Python over what ``HubClient`` receives; no UI toolkit. Every time comes from a clock
argument, so tests are deterministic.

API (stable; other front ends depend on it)::

    view = FleetView(operator="op-1", config=FleetViewConfig(), clock=time.monotonic, wall_clock=time.time)
    view.attach(client)          # client callbacks queue FleetState / EpisodeEvent (any thread)
    view.refresh() -> bool       # UI thread: apply them; True if something changed
    view.update(fleet, frames=None, connected=True)   # or feed a FleetState directly (tests)
    view.on_alert(alert); view.on_episode(event); view.labelled(episode_id); view.dismiss(item)
    view.rows: list[FleetRow]            # hub order; sort_rows / filter_rows / fit_columns / COLUMNS
    view.queue: list[AttentionItem]      # urgency, then age (older first); to_label at the bottom
    view.summary: FleetSummary           # counts for a status bar; .line()
    view.log: deque[LogEntry]            # every alert with its wall time; .line()
    view.take_sounds() -> list[LogEntry] # alerts that should sound now, rate limited; set_muted()
    view.robot_summary(robot_id) -> RobotSummary   # last-N episodes: success / intervention rates
    view.to_label(robot_id=None) -> list[EndedEpisode]; view.most_urgent() -> AttentionItem | None
    view.version: int                    # increases on every change: repaint only when it moved

Learning (``lwd_operator.fleet_view.learning``): ``learning_series(client.curves()) ->
list[CurveSeries]`` (``all`` first, then tasks; success / intervention per window of cumulative
fleet steps), ``versions_in_use(view.rows) -> list[VersionUse]``, ``sparkline(values, width)``.
Value trace (``lwd_operator.fleet_view.value_trace``): ``book = ValueTraceBook()``;
``book.apply(client.value_trace(rid, since_chunk=book.since(rid))) -> ValueSeries`` (values,
levels, thresholds per chunk against episode steps; ``has_signal``, ``caption()``,
``y_range()``, ``sparkline(width)``; ``NO_CRITIC`` is the text for a policy without a critic).
Learner (``lwd_operator.fleet_view.learner``): ``learner_state(client.learner_status(history=200))
-> LearnerState`` (``line``, ``short`` for top bars, ``detail``, ``losses_line``, ``curves`` of
loss terms against updates, ``state``: none / error / online / pretrain / waiting / stale).
Samples (``lwd_operator.fleet_view.samples``): ``sample_fleet(n, tick=)``, ``sample_alerts(n)``,
``sample_episodes()``, ``sample_curves()``, ``sample_learners()`` and ``SampleHub`` (the HubClient calls front ends
make, answered from samples: screenshots, snapshot tests, render benchmarks).

Row states (``FleetRow.state``, most urgent first): help, stopped, offline, stalled, you, human,
policy, idle; ``FleetRow.pill`` says the same in words. Queue kinds (``AttentionItem.kind``), most
urgent first by the hub's own table (``lwd_core.protocol.attention.URGENCY``): help; deadman,
stopped, store_error; offline; stall; policy_load; to_label. ``text`` says why in words and
numbers.
"""

from lwd_operator.fleet_view.alerts import AlertRules, LogEntry
from lwd_operator.fleet_view.attention import URGENCY, AttentionItem, order
from lwd_operator.fleet_view.config import FleetViewConfig
from lwd_operator.fleet_view.history import EndedEpisode, EpisodeHistory, RobotSummary
from lwd_operator.fleet_view.learner import LearnerState, LossCurve, learner_state
from lwd_operator.fleet_view.learning import (
    CurveSeries,
    VersionUse,
    learning_series,
    sparkline,
    versions_in_use,
)
from lwd_operator.fleet_view.model import FleetSummary, FleetView
from lwd_operator.fleet_view.rows import (
    COLUMN_BY_KEY,
    COLUMNS,
    Column,
    FleetRow,
    filter_rows,
    fit_columns,
    fmt_age,
    fmt_beat,
    fmt_pct,
    sort_rows,
)
from lwd_operator.fleet_view.value_trace import NO_CRITIC, ValueSeries, ValueTraceBook

__all__ = [
    "COLUMNS", "COLUMN_BY_KEY", "URGENCY", "AlertRules", "AttentionItem", "Column", "EndedEpisode",
    "EpisodeHistory", "FleetRow", "FleetSummary", "FleetView", "FleetViewConfig", "LogEntry",
    "RobotSummary", "CurveSeries", "LearnerState", "LossCurve", "NO_CRITIC", "ValueSeries", "ValueTraceBook", "learner_state", "VersionUse", "learning_series", "sparkline", "versions_in_use", "filter_rows", "fit_columns", "fmt_age", "fmt_beat", "fmt_pct", "order", "sort_rows",
]
