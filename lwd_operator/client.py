"""HubClient: the one code path through which consoles, the TUI, scripts and the operator bot
talk to the hub.

One background thread owns the sockets (control DEALER, relay SUB). Calls from other threads
are queued to it; requests return when the hub replies (or raise ``HubError`` on timeout).
While connected the client sends a heartbeat every 100 ms: it is what keeps robots under this
operator's control alive (their deadman), so it must never be starved by callbacks. Callbacks
run on the client thread and must be quick; the newest fleet state, frame per camera and
telemetry per robot are also kept for polling (``latest_*``), which is what GUIs should use.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable

import zmq

from lwd_core.protocol import ProtocolError, Sequencer, decode, encode
from lwd_core.protocol.messages import (
    Alert,
    ClientHello,
    EpisodeEvent,
    FleetState,
    Frame,
    Give,
    Heartbeat,
    LabelEpisode,
    Msg,
    Refuse,
    Reply,
    RequestHelp,
    ResetEpisode,
    Subscribe,
    Take,
    Telemetry,
    Teleop,
    Welcome,
    operator_name_problem,
)
from lwd_operator.auth import ClientKeys, secure_client
from lwd_operator.hub.frame_relay import topic
from lwd_operator.sockets import (
    FRAME_HWM,
    MAX_CONTROL_BYTES,
    MAX_FRAME_BYTES,
    Endpoints,
    make_socket,
)

log = logging.getLogger("lwd.client")


class HubError(RuntimeError):
    pass


class HubClient:
    def __init__(self, endpoints: Endpoints, keys: ClientKeys | None, operator: str,
                 role: str = "operator", heartbeat_s: float = 0.1):
        problem = operator_name_problem(operator)
        if problem is not None:
            raise ValueError(problem)  # the hub would refuse the hello; say so before connecting
        self.endpoints = endpoints.connect_form()
        self.keys, self.operator, self.role, self.heartbeat_s = keys, operator, role, heartbeat_s
        self.ctx = zmq.Context()
        self.seq = Sequencer(operator)
        self.session = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._welcome = concurrent.futures.Future()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hub-client-{operator}", daemon=True)
        self.latest_fleet: FleetState | None = None
        self.latest_frames: dict[tuple[str, str], tuple[Frame, bytes, float]] = {}
        self.latest_telemetry: dict[str, Telemetry] = {}
        self.alerts: list[Alert] = []
        self.on_fleet: Callable[[FleetState], None] | None = None
        self.on_episode: Callable[[EpisodeEvent], None] | None = None
        self.on_telemetry: Callable[[Telemetry], None] | None = None
        self.on_frame: Callable[[Frame, bytes], None] | None = None
        self.last_hub_msg = 0.0
        self.rejected = 0
        self._need_hello = False
        self._logged: dict[str, tuple[float, int]] = {}

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> HubClient:
        """Connect and wait for the hub's welcome; idempotent."""
        if self._thread.ident is None:
            self._thread.start()
        try:
            self._welcome.result(timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise HubError(f"no answer from hub at {self.endpoints.clients} within {timeout:.0f} s "
                           "(is it running, and is this client's key authorized?)") from None
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.ctx.destroy(linger=0)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def hub_stale(self) -> bool:
        return time.monotonic() - self.last_hub_msg > 2.0

    # --- API (any thread) -----------------------------------------------------------------------

    def request(self, msg: Msg, timeout: float = 5.0) -> Reply:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._out.put(("req", msg, fut))
        try:
            rep = fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()  # the client thread forgets it (a late reply is then ignored)
            raise HubError(f"hub did not answer {msg.__struct_config__.tag} within {timeout} s") from None
        if isinstance(rep, Refuse):
            return Reply(ok=False, error=rep.reason)
        return rep

    def subscribe(self, hz: float = 5.0) -> Reply:
        return self.request(Subscribe(hz=hz))

    def take(self, robot_id: str) -> Reply:
        return self.request(Take(robot_id=robot_id))

    def give(self, robot_id: str) -> Reply:
        return self.request(Give(robot_id=robot_id))

    def reset_episode(self, robot_id: str) -> Reply:
        return self.request(ResetEpisode(robot_id=robot_id))

    def label(self, robot_id: str, episode_id: str, outcome: str, note: str = "", timeout: float = 10.0) -> Reply:
        """Label an episode; an ok reply means the label is committed to the store."""
        return self.request(LabelEpisode(robot_id=robot_id, episode_id=episode_id, outcome=outcome, note=note),
                            timeout=timeout)

    def request_help(self, robot_id: str, reason: str = "") -> Reply:
        return self.request(RequestHelp(robot_id=robot_id, reason=reason))

    def teleop(self, robot_id: str, dpos, gripper: float) -> None:
        """Fire and forget: an error (e.g. not holding the robot) arrives as a logged reply."""
        self._out.put(("send", Teleop(robot_id=robot_id, dpos=tuple(float(x) for x in dpos), gripper=float(gripper)), None))

    def watch_frames(self, robot_id: str, camera: str = "") -> None:
        self._out.put(("sub", topic("frame", robot_id, camera) if camera else f"frame/{robot_id}/".encode(), None))

    def watch_telemetry(self, robot_id: str) -> None:
        self._out.put(("sub", topic("tele", robot_id), None))

    def unwatch(self, robot_id: str) -> None:
        self._out.put(("unsub", robot_id, None))

    # --- client thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        dealer = make_socket(self.ctx, zmq.DEALER, max_bytes=MAX_CONTROL_BYTES, hwm=1000)
        secure_client(dealer, self.keys)
        dealer.connect(self.endpoints.clients)
        sub = make_socket(self.ctx, zmq.SUB, max_bytes=MAX_FRAME_BYTES, hwm=FRAME_HWM)
        secure_client(sub, self.keys)
        sub.connect(self.endpoints.frames_out)
        subs: set[bytes] = set()
        poller = zmq.Poller()
        poller.register(dealer, zmq.POLLIN)
        poller.register(sub, zmq.POLLIN)
        next_beat = next_hello = 0.0
        while not self._stop.is_set():
            events = dict(poller.poll(5))
            if dealer in events:
                for _ in range(200):
                    if not dealer.poll(0):
                        break
                    self._on_control(dealer.recv_multipart())
            if sub in events:
                for _ in range(200):
                    if not sub.poll(0):
                        break
                    self._on_relay(sub.recv_multipart())
            now = time.monotonic()
            if (not self._welcome.done() or self._need_hello) and now >= next_hello:
                next_hello = now + 0.5
                self._need_hello = False
                self._send(dealer, ClientHello(operator=self.operator, role=self.role, session=self.session))
            if self._welcome.done() and now >= next_beat:
                next_beat = now + self.heartbeat_s
                self._send(dealer, Heartbeat())
            while True:
                try:
                    op, item, fut = self._out.get_nowait()
                except queue.Empty:
                    break
                if op == "req":
                    if len(self._pending) > 64:  # requests whose caller timed out and left
                        self._pending = {k: f for k, f in self._pending.items() if not f.cancelled()}
                    if not fut.cancelled():
                        self._pending[self._send(dealer, item)] = fut
                elif op == "send":
                    self._send(dealer, item)
                elif op == "sub" and item not in subs:
                    subs.add(item)
                    sub.setsockopt(zmq.SUBSCRIBE, item)
                elif op == "unsub":
                    for t in [t for t in subs if t.split(b"/")[1] == item.encode()]:
                        sub.setsockopt(zmq.UNSUBSCRIBE, t)
                        subs.discard(t)

    def _send(self, dealer: zmq.Socket, msg: Msg) -> int:
        self.seq.stamp(msg)
        try:
            dealer.send_multipart(encode(msg), zmq.NOBLOCK)
        except zmq.Again:
            log.warning("hub not reachable; dropped %s", msg.__struct_config__.tag)
        return msg.seq

    def _on_control(self, frames: list[bytes]) -> None:
        try:
            msg, _ = decode(frames)
        except ProtocolError as e:
            self.rejected += 1
            log.warning("rejected message from hub: %s", e)
            return
        self.last_hub_msg = time.monotonic()
        if isinstance(msg, Welcome):
            if msg.operator:
                self.operator = msg.operator  # the hub names us by our key: take that name
            if not self._welcome.done():
                self._welcome.set_result(msg)
            return
        fut = self._pending.pop(msg.corr, None) if msg.corr else None
        if fut is not None:
            try:
                fut.set_result(msg)
            except concurrent.futures.InvalidStateError:
                pass  # the caller timed out and cancelled it just now
        elif isinstance(msg, FleetState):
            self.latest_fleet = msg
            self.alerts = (self.alerts + msg.alerts)[-200:]
            if self.on_fleet:
                self.on_fleet(msg)
        elif isinstance(msg, EpisodeEvent):
            if self.on_episode:
                self.on_episode(msg)
        elif isinstance(msg, (Reply, Refuse)):
            err = msg.error if isinstance(msg, Reply) else msg.reason
            if err.startswith("send client_hello"):
                self._need_hello = True  # the hub restarted or timed this client out
            elif err:
                self._log_once(f"hub: {err}")

    def _log_once(self, text: str) -> None:
        """Warn about an error once per second at most (a stream of teleops can repeat it 50x/s)."""
        now = time.monotonic()
        last, count = self._logged.get(text, (0.0, 0))
        if now - last >= 1.0:
            log.warning("%s%s", text, f" (x{count + 1})" if count else "")
            self._logged[text] = (now, 0)
        else:
            self._logged[text] = (last, count + 1)

    def _on_relay(self, frames: list[bytes]) -> None:
        try:
            msg, blobs = decode(frames[1:])
        except ProtocolError as e:
            self.rejected += 1
            log.info("rejected relayed message: %s", e)
            return
        if isinstance(msg, Telemetry):
            self.latest_telemetry[msg.robot_id] = msg
            if self.on_telemetry:
                self.on_telemetry(msg)
        elif isinstance(msg, Frame) and blobs:
            self.latest_frames[(msg.robot_id, msg.camera)] = (msg, blobs[0], time.monotonic())
            if self.on_frame:
                self.on_frame(msg, blobs[0])
