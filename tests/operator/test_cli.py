"""Smoke tests of the real ``lwd`` entry points."""

import os
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

from lwd_operator.cli import COMMANDS
from lwd_operator.config import Config, ConfigError, dump_config, load_config

LWD = [sys.executable, "-m", "lwd_operator.cli"]


def lwd(*args, env=None, timeout=600, cwd=None):
    # The timeout guards against a hang, it is no verdict: on a loaded 2-core machine a bare
    # `lwd robot --help` took 42 s of wall clock (3 s of CPU), and 120 s was not always enough.
    return subprocess.run(LWD + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})), cwd=cwd)


def test_help_lists_every_command_and_each_explains_itself():
    out = lwd("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout
        sub = lwd(name, "--help")
        assert sub.returncode == 0 and "usage: lwd " + name in sub.stdout, sub.stderr


def test_keys_init_add_list(tmp_path):
    d = tmp_path / "keys"
    assert lwd("keys", "init", "--keys-dir", str(d)).returncode == 0
    assert (d / "server.key_secret").exists() and (d / "authorized" / "client.key").exists()
    assert lwd("keys", "add", "bob", "--keys-dir", str(d)).returncode == 0
    assert lwd("keys", "add", "arm-7", "--role", "robot", "--robot", "arm-7", "--robot", "sim-*",
               "--keys-dir", str(d)).returncode == 0
    rows = [ln.split() for ln in lwd("keys", "list", "--keys-dir", str(d)).stdout.splitlines()]
    assert rows == [["arm-7", "robot", "robots", "arm-7,sim-*"], ["bob", "operator"], ["client", "admin"],
                    ["learner", "learner"], ["observer", "observer"], ["operator", "operator"],
                    ["robot", "robot", "robots", "*"]]
    for secret in [d / "client.key_secret", *(d / "clients").glob("*.key_secret")]:
        assert secret.stat().st_mode & 0o777 == 0o600, secret
    bad = lwd("keys", "add", "../evil", "--keys-dir", str(d))
    assert bad.returncode != 0 and "use" in bad.stderr and "letters" in bad.stderr
    bad = lwd("keys", "add", "r9", "--role", "robot", "--keys-dir", str(d))
    assert bad.returncode != 0 and "--robot" in bad.stderr


def test_config_dump_round_trips_and_documents_every_field(tmp_path):
    text = dump_config(Config())
    f = tmp_path / "lwd.toml"
    f.write_text(text)
    assert load_config(f) == Config()
    data = tomllib.loads(text)
    n_fields = sum(len(v) for v in data.values())
    assert text.count("\n# ") >= n_fields  # a comment line per field
    out = lwd("config", "--config", str(f))
    assert out.returncode == 0 and tomllib.loads(out.stdout) == data


def test_config_rejects_unknown_keys_and_wrong_types(tmp_path):
    f = tmp_path / "lwd.toml"
    f.write_text("[hub]\ndeadmen_ms = 5\n")
    with pytest.raises(ConfigError, match="unknown key 'deadmen_ms'"):
        load_config(f)
    f.write_text("[robot]\ncontrol_hz = 'fast'\n")
    with pytest.raises(ConfigError, match="expected float"):
        load_config(f)
    out = lwd("config", "--config", str(f))
    assert out.returncode != 0 and "expected float" in out.stderr


def test_robot_refuses_unknown_driver_and_missing_keys(tmp_path):
    out = lwd("robot", "--driver", "warp:drive/x", "--keys-dir", str(tmp_path / "none"))
    assert out.returncode != 0 and "lwd keys init" in out.stderr
    pathlib.Path(tmp_path / "k").mkdir()
    assert lwd("keys", "init", "--keys-dir", str(tmp_path / "k")).returncode == 0
    out = lwd("robot", "--driver", "warp:drive/x", "--keys-dir", str(tmp_path / "k"))
    assert out.returncode != 0 and "unknown driver 'warp:drive'" in out.stderr


def test_demo_runs_the_whole_loop(tmp_path, port):
    # Until the bot has labelled an episode (a condition, not a time: --duration is only a cap).
    out = lwd("demo", "--until-labelled", "1", "--duration", "480", "-n", "2", "--tasks", "reach-v3", "--port", str(port), "--no-learner",
              env={"HOME": str(tmp_path), "COLUMNS": "200", "PYTHONPATH": str(pathlib.Path(__file__).parents[2])},
              timeout=600, cwd=tmp_path)  # the demo records into ./recordings: keep it out of the repo
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / ".config/lwd/keys/server.key_secret").exists()  # keys made on first run
    for name in ("sim-fleet", "operator-bot", "demo-operator", "learner"):  # an identity per part
        assert (tmp_path / f".config/lwd/keys/authorized/{name}.key").exists(), name
    assert (tmp_path / "recordings" / "index.sqlite").exists()  # and every step recorded
    rows = [line for line in out.stdout.splitlines() if "sim-" in line]
    assert {"sim-0", "sim-1"} <= set(re.findall(r"sim-\d", "\n".join(rows)))
    m = re.findall(r"bot: (\d+) takeovers, (\d+) labelled, (\d+) successes", out.stdout)
    assert m and int(m[-1][1]) >= 1, out.stdout[-3000:]


