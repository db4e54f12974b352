"""The pieces of rollout and help requests on their own: the canary's statistical test, the
policy store's checks and audit, the attention queue's order, the value-based help monitor and
the value quantile a snapshot policy reads from DIVL's distribution."""

import hashlib
import json

import numpy as np
import pytest
import torch

from lwd_core.learning import snapshot
from lwd_core.learning.policy import FlowPolicy
from lwd_core.protocol.attention import URGENCY
from lwd_core.protocol.messages import PolicyCommand, RobotHello, RobotStatus
from lwd_operator.config import RolloutConfig
from lwd_operator.hub.attention import AttentionQueue
from lwd_operator.hub.canary_stats import compare, newcombe_diff, wilson
from lwd_operator.hub.policy_store import SNAPSHOT_FORMAT, PolicyStore, PolicyStoreError
from lwd_operator.hub.registry import FleetRegistry
from lwd_operator.hub.rollout import Rollout, RolloutError
from lwd_operator.robot.help_signal import HelpConfig, HelpMonitor
from tests.operator.policy_helpers import tiny_snapshot


def test_wilson_and_newcombe_match_published_values():
    # Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> 0.2000 [0.0524, 0.3338].
    d, lo, hi = newcombe_diff(56, 70, 48, 80)
    assert abs(d - 0.2) < 1e-9 and abs(lo - 0.0524) < 2e-4 and abs(hi - 0.3339) < 2e-4
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and abs(hi - 0.2775) < 1e-3  # the Wilson interval of 0/10


def _rows(task, outcomes, steps=10, human=0):
    return [(task, o, steps, human) for o in outcomes]


def test_canary_verdicts():
    kw = dict(min_episodes=20, success_margin=0.1, intervention_margin=0.05)
    same = compare(_rows("t", ["success"] * 90 + ["failure"] * 10), _rows("t", ["success"] * 90 + ["failure"] * 10), **kw)
    assert same.verdict == "not_worse"
    worse = compare(_rows("t", ["success"] * 50 + ["failure"] * 50), _rows("t", ["success"] * 90 + ["failure"] * 10), **kw)
    assert worse.verdict == "worse" and worse.success[2] < 0
    few = compare(_rows("t", ["success"] * 5), _rows("t", ["success"] * 50), **kw)
    assert few.verdict == "insufficient"
    unsure = compare(_rows("t", ["success"] * 17 + ["failure"] * 3), _rows("t", ["success"] * 18 + ["failure"] * 2), **kw)
    assert unsure.verdict == "undecided"
    more_help = compare(_rows("t", ["success"] * 100, human=5), _rows("t", ["success"] * 100, human=0), **kw)
    assert more_help.verdict == "worse" and more_help.intervention[1] > 0


def _snapshot_bytes(tmp_path, **kw):
    d = tiny_snapshot(tmp_path / "s", **kw)
    return (d / "meta.json").read_bytes(), (d / "model.safetensors").read_bytes()


def test_policy_store_verifies_and_audits(tmp_path):
    assert SNAPSHOT_FORMAT == snapshot.FORMAT
    store = PolicyStore(tmp_path / "p")
    meta, weights = _snapshot_bytes(tmp_path)
    digest = hashlib.sha256(weights).hexdigest()
    with pytest.raises(PolicyStoreError, match="digest"):
        store.add(meta, weights[:-1] + b"x", sha256=digest, author="me", parent=0, learner_step=0)
    with pytest.raises(PolicyStoreError, match="not a policy snapshot"):
        store.add(b"{}", weights, sha256=digest, author="me", parent=0, learner_step=0)
    v = store.add(meta, weights, sha256=digest, author="learner", parent=0, learner_step=7, note="n")
    assert v == 1 and json.loads((store.folder(v) / "meta.json").read_text())["version"] == 1
    sha, total, meta_n = store.payload_info(v)
    assert sha == digest and store.read_payload(v, 0, total)[meta_n:] == weights
    assert FlowPolicy.from_snapshot(store.folder(v)).version == 1  # runnable as it is stored
    rollout = Rollout(store, RolloutConfig(), offer=lambda r, o: True, alert=lambda a: None)
    with pytest.raises(RolloutError, match="no active version"):
        rollout.command("bob", PolicyCommand(action="canary", version=v), ["r1"])
    assert "active" in rollout.command("bob", PolicyCommand(action="deploy", version=v, why="go"), ["r1"])
    with pytest.raises(PolicyStoreError, match="no policy version 9"):
        rollout.command("bob", PolicyCommand(action="promote", version=9), [])
    with pytest.raises(RolloutError, match="nothing to return to"):
        rollout.command("bob", PolicyCommand(action="rollback"), [])
    v2 = store.add(meta, weights, sha256=digest, author="learner", parent=v, learner_step=8)
    rollout.command("bob", PolicyCommand(action="deploy", version=v2), [])
    assert "v1 is active again" in rollout.command("carol", PolicyCommand(action="rollback", why="bad"), [])
    assert [(e.who, e.action, e.version) for e in store.audit_rows()][:2] == [("carol", "rollback", v2), ("bob", "deploy", v2)]
    assert store.active() == v and store.row(v2)["status"] == "rolled_back"


