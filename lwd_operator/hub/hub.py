"""The hub: single source of truth for fleet state, and the only path from operators to robots.

Threads: one loop thread owns the robot and client ROUTER sockets (all fleet state lives there,
so nothing in it needs a lock); the frame relay has its own thread; the recorder (when present)
has its own writer thread. Every rejected message is logged with its reason and counted; none
stops the loop.
"""

from __future__ import annotations

import collections
import logging
import math
import pathlib
import queue
import shutil
import tempfile
import threading
import time
import uuid

import zmq

from lwd_core.protocol import ProtocolError, Sequencer, blob_arrays
from lwd_core.protocol.messages import (
    Alert,
    ClientHello,
    EpisodeEvent,
    FleetState,
    Heartbeat,
    LabelEpisode,
    PolicyFetch,
    PolicyReport,
    PolicyUpload,
    Refuse,
    Reply,
    RequestHelp,
    RobotHello,
    RobotStatus,
    StepAck,
    StepBatch,
    Subscribe,
    Takeover,
    Welcome,
    operator_name_problem,
)
from lwd_operator.auth import HubAuth
from lwd_operator.config import HubConfig, RolloutConfig
from lwd_operator.hub.attention import AttentionQueue
from lwd_operator.hub.authz import CLIENT_PORT, ROBOT_PORT
from lwd_operator.hub.data_requests import DataRequests
from lwd_operator.hub.episode_feed import EpisodeFeed
from lwd_operator.hub.episode_frames import EpisodeFrames
from lwd_operator.hub.frame_relay import FrameRelay
from lwd_operator.hub.gatekeeper import Gatekeeper, steps_problem
from lwd_operator.hub.learner_status import LearnerBoard
from lwd_operator.hub.operator_requests import ClientEntry, OperatorRequests
from lwd_operator.hub.policy_requests import PolicyRequests
from lwd_operator.hub.policy_store import PolicyStore
from lwd_operator.hub.registry import FleetRegistry, RobotEntry
from lwd_operator.hub.rollout import Rollout
from lwd_operator.hub.takeover import TakeoverArbiter
from lwd_operator.hub.value_traces import ValueTraces
from lwd_operator.hub.watchdog import ThreadWatchdog
from lwd_operator.sockets import MAX_CONTROL_BYTES, Endpoints, make_socket, recv, send

log = logging.getLogger("lwd.hub")

ALERT_PUSH_INTERVAL_S = 0.1
"""Least time between two alert-driven fleet pushes."""


