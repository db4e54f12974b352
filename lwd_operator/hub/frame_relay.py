"""Latest-only relay of camera frames and telemetry from robots (XSUB) to any number of clients (XPUB).

Unlike ``zmq.proxy`` this relay reads each message's envelope before forwarding it: a malformed
or mislabelled message is dropped and logged, so one bad publisher cannot feed garbage to every
console. Only a robot key bound to the robot id in the topic may publish it (the ZAP User-Id of
each message names the key). Tiny high-water marks on both sides give latest-frame semantics: a slow subscriber
loses old frames, never delays fresh ones or the publishers.
"""

from __future__ import annotations

import collections
import logging
import threading

import zmq

from lwd_core.protocol import ProtocolError, decode
from lwd_core.protocol.messages import Frame, Telemetry
from lwd_operator.hub.authz import FRAME_PORT, Identity, refusal
from lwd_operator.hub.limits import LogThrottle
from lwd_operator.sockets import MAX_FRAME_BYTES, RELAY_HWM, make_socket, user_id

log = logging.getLogger("lwd.hub.relay")

_TOPIC_KINDS = {b"frame": Frame, b"tele": Telemetry}


class FrameRelay:
    def __init__(self, ctx: zmq.Context, bind_in: str, bind_out: str, secure=None, identity=None):
        """``identity``: key name -> ``Identity`` (None: no authentication, anyone publishes)."""
        self.identity = identity
        self.xsub = make_socket(ctx, zmq.XSUB, max_bytes=MAX_FRAME_BYTES, hwm=64)
        self.xpub = make_socket(ctx, zmq.XPUB, max_bytes=64 * 1024, hwm=RELAY_HWM)
        if secure:
            secure(self.xsub)
            secure(self.xpub)
        self.xsub.bind(bind_in)
        self.xpub.bind(bind_out)
        # The hub itself wants every frame (the recorder files them even when nobody watches),
        # so publishers always send; viewers' subscriptions only filter what leaves the XPUB.
        self.xsub.send(b"\x01")
        self.forwarded = 0
        self.rejected = 0
        self.rejected_by_key: collections.Counter = collections.Counter()
        self.crashes = 0
        self._throttle = LogThrottle(log)
        self.frames_by_robot: dict[str, int] = {}
        self.on_frame = None
        """Called with (Frame, jpeg) for every valid frame (the recorder; must not block)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, frames: list[bytes], user: str = "") -> str | None:
        """Reason to reject a relayed message from key ``user``, or None if it may pass."""
        if len(frames) < 2:
            return "relay message needs a topic and a header"
        parts = frames[0].split(b"/")
        kind = _TOPIC_KINDS.get(parts[0])
        if kind is None or len(parts) < 2:
            return f"bad topic {frames[0][:40]!r}"
        try:
            msg, blobs = decode(frames[1:])
        except ProtocolError as e:
            return str(e)
        if not isinstance(msg, kind):
            return f"topic {parts[0].decode()} carries a {type(msg).__name__}"
        if msg.robot_id.encode() != parts[1]:
            return f"topic names {parts[1][:40]!r} but message is from {msg.robot_id!r}"
        if self.identity is not None:
            ident: Identity | None = self.identity(user)
            reason = refusal(ident, FRAME_PORT, msg.__struct_config__.tag)
            if reason is None and not ident.may_be(msg.robot_id):
                reason = f"key {user!r} is not bound to robot {msg.robot_id!r}"
            if reason is not None:
                return reason
        if isinstance(msg, Frame) and len(blobs) != 1:
            return f"frame needs exactly one image blob, got {len(blobs)}"
        if isinstance(msg, Frame):
            self.frames_by_robot[msg.robot_id] = self.frames_by_robot.get(msg.robot_id, 0) + 1
            if self.on_frame is not None and msg.episode_id:
                self.on_frame(msg, blobs[0])
        return None

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.xsub, zmq.POLLIN)
        poller.register(self.xpub, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                events = dict(poller.poll(100))
            except zmq.ContextTerminated:
                return
            while self.xpub.poll(0):
                # Subscriptions travel upstream so publishers only send what someone wants.
                self.xsub.send_multipart(self.xpub.recv_multipart())
            if self.xsub in events:
                for _ in range(256):  # drain in bursts, but keep serving subscriptions
                    try:
                        raw = self.xsub.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    user = user_id(raw[-1])
                    frames = [f.bytes for f in raw]
                    try:
                        reason = self.check(frames, user)
                    except Exception as e:  # noqa: BLE001 - one message must not stop the relay
                        self.crashes += 1
                        reason = f"relay failed on it: {type(e).__name__}: {e}"
                    if reason:
                        self.rejected += 1
                        self.rejected_by_key[user or "?"] += 1
                        self._throttle(logging.INFO, user, "relay rejected message from key %s: %s",
                                       user or "?", reason)
                        continue
                    try:
                        self.xpub.send_multipart(frames, zmq.NOBLOCK)
                        self.forwarded += 1
                    except zmq.Again:
                        pass

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="frame-relay", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """False when the relay thread ended without being stopped (watchdog restarts it)."""
        return self._stop.is_set() or (self._thread is not None and self._thread.is_alive())

    def restart(self) -> None:
        if not self._stop.is_set():
            self.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self.xsub.close()
        self.xpub.close()


def topic(kind: str, robot_id: str, camera: str = "") -> bytes:
    return f"{kind}/{robot_id}/{camera}".encode() if camera else f"{kind}/{robot_id}/".encode()