def _fleet():
    fleet = FleetRegistry(1.0)
    for rid in ("a", "b", "c", "d"):
        e = fleet.hello(rid.encode(), RobotHello(robot_id=rid, driver="sim", task="t", tasks=["t"], obs_dim=1,
                                                 action_dim=1, action_space="", cameras=[], policy="hold",
                                                 policy_version=0, control_hz=20), now=0.0)
        e.status = RobotStatus(robot_id=rid, mode="policy", task="t", episode_id=f"{rid}-1", step=1, policy="hold",
                               policy_version=0, control_hz=20, jitter_p99_ms=0, camera_fps=0)
    return fleet


def test_attention_queue_orders_by_urgency():
    fleet, q = _fleet(), AttentionQueue()
    fleet.robots["a"].status.help_requested, fleet.robots["a"].status.help_reason = True, "no progress for 4 s"
    q.note_help("b", "b-1", "value_low", 0.12, "value low")
    fleet.robots["c"].status.mode = "stopped"
    fleet.robots["d"].stale = True
    items = q.build(fleet, {"a": {3: "digest"}}, now=10.0)
    assert [(i.robot_id, i.kind) for i in items] == [("b", "help"), ("c", "deadman"), ("d", "offline"),
                                                     ("a", "stall"), ("a", "policy_load")]
    assert items[0].value == pytest.approx(0.12) and items[0].urgency == URGENCY["help_value"]
    fleet.robots["b"].status.episode_id = "b-2"  # a new episode clears the robot's own request
    assert "b" not in {i.robot_id for i in q.build(fleet, {}, now=11.0)}


def test_help_monitor_low_and_falling_values():
    m = HelpMonitor(HelpConfig(drop=0.3, falling_chunks=4, warmup_chunks=5))
    for _ in range(10):
        assert m.observe(1, "t", 0.8) is None
    sig, reason = m.observe(1, "t", 0.4)
    assert sig == "value_low" and "0.40" in reason
    assert m.observe(2, "t", 0.1) is None  # a new version has no level yet
    m.new_episode()
    outs = [m.observe(3, "u", v) for v in (0.9, 0.85, 0.8, 0.75, 0.7)]
    assert outs[:-1] == [None] * 4 and outs[-1][0] == "value_falling"


def test_help_levels_per_episode_phase_do_not_flag_every_episode_start():
    """Values rise toward the goal in every episode (0.2 at the start, 0.9 near the end). One
    level for the whole episode sits near their average and flags the start of every healthy
    episode; levels per phase compare starts with starts and stay quiet, yet a start that is
    low for a start is still flagged."""
    healthy = [0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9]

    def first_flags(cfg, episodes=8):
        m, flags = HelpMonitor(cfg), []
        for _ in range(episodes):
            m.new_episode()
            outs = [m.observe(1, "t", v, chunk=i) for i, v in enumerate(healthy)]
            flags.append(next((i for i, o in enumerate(outs) if o), None))
        return m, flags

    _, one_level = first_flags(HelpConfig(drop=0.3, warmup_chunks=8, phase_chunks=0))
    assert one_level[-1] == 0  # once warmed up, every healthy episode is flagged at its first chunk
    m, phased = first_flags(HelpConfig(drop=0.3, warmup_chunks=8, phase_chunks=4))
    assert phased == [None] * 8
    m.new_episode()
    assert m.level(1, "t", 0.0, chunk=0) == (pytest.approx(0.2), True)
    sig, _ = m.observe(1, "t", 0.6, chunk=8)  # late in the episode, far below the late level
    assert sig == "value_low"


def test_value_quantile_reads_the_value_distribution(tmp_path):
    d = tiny_snapshot(tmp_path / "s", obs_dim=3, action_dim=2, tasks=("t",))
    pol = FlowPolicy.from_snapshot(d)
    last = pol.agent.v[-1]
    with torch.no_grad():  # all mass on the atom nearest 0.5: every quantile reads ~0.5
        last.weight.zero_()
        last.bias.fill_(-50.0)
        atom = int(torch.argmin((pol.agent.atom_values - 0.5).abs()))
        last.bias[atom] = 50.0
    q = pol.value_quantile(np.zeros(3, np.float32), "t", 0.25)
    assert abs(q - float(pol.agent.atom_values[atom])) <= float(pol.agent.atom_values[1] - pol.agent.atom_values[0])
