"""The fleet presentation model, without a display and with a fake clock."""

from lwd_core.protocol.messages import Alert, EpisodeEvent, FleetState, Frame, RobotView
from lwd_operator.fleet_view import (
    COLUMNS,
    FleetView,
    FleetViewConfig,
    filter_rows,
    fit_columns,
    sort_rows,
)


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def view(rid, **kw):
    base = dict(robot_id=rid, task="push-v3", mode="policy", stale=False, operator="", episode_id=f"{rid}-e1",
                step=10, policy="flow", policy_version=3, control_hz=20.0, jitter_p99_ms=1.5, camera_fps=2.0,
                last_seen_s=0.1)
    base.update(kw)
    return RobotView(**base)


def make(**cfg):
    clock = Clock()
    return FleetView("op-1", FleetViewConfig(**cfg), clock=clock, wall_clock=lambda: 1_700_000_000.0 + clock.t), clock


def test_rows_carry_numbers_and_a_pill_for_every_state():
    fv, clock = make()
    fv.update(FleetState(robots=[view("r1"), view("r2", mode="human", operator="op-1"),
                                 view("r3", mode="human", operator="op-2"), view("r4", mode="stopped"),
                                 view("r5", stale=True, last_seen_s=12.0), view("r6", mode="idle")]))
    pills = {r.robot_id: (r.state, r.pill) for r in fv.rows}
    assert pills == {"r1": ("policy", "POLICY"), "r2": ("you", "YOU"), "r3": ("human", "HUMAN op-2"),
                     "r4": ("stopped", "STOPPED"), "r5": ("offline", "OFFLINE"), "r6": ("idle", "IDLE")}
    assert fv.summary.yours == ("r2",) and fv.summary.offline == 1 and fv.summary.versions == {3: 6}
    assert "offline, silent 12s" in fv.row("r5").reason


def test_frame_age_is_the_newest_camera_on_the_model_clock():
    fv, clock = make()
    f = Frame(robot_id="r1", camera="c", width=1, height=1, encoding="jpeg", frame_seq=1, t_capture_ns=0)
    fv.update(FleetState(robots=[view("r1"), view("r2")]),
              frames={("r1", "a"): (f, b"", clock.t - 0.5), ("r1", "b"): (f, b"", clock.t - 0.04)})
    assert abs(fv.row("r1").frame_age_s - 0.04) < 1e-9
    assert fv.row("r2").frame_age_s is None


def test_help_beats_stall_and_older_first_within_a_kind():
    fv, clock = make(stall_s=5.0)
    fleet = FleetState(robots=[view("r1"), view("r2"), view("r3")])
    fv.update(fleet)
    clock.t += 6  # nobody moved: all three stalled since the first update
    fv.update(FleetState(robots=[view("r1"), view("r2", step=11), view("r3")]))
    assert [(i.kind, i.robot_id) for i in fv.queue] == [("stall", "r1"), ("stall", "r3")]
    assert fv.queue[0].text == "stalled 6 s at step 10" and fv.queue[0].age_s == 6
    clock.t += 1
    fv.update(FleetState(robots=[view("r1"), view("r2", step=11, help_requested=True, help_reason="low value Q0.3=0.12"),
                                 view("r3")]))
    assert fv.queue[0].robot_id == "r2" and fv.queue[0].kind == "help"
    assert fv.queue[0].text == "help: low value Q0.3=0.12"
    assert fv.row("r2").pill == "HELP"
    assert fv.most_urgent().robot_id == "r2"


def test_entries_clear_themselves_when_the_cause_clears():
    fv, clock = make(stall_s=5.0)
    fv.update(FleetState(robots=[view("r1", stale=True, last_seen_s=3.0)]))
    assert [i.kind for i in fv.queue] == ["offline"]
    clock.t += 1
    fv.update(FleetState(robots=[view("r1")]))
    assert fv.queue == []


def test_help_alert_stays_until_someone_takes_the_robot():
    fv, clock = make()
    fv.update(FleetState(robots=[view("r1")]))
    fv.update(FleetState(robots=[view("r1")], alerts=[Alert(robot_id="r1", level="warning", code="help", text="op-2 asks for help: gripper stuck")]))
    assert fv.queue[0].kind == "help" and "gripper stuck" in fv.queue[0].text
    clock.t += 3
    fv.update(FleetState(robots=[view("r1")]))
    assert fv.queue[0].kind == "help" and fv.queue[0].age_s == 3
    fv.update(FleetState(robots=[view("r1", mode="human", operator="op-2")]))
    assert fv.queue == []