class Hub(OperatorRequests, PolicyRequests, DataRequests):
    """Run with ``start()`` (background thread) or ``run()`` (this thread) and ``stop()``."""

    def __init__(self, cfg: HubConfig, *, insecure_no_auth: bool = False, recorder=None,
                 rollout: RolloutConfig | None = None):
        """``rollout``: canary and distribution settings. Policy versions live beside the
        recordings (``<recordings>/policies``); without a recorder, in a temporary folder that
        goes away with the hub (and versions have no live metrics)."""
        self.cfg = cfg
        self.endpoints = Endpoints(cfg.host, cfg.port)
        self.ctx = zmq.Context()
        self.auth = None if insecure_no_auth else HubAuth(self.ctx, cfg.keys_dir)
        if insecure_no_auth:
            log.warning("hub running WITHOUT authentication (--insecure-no-auth)")
        secure = self.auth.secure if self.auth else None
        self.robot_sock = make_socket(self.ctx, zmq.ROUTER, max_bytes=MAX_CONTROL_BYTES, hwm=10000)
        self.client_sock = make_socket(self.ctx, zmq.ROUTER, max_bytes=1024 * 1024, hwm=10000)
        for s in (self.robot_sock, self.client_sock):
            # No handover: a peer choosing another's routing id must not take over its
            # connection. Peers use generated routing ids; a reconnect says hello again.
            s.setsockopt(zmq.ROUTER_HANDOVER, 0)
            s.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sends to vanished peers fail loudly
            if secure:
                secure(s)
        self.robot_sock.bind(self.endpoints.robots)
        self.client_sock.bind(self.endpoints.clients)
        self.relay = FrameRelay(self.ctx, self.endpoints.frames_in, self.endpoints.frames_out, secure,
                                identity=self.auth.identity if self.auth else None)
        self.fleet = FleetRegistry(cfg.stale_ms / 1000)
        self.locks = TakeoverArbiter()
        self.clients: dict[bytes, ClientEntry] = {}
        self.recorder = recorder
        self._external_alerts: queue.SimpleQueue[Alert] = queue.SimpleQueue()
        if recorder is not None:
            # Store trouble (full disk, unwritable folder) reaches operators as an alert.
            recorder.on_error = lambda text: self._external_alerts.put(
                Alert(robot_id="", level="critical", code="store_error", text=text))
            self.relay.on_frame = recorder.submit_frame
        self.gate = Gatekeeper(self.auth.identities if self.auth else None, self.fleet)
        self.rejected = self.gate.rejected
        self.crashes = collections.Counter()
        """Unexpected exceptions caught in handlers, by handler ('robot', 'client', ...)."""
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        """Replies completed off the loop thread (labels, once durable)."""
        self.watchdog = ThreadWatchdog(self._alert)
        self._help_at: dict[str, float] = {}
        self.help_coalesced = 0
        self._last_alert_push = 0.0
        # Learners fetch labelled episodes through the hub (no shared filesystem needed).
        self.episode_feed = EpisodeFeed(recorder.store) if recorder is not None else None
        self.episode_frames = EpisodeFrames(recorder.store) if recorder is not None else None
        self._tmp_policies = None if recorder is not None else tempfile.mkdtemp(prefix="lwd-policies-")
        policy_root = pathlib.Path(recorder.store.root) / "policies" if recorder is not None else self._tmp_policies
        self.rollout_cfg = rollout or RolloutConfig()
        self.rollout = Rollout(PolicyStore(policy_root, recorder.store if recorder is not None else None),
                               self.rollout_cfg, self._offer_policy, self._alert)
        self.attention = AttentionQueue()
        self.value_traces = ValueTraces()
        self.learners = LearnerBoard(cfg.learner_stale_s)
        self._help_alerted: dict[str, str] = {}
        self._next_rollout = 0.0
        self.labels: dict[str, str] = {}
        self.drivers: dict[str, str] = {}
        """robot -> operator who last took it during its current episode (its interventions'
        operator, even when they gave it back before the episode ended)."""
        self.alerts: collections.deque[Alert] = collections.deque(maxlen=200)
        self._pending_alerts: collections.deque[Alert] = collections.deque(maxlen=100)
        self.session = uuid.uuid4().hex[:12]
        self.seq = Sequencer("hub")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sender = ""

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Hub:
        self._watch()
        self.relay.start()
        self._thread = threading.Thread(target=self._loop, name="hub", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        self._watch()
        self.relay.start()
        self._loop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=3)
        self.relay.stop()
        if self.episode_feed is not None:
            self.episode_feed.stop()
        self.robot_sock.close()
        self.client_sock.close()
        if self.auth:
            self.auth.stop()
        if self.recorder is not None:
            self.recorder.stop()  # writes everything already submitted
            self.recorder.store.close()
        self.rollout.store.close()
        if self._tmp_policies:
            shutil.rmtree(self._tmp_policies, ignore_errors=True)
        self.ctx.term()

    def _watch(self) -> None:
        self.watchdog.watch("frame relay", self.relay.alive, self.relay.restart)
        if self.recorder is not None and hasattr(self.recorder, "alive"):
            self.watchdog.watch("recorder", self.recorder.alive, self.recorder.restart)

    def _guarded(self, where: str, fn) -> None:
        """Run one handler; whatever it raises is logged with the sender's key, counted, survived."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the hub loop must outlive any one message
            self.crashes[where] += 1
            self.gate.log(logging.ERROR, ("crash", where, type(e).__name__),
                          "%s handler failed on a message from key %s: %s: %s", where,
                          self._sender or "?", type(e).__name__, e)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.robot_sock, zmq.POLLIN)
        poller.register(self.client_sock, zmq.POLLIN)
        next_beat = next_check = 0.0
        log.info("hub listening: robots %s, clients %s", self.endpoints.robots, self.endpoints.clients)
        while not self._stop.is_set():
            events = dict(poller.poll(10))
            for _ in range(200):  # bounded bursts so timers keep running under load
                if self.robot_sock not in events or not self.robot_sock.poll(0):
                    break
                self._guarded("robot", self._on_robot_message)
            for _ in range(200):
                if self.client_sock not in events or not self.client_sock.poll(0):
                    break
                self._guarded("client", self._on_client_message)
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + self.cfg.heartbeat_ms / 1000
                for e in self.fleet.robots.values():
                    self._to_robot(e, Heartbeat())
            if now >= next_check:
                next_check = now + 0.1
                self._check_liveness(now)
            self._guarded("timers", lambda n=now: self._timers(n))

    def _timers(self, now: float) -> None:
        self.watchdog.check(now)
        if now >= self._next_rollout:
            self._next_rollout = now + 0.2
            self._rollout_tick(now)
        self._forward_acks()
        if self.episode_feed is not None:
            self.episode_feed.drain(lambda ident, m, blobs: send(
                self.client_sock, self.seq.stamp(m, corr=m.corr), blobs, prefix=[ident]))
        while not self._replies.empty():
            identity, corr, error = self._replies.get_nowait()
            self._reply(identity, corr, ok=not error, error=error or "")
        while not self._external_alerts.empty():
            self._alert(self._external_alerts.get_nowait())
        self._push_fleet(now)

    # --- robots ------------------------------------------------------------------------------

    def _to_robot(self, entry: RobotEntry, msg, blobs=()) -> bool:
        return send(self.robot_sock, self.seq.stamp(msg), blobs, prefix=[entry.identity])

    def _refuse(self, sock: zmq.Socket, identity: bytes, reason: str, corr: int = 0) -> None:
        send(sock, self.seq.stamp(Refuse(reason=reason), corr=corr), prefix=[identity])

    def _on_robot_message(self) -> None:
        prefix, msg, blobs, error, user = recv(self.robot_sock, 1, None)
        identity = prefix[0] if prefix else b""
        self._sender = user
        if error is not None:
            self.gate.reject(ROBOT_PORT, error.code, user, str(error))
            if self.gate.refusal_replies.allow(identity):
                self._refuse(self.robot_sock, identity, str(error), error.seq)
            return
        entry = self.fleet.by_identity(identity)
        session = msg.session if isinstance(msg, RobotHello) else entry.hello.session if entry else ""
        if entry is not None or isinstance(msg, RobotHello):
            refused = self.gate.admit(ROBOT_PORT, user, identity, msg, session)
            if refused is not None:
                if self.gate.refusal_replies.allow(identity):
                    self._refuse(self.robot_sock, identity, refused, msg.seq)
                return
        if isinstance(msg, RobotHello):
            self._on_hello(identity, msg, user)
            return
        if entry is None:
            self.gate.reject(ROBOT_PORT, "unknown", user, f"{type(msg).__name__} before robot_hello")
            self._refuse(self.robot_sock, identity, "unknown robot: send robot_hello first", msg.seq)
            return
        problem = self.gate.robot_problem(entry, msg)
        if problem is not None:
            self.gate.reject(ROBOT_PORT, "not_yours", user, problem)
            self._refuse(self.robot_sock, identity, problem, msg.seq)
            return
        self.fleet.seen(entry)
        if isinstance(msg, RobotStatus):
            if msg.help_requested and not (entry.status and entry.status.help_requested):
                self._help_alert(msg.robot_id, msg.episode_id, msg.help_reason or "robot asks for help")
            entry.status = msg
            self.value_traces.note_status(msg)
        elif isinstance(msg, RequestHelp):
            episode = entry.status.episode_id if entry.status else entry.hello.episode_id
            self.attention.note_help(entry.hello.robot_id, episode, msg.signal, msg.value, msg.reason)
            self._help_alert(entry.hello.robot_id, episode, msg.reason or "robot asks for help")
        elif isinstance(msg, PolicyFetch):
            self._serve_policy(entry, msg)
        elif isinstance(msg, PolicyReport):
            if msg.robot_id == entry.hello.robot_id:
                self.rollout.on_report(msg)
                self._to_subscribers(msg)
        elif isinstance(msg, EpisodeEvent):
            first = msg.event != "ended" or self.fleet.episode_ended(entry, msg.episode_id, msg.success)
            holder = self.locks.operator_of(msg.robot_id)
            driver = holder or self.drivers.get(msg.robot_id, "")
            if msg.event == "ended":  # whoever still holds the robot drives the next episode
                self.drivers[msg.robot_id] = holder
            if self.recorder is not None:
                self.recorder.submit_episode_event(msg, operator=driver)
            if first:  # resent ends are for the recorder (idempotent), not news for consoles
                self._to_subscribers(msg)
        elif isinstance(msg, StepBatch):
            self._on_steps(entry, msg, blobs)
        elif isinstance(msg, Alert):
            if self.gate.alerts.allow(entry.hello.robot_id):
                self._alert(msg)
            else:
                self.gate.reject(ROBOT_PORT, "rate", user, f"alerts from {entry.hello.robot_id} over their rate")
        elif isinstance(msg, Heartbeat):
            pass
        else:
            self.rejected["robot:unexpected"] += 1
            log.info("rejected %s from robot %s: not a robot message", type(msg).__name__, entry.hello.robot_id)

    def _on_hello(self, identity: bytes, msg: RobotHello, user: str = "") -> None:
        if not msg.robot_id or len(msg.robot_id) > 64:
            self.gate.reject(ROBOT_PORT, "bad_id", user, f"invalid robot id {msg.robot_id[:64]!r}")
            self._refuse(self.robot_sock, identity, f"invalid robot id {msg.robot_id[:64]!r}", msg.seq)
            return
        problem = self.gate.hello_problem(user, identity, msg)
        if problem is not None:
            self.gate.reject(ROBOT_PORT, "impersonation", user, problem)
            self._refuse(self.robot_sock, identity, problem, msg.seq)
            return
        old = self.fleet.robots.get(msg.robot_id)
        old_episode = (old.status.episode_id if old and old.status else old.hello.episode_id if old else "")
        restarted = old is not None and old.hello.session != msg.session
        if restarted and old_episode and old_episode != msg.episode_id and self.recorder is not None:
            # The robot came back without its episode (it was restarted): that episode was
            # interrupted. Close it as aborted; what was acknowledged stays readable.
            self.recorder.submit_episode_event(EpisodeEvent(
                robot_id=msg.robot_id, episode_id=old_episode, task=old.hello.task, event="ended",
                reason="aborted"))
        if restarted:
            self.rollout.forget_robot_session(msg.robot_id)
        entry = self.fleet.hello(identity, msg, key=user)
        log.info("robot %s connected with key %s (%s, task %s, policy %s v%d)", msg.robot_id, user or "-",
                 msg.driver, msg.task, msg.policy, msg.policy_version)
        self._to_robot(entry, Welcome(deadman_ms=self.cfg.deadman_ms, heartbeat_ms=self.cfg.heartbeat_ms, session=self.session, corr=msg.seq))
        holder = self.locks.holder(msg.robot_id)
        if holder is not None and msg.mode == "policy":
            # The robot restarted while an operator held it: the operator is still in charge.
            self._to_robot(entry, Takeover(operator=holder.operator))

    def _on_steps(self, entry: RobotEntry, msg: StepBatch, blobs: list[bytes]) -> None:
        try:
            arrays = blob_arrays(msg.blobs, blobs)
        except ProtocolError as e:
            self.gate.reject(ROBOT_PORT, "steps", entry.key, f"step batch from {entry.hello.robot_id}: {e}")
            self._refuse(self.robot_sock, entry.identity, str(e), msg.seq)
            return
        problem = steps_problem(msg, arrays, entry.hello.obs_dim, entry.hello.action_dim)
        if problem is not None:
            self.gate.reject(ROBOT_PORT, "steps", entry.key, f"step batch from {entry.hello.robot_id}: {problem}")
            self._refuse(self.robot_sock, entry.identity, f"step batch: {problem}", msg.seq)
            return
        if self.recorder is None:  # recording disabled: nothing to wait for
            self._to_robot(entry, StepAck(episode_id=msg.episode_id, durable_until=msg.first_step + msg.n))
        else:
            self.recorder.submit_steps(msg, arrays)

    def _forward_acks(self) -> None:
        if self.recorder is None:
            return
        for robot_id, ack in self.recorder.poll_acks():
            e = self.fleet.robots.get(robot_id)
            if e is not None:
                self._to_robot(e, ack)

    # --- clients -----------------------------------------------------------------------------

    def _reply(self, identity: bytes, corr: int, ok: bool = True, error: str = "", **data: str) -> None:
        send(self.client_sock, self.seq.stamp(Reply(ok=ok, error=error, data=data), corr=corr), prefix=[identity])

    def _on_client_message(self) -> None:
        prefix, msg, blobs, error, user = recv(self.client_sock, 1, None)
        identity = prefix[0] if prefix else b""
        self._sender = user
        if error is not None:
            self.gate.reject(CLIENT_PORT, error.code, user, str(error))
            if self.gate.refusal_replies.allow(identity):
                self._refuse(self.client_sock, identity, str(error), error.seq)
            return
        now = time.monotonic()
        known = self.clients.get(identity)
        session = msg.session if isinstance(msg, ClientHello) else known.session if known else ""
        if not self.gate.requests.allow(identity):
            self.gate.reject(CLIENT_PORT, "rate", user, f"{type(msg).__name__} over the request rate")
            return
        refused = self.gate.admit(CLIENT_PORT, user, identity, msg, session)
        if refused is not None:
            if self.gate.refusal_replies.allow(identity):
                self._reply(identity, msg.seq, ok=False, error=refused)
            return
        if isinstance(msg, ClientHello):
            # The key is the identity: the name shown to others and written to the store is the
            # key's name. Only a hub without authentication takes the hello's word for it.
            name = user if self.auth else (msg.operator or "anonymous")
            problem = operator_name_problem(name)
            if problem is not None:
                self.gate.reject(CLIENT_PORT, "bad_name", user, problem)
                self._refuse(self.client_sock, identity, problem, msg.seq)
                return
            # The role, like the name, is the key's: the hello's role is only a request.
            ident = self.gate.identity(user) if self.auth else None
            role = ident.role if ident is not None else msg.role
            self.clients[identity] = ClientEntry(identity, name, role, now, key=user, session=msg.session)
            log.info("client %s connected with key %s (asked for %s/%s)", name, user or "-", msg.operator, msg.role)
            send(self.client_sock, self.seq.stamp(Welcome(deadman_ms=self.cfg.deadman_ms, heartbeat_ms=self.cfg.heartbeat_ms,
                                                          session=self.session, operator=name), corr=msg.seq), prefix=[identity])
            return
        client = known
        if client is None:
            self.gate.reject(CLIENT_PORT, "unknown", user, f"{type(msg).__name__} before client_hello")
            self._reply(identity, msg.seq, ok=False, error="send client_hello first")
            return
        client.last_seen = now
        handler = getattr(self, f"_client_{type(msg).__name__}", None)
        if handler is None:
            self.gate.reject(CLIENT_PORT, "unexpected", user, f"{type(msg).__name__} is not a client request")
            self._reply(identity, msg.seq, ok=False, error=f"{msg.__struct_config__.tag} is not a client request")
            return
        if isinstance(msg, PolicyUpload):
            handler(client, msg, blobs)
        else:
            handler(client, msg)

    def _client_Subscribe(self, client: ClientEntry, msg: Subscribe) -> None:
        if not math.isfinite(msg.hz) or msg.hz < 0:
            self.gate.reject(CLIENT_PORT, "bad_field", client.key, f"subscribe hz={msg.hz}")
            self._reply(client.identity, msg.seq, ok=False, error=f"hz must be a finite number >= 0, not {msg.hz}")
            return
        client.subscribed_hz = min(max(msg.hz, 0.2), 50.0)
        self._reply(client.identity, msg.seq)

    def _client_LabelEpisode(self, client: ClientEntry, msg: LabelEpisode) -> None:
        self.labels[msg.episode_id] = msg.outcome
        if self.recorder is None:
            self._reply(client.identity, msg.seq)
            return
        ident, corr = client.identity, msg.seq

        def done(error: str | None) -> None:  # writer thread: the label is committed (or failed)
            self._replies.put((ident, corr, error))

        # Durable before acknowledged: the reply waits for the recorder's commit.
        self.recorder.label(msg.episode_id, msg.outcome, client.operator, msg.note, done=done)

    # --- fleet state, alerts, liveness ---------------------------------------------------------

    def _help_alert(self, robot_id: str, episode_id: str, text: str) -> None:
        """One help alert per robot and episode, whether the status or a RequestHelp says it first."""
        if self._help_alerted.get(robot_id) != episode_id or not episode_id:
            self._help_alerted[robot_id] = episode_id
            self._alert(Alert(robot_id=robot_id, level="warning", code="help", text=text))

    def _alert(self, alert: Alert) -> None:
        self.gate.log(logging.WARNING, ("alert", alert.code, alert.robot_id), "alert %s on %s: %s",
                      alert.code, alert.robot_id, alert.text)
        self.alerts.append(alert)
        self._pending_alerts.append(alert)

    def _to_subscribers(self, msg) -> None:
        for c in self.clients.values():
            if c.subscribed_hz > 0:
                send(self.client_sock, self.seq.stamp(msg), prefix=[c.identity])

    def _check_liveness(self, now: float) -> None:
        for e in self.fleet.update_staleness(now):
            self._alert(Alert(robot_id=e.hello.robot_id, level="critical", code="stale", text="robot stopped answering"))
        for ident, c in list(self.clients.items()):
            if now - c.last_seen > self.cfg.client_timeout_s:
                robots = self.locks.drop_client(ident)
                log.warning("client %s timed out; freed %s", c.operator, robots or "no robots")
                for r in robots:
                    self._alert(Alert(robot_id=r, level="critical", code="operator_lost", text=f"{c.operator} disconnected while driving"))
                del self.clients[ident]

    def fleet_state(self) -> FleetState:
        now = time.monotonic()
        views = [self.fleet.view(e, self.locks.operator_of(rid), now) for rid, e in sorted(self.fleet.robots.items())]
        rollout = self.rollout.view()
        for v in views:
            v.policy_target = self.rollout.target(v.robot_id, rollout.pinned)
            v.pinned = v.robot_id in rollout.pinned
            v.canary = v.robot_id in rollout.canary_robots
            st = self.fleet.robots[v.robot_id].status
            v.policy_error = (st.policy_error if st else "") or "; ".join(
                f"v{ver}: {why}" for ver, why in self.rollout.refused.get(v.robot_id, {}).items())
            v.policy_standby = st.policy_standby if st else 0
        return FleetState(robots=views, alerts=list(self._pending_alerts), rollout=rollout,
                          attention=self.attention.build(self.fleet, self.rollout.refused, now))

    def _push_fleet(self, now: float) -> None:
        due = [c for c in self.clients.values() if c.subscribed_hz > 0 and now - c.last_push >= 1 / c.subscribed_hz]
        if not due and not self._pending_alerts:
            return
        if self._pending_alerts:
            # Alerts go out at once to everyone subscribed, but at most 10 pushes a second:
            # a burst of alerts is coalesced into one fleet state.
            if now - self._last_alert_push < ALERT_PUSH_INTERVAL_S:
                return
            self._last_alert_push = now
            due = [c for c in self.clients.values() if c.subscribed_hz > 0]
        state = self.fleet_state()
        self._pending_alerts.clear()
        for c in due:
            c.last_push = now
            send(self.client_sock, self.seq.stamp(state), prefix=[c.identity])
