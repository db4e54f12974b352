"""Recorder in threaded and synchronous modes, and the robot's step journal."""

from __future__ import annotations

import os
import time

import numpy as np

from lwd_core.protocol.codec import array_blob, blob_arrays, decode, encode
from lwd_core.protocol.messages import EpisodeEvent, Frame, StepBatch
from lwd_core.store import EpisodeStore
from lwd_operator.recorder import Recorder, RecorderConfig
from lwd_operator.robot.journal import StepJournal


def wire_batch(robot: str, ep: str, first: int, n: int, closes: bool = False):
    """A StepBatch as it arrives off the wire: encoded, decoded, blobs turned into arrays."""
    step = np.arange(first, first + n)
    named = [
        array_blob("state", np.stack([step, step], 1).astype(np.float32)),
        array_blob("action", (step[:, None] * 0.1).astype(np.float32)),
        array_blob("source", (step % 7 == 3).astype(np.uint8)),
        array_blob("policy_version", np.full(n, 2, np.int32)),
        array_blob("t_ns", step.astype(np.int64) * 50_000_000),
    ]
    if closes:
        named.append(array_blob("final_state", np.full(2, -1, np.float32)))
    msg = StepBatch(
        robot_id=robot,
        episode_id=ep,
        first_step=first,
        n=n,
        blobs=[s for s, _ in named],
        closes_episode=closes,
    )
    frames = encode(msg, [a for _, a in named])
    got, blobs = decode(frames)
    return got, blobs, blob_arrays(got.blobs, blobs)


def event(robot, ep, kind, steps=0):
    return EpisodeEvent(robot_id=robot, episode_id=ep, task="reach", event=kind, steps=steps)


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_threaded_recorder_acks_only_durable_steps(tmp_path):
    store = EpisodeStore(tmp_path)
    rec = Recorder(store, RecorderConfig(flush_interval_s=0.01))
    acks = {}
    for r in range(3):
        rec.submit_episode_event(event(f"r{r}", f"e{r}", "started"))
    for first in range(0, 30, 10):
        for r in range(3):
            msg, _, arrays = wire_batch(f"r{r}", f"e{r}", first, 10, closes=first == 20)
            rec.submit_steps(msg, arrays)
            rec.submit_frame(
                Frame(
                    robot_id=f"r{r}",
                    camera="front",
                    width=2,
                    height=2,
                    encoding="jpeg",
                    frame_seq=first,
                    t_capture_ns=first,
                ),
                b"\xff\xd8" + bytes([r, first]),
            )
    for r in range(3):
        rec.submit_episode_event(event(f"r{r}", f"e{r}", "ended", steps=30), operator="dana")
        rec.label(f"e{r}", "success", "bot")

    def collect():
        for _robot, ack in rec.poll_acks():
            acks[ack.episode_id] = max(acks.get(ack.episode_id, 0), ack.durable_until)
            assert store.durable_until(ack.episode_id) >= ack.durable_until  # durable first
        return all(acks.get(f"e{r}") == 30 for r in range(3))

    assert wait_for(collect)
    rec.stop()
    for r in range(3):
        row = store.get(f"e{r}")
        assert (row["status"], row["outcome"], row["steps"]) == ("ended", "success", 30)
        ep = store.read_episode(f"e{r}")
        np.testing.assert_array_equal(ep.final_state, [-1, -1])
        assert ep.states[:, 0].tolist() == list(range(30))
        assert store.read_frames(f"e{r}")["front"].jpegs == [
            b"\xff\xd8" + bytes([r, f]) for f in (0, 10, 20)
        ]
        assert {i["operator"] for i in store.interventions(f"e{r}")} == {"dana"}
        assert len(list((tmp_path / f"r{r}" / f"e{r}").iterdir())) == 2  # compacted on stop
    assert rec.stats["steps"] == 90