def test_status_once_shows_the_fleet(hub, make_robot, keys_dir):
    make_robot("r1", task="reach-v3")
    from tests.util import wait_until

    wait_until(lambda: "r1" in hub.fleet.robots, what="robot")
    out = lwd("status", "--once", "--port", str(hub.cfg.port), "--keys-dir", str(keys_dir),
              env={"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    row = [line for line in out.stdout.splitlines() if "r1" in line][0]
    assert "reach-v3" in row and "policy" in row and "hold v0" in row


def test_gen_data_then_import_into_the_store(tmp_path):
    out = lwd("gen-data", "--tasks", "reach-v3", "--episodes", "3", "--noise", "0.1", "--max-steps", "120",
              "--out", str(tmp_path / "demos"))
    assert out.returncode == 0, out.stderr
    assert re.search(r"reach-v3\s+noise 0.1\s+success 100.0 %", out.stdout)
    from lwd_core.data.demo_folder import DemoFolder

    eps = list(DemoFolder(tmp_path / "demos"))
    assert len(eps) == 3 and all(e.outcome == "success" and e.states.shape[1] == 39 for e in eps)
    root = str(tmp_path / "rec")
    for expected in ("imported 3 episodes", "imported 0 episodes"):  # twice: idempotent
        imp = lwd("episodes", "--root", root, "import", str(tmp_path / "demos"))
        assert imp.returncode == 0 and expected in imp.stdout, imp.stdout + imp.stderr
    listed = lwd("episodes", "--root", root, "list")
    assert listed.returncode == 0 and "3 episodes" in listed.stdout


def test_train_writes_a_snapshot_that_a_robot_runs(tmp_path, hub, make_robot, client_keys):
    data, run = tmp_path / "demos", tmp_path / "run"
    assert lwd("gen-data", "--tasks", "reach-v3", "--episodes", "2", "--noise", "0.1", "--out", str(data)).returncode == 0
    out = lwd("train", "--offline", str(data), "--out", str(run), "--no-eval", "--bc-steps", "20",
              "--rl-steps", "10", "--batch-size", "32", "--snapshot-every", "15", "--threads", "1", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    snaps = sorted(run.glob("snapshot-*"))
    assert [s.name for s in snaps] == ["snapshot-0001", "snapshot-0002"]
    assert (run / "config.json").exists() and list((run / "tb").glob("events.out.tfevents.*"))
    import json

    meta = json.loads((snaps[-1] / "meta.json").read_text())
    assert (meta["version"], meta["parent"], meta["learner_step"], meta["agent"]) == (2, 1, 30, "divl_qam")
    node = make_robot("learned", task="reach-v3", policy=str(snaps[-1]))
    from tests.util import wait_until

    wait_until(lambda: node.step > 20, what="learned policy steps")
    assert node.policy.version == 2 and node.status().policy == "flow:divl_qam"
    assert all(row[3] == 2 for row in node._rows if row[2] == 0)  # steps carry the policy version
    bad = lwd("robot", "--policy", str(snaps[-1]), "--driver", "sim:metaworld/push-v3", "--keys-dir",
              str(tmp_path / "nokeys"), "--insecure-no-auth", "--port", "1")
    assert bad.returncode != 0 and "not 'push-v3'" in bad.stderr
