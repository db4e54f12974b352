"""The rich fleet table of ``lwd status`` and ``lwd demo``: in an 80-column pipe it drops whole
columns (least needed first) instead of cutting every header to two letters."""

import io

from rich.console import Console

from lwd_core.protocol.messages import FleetState
from lwd_operator.status import COLUMNS, fleet_table
from tests.operator.test_fleet_view import view


def render(width: int | None, fleet: FleetState) -> str:
    con = Console(file=io.StringIO(), width=width or 200, color_system=None)
    con.print(fleet_table(fleet, width=width))
    return con.file.getvalue()


def test_narrow_terminal_drops_columns_and_keeps_the_rest_whole():
    fleet = FleetState(robots=[view(f"sim-{i}", task="drawer-close-v3", episodes=40, successes=38,
                                    help_requested=(i == 1), help_reason="value q0.25 fell") for i in range(4)])
    wide, narrow = render(None, fleet), render(80, fleet)
    assert all(h in wide for h in COLUMNS)  # no width given: every column
    lines = narrow.splitlines()
    assert max(len(line) for line in lines) <= 80
    for head in ("robot", "mode", "success", "alert"):  # always kept, never cut
        assert head in narrow
    assert "sim-1" in narrow and "drawer-close-v3" in narrow and "…" not in lines[1] + lines[2]
    assert "columns hidden" in narrow and "heartbeat" not in narrow  # dropped first, and said so
