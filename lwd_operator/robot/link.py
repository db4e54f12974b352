"""The robot's connection to the hub, run by its own thread so the control loop never waits on it.

The control thread hands messages over through ``post`` (a queue plus an inproc wake-up) and
reads commands with ``commands()``; only the link thread touches the DEALER socket. The link
says hello until welcomed, again whenever the hub falls silent or forgets the robot, and then
resends every step batch the hub has not acknowledged (the journal).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable

import zmq

from lwd_core.protocol import Sequencer, encode
from lwd_core.protocol.messages import (
    EpisodeEvent,
    Heartbeat,
    Msg,
    Refuse,
    RobotHello,
    StepAck,
    StepBatch,
    Welcome,
)
from lwd_operator.auth import ClientKeys, secure_client
from lwd_operator.robot.journal import StepJournal
from lwd_operator.sockets import MAX_CONTROL_BYTES, make_socket, recv

log = logging.getLogger("lwd.robot.link")

ACK_TIMEOUT_S = 2.0
"""Resend unacknowledged step batches when the oldest has not been acknowledged for this long."""


class HubLink:
    def __init__(self, ctx: zmq.Context, robot_id: str, endpoint: str, keys: ClientKeys | None,
                 make_hello: Callable[[], RobotHello], journal: StepJournal | None = None):
        self.ctx, self.robot_id, self.endpoint, self.keys = ctx, robot_id, endpoint, keys
        self.make_hello = make_hello
        self.journal = journal or StepJournal()
        self.seq = Sequencer(robot_id)
        self.connected = False
        self.welcome: Welcome | None = None
        self.last_refusal = ""
        self.hub_last_seen = 0.0
        self.reconnects = 0
        self._inbox: collections.deque[Msg] = collections.deque()
        self.on_side_message: Callable[[Msg, list[bytes]], bool] | None = None
        """Called on the link thread for each command first; True means it took the message
        (policy downloads go to the hot-swap worker, never through the control loop)."""
        self._events: dict[str, list[EpisodeEvent]] = {}
        self._oldest_seen: tuple[str, int] | None = None
        self.resends = 0
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_addr = f"inproc://wake-{robot_id}-{id(self)}"
        self._wake_rx = ctx.socket(zmq.PULL)
        self._wake_rx.linger = 0
        self._wake_rx.bind(self._wake_addr)
        self._wake_local = threading.local()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-link", daemon=True)

    # --- called from other threads -------------------------------------------------------------

    def post(self, msg: Msg, blobs=()) -> None:
        """Queue a message for the hub (any thread, never blocks)."""
        self._outbox.put((msg, list(blobs)))
        # One inproc PUSH per posting thread (sockets are not thread-safe) wakes the link thread.
        s = getattr(self._wake_local, "sock", None)
        if s is None:
            s = self.ctx.socket(zmq.PUSH)
            s.linger = 0
            s.sndhwm = 4
            s.connect(self._wake_addr)
            self._wake_local.sock = s
        try:
            s.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # a wake-up is already pending

    def commands(self) -> list[Msg]:
        out = []
        while self._inbox:
            out.append(self._inbox.popleft())
        return out

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    @property
    def hub_stale(self) -> bool:
        hb = (self.welcome.heartbeat_ms if self.welcome else 250) / 1000
        return time.monotonic() - self.hub_last_seen > 4 * hb

    # --- link thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        wake = self._wake_rx
        dealer = make_socket(self.ctx, zmq.DEALER, max_bytes=MAX_CONTROL_BYTES, hwm=10000)
        dealer.routing_id = self.robot_id.encode()
        secure_client(dealer, self.keys)
        dealer.connect(self.endpoint)
        poller = zmq.Poller()
        poller.register(dealer, zmq.POLLIN)
        poller.register(wake, zmq.POLLIN)
        next_hello = next_ack_check = 0.0
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(50))
                if wake in events:
                    while wake.poll(0):
                        wake.recv()
                now = time.monotonic()
                if dealer in events:
                    for _ in range(100):
                        if not dealer.poll(0):
                            break
                        self._on_message(dealer)
                if self.connected and self.hub_stale:
                    log.warning("hub silent for too long; reconnecting")
                    self.connected = False
                    self.reconnects += 1
                if not self.connected and now >= next_hello:
                    next_hello = now + 0.5
                    self._send(dealer, self.make_hello())
                self._drain_outbox(dealer)
                if self.connected and now >= next_ack_check:
                    next_ack_check = now + ACK_TIMEOUT_S
                    self._resend_if_stuck(dealer)
        finally:
            dealer.close()
            wake.close()

    def _send(self, dealer: zmq.Socket, msg: Msg, blobs=()) -> bool:
        try:
            dealer.send_multipart(encode(self.seq.stamp(msg), blobs), zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def _drain_outbox(self, dealer: zmq.Socket) -> None:
        while True:
            try:
                msg, blobs = self._outbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(msg, StepBatch) and not self.journal.add(msg, blobs):
                continue  # journal full: refused and reported by the journal itself
            if isinstance(msg, EpisodeEvent):
                # Kept until the episode is closed and all its steps are durable, so that a new
                # hub learns of it (a repeated start or end is harmless to the recorder).
                self._events.setdefault(msg.episode_id, []).append(msg)
            if self.connected:
                self._send(dealer, msg, blobs)

    def _resend(self, dealer: zmq.Socket) -> None:
        """After a welcome: per episode, in order, its start, its unacknowledged steps, its end."""
        batches: dict[str, list] = {}
        for m, b in self.journal.pending():
            batches.setdefault(m.episode_id, []).append((m, b))
        for ep in list(dict.fromkeys([*self._events, *batches])):
            events = self._events.get(ep, [])
            for ev in events:
                if ev.event == "started":
                    self._send(dealer, ev)
            for m, b in batches.get(ep, []):
                self._send(dealer, m, b)
            for ev in events:
                if ev.event == "ended":
                    self._send(dealer, ev)

    def _resend_if_stuck(self, dealer: zmq.Socket) -> None:
        """Ack timeout: if the oldest unacknowledged batch has not moved for a whole period,
        resend what is pending (a lost ack or a lost batch; the store is idempotent)."""
        pending = self.journal.pending()
        oldest = (pending[0][0].episode_id, pending[0][0].first_step) if pending else None
        if oldest is not None and oldest == self._oldest_seen:
            self.resends += 1
            log.info("no ack for %s for %.0f s; resending %d batches", oldest, ACK_TIMEOUT_S, len(pending))
            self._resend(dealer)
        self._oldest_seen = oldest

    def _prune_events(self) -> None:
        open_episodes = {m.episode_id for m, _ in self.journal.pending()}
        for ep in [e for e, evs in self._events.items()
                   if e not in open_episodes and any(ev.event == "ended" for ev in evs)]:
            del self._events[ep]

    def _on_message(self, dealer: zmq.Socket) -> None:
        _, msg, blobs, error = recv(dealer, 0, log)
        if error is not None:
            return
        self.hub_last_seen = time.monotonic()
        if isinstance(msg, Welcome):
            first = self.welcome is None
            self.welcome, self.connected = msg, True
            log.info("%s hub %s (session %s)", "connected to" if first else "reconnected to", self.endpoint, msg.session)
            self._resend(dealer)
        elif isinstance(msg, Refuse):
            if msg.reason != self.last_refusal:
                log.error("hub refused: %s", msg.reason)
            self.last_refusal = msg.reason
            if msg.reason.startswith("unknown robot"):
                self.connected = False  # the hub restarted and forgot us: say hello again
        elif isinstance(msg, StepAck):
            self.journal.ack(msg.episode_id, msg.durable_until)
            self._prune_events()
        elif isinstance(msg, Heartbeat):
            pass
        elif self.on_side_message is None or not self.on_side_message(msg, blobs):
            self._inbox.append(msg)
