"""kill -9 of the recording process mid-write loses nothing that was acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lwd_core.protocol.messages import StepBatch
from lwd_core.store import EpisodeStore
from lwd_operator.recorder import Recorder
from tests.operator import crash_writer as cw

ROOT = Path(__file__).resolve().parents[2]


def _run_until_killed(root: Path, done_target: int = 6, timeout: float = 60.0) -> list[list[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("crash_writer.py")), str(root), "4"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines, done = [], 0
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            lines.append(line.split())
            done += line.startswith("DONE")
            if done >= done_target or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)  # mid-write: the other robots are still recording
        proc.wait(10)
        lines += [ln.split() for ln in proc.stdout.read().splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert done >= done_target, f"writer produced only {done} finished episodes"
    return lines


def _check_prefix(ep, episode_id: str, n: int) -> None:
    ref = cw.steps(episode_id, 0, n)
    assert len(ep) == n
    assert ep.states.tobytes() == ref["state"].tobytes()
    assert ep.actions.tobytes() == ref["action"].tobytes()
    assert ep.sources.tobytes() == ref["source"].tobytes()
    assert ep.policy_versions.tobytes() == ref["policy_version"].tobytes()


def test_kill_9_mid_write_then_resend(tmp_path):
    root = tmp_path / "recordings"
    lines = _run_until_killed(root)
    done = {ln[1]: ln[2] for ln in lines if ln[0] == "DONE"}
    started = [ln[1] for ln in lines if ln[0] == "START"]
    sent: dict[str, int] = {}
    for ln in lines:
        if ln[0] == "SENT":
            sent[ln[1]] = max(sent.get(ln[1], 0), int(ln[2]) + int(ln[3]))

    store = EpisodeStore(root)
    report = store.verify()
    assert report.ok, report.problems
    assert report.integrity == "ok"

    # Every episode confirmed before the kill: complete, labelled, byte-identical.
    for ep_id, outcome in done.items():
        row = store.get(ep_id)
        assert row["status"] == "ended" and row["outcome"] == outcome == cw.outcome_of(ep_id)
        ep = store.read_episode(ep_id)
        _check_prefix(ep, ep_id, cw.episode_length(ep_id))
        assert ep.final_state.tobytes() == cw.final_state(ep_id).tobytes()
        assert ep.rewards[-1] == (1.0 if outcome == "success" else 0.0)
        frames = store.read_frames(ep_id)["front"]
        assert frames.jpegs == [cw.jpeg(ep_id, k) for k in frames.frame_seq]
        assert len(frames.jpegs) == len(range(0, cw.episode_length(ep_id), cw.BATCH))

    # Interrupted episodes: closed as aborted on open, readable prefix, exact bytes.
    interrupted = [e for e in started if e not in done]
    assert interrupted, "the kill should catch some robots mid-episode"
    assert set(store.reconcile_report.aborted) <= set(interrupted)
    known = {r["id"] for r in store.list_episodes()}
    for ep_id in interrupted:
        if ep_id not in known:  # its start never became durable, nor any step: nothing acked
            continue
        row = store.get(ep_id)
        if ep_id in store.reconcile_report.aborted:
            assert row["status"] == "aborted" and row["end_reason"] == "interrupted"
        ep = store.read_episode(ep_id)
        _check_prefix(ep, ep_id, len(ep))

    # The robots resend everything their journals still hold (here: all they sent). A robot
    # killed between START and its first batch holds nothing to resend.
    resent = [e for e in interrupted if sent.get(e, 0) > 0]
    rec = Recorder(store, synchronous=True)
    for ep_id in resent:
        robot = ep_id.split("-")[0]
        length = cw.episode_length(ep_id)
        for first in range(0, sent[ep_id], cw.BATCH):
            n = min(cw.BATCH, sent[ep_id] - first)
            msg, arrays = cw.batch(robot, ep_id, first, n, first + n == length)
            rec.submit_steps(msg, arrays)
    acks = {a.episode_id: a.durable_until for _, a in rec.poll_acks()}
    for ep_id in resent:
        row = store.get(ep_id)
        assert acks[ep_id] == sent[ep_id]
        assert row["steps"] == row["stored_steps"] == sent[ep_id], "duplicates or holes"
        assert row["gaps"] == []
        _check_prefix(store.read_episode(ep_id), ep_id, sent[ep_id])
    assert store.verify().ok
    store.close()


def test_orphan_chunk_is_adopted_and_temp_removed(tmp_path):
    root = tmp_path / "rec"
    store = EpisodeStore(root)
    store.begin_episode("r", "e", "t")
    msg, arrays = cw.batch("r", "e", 0, 10, False)
    store.append_steps("r", "e", 0, arrays)
    # Simulate a crash between chunk rename and row commit, and one mid-write.
    from lwd_core.store.chunk_files import pack_chunk, write_atomic

    meta = {
        "kind": "steps",
        "robot": "r",
        "episode": "e",
        "task": "t",
        "camera": "",
        "first_step": 10,
        "n": 10,
        "has_final": False,
    }
    write_atomic(
        root / "r" / "e" / "steps-000000010-10.npz", pack_chunk(meta, cw.steps("e", 10, 10))
    )
    (root / "r" / "e" / "steps-000000020-10.npz.tmp").write_bytes(b"half a chunk")
    store.close()

    store = EpisodeStore(root)
    rep = store.reconcile_report
    assert rep.adopted == 1 and rep.temp_removed == 1 and rep.aborted == ["e"]
    assert not list(root.rglob("*.tmp"))
    _check_prefix(store.read_episode("e"), "e", 20)
    assert store.durable_until("e") == 20
    assert store.verify().ok


def test_second_process_cannot_record_but_can_label(tmp_path):
    first = EpisodeStore(tmp_path)
    first.begin_episode("r", "e", "t")
    second = EpisodeStore(tmp_path)
    assert first.is_writer and not second.is_writer
    assert first.get("e")["status"] == "running"  # the reader did not abort the live episode
    second.label("e", "failure", "alice")
    assert first.get("e")["outcome"] == "failure"
    import pytest

    from lwd_core.store import StoreError

    with pytest.raises(StoreError):
        second.append_steps("r", "e", 0, cw.steps("e", 0, 3))
    assert isinstance(StepBatch, type) and np is not None