def test_store_failure_is_alerted_retried_and_not_acked(tmp_path):
    store = EpisodeStore(tmp_path)
    errors = []
    rec = Recorder(store, RecorderConfig(retry_s=0.0), on_error=errors.append, synchronous=True)
    rec.submit_episode_event(event("r", "e", "started"))
    msg, _, arrays = wire_batch("r", "e", 0, 10)
    rec.submit_steps(msg, arrays)
    assert [a.durable_until for _, a in rec.poll_acks()] == [10]
    blocked = store.root / "r" / "e" / "steps-000000010-10.npz.tmp"
    os.symlink("/dev/full", blocked)  # the disk is full for the next chunk
    msg, _, arrays = wire_batch("r", "e", 10, 10)
    rec.submit_steps(msg, arrays)
    assert rec.poll_acks() == [] and len(errors) == 1 and "disk full" in errors[0]
    msg, _, arrays = wire_batch("r", "e", 20, 10)
    rec.submit_steps(msg, arrays)  # space is back: the retried batch goes in with this one
    assert sorted(a.durable_until for _, a in rec.poll_acks())[-1] == 30
    assert store.get("e")["stored_steps"] == 30


def test_gap_is_reported_and_filled(tmp_path):
    store = EpisodeStore(tmp_path)
    gaps = []
    rec = Recorder(store, synchronous=True, on_gap=lambda *g: gaps.append(g))
    for first in (0, 20):
        msg, _, arrays = wire_batch("r", "e", first, 10)
        rec.submit_steps(msg, arrays)
    assert gaps == [("r", "e", 10, 20)]
    msg, _, arrays = wire_batch("r", "e", 10, 10)
    rec.submit_steps(msg, arrays)
    assert rec.poll_acks()[-1][1].durable_until == 30


def test_journal_acks_resends_and_refuses_newest_when_full():
    reports = []
    j = StepJournal(max_bytes=3 * (200 + 256), on_overflow=reports.append)
    for first in range(0, 50, 10):
        msg = StepBatch(robot_id="r", episode_id="e", first_step=first, n=10, blobs=[])
        j.add(msg, [b"x" * 200])
    assert len(j) == 3 and j.dropped_steps == {"e": 20} and len(reports) == 1
    assert "episode e loses steps from 30" in reports[0]
    assert j.ack("e", 15) == 1  # releases [0, 10) only: [10, 20) is not fully durable
    assert [b.first_step for b, _ in j.pending()] == [10, 20]
    assert j.ack("e", 30) == 2 and j.bytes == 0 and j.pending() == []
    msg = StepBatch(robot_id="r", episode_id="f", first_step=0, n=10, blobs=[])
    assert j.add(msg, [b"y" * 10]) and j.add(msg, [b"y" * 10]) and len(j) == 1


def test_malformed_batch_is_rejected_without_blocking_others(tmp_path):
    store = EpisodeStore(tmp_path)
    errors = []
    rec = Recorder(store, on_error=errors.append, synchronous=True)
    good, _, arrays = wire_batch("r1", "e1", 0, 10)
    bad, _, bad_arrays = wire_batch("r2", "e2", 0, 10)
    del bad_arrays["action"]
    rec._process([("steps", rec_steps(bad, bad_arrays)), ("steps", rec_steps(good, arrays))])
    assert [a.episode_id for _, a in rec.poll_acks()] == ["e1"]
    assert "missing array 'action'" in errors[0]


def rec_steps(batch, arrays):
    from lwd_operator.recorder import _Steps

    return _Steps(batch, arrays)


def test_submit_message_routes_decoded_wire_messages(tmp_path):
    from lwd_core.protocol.messages import LabelEpisode, Telemetry

    store = EpisodeStore(tmp_path)
    rec = Recorder(store, synchronous=True)
    for msg, blobs in [
        decode(encode(event("r", "e", "started"))),
        wire_batch("r", "e", 0, 5, closes=True)[:2],
        decode(
            encode(
                Frame(
                    robot_id="r",
                    camera="c",
                    width=1,
                    height=1,
                    encoding="jpeg",
                    frame_seq=0,
                    t_capture_ns=0,
                ),
                [b"\xff\xd8z"],
            )
        ),
        decode(encode(event("r", "e", "ended", steps=5))),
        decode(encode(LabelEpisode(robot_id="r", episode_id="e", outcome="success"))),
    ]:
        assert rec.submit_message(msg, blobs, by="erin")
    telemetry = Telemetry(
        robot_id="r",
        step=0,
        mode="policy",
        state=[],
        ee_pos=[],
        success=False,
        task="t",
        episode_id="e",
    )
    assert not rec.submit_message(telemetry)
    row = store.get("e")
    assert (row["status"], row["outcome"], row["labelled_by"], row["steps"]) == (
        "ended",
        "success",
        "erin",
        5,
    )
    assert store.read_frames("e")["c"].jpegs == [b"\xff\xd8z"]
