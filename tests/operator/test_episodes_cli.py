"""``lwd episodes`` through the real entry point, in a subprocess, on a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from lwd_core.store import EpisodeStore

ROOT = Path(__file__).resolve().parents[2]


def lwd(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="140")
    return subprocess.run(
        [sys.executable, "-m", "lwd_operator.cli", "episodes", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def make_store(root: Path) -> None:
    with EpisodeStore(root) as s:
        for k, task in enumerate(["reach", "push"]):
            ep = f"ep-{task}"
            s.begin_episode(f"r{k}", ep, task)
            src = np.zeros(20, np.uint8)
            src[5:9] = 1
            s.append_steps(
                f"r{k}",
                ep,
                0,
                {
                    "state": np.zeros((20, 4), np.float32),
                    "action": np.zeros((20, 2), np.float32),
                    "source": src,
                    "policy_version": np.full(20, 3 + k, np.int32),
                    "t_ns": np.arange(20, dtype=np.int64) * 50_000_000,
                },
            )
            s.end_episode(ep, steps=20, operator="carol")


def test_relabel_audit_trail_is_shown(tmp_path):
    root = tmp_path / "recordings"
    make_store(root)
    r = lwd("--root", str(root), "label", "ep-reach", "success", "--by", "alice")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unlabeled -> success by alice" in r.stdout
    r = lwd(
        "--root",
        str(root),
        "label",
        "ep-reach",
        "failure",
        "--by",
        "bob",
        "--note",
        "dropped the block",
    )
    assert r.returncode == 0
    r = lwd("--root", str(root), "show", "ep-reach")
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    audit = r.stdout[r.stdout.index("label audit trail") :]
    lines = [ln for ln in audit.splitlines() if "alice" in ln or "bob" in ln]
    assert len(lines) == 2
    assert "unlabeled" in lines[0] and "success" in lines[0]
    assert "success" in lines[1] and "failure" in lines[1] and "dropped the block" in lines[1]
    assert "carol" in r.stdout  # intervention operator
    r = lwd("--root", str(root), "label", "ep-reach", "maybe", "--by", "bob")
    assert r.returncode != 0


def test_list_filters_verify_export_import(tmp_path):
    root = tmp_path / "recordings"
    make_store(root)
    r = lwd("--root", str(root), "list", "--task", "push")
    assert r.returncode == 0 and "ep-push" in r.stdout and "ep-reach" not in r.stdout
    r = lwd("--root", str(root), "list", "--policy-version", "3", "--since", "1h")
    assert "ep-reach" in r.stdout and "ep-push" not in r.stdout
    r = lwd("--root", str(root), "list", "--outcome", "success")
    assert "0 episodes" in r.stdout
    r = lwd("--root", str(root), "verify")
    assert r.returncode == 0 and "ok" in r.stdout
    lwd("--root", str(root), "label", "ep-push", "success", "--by", "alice")
    r = lwd("--root", str(root), "metrics")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 closed episodes, 1 labelled, success 100.0%, intervention 20.0%" in r.stdout
    r = lwd("--root", str(root), "export", str(tmp_path / "ds"), "--task", "reach")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exported 1 episodes, 20 frames" in r.stdout
    other = tmp_path / "other"
    r = lwd("--root", str(other), "import", str(tmp_path / "ds"))
    assert r.returncode == 0 and "imported 1 episodes" in r.stdout, r.stdout
    assert "restored as recorded" in r.stdout  # our own export: not demonstrations
    r = lwd("--root", str(other), "list", "--robot", "r0")
    assert "ep-reach" in r.stdout
    r = lwd("--root", str(other), "show", "ep-reach")
    assert "carol" in r.stdout  # the intervention's operator came back too
    r = lwd("--root", str(other), "metrics")
    assert "1 closed episodes" in r.stdout and "intervention 20.0%" in r.stdout, r.stdout
    next(root.rglob("steps-*.npz")).write_bytes(b"garbage")
    r = lwd("--root", str(root), "verify")
    assert r.returncode == 1 and "digest mismatch" in r.stdout
