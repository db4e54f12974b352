"""``lwd policy`` against a live hub and robot: publish, deploy, list, show, pin, unpin, roll back."""

import os
import subprocess
import sys

from tests.operator.policy_helpers import tiny_snapshot
from tests.util import wait_until


def policy(hub, keys_dir, *args):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.run([sys.executable, "-m", "lwd_operator.cli", "policy", "--port", str(hub.cfg.port),
                           "--keys-dir", str(keys_dir), "--identity", "carol", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_policy_cli_round_trip(tmp_path, hub, keys_dir, make_robot, make_keys):
    make_keys("carol", role="admin")  # the name in the audit trail is the key's
    node = make_robot("r1", task="reach-v3", policy="hold", control_hz=50.0)
    out = policy(hub, keys_dir, "publish", str(tiny_snapshot(tmp_path / "s1")), "--note", "from the cli")
    assert out.returncode == 0 and "published v1" in out.stdout, out.stderr
    assert policy(hub, keys_dir, "publish", str(tiny_snapshot(tmp_path / "s2", seed=1))).returncode == 0
    out = policy(hub, keys_dir, "deploy", "1", "--why", "first rollout")
    assert out.returncode == 0 and "v1 is active" in out.stdout, out.stderr
    wait_until(lambda: node.policy.version == 1, what="robot on v1")
    out = policy(hub, keys_dir, "pin", "r1", "2", "--why", "try on one robot")
    assert out.returncode == 0, out.stderr
    wait_until(lambda: node.policy.version == 2, what="pinned robot on v2")
    assert policy(hub, keys_dir, "unpin", "r1").returncode == 0
    wait_until(lambda: node.policy.version == 1, what="unpinned robot back on the active v1")
    listed = policy(hub, keys_dir, "list")
    lines = listed.stdout.splitlines()
    assert listed.returncode == 0 and max(map(len, lines)) <= 80
    assert any(line.split()[:2] == ["1", "active"] and "on r1" in line for line in lines)
    assert any(line.split()[:2] == ["2", "candidate"] for line in lines)
    shown = policy(hub, keys_dir, "show", "1")
    assert shown.returncode == 0 and "from the cli" in shown.stdout
    assert "carol" in shown.stdout and "first rollout" in shown.stdout
    bad = policy(hub, keys_dir, "rollback")
    assert bad.returncode == 1 and "nothing to return to" in bad.stderr
    bad = policy(hub, keys_dir, "deploy", "9")
    assert bad.returncode == 1 and "no policy version 9" in bad.stderr
