"""Help-request quality: the per-episode bookkeeping from end events, the precision/recall
arithmetic, and a live robot's help signal steps reaching an observer through the real hub."""

import msgspec
import pytest

from lwd_core.protocol import decode, encode
from lwd_core.protocol.messages import PROTO, EpisodeEvent
from lwd_operator.client import HubClient
from lwd_operator.sim.help_quality import HelpObserver, report, score, summary
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def ended(ep, *, success=False, steps=150, reason=None, help_step=-1, help_signal="", signals=None,
          human_steps=0, task="push-v3"):
    ev = EpisodeEvent(robot_id="r", episode_id=ep, task=task, event="ended",
                      reason=reason or ("success" if success else "timeout"), success=success, steps=steps,
                      human_steps=human_steps, help_step=help_step, help_signal=help_signal,
                      help_signals=signals or {})
    msg, _ = decode(encode(ev))  # as an observer receives it: through the codec
    return msg


def observed(events):
    obs = HelpObserver()
    for ev in events:
        obs.on_episode(ev)
    return obs


EPISODES = [
    # failed; no_progress asked first, the value signal fired later on its own
    ended("e1", help_step=40, help_signal="no_progress", signals={"no_progress": 40, "value_low": 60}),
    ended("e2"),  # failed, nobody asked
    ended("e3", success=True, steps=50, help_step=30, help_signal="value_falling", signals={"value_falling": 30}),
    ended("e4", help_step=100, help_signal="value_low", signals={"value_low": 100, "no_progress": 120},
          task="reach-v3"),
    ended("e5", success=True, steps=80),
]


def test_end_events_become_records_and_what_says_nothing_about_the_policy_is_left_out():
    extra = [ended("s1", reason="shutdown"), ended("h1", human_steps=5), ended("e1"),  # e1: a resent end
             EpisodeEvent(robot_id="r", episode_id="x", task="push-v3", event="started")]
    obs = observed(EPISODES + extra)
    recs = obs.records
    assert [r.episode_id for r in recs] == ["e1", "e2", "e3", "e4", "e5"]
    assert dict(obs.ignored) == {"shutdown": 1, "human": 1}
    assert [r.failed for r in recs] == [True, True, False, True, False]
    e1 = recs[0]
    assert (e1.asked_at("robot"), e1.asked_at("value"), e1.asked_at("no_progress")) == (40, 60, 40)
    assert (recs[1].asked_at("robot"), recs[1].asked_at("value"), recs[1].asked_at("no_progress")) == (None,) * 3
    assert obs.per_robot() == {"r": 5}


def test_precision_recall_f1_and_lead_time_per_detector():
    recs = observed(EPISODES).records
    v, n, r = score(recs, "value"), score(recs, "no_progress"), score(recs, "robot")
    assert (v.tp, v.fp, v.fn, v.leads) == (2, 1, 1, (90, 50))
    assert (n.tp, n.fp, n.fn, n.leads) == (2, 0, 1, (110, 30))
    assert (r.tp, r.fp, r.fn, r.leads) == (2, 1, 1, (110, 50))
    assert v.precision == pytest.approx(2 / 3) and v.recall == pytest.approx(2 / 3) and v.f1 == pytest.approx(2 / 3)
    assert n.precision == 1.0 and n.recall == pytest.approx(2 / 3) and n.f1 == pytest.approx(0.8)
    assert (v.lead_median, n.lead_median, r.lead_median) == (70, 70, 80)
    s = summary(recs)
    assert s["episodes"] == 5 and s["failed"] == 3
    assert s["f1_ratio"]["robot"] == pytest.approx((2 / 3) / 0.8)
    text = report(recs, "test")
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "ratio F1 robot / no_progress: 0.83" in text
    assert any(line.startswith("reach-v3") and line.split()[1:3] == ["1", "1"] for line in text.splitlines())


def test_no_request_and_no_failure_leave_the_rates_undefined_not_zero():
    s = score(observed([ended("ok", success=True, steps=20)]).records, "robot")
    assert (s.precision, s.recall, s.f1, s.lead_median) == (None, None, None, None)
    assert "baseline F1 is 0 or undefined" in report([], "empty")


def test_an_end_event_from_an_older_robot_still_decodes():
    raw = msgspec.msgpack.encode({"proto": list(PROTO), "kind": "episode_event", "robot_id": "r", "episode_id": "e", "task": "push-v3",
                                  "event": "ended", "reason": "timeout", "steps": 10})
    msg, _ = decode([raw])
    assert isinstance(msg, EpisodeEvent) and msg.help_step == -1 and msg.help_signals == {}


def test_a_stuck_robots_no_progress_step_reaches_the_observer(hub, make_robot, client_keys):
    # "hold" never moves the hand: the no-progress detector fires in every episode, and the
    # episode (push-v3, held still) always ends as a failure at the step limit.
    make_robot("stuck", task="push-v3", policy="hold", control_hz=20.0, max_episode_steps=40, stall_s=0.5)
    with HubClient(Endpoints(port=hub.cfg.port), client_keys, "watcher", role="observer") as c:
        obs = HelpObserver().attach(c)
        c.subscribe(hz=5)
        wait_until(lambda: obs.records, timeout=60, what="an ended episode at the observer")
    rec = obs.records[0]
    assert rec.robot_id == "stuck" and rec.failed and rec.steps == 40
    assert rec.help_signal == "no_progress" and 0 < rec.help_step < 40
    assert rec.signal_steps == {"no_progress": rec.help_step}  # no critic: no value signal
    s = score(obs.records, "no_progress")
    assert s.tp == len(obs.records) and s.fp == 0 and s.fn == 0
    assert score(obs.records, "value").fn == len(obs.records)


def test_a_value_signal_step_reaches_the_observer_and_matches_the_robots_request(tmp_path, hub, make_robot,
                                                                                   client_keys):
    from lwd_operator.robot.help_signal import HelpConfig
    from lwd_operator.robot.hot_swap import preload_learning
    from tests.operator.policy_helpers import tiny_snapshot

    preload_learning()  # what `lwd robot` does before its loop; here, before threads start
    # A hair-trigger value threshold and no stall detector: the value signal is the robot's only
    # signal, so its own first firing (help_signals) is the request it made (help_step).
    node = make_robot("r", task="reach-v3", policy="hold", control_hz=50.0, max_episode_steps=80,
                      stall_s=1000.0, help=HelpConfig(drop=1e-6, warmup_chunks=2))
    with HubClient(Endpoints(port=hub.cfg.port), client_keys, "alice") as c:
        obs = HelpObserver().attach(c)
        c.subscribe(hz=5)
        v = c.publish_policy(tiny_snapshot(tmp_path / "s"))
        assert c.deploy(v).ok
        wait_until(lambda: node.policy.version == v, what="robot on the learned version")
        rec = wait_until(lambda: next((r for r in obs.records if r.help_signal), None), timeout=60,
                         what="an ended episode in which the value signal asked")
    assert rec.help_signal in ("value_low", "value_falling") and 0 < rec.help_step < rec.steps
    assert rec.signal_steps == {rec.help_signal: rec.help_step}
    assert rec.asked_at("value") == rec.asked_at("robot") == rec.help_step and rec.asked_at("no_progress") is None
