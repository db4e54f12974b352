"""A TUI on deterministic sample data at a fixed clock: snapshot tests and screenshots."""

from __future__ import annotations

from lwd_core.protocol.messages import EpisodeEvent
from lwd_operator.config import TuiConfig
from lwd_operator.fleet_view import FleetView
from lwd_operator.fleet_view.samples import T0, SampleHub, sample_alerts, sample_fleet
from ui.tui.app import LwdTui


def sample_app(n: int = 16) -> LwdTui:
    hub = SampleHub(n, operator="op-1")
    t = [1000.0]
    view = FleetView("op-1", clock=lambda: t[0], wall_clock=lambda: T0 + t[0])
    view.update(sample_fleet(n, operator="op-1"))
    t[0] += 8.0  # the stalled robots have not moved for 8 s
    for k in range(3):
        view.on_episode(EpisodeEvent(robot_id=f"r{k + 1:02d}", episode_id=f"r{k + 1:02d}-e{k + 7}", task="push-v3",
                                     event="ended", reason="timeout" if k else "success", success=not k, steps=300 - 40 * k,
                                     human_steps=30 * k))
        t[0] += 1.0
    fleet = sample_fleet(n, operator="op-1")
    fleet.alerts = sample_alerts(n)
    view.update(fleet)
    return LwdTui(hub, operator="op-1", view=view, live=False, wall_clock=lambda: T0 + t[0],
                  config=TuiConfig(bell=False))
