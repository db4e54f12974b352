"""The value/risk trace without sockets: the hub's merge of the points robots send on their
statuses, and the Qt-free model front ends draw from (``fleet_view.value_trace``)."""

from lwd_core.protocol.messages import RobotStatus, ValuePoint, ValueTrace
from lwd_operator.fleet_view import NO_CRITIC, ValueTraceBook
from lwd_operator.hub.value_traces import ValueTraces
from lwd_operator.robot.help_signal import HelpConfig, HelpMonitor


def pt(chunk, value=0.5, level=0.6, armed=True):
    return ValuePoint(chunk=chunk, step=4 * chunk, value=value, level=level, threshold=level - 0.3, armed=armed)


def status(chunks, episode="e1", tau=0.25, help_step=-1, step=0):
    return RobotStatus(robot_id="r", mode="policy", task="reach-v3", episode_id=episode, step=step,
                       policy="flow", policy_version=1, control_hz=20.0, jitter_p99_ms=0.0, camera_fps=0.0,
                       value_tau=tau, value_points=[pt(c) for c in chunks], help_step=help_step,
                       help_requested=help_step >= 0, help_reason="value low" if help_step >= 0 else "")


def test_hub_merges_overlapping_status_windows_once_each_in_order():
    vt = ValueTraces(max_points=6)
    assert vt.trace("r") is None  # no status yet
    vt.note_status(status([0, 1, 2]))
    vt.note_status(status([1, 2, 3, 4]))  # overlap: 1 and 2 are not added again
    vt.note_status(status([2, 3, 4]))  # nothing new
    t = vt.trace("r")
    assert [p.chunk for p in t.points] == [0, 1, 2, 3, 4] and t.tau == 0.25 and t.dropped == 0
    assert [p.chunk for p in vt.trace("r", since_chunk=3).points] == [3, 4]
    vt.note_status(status([5, 6, 7], help_step=26, step=30))  # bounded: the oldest go
    t = vt.trace("r")
    assert [p.chunk for p in t.points] == [2, 3, 4, 5, 6, 7] and t.dropped == 2
    assert t.help_step == 26 and t.help_reason == "value low" and t.step == 30


def test_hub_starts_a_new_trace_with_a_new_episode():
    vt = ValueTraces()
    vt.note_status(status([0, 1, 2, 3]))
    vt.note_status(status([0], episode="e2"))
    t = vt.trace("r")
    assert t.episode_id == "e2" and [p.chunk for p in t.points] == [0]


def trace(chunks, episode="e1", tau=0.25, help_step=-1, step=40, armed=True):
    return ValueTrace(robot_id="r", episode_id=episode, tau=tau, help_step=help_step, step=step,
                      points=[pt(c, value=0.5 - 0.01 * c, armed=armed and c >= 2) for c in chunks])


def test_book_asks_only_for_new_chunks_and_builds_the_series():
    book = ValueTraceBook()
    assert book.since("r") == 0
    s = book.apply(trace([0, 1, 2]))
    assert book.since("r") == 3
    s = book.apply(trace([3, 4], help_step=17))  # an incremental answer (since_chunk=3)
    assert s.steps == (0, 4, 8, 12, 16) and s.values == (0.5, 0.49, 0.48, 0.47, 0.46)
    assert s.thresholds[:2] == (None, None) and s.thresholds[2] == 0.6 - 0.3  # unarmed: no line
    assert s.has_signal and s.help_step == 17 and s.last_threshold == 0.6 - 0.3
    assert s.caption() == "value q0.25 0.46 · level 0.60 · help below 0.30 · help asked at step 17"
    assert s.y_range() == (0.0, 1.0)
    assert len(s.sparkline(10)) == 5
    s = book.apply(trace([0], episode="e2"))  # a new episode starts over
    assert s.values == (0.5,) and book.since("r") == 1


def test_book_after_a_gap_keeps_what_the_hub_still_has():
    book = ValueTraceBook()
    book.apply(trace([0, 1]))
    s = book.apply(trace([7, 8]))  # chunks 2..6 fell out of the hub's bounded trace
    assert s.steps == (28, 32)


def test_a_policy_without_a_critic_says_so_instead_of_an_empty_plot():
    s = ValueTraceBook().apply(trace([], tau=0.0))
    assert not s.has_signal and s.caption() == NO_CRITIC
    s = ValueTraceBook().apply(trace([], tau=0.25))
    assert s.has_signal and "no chunk read yet" in s.caption()
    s = ValueTraceBook().apply(trace([0, 1], armed=False))
    assert s.last_threshold is None and "warming up" in s.caption()


def test_monitor_level_is_what_observe_compares_against():
    m = HelpMonitor(HelpConfig(warmup_chunks=2, drop=0.3))
    assert m.level(1, "t", 0.7) == (0.7, False)  # the first value sets the level
    for v in (0.7, 0.7):
        m.observe(1, "t", v)
    level, armed = m.level(1, "t", 0.1)
    assert armed and abs(level - 0.7) < 1e-9
    assert m.observe(1, "t", 0.1)[0] == "value_low"  # 0.1 < level - drop, as the trace shows


def test_sample_hub_answers_value_traces_like_the_hub():
    from lwd_operator.fleet_view.samples import SampleHub

    hub, book = SampleHub(10), ValueTraceBook()
    s = book.apply(hub.value_trace("r01"))
    assert s.has_signal and s.help_step >= 0 and s.values[-1] < s.last_threshold
    assert [p.chunk for p in hub.value_trace("r01", since_chunk=book.since("r01")).points] == []
    assert book.apply(hub.value_trace("r05")).caption() == NO_CRITIC
