"""The learner's state through the hub: a real ``lwd learn`` reports finite losses and a growing
update count that an observer reads; the hub refuses status from non-learner keys and out of
bounds values (non-finite, oversized) with a logged reason naming the sender, and keeps going;
the board keeps a bounded loss history, thins it evenly and marks silent learners stale."""

import logging
import math

import pytest

from lwd_core.protocol import decode, encode
from lwd_core.protocol.codec import MAX_HEADER_BYTES
from lwd_core.protocol.messages import MAX_LOSS_HISTORY, LearnerStatus
from lwd_operator.client import HubClient
from lwd_operator.hub.learner_status import LearnerBoard, problem
from lwd_operator.learner.status_report import StatusReporter, split_losses
from lwd_operator.sockets import Endpoints
from tests.operator.test_learner import live_fleet, start_learner, tiny_snapshot  # noqa: F401
from tests.util import wait_until


def status(updates=10, **kw):
    base = dict(agent="divl_qam", phase="online", online_updates=updates, updates_per_s=2.5, episodes=3, steps=90,
                cursor=7, online_share=0.5, tau=0.9, losses={"q_loss": 0.5, "adjoint_loss": 1.25})
    return LearnerStatus(updates=updates, **{**base, **kw})


# --- the board (no sockets) --------------------------------------------------------------------


def test_board_keeps_newest_status_a_bounded_history_and_marks_silence_stale():
    board = LearnerBoard(stale_s=10.0)
    for u in range(1, MAX_LOSS_HISTORY + 101):
        assert board.note("learner", status(u, losses={"q_loss": 1.0 / u}, candidate_age_s=1.0), now=float(u) * 0.01) is None
    assert board.note("learner", status(MAX_LOSS_HISTORY + 100, losses={"q_loss": 9.0}), now=6.0) is None  # same count
    (v,) = board.answer(now=7.0, history=1000).learners
    assert v.status.learner == "learner" and v.status.updates == MAX_LOSS_HISTORY + 100
    assert not v.stale and v.seen_s_ago == pytest.approx(1.0)
    (q,) = v.history
    assert q.name == "q_loss" and len(q.updates) == MAX_LOSS_HISTORY  # the ring buffer's size
    assert q.updates[0] == 101 and q.updates[-1] == MAX_LOSS_HISTORY + 100  # the newest kept
    assert q.updates == sorted(q.updates) and q.values[-1] == pytest.approx(1.0 / (MAX_LOSS_HISTORY + 100))
    (v,) = board.answer(now=7.0, history=50).learners
    assert len(v.history[0].updates) == 50 and v.history[0].updates[-1] == MAX_LOSS_HISTORY + 100
    assert v.history[0].updates[0] < 120  # spread over the whole buffer, not the newest 50
    (v,) = board.answer(now=16.5, history=0).learners
    assert v.stale and v.history == []
    # A restarted run (its count went back) starts a new history; ages grow with silence.
    board.note("learner", status(3, candidate_age_s=4.0, checkpoint_age_s=-1.0), now=20.0)
    (v,) = board.answer(now=22.0, history=10).learners
    assert v.history[0].updates == [3]
    assert v.status.candidate_age_s == pytest.approx(6.0) and v.status.checkpoint_age_s == -1.0


def test_a_full_board_answers_under_the_header_limit():
    board = LearnerBoard(stale_s=10.0)
    names = [f"{k:02d}_" + "x" * 37 for k in range(16)]  # 16 terms of 40 characters
    for n in range(20):  # 4 more than the board keeps: the silent longest are forgotten
        for u in range(MAX_LOSS_HISTORY):
            board.note(f"learner-{n:02d}-" + "y" * 40, status(u + 1, losses={k: 1.0 / (u + 1) for k in names},
                                                           agent="z" * 40), now=float(n))
    ans = board.answer(now=30.0, history=MAX_LOSS_HISTORY)
    assert len(ans.learners) == 16 and ans.learners[0].status.learner.startswith("learner-19")
    header = encode(ans)[0]
    assert len(header) < MAX_HEADER_BYTES
    back, _ = decode([header])
    assert all(len(v.history) == 16 and len(v.history[0].updates) >= 7 for v in back.learners)


def test_board_refuses_out_of_bounds_status_whole():
    board = LearnerBoard(stale_s=10.0)
    assert "loss terms exceed" in problem(status(losses={f"t{i}": 1.0 for i in range(17)}))
    assert "not a finite number" in problem(status(losses={"q_loss": 1e300}))
    assert "not a finite number" in problem(status(losses={"q_loss": math.nan}))
    assert "online_share" in problem(status(online_share=3.0))
    assert "updates" in problem(status(updates=-1))
    assert "name" in problem(status(losses={"": 1.0}))
    assert board.note("x", status(losses={"q": math.inf}), now=1.0) is not None
    assert board.answer(1.0).learners == []  # nothing of a refused status is kept


