"""The value/risk trace, end to end: a simulated robot running a real DIVL + QAM snapshot reads
its critic's value at every chunk; the values ride on its statuses to a live hub, which keeps
the episode's trace; a HubClient and the console's robot detail show it, with the help
threshold and the step where the robot asked for help. A robot whose policy has no critic
says so in words instead of showing an empty plot."""

import threading

from lwd_core.protocol.messages import ValueTrace
from lwd_operator.client import HubError
from lwd_operator.fleet_view import NO_CRITIC
from lwd_operator.robot.help_signal import HelpConfig
from lwd_operator.robot.hot_swap import preload_learning
from tests.operator.policy_helpers import tiny_snapshot
from tests.util import wait_until

WAIT = 60_000  # ms


def test_value_trace_reaches_the_client_and_the_console_detail(qtbot, tmp_path, recording_hub, make_robot,
                                                              make_console):
    preload_learning()  # what `lwd robot` does before its loop; here, before threads start
    snap = tiny_snapshot(tmp_path / "snap")
    # A hair-trigger threshold, so the (untrained) critic's first dip asks for help and the
    # trace carries a help mark; the values keep coming after it.
    learned = make_robot("v1", task="reach-v3", policy=str(snap), control_hz=50.0, max_episode_steps=100000,
                         stall_s=1000.0, help=HelpConfig(drop=1e-6, warmup_chunks=2, phase_chunks=0))
    make_robot("n1", task="reach-v3", policy="noise", max_episode_steps=100000, stall_s=1000.0)
    win = make_console("vera")
    c = win.client

    def trace():
        try:
            t = c.value_trace("v1", timeout=5.0)
        except HubError:  # not connected yet, or no status yet
            return None
        return t if t.help_step >= 0 and any(p.step > t.help_step for p in t.points) else None

    t = wait_until(trace, timeout=60, what="a value trace with a help mark and values after it")
    assert isinstance(t, ValueTrace) and t.tau == 0.25 and t.episode_id == learned.episode_id
    chunks = [p.chunk for p in t.points]
    assert chunks == list(range(chunks[0], chunks[0] + len(chunks)))  # in order, each once
    steps = [p.step for p in t.points]
    assert steps == sorted(steps) and all(s % learned.policy.horizon == 0 for s in steps)
    assert all(0.0 <= abs(p.value) <= 1.5 and abs(p.threshold - (p.level - 1e-6)) < 1e-9 for p in t.points)
    assert t.help_reason == learned.help_reason and t.help_step == learned.help_step
    later = c.value_trace("v1", since_chunk=chunks[-1])  # only what the client lacks
    assert later.points and later.points[0].chunk == chunks[-1]

    qtbot.waitUntil(lambda: "v1" in win.wall.tiles and "n1" in win.wall.tiles, timeout=WAIT)
    win.detail.setVisible(True)
    win.select("v1")
    plot = win.detail.value_plot
    qtbot.waitUntil(lambda: plot.plotted and plot.series.help_step >= 0, timeout=WAIT)
    s = plot.series
    assert s.robot_id == "v1" and s.episode_id == learned.episode_id and s.tau == 0.25
    assert s.help_step == learned.help_step and "help asked at step" in s.caption()
    assert all(x is not None for x in s.thresholds[2:])  # armed after the warm-up chunks
    n = len(s.values)
    qtbot.waitUntil(lambda: len(plot.series.values) > n + 2, timeout=WAIT)  # it follows the episode
    # The trace was asked for off the GUI thread, one question at a time.
    assert win.detail.value_fetcher.max_in_flight == 1
    assert plot.grab().width() > 0  # paints (offscreen) without error

    win.select("n1")
    qtbot.waitUntil(lambda: plot.message == NO_CRITIC, timeout=WAIT)
    assert plot.series is None and not plot.plotted
    assert threading.current_thread() is threading.main_thread()


def test_value_plot_paints_a_sample_series_and_the_no_critic_text(qtbot):
    from lwd_operator.fleet_view import ValueTraceBook
    from lwd_operator.fleet_view.value_trace import sample_trace
    from ui.console.value_plot import ValuePlot

    plot = ValuePlot()
    qtbot.addWidget(plot)
    plot.resize(400, 100)
    plot.show()
    plot.set_series(ValueTraceBook().apply(sample_trace("r01", 59)))
    assert plot.plotted and plot.series.help_step >= 0
    img = plot.grab().toImage()
    # The red help mark is painted at its step (x from the step over the episode's length).
    s = plot.series
    x = int(4 + (400 - 8) * s.help_step / max(s.step, s.steps[-1] + 1))
    reds = [img.pixelColor(xx, 60) for xx in range(x - 2, x + 3)]
    assert any(c.red() > 180 and c.green() < 90 for c in reds)
    plot.set_series(ValueTraceBook().apply(sample_trace("r05", 59, critic=False)))
    assert not plot.plotted and plot.message == NO_CRITIC
