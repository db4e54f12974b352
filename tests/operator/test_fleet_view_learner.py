"""The learner's presentation model: one line and a top-bar word per state, losses first, loss
curves against updates, never colour alone."""

import msgspec

from lwd_core.protocol.messages import LearnerStatus, LearnerView, LossSeries
from lwd_operator.fleet_view import learner_state
from lwd_operator.fleet_view.learner import LossCurve, fmt_ago
from lwd_operator.fleet_view.samples import sample_learners


def test_online_learner_line_detail_losses_and_curves():
    s = learner_state(sample_learners(60))
    assert s.state == "online" and s.alive and s.learner == "learner"
    assert s.line == "learner ● online 41 200 updates · 3.1 upd/s · v13 proposed 2 min ago"
    assert s.short == "learner ● 41 200 updates"
    assert "412 episodes" in s.detail and "online share 50%" in s.detail and "tau 0.90" in s.detail
    assert "checkpoint 40 s ago" in s.detail
    # Losses first (by name), then the other terms of the step.
    assert s.losses_line.split(" · ")[0].startswith("adjoint_loss ")
    assert s.losses_line.split(" · ")[-1] == "tau 0.87"
    assert [c.name for c in s.curves] == ["adjoint_loss", "bc_loss", "q_loss"]
    q = s.curves[2]
    assert len(q.updates) == 60 and q.updates[-1] == 41_200 and q.last == s.losses["q_loss"]
    spark = q.spark(20)
    assert len(spark) == 20 and spark[0] == "█"  # decaying: the highest value first


def test_stale_waiting_nonfinite_none_and_error():
    (v,) = sample_learners(5)
    stale = learner_state([msgspec.structs.replace(v, stale=True, seen_s_ago=42.0)])
    assert stale.state == "stale" and not stale.alive
    assert stale.line.startswith("learner ○ STALE (silent 42 s) 41 200 updates") and "upd/s" not in stale.line
    assert stale.short == "learner ○ STALE"
    st = LearnerStatus(learner="l2", agent="bc", phase="waiting", losses={"bc_loss": 0.5}, nonfinite=["q_loss"])
    w = learner_state([LearnerView(status=st, seen_s_ago=0.5, stale=False), v])
    assert w.state == "waiting" and "waiting for data 0 updates" in w.line and "no candidate yet" in w.line
    assert "NON-FINITE q_loss" in w.line and w.losses_line == "bc_loss 0.5 · q_loss NaN/inf"
    assert "tau" not in w.detail and w.others == ("learner",)
    assert learner_state([]).state == "none" and learner_state([]).short == "learner –"
    e = learner_state(None, error="hub did not answer")
    assert e.state == "error" and "hub did not answer" in e.line


def test_loss_curve_spans_decades_on_a_log_scale_and_ages_read_in_words():
    c = LossCurve("q_loss", (1, 2, 3), (1000.0, 10.0, 0.1))
    assert c.spark(3) == "█▅▁"  # linear would read "█▁▁"
    assert LossCurve("x", (), ()).spark(5) == "" and LossCurve("x", (), ()).last is None
    assert [fmt_ago(x) for x in (-1, 5, 125, 7200)] == ["never", "5 s ago", "2 min ago", "2.0 h ago"]
    assert learner_state([LearnerView(status=LearnerStatus(), seen_s_ago=0, stale=False,
                                      history=[LossSeries(name="q", updates=[1], values=[2.0])])]).curves[0].values == (2.0,)
