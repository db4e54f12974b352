"""One attention order: the hub's queue and the front ends' presentation model rank the same
causes identically (both read ``lwd_core.protocol.attention.URGENCY``)."""

from lwd_core.protocol.attention import URGENCY
from lwd_core.protocol.messages import Alert, FleetState, RobotHello, RobotStatus
from lwd_operator.fleet_view import FleetView
from lwd_operator.hub.attention import AttentionQueue
from lwd_operator.hub.registry import FleetRegistry

ROBOTS = ("dm-old", "dm-new", "help-person", "help-value", "offline", "policy", "stall", "fine")


def fleet_of_every_cause() -> FleetRegistry:
    fleet = FleetRegistry(1.0)
    for rid in ROBOTS:
        e = fleet.hello(rid.encode(), RobotHello(robot_id=rid, driver="sim", task="push-v3", tasks=["push-v3"],
                                                 obs_dim=1, action_dim=1, action_space="", cameras=[],
                                                 policy="flow", policy_version=3, control_hz=20), now=0.0)
        e.status = RobotStatus(robot_id=rid, mode="policy", task="push-v3", episode_id=f"{rid}-1", step=5,
                               policy="flow", policy_version=3, control_hz=20, jitter_p99_ms=1, camera_fps=2)
    return fleet


def test_hub_queue_and_model_queue_order_every_cause_the_same():
    fleet, queue = fleet_of_every_cause(), AttentionQueue()
    fleet.robots["dm-old"].status.mode = "stopped"
    queue.build(fleet, {}, now=100.0)  # dm-old has waited 10 s longer than dm-new
    fleet.robots["dm-new"].status.mode = "stopped"
    fleet.robots["dm-new"].status.operator = "op-2"
    queue.note_help("help-value", "help-value-1", "value_low", 0.12, "value Q0.3=0.12 below the task's level")
    queue.note_help("help-person", "help-person-1", "", 0.0, "op-2: gripper slips")
    fleet.robots["stall"].status.help_requested = True
    fleet.robots["stall"].status.help_reason = "no progress for 4 s"
    fleet.robots["offline"].stale = True
    items = queue.build(fleet, {"policy": {4: "digest mismatch"}}, now=110.0)
    hub_order = [(i.robot_id, i.kind) for i in items]
    assert hub_order == [("help-value", "help"), ("help-person", "help"), ("dm-old", "deadman"),
                         ("dm-new", "deadman"), ("offline", "offline"), ("stall", "stall"),
                         ("policy", "policy_load")]
    assert [i.urgency for i in items] == sorted((i.urgency for i in items), reverse=True)

    # The same moment as a front end receives it: the robots' views, the hub's queue and the
    # help alerts the hub raised (a 'no progress' request alerts as help but queues as a stall).
    views = [fleet.view(e, e.status.operator if e.status else "", now=110.0) for e in fleet.robots.values()]
    alerts = [Alert(robot_id=rid, level="warning", code="help", text=text) for rid, text in (
        ("help-value", "value low"), ("help-person", "op-2 asks for help"), ("stall", "no progress for 4 s"))]
    model = FleetView("op-1", clock=lambda: 5000.0)
    model.update(FleetState(robots=views, attention=items, alerts=alerts))
    model_order = [(i.robot_id, i.kind) for i in model.queue if i.kind != "to_label"]
    assert model_order == hub_order
    assert model.row("help-person").state == model.row("help-value").state == "help"
    assert model.row("stall").state == "stalled" and model.row("dm-old").state == "stopped"


def test_help_outranks_a_deadman_stop_and_labels_sit_at_the_bottom():
    ranked = sorted(URGENCY, key=lambda k: -URGENCY[k])
    assert ranked.index("help") < ranked.index("deadman") < ranked.index("offline")
    assert ranked.index("offline") < ranked.index("stall") < ranked.index("policy_load") < ranked.index("to_label")
    assert URGENCY["help_value"] > URGENCY["help"] and URGENCY["stopped"] == URGENCY["deadman"]
    assert min(URGENCY.values()) == URGENCY["to_label"]
