"""Socket conventions: endpoints, size limits, high-water marks, and the multipart helpers.

Every socket gets ``LINGER 0`` (never hang on close) and ``MAXMSGSIZE`` (a peer cannot make us
allocate an arbitrary buffer). Frame streams get tiny high-water marks: the newest frame wins.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, NamedTuple

import zmq

from lwd_core.protocol import ProtocolError, decode, encode
from lwd_core.protocol.messages import Msg

MAX_CONTROL_BYTES = 8 * 1024 * 1024
"""Largest control message (step batches with final state, replies)."""
MAX_FRAME_BYTES = 2 * 1024 * 1024
"""Largest camera frame or telemetry message on the relay."""
FRAME_HWM = 4
"""Frames queued on a robot's own camera socket (one stream) before new ones are dropped:
latest-frame semantics, ~130 ms at 30 fps."""

RELAY_HWM = 64
"""Frames queued per subscriber where many streams share one connection (the hub's relay to a
client, the client's subscription): 16 robots x 2 cameras x 30 fps is ~1000 frames a second, so
64 is ~65 ms of backlog. With 4 there, any pause of a few ms in the subscriber dropped frames
(97.4 % delivered at 16 robots x 30 fps, 2026-12-01). Front ends still show only the newest
frame of each stream; this only decides what a brief pause costs."""


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """The hub's four sockets, on consecutive ports from ``port``."""

    host: str = "127.0.0.1"
    port: int = 5750

    def _addr(self, offset: int) -> str:
        return f"tcp://{self.host}:{self.port + offset}"

    @property
    def robots(self) -> str:
        return self._addr(0)

    @property
    def clients(self) -> str:
        return self._addr(1)

    @property
    def frames_in(self) -> str:
        return self._addr(2)

    @property
    def frames_out(self) -> str:
        return self._addr(3)

    def bind_form(self) -> Endpoints:
        return self

    def connect_form(self) -> Endpoints:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "*") else self.host
        return Endpoints(host, self.port)


SUBSCRIPTION_HWM = 10_000
"""Subscriptions travel against the data flow; they must never be dropped by a tiny HWM."""


def make_socket(ctx: zmq.Context, kind: int, *, max_bytes: int, hwm: int | None = None) -> zmq.Socket:
    """A socket with our conventions. On PUB/SUB/XPUB/XSUB ``hwm`` limits only the data direction."""
    s = ctx.socket(kind)
    s.linger = 0
    s.setsockopt(zmq.MAXMSGSIZE, max_bytes)
    if hwm is not None:
        data_out = kind in (zmq.PUB, zmq.XPUB)
        data_in = kind in (zmq.SUB, zmq.XSUB)
        s.sndhwm = SUBSCRIPTION_HWM if data_in else hwm
        s.rcvhwm = SUBSCRIPTION_HWM if data_out else hwm
    return s


def send(sock: zmq.Socket, msg: Msg, blobs=(), prefix: list[bytes] | None = None) -> bool:
    """Non-blocking send; False (and nothing sent) when the peer's queue is full or gone."""
    try:
        sock.send_multipart((prefix or []) + encode(msg, blobs), flags=zmq.NOBLOCK, copy=False)
        return True
    except (zmq.Again, zmq.error.ZMQError):
        return False


class Received(NamedTuple):
    """One received message: ``msg`` and ``blobs``, or ``msg = None`` and the ``error`` that
    rejected it (already logged)."""

    prefix: list[bytes]
    msg: Any
    blobs: list[bytes]
    error: ProtocolError | None = None
    user: str = ""
    """ZAP User-Id of the sending connection: the name of its CURVE key ("" without auth)."""


def user_id(frame: zmq.Frame) -> str:
    """The ZAP User-Id of a received frame ("" on a socket without authentication)."""
    try:
        return frame.get("User-Id") or ""
    except (zmq.ZMQError, UnicodeDecodeError):
        return ""


def recv_frames(sock: zmq.Socket, flags: int = 0) -> tuple[list[bytes], str]:
    """One multipart message as bytes, and the User-Id of the connection that sent it."""
    frames = sock.recv_multipart(flags, copy=False)
    return [f.bytes for f in frames], user_id(frames[-1])


def recv(sock: zmq.Socket, n_prefix: int, log: logging.Logger | None) -> Received:
    """Receive and decode one message; a rejection is logged (unless ``log`` is None: the
    caller logs it, e.g. throttled) and returned as ``error``."""
    frames, user = recv_frames(sock)
    prefix, body = frames[:n_prefix], frames[n_prefix:]
    try:
        msg, blobs = decode(body)
    except ProtocolError as e:
        if log is not None:
            log.info("rejected message from %r: %s", prefix[0] if prefix else b"?", e)
        return Received(prefix, None, [], e, user)
    return Received(prefix, msg, blobs, None, user)
