"""``lwd learn`` as a real process against a live hub and a live robot: labelled episodes reach it
through the hub (its run folder shares nothing with the recordings), it proposes candidates, and
killed with SIGKILL it leaves the robot running and resumes from its checkpoint and cursor
without the hub serving any episode twice."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from lwd_core.data.chunk_dataset import ChunkDataset
from lwd_core.data.episode import SOURCE_HUMAN, SOURCE_POLICY, Episode
from lwd_core.learning import snapshot
from lwd_operator.client import HubClient
from lwd_operator.hub.hub import Hub
from lwd_operator.learner.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from lwd_operator.learner.episode_log import EpisodeLog
from lwd_operator.learner.online_data import online_share, select_for_training
from lwd_operator.recorder import open_recorder
from lwd_operator.sim.operator_bot import OperatorBot
from lwd_operator.sockets import Endpoints
from lwd_operator.training import TrainConfig, build_agent
from tests.util import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = {"hidden": 32, "z_dim": 32, "flow_steps": 2}


def tiny_snapshot(path, task="reach-v3", agent="divl_qam"):
    """A small DIVL + QAM policy for ``task`` (random data; quick to update on one core)."""
    rng = np.random.default_rng(0)
    ds = ChunkDataset([task], 39, 4, horizon=4)
    ds.add_episodes([Episode(f"e{i}", task, rng.normal(size=(20, 39)).astype(np.float32),
                             rng.uniform(-1, 1, (20, 4)).astype(np.float32), np.zeros(20, np.uint8),
                             np.zeros(20, np.int32), outcome="success") for i in range(3)], online=False)
    a = build_agent(agent, ds, TrainConfig(agent=agent, horizon=4), TINY)
    a.pretrain_step(ds.sample(8))
    a.end_pretraining()
    snapshot.save(a, path, version=1)
    return path


def status(out):
    try:
        return json.loads((out / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def start_learner(out, snap, port, keys_dir, *extra):
    cmd = [sys.executable, "-m", "lwd_operator.cli", "learn", "--init", str(snap), "--out", str(out),
           "--port", str(port), "--keys-dir", str(keys_dir), "--batch-size", "16", "--fetch-every-s", "0.3",
           "--publish-every-updates", "5", "--publish-every-s", "0", "--checkpoint-every-updates", "5",
           "--max-updates-per-s", "20", "--threads", "1", *extra]
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def live_fleet(hub_cfg, tmp_path, make_robot, client_keys):
    """A recording hub, one robot finishing 30-step episodes, a bot labelling every episode."""
    hub = Hub(hub_cfg, recorder=open_recorder(tmp_path / "recordings")).start()
    node = make_robot("r1", task="reach-v3", policy="noise", max_episode_steps=30, control_hz=100.0)
    client = HubClient(Endpoints(port=hub_cfg.port), client_keys, "labeller", role="bot").start()
    bot = OperatorBot(client, takeover=False).start()
    yield hub, node
    bot.stop()
    client.close()
    node.stop()
    hub.stop()


def candidates(port, keys):
    """The learner's proposals in the hub's policy store."""
    with HubClient(Endpoints(port=port), keys, "viewer", role="observer") as c:
        return [v for v in c.policy_versions() if v.author == "learner"]


def test_learner_learns_through_the_hub_and_survives_sigkill(live_fleet, hub_cfg, keys_dir, client_keys, tmp_path):
    hub, node = live_fleet
    snap = tiny_snapshot(tmp_path / "init")
    out = tmp_path / "learner"  # nothing under the recordings folder
    proc = start_learner(out, snap, hub_cfg.port, keys_dir, "--nice", "7", "--replay-steps", "40")
    try:
        wait_until(lambda: status(out).get("published", 0) >= 2 and status(out).get("episodes", 0) >= 3,
                   timeout=90, interval=0.2, what="learner received episodes and proposed candidates")
        # A bounded replay: whole old episodes leave it, every received one stays in the log.
        st = status(out)
        assert st["steps_received"] > 40 and 0 < st["replay_online_steps"] <= 40
        # A learner beside robots yields the CPU to them (learner.nice; lwd demo uses 10).
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 7
        wait_until(lambda: latest_checkpoint(out / "checkpoints") is not None, what="a checkpoint")
        steps_before = node.step + 30 * node.episode_index
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    served_before = list(hub.episode_feed.served)
    assert len(served_before) == len(set(served_before))
    # The robot keeps working with no learner.
    wait_until(lambda: node.step + 30 * node.episode_index > steps_before + 20, what="robot still running")
    assert not hub.fleet.robots["r1"].stale
    held = EpisodeLog(out / "received")
    held.load()
    assert held.count >= 3 and held.ids <= set(served_before)
    _, ckpt = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    proposed = candidates(hub_cfg.port, client_keys)
    assert len(proposed) >= 2 and all(v.status == "candidate" and v.learner_step > 0 for v in proposed)
    assert [v.parent for v in proposed[1:]] == [v.version for v in proposed[:-1]]  # lineage

    proc = start_learner(out, snap, hub_cfg.port, keys_dir)
    try:
        first = proc.stdout.readline()
        assert f"learning online: {held.count} episodes held, cursor {held.cursor}, update {ckpt['updates']}" in first
        wait_until(lambda: status(out).get("episodes", 0) >= held.count + 2 and status(out).get("published", 0)
                   > ckpt["published"], timeout=90, interval=0.2, what="restarted learner receives new episodes")
    finally:
        proc.terminate()
        proc.wait(30)
    served = hub.episode_feed.served
    assert len(served) == len(set(served)), "an episode was served twice"
    assert served[:len(served_before)] == served_before
    final = EpisodeLog(out / "received")
    final.load()
    assert final.count == len(final.ids) and final.ids <= set(served) and final.count > held.count
    after = candidates(hub_cfg.port, client_keys)
    assert len(after) > len(proposed)  # lineage continues from the checkpointed version
    assert any(v.parent == ckpt["version"] for v in after[len(proposed):])


def test_checkpoint_restores_weights_optimisers_and_ema(tmp_path):
    agent = snapshot.load(tiny_snapshot(tmp_path / "s"))
    agent.train()
    rng = np.random.default_rng(1)
    ds = ChunkDataset(["reach-v3"], 39, 4, horizon=4)
    ds.add_episodes([Episode("x", "reach-v3", rng.normal(size=(30, 39)).astype(np.float32),
                             rng.uniform(-1, 1, (30, 4)).astype(np.float32), np.zeros(30, np.uint8),
                             np.zeros(30, np.int32), outcome="success")], online=True)
    agent.set_online(True)
    for _ in range(3):
        agent.update(ds.sample(8))
    save_checkpoint(tmp_path / "ck", agent, {"updates": 3, "version": 2})
    restored, counters = load_checkpoint(latest_checkpoint(tmp_path / "ck"))
    assert counters["updates"] == 3 and restored.online
    for k, v in agent.state_dict().items():
        assert np.array_equal(v.numpy(), restored.state_dict()[k].numpy()), k  # EMA targets included
    batch = ds.sample(8)
    g1, g2 = agent.gen.get_state(), restored.gen.get_state()
    assert np.array_equal(g1.numpy(), g2.numpy())
    agent.update(batch)
    restored.update(batch)  # same optimiser moments and RNG: the same next step
    for k, v in agent.state_dict().items():
        np.testing.assert_allclose(v.numpy(), restored.state_dict()[k].numpy(), atol=1e-6, err_msg=k)


def test_mixing_schedule_and_hg_dagger_selection():
    assert online_share(0.5, 1000, 0) == 0.0
    assert online_share(0.5, 1000, 500) == pytest.approx(0.25)
    assert online_share(0.5, 1000, 5000) == 0.5 and online_share(0.5, 0, 1) == 0.5
    n = 10
    src = np.array([SOURCE_POLICY] * 3 + [SOURCE_HUMAN] * 2 + [SOURCE_POLICY] * 2 + [SOURCE_HUMAN] * 3, np.uint8)
    states = np.arange(n * 39, dtype=np.float32).reshape(n, 39)
    fail = Episode("f", "t", states, np.zeros((n, 4), np.float32), src, np.zeros(n, np.int32), outcome="failure",
                   final_state=np.full(39, -1, np.float32))
    ok = Episode("s", "t", states, np.zeros((n, 4), np.float32), src, np.zeros(n, np.int32), outcome="success")
    assert select_for_training([fail, ok], "all") == [fail, ok]
    picked = select_for_training([fail, ok], "successes_and_interventions")
    assert [len(e) for e in picked] == [2, 3, 10] and picked[2] is ok
    assert all((e.sources == SOURCE_HUMAN).all() for e in picked[:2])
    np.testing.assert_array_equal(picked[0].final_state, states[5])  # the state after the human run
    np.testing.assert_array_equal(picked[1].final_state, fail.final_state)
    with pytest.raises(ValueError, match="learn_from"):
        select_for_training([ok], "everything")


def test_offline_start_pretrains_once_then_resumes(tmp_path):
    from lwd_core.data.demo_folder import DemoFolderWriter
    from lwd_operator.config import LearnerConfig
    from lwd_operator.learner.service import Learner

    rng = np.random.default_rng(2)
    w = DemoFolderWriter(tmp_path / "demo", 39, 4)
    for i in range(3):
        w.write(Episode(f"d{i}", "reach-v3", rng.normal(size=(20, 39)).astype(np.float32),
                        rng.uniform(-1, 1, (20, 4)).astype(np.float32), np.full(20, 2, np.uint8),
                        np.zeros(20, np.int32), outcome="success"))
    cfg = LearnerConfig(batch_size=8, pretrain_steps=3, checkpoint_every_updates=2, publish_every_updates=2,
                        publish_every_s=0)
    pub = tmp_path / "pub"
    from lwd_operator.learner.publisher import FolderPublisher

    first = Learner(cfg, tmp_path / "run", offline=str(tmp_path / "demo"), publisher=FolderPublisher(pub))
    first.prepare()
    assert first.counters == {"updates": 3, "online_updates": 0, "version": 0, "published": 0, "pretrained": 1}
    assert first.agent.reference is not None and first.agent.online  # pre-trained, then tau_online
    assert first.run(max_updates=2)["updates"] == 5
    assert [v["version"] for v in FolderPublisher(pub).versions()] == [1]
    again = Learner(cfg, tmp_path / "run", offline=str(tmp_path / "demo"), publisher=FolderPublisher(pub))
    again.prepare()  # from the checkpoint: no second pre-training
    assert again.counters["updates"] == 5 and again.counters["published"] == 1
    assert again.ds.n_episodes == 3  # the offline episodes, mixed in again (read from local files)
