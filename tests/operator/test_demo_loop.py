"""``lwd demo``'s closed loop, in process with real robot and learner processes: the starting
policy is made on first run (outside the recordings folder), the learner learns from the bot's
labels through the hub, proposes a candidate, the auto-deployer makes it active, and robots
swap to it (their status reports the new version)."""

import dataclasses
import os

from lwd_operator.config import BotConfig, Config, HubConfig, LearnerConfig, RobotConfig
from lwd_operator.demo import DemoOptions, DemoStack
from tests.util import wait_until


def test_demo_stack_closes_the_loop(tmp_path, port, monkeypatch):
    monkeypatch.chdir(tmp_path)  # robots and the learner inherit the working folder
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    toml = tmp_path / "lwd.toml"
    toml.write_text('[robot]\ncamera = "none"\nmax_episode_steps = 60\ncontrol_hz = 40.0\n\n[bot]\npatience_s = 1.0\n\n'
                    '[learner]\nbatch_size = 32\npublish_every_updates = 10\ncheckpoint_every_updates = 10\n'
                    'fetch_every_s = 0.5\n')
    cfg = Config(hub=HubConfig(port=port, keys_dir=str(tmp_path / "keys"), recordings=str(tmp_path / "recordings")),
                 robot=RobotConfig(camera="none"), bot=BotConfig(patience_s=1.0),
                 learner=LearnerConfig(batch_size=32, publish_every_updates=10))
    opts = DemoOptions(robots=2, tasks="reach-v3", camera_fps=0.0, start_bc_steps=20, start_hidden=32,
                       config_path=str(toml))
    with DemoStack(cfg, opts) as stack:
        snaps = list((tmp_path / "runs/demo/starting-policy").glob("start-*/snapshot/model.safetensors"))
        assert len(snaps) == 1
        wait_until(lambda: stack.learner_status().get("episodes", 0) >= 1, timeout=300, interval=1,
                   what="the learner receives labelled episodes through the hub")
        wait_until(lambda: stack.deployer.deployed, timeout=300, interval=1, what="a candidate deployed")
        version = stack.deployer.deployed[0]

        def swapped():
            robots = stack.hub.fleet.robots.values()
            return any(e.status is not None and e.status.policy_version >= version for e in robots)

        wait_until(swapped, timeout=300, interval=1, what=f"a robot running v{version}")
        assert "learner:" in stack.loop_summary()
    assert stack.learner_proc.poll() is not None  # stopped with the stack
    assert not (tmp_path / "recordings" / "quarantine").exists()
    assert dataclasses.asdict(opts)["learner"] is True
