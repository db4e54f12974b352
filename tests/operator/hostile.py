"""Hostile messages by class, for the fuzz tests: each generator returns frames a hub must refuse.

Deterministic (seeded ``random.Random``) so a failure can be replayed exactly. ``seq`` numbers
are given by the caller so that replays can be made on purpose and everything else is fresh.
"""

from __future__ import annotations

import random

import msgspec
import numpy as np

from lwd_core.protocol import encode
from lwd_core.protocol.messages import (
    Alert,
    BlobSpec,
    ClientHello,
    EpisodeEvent,
    Frame,
    LabelEpisode,
    RequestHelp,
    RobotHello,
    RobotStatus,
    StepBatch,
    Subscribe,
    Take,
    Telemetry,
    Teleop,
)

HOSTILE_IDS = ["..", "../../etc", "a/b", "a\\b", ".hidden", "\x1b[2J", "x" * 300, "ok\x00", " pad", "r1/.."]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]


def robot_hello(robot_id: str, session: str = "fuzz", seq: int = 1) -> RobotHello:
    return RobotHello(robot_id=robot_id, driver="fuzz", task="t", tasks=["t"], obs_dim=3, action_dim=2,
                      action_space="x", cameras=[], policy="p", policy_version=0, control_hz=20.0,
                      session=session, seq=seq)


def deep(rng: random.Random, seq: int) -> list[bytes]:
    """A valid envelope with an unknown field nested 9-3000 arrays deep."""
    depth = rng.choice([9, 50, 1000, 3000])
    d = msgspec.msgpack.encode({"kind": "heartbeat", "proto": [1, 0], "seq": seq, "x": 0})
    return [d[:-1] + b"\x91" * depth + b"\xc0"]


def wide(rng: random.Random, seq: int) -> list[bytes]:
    """Containers longer than any header needs, or that lie about their length."""
    choice = rng.randrange(3)
    head = msgspec.msgpack.encode({"kind": "heartbeat", "proto": [1, 0], "seq": seq, "x": 0})[:-1]
    if choice == 0:
        n = rng.choice([5000, 20000])
        return [head + b"\xdc" + n.to_bytes(2, "big") + b"\x00" * n]
    if choice == 1:  # says 4 billion elements, has none
        return [head + b"\xdd\xff\xff\xff\xff"]
    return [head + b"\xdf\x7f\xff\xff\xff" + b"\x00\x00" * 10]


def lying_blobs(rng: random.Random, robot_id: str, episode_id: str, seq: int) -> list[bytes]:
    """A step batch whose blob specs do not match its bytes (overflowing shapes included)."""
    shape = rng.choice([(2**32, 2**32), (0, 2**62), (-1, 3), (1,) * 20, (3, 5), (2**31, 2**31, 4)])
    spec = BlobSpec("state", "float32", shape)
    blob = rng.choice([b"", b"\x00" * 16, b"\x00" * 60])
    extra = rng.random() < 0.3
    specs = [spec] + ([BlobSpec("action", "float32", (1, 2))] if extra else [])
    msg = StepBatch(robot_id=robot_id, episode_id=episode_id, first_step=0, n=1, blobs=specs, seq=seq)
    return encode(msg, [blob])


def non_finite_steps(robot_id: str, episode_id: str, first: int, seq: int) -> list[bytes]:
    """A well-formed step batch whose state/action arrays hold NaN or inf."""
    arrays = {"state": np.array([[np.nan, 0, 0]], np.float32), "action": np.array([[np.inf, 0]], np.float32),
              "source": np.zeros(1, np.uint8), "policy_version": np.zeros(1, np.int32),
              "t_ns": np.zeros(1, np.int64)}
    specs = [BlobSpec(k, str(a.dtype), a.shape) for k, a in arrays.items()]
    msg = StepBatch(robot_id=robot_id, episode_id=episode_id, first_step=first, n=1, blobs=specs, seq=seq)
    return encode(msg, list(arrays.values()))


def non_finite(rng: random.Random, seq: int) -> list[bytes]:
    """Messages with a NaN or infinite float, which msgpack carries happily."""
    x = rng.choice(NON_FINITE)
    msg = rng.choice([
        Teleop(robot_id="healthy", dpos=(x, 0.0, 0.0), gripper=0.0),
        Teleop(robot_id="healthy", dpos=(0.0, 0.0, 0.0), gripper=x),
        Subscribe(hz=x),
        RobotStatus(robot_id="fuzz-1", mode="policy", task="t", episode_id="", step=1, policy="p",
                    policy_version=0, control_hz=x, jitter_p99_ms=0.0, camera_fps=0.0),
    ])
    msg.seq = seq
    return encode(msg)


def hostile_id(rng: random.Random, seq: int) -> list[bytes]:
    bad = rng.choice(HOSTILE_IDS)
    msg = rng.choice([
        robot_hello(bad, seq=seq),
        Take(robot_id=bad, seq=seq),
        LabelEpisode(robot_id="healthy", episode_id=bad, outcome="success", seq=seq),
        EpisodeEvent(robot_id="fuzz-1", episode_id=bad, task="t", event="started", seq=seq),
        ClientHello(operator="eve\x1b[2J\x07", seq=seq),
        Alert(robot_id="fuzz-1", level="info", code="x", text="\x1b]0;pwned\x07", seq=seq),
    ])
    return encode(msg)


def frame_for(robot_id: str, rng: random.Random, seq: int) -> list[bytes]:
    """Frame-port traffic claiming to be ``robot_id`` (topic first)."""
    if rng.random() < 0.5:
        msg = Frame(robot_id=robot_id, camera="c", width=1, height=1, encoding="jpeg", frame_seq=seq,
                    t_capture_ns=0, seq=seq)
        return [f"frame/{robot_id}/c".encode(), *encode(msg, [b"\xff\xd8fake"])]
    msg = Telemetry(robot_id=robot_id, step=seq, mode="policy", state=[0.0], ee_pos=[], success=True,
                    task="t", episode_id="", seq=seq)
    return [f"tele/{robot_id}/".encode(), *encode(msg)]


def junk(rng: random.Random) -> list[bytes]:
    """Random bytes and truncated headers."""
    if rng.random() < 0.5:
        return [rng.randbytes(rng.randrange(0, 200)) for _ in range(rng.randrange(1, 4))]
    raw = encode(Take(robot_id="healthy", seq=1))[0]
    return [raw[: rng.randrange(0, len(raw) - 1)]]


def help_request(seq: int) -> list[bytes]:
    return encode(RequestHelp(robot_id="healthy", reason="flood", seq=seq))