def test_deadman_is_named_and_clears_when_the_robot_moves_again():
    fv, clock = make()
    fv.update(FleetState(robots=[view("r1", mode="stopped", operator="op-1")]))
    assert [(i.kind, i.text) for i in fv.queue] == [("stopped", "stopped (op-1)")]
    clock.t += 2  # the robot's alert arrives later: same stop, same age
    fv.update(FleetState(robots=[view("r1", mode="stopped", operator="op-1")],
                         alerts=[Alert(robot_id="r1", level="critical", code="deadman", text="no teleop for 300 ms")]))
    assert fv.queue[0].kind == "deadman" and fv.queue[0].text == "deadman stop: no teleop for 300 ms (op-1)"
    assert fv.queue[0].age_s == 2
    fv.update(FleetState(robots=[view("r1", mode="stopped", operator="op-2")],
                         alerts=[Alert(robot_id="r1", level="critical", code="deadman", text="no operator signal from op-2")]))
    assert fv.queue[0].text == "deadman stop: no operator signal from op-2"
    fv.update(FleetState(robots=[view("r1", mode="policy", step=11)]))
    assert fv.queue == []


def test_policy_load_failure_and_store_error_enter_the_queue():
    fv, clock = make()
    fv.update(FleetState(robots=[view("r1"), view("r2")], alerts=[
        Alert(robot_id="r2", level="warning", code="policy_load_failed", text="digest mismatch v4"),
        Alert(robot_id="", level="critical", code="store_error", text="disk full")]))
    assert [(i.kind, i.robot_id) for i in fv.queue] == [("store_error", ""), ("policy_load", "r2")]
    fv.update(FleetState(robots=[view("r1"), view("r2", policy_version=4)]))
    assert [i.kind for i in fv.queue] == ["store_error"]
    clock.t += 1000
    fv.update(FleetState(robots=[view("r1"), view("r2")]))
    assert [i.kind for i in fv.queue] == ["stall", "stall"]  # the store error expired; both idle robots stalled


def test_ended_episodes_wait_at_the_bottom_until_labelled():
    fv, clock = make()
    fv.on_episode(EpisodeEvent(robot_id="r1", episode_id="e1", task="push-v3", event="ended", reason="timeout", steps=300, human_steps=30))
    clock.t += 1
    fv.on_episode(EpisodeEvent(robot_id="r1", episode_id="e2", task="push-v3", event="ended", reason="success", success=True, steps=100))
    fv.update(FleetState(robots=[view("r1", help_requested=True)]))
    assert [i.kind for i in fv.queue] == ["help", "to_label", "to_label"]
    assert fv.queue[1].episode_id == "e1" and "timeout, 300 steps" in fv.queue[1].text
    assert [e.episode_id for e in fv.to_label("r1")] == ["e2", "e1"]
    fv.labelled("e1")
    fv.update(fv.fleet)
    assert [i.episode_id for i in fv.queue if i.kind == "to_label"] == ["e2"]
    s = fv.robot_summary("r1")
    assert s.recent == 2 and s.success_rate == 0.5 and abs(s.intervention_rate - 30 / 400) < 1e-12
    assert s.episodes_per_min == 60.0
    assert fv.row("r1").success_rate == 0.5


def test_success_rate_covers_only_the_last_n_episodes():
    fv, clock = make(recent_episodes=3)
    for i, ok in enumerate([True, True, False, False, False]):
        fv.on_episode(EpisodeEvent(robot_id="r1", episode_id=f"e{i}", task="t", event="ended", success=ok, steps=10))
    assert fv.robot_summary("r1").success_rate == 0.0
    fv.update(FleetState(robots=[view("r1", episodes=5, successes=2)]))
    assert fv.row("r1").success_rate == 0.0


def test_sounds_follow_the_rules_and_are_rate_limited():
    fv, clock = make(sound_repeat_s=10.0, sound_gap_s=1.0)

    def alert(code, rid="r1"):
        fv.on_alert(Alert(robot_id=rid, level="warning", code=code, text=code))

    alert("help")
    alert("help")  # same robot, same code, same second: silent
    alert("info_only")  # not a sound code
    assert [e.code for e in fv.take_sounds()] == ["help"]
    assert fv.take_sounds() == []
    clock.t += 0.5
    alert("deadman", "r2")  # within the global gap
    clock.t += 1
    alert("deadman", "r2")
    clock.t += 10
    alert("help")
    assert [(e.code, e.robot_id) for e in fv.take_sounds()] == [("deadman", "r2"), ("help", "r1")]
    assert len(fv.log) == 6 and [e.sound for e in fv.log].count(True) == 3
    fv.set_muted(True)
    clock.t += 100
    alert("help")
    assert fv.take_sounds() == [] and fv.log[-1].line().endswith("r1 help: help")


