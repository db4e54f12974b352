"""Child process of the crash test: several robots record through a real Recorder until killed.

Prints one line per fact the parent needs, flushed immediately:
``START <episode> <robot>``, ``SENT <episode> <first> <n>``, ``END <episode> <steps>`` and
``DONE <episode> <outcome>`` once the episode's steps, end and label are all durable.
Data is a pure function of (episode, step) so the parent can rebuild exactly what was sent.
"""

from __future__ import annotations

import sys
import time
import zlib

import numpy as np

from lwd_core.protocol.messages import EpisodeEvent, Frame, StepBatch
from lwd_core.store import EpisodeStore
from lwd_operator.recorder import Recorder, RecorderConfig

OBS, ACT, BATCH = 7, 4, 10


def episode_length(episode_id: str) -> int:
    return 25 + zlib.crc32(episode_id.encode()) % 50


def outcome_of(episode_id: str) -> str:
    return "success" if zlib.crc32(episode_id.encode()) % 3 else "failure"


def steps(episode_id: str, first: int, n: int) -> dict[str, np.ndarray]:
    """The exact arrays of steps ``[first, first + n)`` of an episode."""
    rows = [
        np.random.default_rng([zlib.crc32(episode_id.encode()), s]) for s in range(first, first + n)
    ]
    state = np.zeros((n, OBS), np.float32)
    action = np.zeros((n, ACT), np.float32)
    for i, r in enumerate(rows):
        state[i] = r.standard_normal(OBS)
        action[i] = r.uniform(-1, 1, ACT)
    step = np.arange(first, first + n)
    source = ((step // 12) % 3 == 2).astype(np.uint8)  # human segments of 12 steps
    version = np.where(source == 1, 0, 1 + step // 40).astype(np.int32)
    return {
        "state": state,
        "action": action,
        "source": source,
        "policy_version": version,
        "t_ns": (1_000_000_000 + step * 50_000_000).astype(np.int64),
    }


def final_state(episode_id: str) -> np.ndarray:
    return np.full(OBS, zlib.crc32(episode_id.encode()) % 1000, np.float32)


def jpeg(episode_id: str, k: int) -> bytes:
    return zlib.compress(f"{episode_id}/{k}".encode()) * 3


def batch(robot: str, episode_id: str, first: int, n: int, closes: bool):
    arrays = steps(episode_id, first, n)
    if closes:
        arrays["final_state"] = final_state(episode_id)
    msg = StepBatch(
        robot_id=robot,
        episode_id=episode_id,
        first_step=first,
        n=n,
        blobs=[],
        closes_episode=closes,
    )
    return msg, arrays


def main(root: str, robots: int) -> None:
    store = EpisodeStore(root)
    rec = Recorder(store, RecorderConfig(flush_interval_s=0.005))
    out = sys.stdout
    state = {}  # robot -> [episode, next_step, length, counter]
    waiting: dict[str, int] = {}  # episode -> length, ended and labelled, not yet confirmed
    acked: dict[str, int] = {}
    tick = 0
    while True:
        for r in range(robots):
            robot = f"robot{r}"
            if robot not in state:
                k = state.get(robot + "#", 0) + 1
                state[robot + "#"] = k
                ep = f"{robot}-ep{k}"
                state[robot] = [ep, 0, episode_length(ep)]
                rec.submit_episode_event(
                    EpisodeEvent(
                        robot_id=robot, episode_id=ep, task=f"task{r % 3}", event="started"
                    )
                )
                print("START", ep, robot, file=out, flush=True)
            ep, nxt, length = state[robot]
            n = min(BATCH, length - nxt)
            msg, arrays = batch(robot, ep, nxt, n, nxt + n == length)
            rec.submit_steps(msg, arrays)
            print("SENT", ep, nxt, n, file=out, flush=True)
            rec.submit_frame(
                Frame(
                    robot_id=robot,
                    camera="front",
                    width=8,
                    height=8,
                    encoding="jpeg",
                    frame_seq=nxt,
                    t_capture_ns=nxt,
                ),
                jpeg(ep, nxt),
            )
            state[robot][1] = nxt + n
            if nxt + n == length:
                rec.submit_episode_event(
                    EpisodeEvent(
                        robot_id=robot,
                        episode_id=ep,
                        task=f"task{r % 3}",
                        event="ended",
                        reason="success",
                        steps=length,
                    )
                )
                print("END", ep, length, file=out, flush=True)
                rec.label(ep, outcome_of(ep), "bot")
                waiting[ep] = length
                del state[robot]
        tick += 1
        time.sleep(0.002)
        for _, ack in rec.poll_acks():
            acked[ack.episode_id] = max(acked.get(ack.episode_id, 0), ack.durable_until)
        for ep, length in list(waiting.items()):
            if acked.get(ep, 0) >= length:
                row = store.get(ep)
                if row["outcome"] != "unlabeled" and row["status"] == "ended":
                    print("DONE", ep, row["outcome"], file=out, flush=True)
                    del waiting[ep]


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