def test_reporter_sends_finite_losses_and_names_the_rest():
    assert split_losses({"a": 1.5, "b": float("nan"), "c": float("inf"), "note": "x"}) == ({"a": 1.5}, ["b", "c"])
    sent = []
    t = [100.0]

    class Episodes:
        count, steps, cursor = 4, 120, 9

    class FakeLearner:  # the fields of service.Learner the reporter reads
        class cfg:
            agent = "bc"
        counters = {"updates": 0, "online_updates": 0, "version": 0}
        episodes = Episodes()
        last_info = {"bc_loss": 0.25, "bad": float("nan")}

    rep = StatusReporter(sent.append, every_s=2.0, clock=lambda: t[0])
    learner = FakeLearner()
    assert rep.maybe(learner, "online")
    for _ in range(10):  # 10 updates in 1 s: not due yet, but the rate is measured
        t[0] += 0.1
        learner.counters["updates"] += 1
        assert not rep.maybe(learner, "online")
    t[0] += 1.5
    learner.counters["version"] = 3
    rep.candidate_at = t[0] - 0.5
    assert rep.maybe(learner, "online")
    last = sent[-1]
    assert last.losses == {"bc_loss": 0.25} and last.nonfinite == ["bad"]
    assert last.updates_per_s == pytest.approx(10 / 2.5) and last.candidate_version == 3
    assert last.candidate_age_s == pytest.approx(0.5) and last.checkpoint_age_s == -1.0 and last.tau == -1.0
    assert rep.maybe(learner, "online", force=True) and len(sent) == 3


# --- a real hub ----------------------------------------------------------------------------------


def test_hub_refuses_non_learners_and_bad_values_and_keeps_going(hub, hub_cfg, make_keys, caplog):
    ep = Endpoints(port=hub_cfg.port)
    with HubClient(ep, make_keys("learn-1", role="learner"), "learn-1", role="learner") as learner, \
            HubClient(ep, make_keys("op-1", role="operator"), "op-1") as operator, \
            HubClient(ep, make_keys("watcher", role="observer"), "watcher", role="observer") as observer:
        caplog.set_level(logging.INFO, logger="lwd.hub")
        rep = operator.request(status(5))
        assert not rep.ok and "may not send learner_status" in rep.error
        assert "op-1" in caplog.text  # the log names the sender's key
        rep = learner.request(status(5, losses={"q_loss": math.nan}))
        assert not rep.ok and "not finite" in rep.error
        rep = learner.request(status(5, losses={f"t{i}": 1.0 for i in range(40)}))
        assert not rep.ok and "loss terms exceed" in rep.error
        assert "learn-1" in caplog.text
        assert observer.learner_status() == []  # nothing refused was kept
        for u in (5, 6, 7):
            learner.report_learner_status(status(u, learner="someone-else"))
        wait_until(lambda: [v.status.updates for v in observer.learner_status()] == [7], what="the status")
        (v,) = observer.learner_status(history=10)
        assert v.status.learner == "learn-1"  # named by its key, never by the message
        assert [s.name for s in v.history] == ["adjoint_loss", "q_loss"] and v.history[1].updates == [5, 6, 7]
        assert operator.learner_status()[0].status.losses == {"q_loss": 0.5, "adjoint_loss": 1.25}
    assert hub.crashes == {}


def test_lwd_learn_reports_its_state_and_losses_through_the_hub(live_fleet, hub_cfg, keys_dir, tmp_path, make_keys):  # noqa: F811
    snap = tiny_snapshot(tmp_path / "init")
    proc = start_learner(tmp_path / "learner", snap, hub_cfg.port, keys_dir, "--status-every-s", "0.3")
    try:
        with HubClient(Endpoints(port=hub_cfg.port), make_keys("viewer", role="observer"), "viewer",
                       role="observer") as viewer:
            def online():
                views = viewer.learner_status(history=100)
                return views and views[0].status.phase == "online" and views[0].status.losses and views[0]

            first = wait_until(online, timeout=120, interval=0.2, what="the learner's online status")
            later = wait_until(lambda: (v := online()) and v.status.updates > first.status.updates
                               and v.status.candidate_version > 0 and v.status.checkpoint_age_s >= 0 and v,
                               timeout=120, interval=0.2, what="more updates, a candidate and a checkpoint")
    finally:
        proc.terminate()
        proc.wait(30)
    st = later.status
    assert st.learner == "learner" and st.agent == "divl_qam" and not later.stale
    assert {"q_loss", "adjoint_loss"} <= set(st.losses) and all(math.isfinite(x) for x in st.losses.values())
    assert st.episodes >= 1 and st.steps > 0 and st.cursor > 0 and st.tau == pytest.approx(0.9)
    assert st.updates_per_s > 0 and st.candidate_age_s >= 0
    q = next(s for s in later.history if s.name == "q_loss")
    assert len(q.updates) >= 2 and q.updates == sorted(q.updates) and all(math.isfinite(x) for x in q.values)


def test_lwd_status_shows_the_learner_line(hub, hub_cfg, make_keys, keys_dir):
    from tests.operator.test_cli import lwd

    with HubClient(Endpoints(port=hub_cfg.port), make_keys("learn-s", role="learner"), "learn-s",
                   role="learner") as learner:
        learner.report_learner_status(status(1234, candidate_version=4, candidate_age_s=30.0))
        wait_until(lambda: hub.learners.learners, what="the status at the hub")
        out = lwd("status", "--once", "--port", str(hub_cfg.port), "--keys-dir", str(keys_dir),
                  env={"COLUMNS": "120"})
    assert out.returncode == 0, out.stderr
    assert "learner ● online 1 234 updates · 2.5 upd/s · v4 proposed" in out.stdout, out.stdout