def test_columns_drop_by_priority_and_never_cut_values():
    full = fit_columns(400)
    assert [c.key for c in full] == [c.key for c in COLUMNS]
    narrow = fit_columns(78, widths={"task": len("button-press-topdown-v3")})
    keys = [c.key for c in narrow]
    assert {"robot", "mode"} <= set(keys) and "operator" not in keys
    width = sum(max(c.width, len(c.title), len("button-press-topdown-v3") if c.key == "task" else 0) for c in narrow) + len(narrow) - 1
    assert width <= 78


def test_sort_and_filter():
    fv, clock = make()
    fv.update(FleetState(robots=[view("r2", task="reach-v3"), view("r1", help_requested=True), view("r3", policy_version=9)]))
    assert [r.robot_id for r in sort_rows(fv.rows, "mode")] == ["r1", "r2", "r3"]
    assert [r.robot_id for r in sort_rows(fv.rows, "ver", reverse=True)][0] == "r3"
    assert [r.robot_id for r in filter_rows(fv.rows, "reach")] == ["r2"]
    assert [r.robot_id for r in filter_rows(fv.rows, "state:help")] == ["r1"]
    assert [r.robot_id for r in filter_rows(fv.rows, "v9")] == ["r3"]


def test_version_moves_only_on_change_and_refresh_without_client_is_safe():
    fv, clock = make()
    v0 = fv.version
    fv.update(FleetState(robots=[view("r1")]))
    assert fv.version > v0
    assert fv.refresh() is True  # recomputes (ages move) even with nothing new
    assert fv.summary.connected is False


def test_learning_series_and_versions():
    from lwd_core.protocol.messages import CurvePoint, Curves
    from lwd_operator.fleet_view import learning_series, sparkline, versions_in_use

    pts = [CurvePoint(group=g, fleet_steps=s, episodes=2, labelled=lab, successes=k, steps=100, human_steps=h)
           for g, s, lab, k, h in [("push-v3", 100, 2, 1, 50), ("all", 200, 2, 2, 0), ("all", 100, 2, 1, 50),
                                  ("push-v3", 200, 0, 0, 10)]]
    all_, push = learning_series(Curves(points=pts, total_steps=200))
    assert all_.group == "all" and all_.fleet_steps == (100, 200) and all_.success == (0.5, 1.0)
    assert all_.intervention == (0.5, 0.0) and all_.success_rate == 0.75
    assert push.success == (0.5, None) and push.last_success == 0.5 and push.last_intervention == 0.1
    assert sparkline([0.0, None, 1.0], 10) == "▁ █"
    assert len(sparkline([i / 99 for i in range(100)], 10)) == 10
    fv, _ = make()
    fv.update(FleetState(robots=[view("r1"), view("r2", policy_version=4), view("r3")]))
    assert [(u.version, u.robots) for u in versions_in_use(fv.rows)] == [(4, ("r2",)), (3, ("r1", "r3"))]


def test_the_hubs_attention_items_join_the_queue_with_their_reason_and_age():
    from lwd_core.protocol.messages import AttentionItem as HubItem

    fv, clock = make()
    fleet = FleetState(robots=[view("r1"), view("r2", step=11)], attention=[
        HubItem(robot_id="r1", kind="help", urgency=70, reason="value Q0.3=0.12 < tau 0.25", since_s=4.0),
        HubItem(robot_id="r2", kind="policy_load", urgency=40, reason="v5 refused: digest mismatch", since_s=1.0)])
    fv.update(fleet)
    assert [(i.kind, i.robot_id, i.text, i.age_s) for i in fv.queue] == [
        ("help", "r1", "help: value Q0.3=0.12 < tau 0.25", 4.0),
        ("policy_load", "r2", "policy load failed: v5 refused: digest mismatch", 1.0)]
    assert fv.row("r1").pill == "HELP"
    fv.update(FleetState(robots=[view("r1", mode="stopped", operator="op-2")], attention=[
        HubItem(robot_id="r1", kind="deadman", urgency=90, reason="stopped: no signal from op-2", since_s=2.0)]))
    assert [(i.kind, i.text) for i in fv.queue] == [("deadman", "deadman: stopped: no signal from op-2")]
    clock.t += 1
    fv.update(FleetState(robots=[view("r1"), view("r2", step=12)]))  # the hub cleared them
    assert fv.queue == []
