"""The hub: single source of truth for fleet state, and the only path from operators to robots.

Threads: one loop thread owns the robot and client ROUTER sockets (all fleet state lives there,
so nothing in it needs a lock); the frame relay has its own thread; the recorder (when present)
has its own writer thread. Every rejected message is logged with its reason and counted; none
stops the loop.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
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
    GetCurves,
    GetEpisodeFrame,
    Give,
    Heartbeat,
    LabelEpisode,
    ListEpisodes,
    OperatorBeat,
    PolicyChunk,
    PolicyCommand,
    PolicyFetch,
    PolicyList,
    PolicyOffer,
    PolicyQuery,
    PolicyReport,
    PolicyUpload,
    Refuse,
    Release,
    Reply,
    RequestHelp,
    ResetEpisode,
    RobotHello,
    RobotStatus,
    ShowEpisode,
    StepAck,
    StepBatch,
    Subscribe,
    Take,
    Takeover,
    Teleop,
    Welcome,
    operator_name_problem,
)
from lwd_operator.auth import HubAuth
from lwd_operator.config import HubConfig, RolloutConfig
from lwd_operator.hub import episode_queries
from lwd_operator.hub.attention import AttentionQueue
from lwd_operator.hub.episode_frames import EpisodeFrames
from lwd_operator.hub.frame_relay import FrameRelay
from lwd_operator.hub.policy_store import PolicyStore, PolicyStoreError
from lwd_operator.hub.registry import FleetRegistry, RobotEntry
from lwd_operator.hub.rollout import Rollout, RolloutError, role_allows
from lwd_operator.hub.takeover import TakeoverArbiter, TakeoverError
from lwd_operator.sockets import MAX_CONTROL_BYTES, Endpoints, make_socket, recv, send

log = logging.getLogger("lwd.hub")


@dataclasses.dataclass
class ClientEntry:
    identity: bytes
    operator: str
    role: str
    last_seen: float
    subscribed_hz: float = 0.0
    last_push: float = 0.0


class Hub:
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
            s.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting peer takes over its identity
            s.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sends to vanished peers fail loudly
            if secure:
                secure(s)
        self.robot_sock.bind(self.endpoints.robots)
        self.client_sock.bind(self.endpoints.clients)
        self.relay = FrameRelay(self.ctx, self.endpoints.frames_in, self.endpoints.frames_out, secure)
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
        self.episode_frames = EpisodeFrames(recorder.store) if recorder is not None else None
        self._tmp_policies = None if recorder is not None else tempfile.mkdtemp(prefix="lwd-policies-")
        policy_root = pathlib.Path(recorder.store.root) / "policies" if recorder is not None else self._tmp_policies
        self.rollout_cfg = rollout or RolloutConfig()
        self.rollout = Rollout(PolicyStore(policy_root, recorder.store if recorder is not None else None),
                               self.rollout_cfg, self._offer_policy, self._alert)
        self.attention = AttentionQueue()
        self._help_alerted: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.alerts: collections.deque[Alert] = collections.deque(maxlen=200)
        self._pending_alerts: list[Alert] = []
        self.rejected = collections.Counter()
        self.session = uuid.uuid4().hex[:12]
        self.seq = Sequencer("hub")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Hub:
        self.relay.start()
        self._thread = threading.Thread(target=self._loop, name="hub", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        self.relay.start()
        self._loop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=3)
        self.relay.stop()
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

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.robot_sock, zmq.POLLIN)
        poller.register(self.client_sock, zmq.POLLIN)
        next_beat = next_check = next_rollout = 0.0
        log.info("hub listening: robots %s, clients %s", self.endpoints.robots, self.endpoints.clients)
        while not self._stop.is_set():
            events = dict(poller.poll(10))
            for _ in range(200):  # bounded bursts so timers keep running under load
                if self.robot_sock not in events or not self.robot_sock.poll(0):
                    break
                self._on_robot_message()
            for _ in range(200):
                if self.client_sock not in events or not self.client_sock.poll(0):
                    break
                self._on_client_message()
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + self.cfg.heartbeat_ms / 1000
                for e in self.fleet.robots.values():
                    self._to_robot(e, Heartbeat())
            if now >= next_check:
                next_check = now + 0.1
                self._check_liveness(now)
            if now >= next_rollout:
                next_rollout = now + 0.2
                self._rollout_tick(now)
            self._forward_acks()
            while not self._external_alerts.empty():
                self._alert(self._external_alerts.get_nowait())
            self._push_fleet(now)

    # --- robots ------------------------------------------------------------------------------

    def _to_robot(self, entry: RobotEntry, msg, blobs=()) -> bool:
        return send(self.robot_sock, self.seq.stamp(msg), blobs, prefix=[entry.identity])

    def _refuse(self, sock: zmq.Socket, identity: bytes, reason: str, corr: int = 0) -> None:
        send(sock, self.seq.stamp(Refuse(reason=reason), corr=corr), prefix=[identity])

    def _on_robot_message(self) -> None:
        prefix, msg, blobs, error = recv(self.robot_sock, 1, log)
        identity = prefix[0] if prefix else b""
        if error is not None:
            self.rejected["robot:" + error.code] += 1
            self._refuse(self.robot_sock, identity, str(error))
            return
        if isinstance(msg, RobotHello):
            self._on_hello(identity, msg)
            return
        entry = self.fleet.by_identity(identity)
        if entry is None:
            self.rejected["robot:unknown"] += 1
            log.info("rejected %s from unknown robot %r: no hello yet", type(msg).__name__, identity)
            self._refuse(self.robot_sock, identity, "unknown robot: send robot_hello first", msg.seq)
            return
        self.fleet.seen(entry)
        if isinstance(msg, RobotStatus):
            if msg.help_requested and not (entry.status and entry.status.help_requested):
                self._help_alert(msg.robot_id, msg.episode_id, msg.help_reason or "robot asks for help")
            entry.status = msg
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
            if msg.event == "ended":
                entry.episodes += 1
                entry.successes += int(msg.success)
            if self.recorder is not None:
                self.recorder.submit_episode_event(msg, operator=self.locks.operator_of(msg.robot_id))
            self._to_subscribers(msg)
        elif isinstance(msg, StepBatch):
            self._on_steps(entry, msg, blobs)
        elif isinstance(msg, Alert):
            self._alert(msg)
        elif isinstance(msg, Heartbeat):
            pass
        else:
            self.rejected["robot:unexpected"] += 1
            log.info("rejected %s from robot %s: not a robot message", type(msg).__name__, entry.hello.robot_id)

    def _on_hello(self, identity: bytes, msg: RobotHello) -> None:
        if not msg.robot_id or len(msg.robot_id) > 64 or "/" in msg.robot_id:
            self.rejected["robot:bad_id"] += 1
            self._refuse(self.robot_sock, identity, f"invalid robot id {msg.robot_id[:64]!r}", msg.seq)
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
        entry = self.fleet.hello(identity, msg)
        log.info("robot %s connected (%s, task %s, policy %s v%d)", msg.robot_id, msg.driver, msg.task, msg.policy, msg.policy_version)
        self._to_robot(entry, Welcome(deadman_ms=self.cfg.deadman_ms, heartbeat_ms=self.cfg.heartbeat_ms, session=self.session, corr=msg.seq))
        holder = self.locks.holder(msg.robot_id)
        if holder is not None and msg.mode == "policy":
            # The robot restarted while an operator held it: the operator is still in charge.
            self._to_robot(entry, Takeover(operator=holder.operator))

    def _on_steps(self, entry: RobotEntry, msg: StepBatch, blobs: list[bytes]) -> None:
        try:
            arrays = blob_arrays(msg.blobs, blobs)
        except ProtocolError as e:
            self.rejected["robot:steps"] += 1
            log.info("rejected step batch from %s: %s", entry.hello.robot_id, e)
            self._refuse(self.robot_sock, entry.identity, str(e), msg.seq)
            return
        if self.recorder is None:  # recording disabled: nothing to wait for
            self._to_robot(entry, StepAck(episode_id=msg.episode_id, durable_until=msg.first_step + msg.n))
        else:
            self.recorder.submit_steps(msg, arrays)

    # --- policy distribution (lwd_operator.hub.rollout) ----------------------------------------

    def _offer_policy(self, robot_id: str, offer: PolicyOffer) -> bool:
        e = self.fleet.robots.get(robot_id)
        return e is not None and self._to_robot(e, offer)

    def _serve_policy(self, entry: RobotEntry, msg: PolicyFetch) -> None:
        length = max(0, min(msg.length, self.rollout_cfg.chunk_bytes))
        try:
            _, total, _ = self.rollout.store.payload_info(msg.version)
            blob = self.rollout.store.read_payload(msg.version, msg.offset, length) if 0 <= msg.offset < total else b""
        except (OSError, PolicyStoreError) as err:
            self._to_robot(entry, PolicyChunk(version=msg.version, offset=msg.offset, total_bytes=0, error=str(err), corr=msg.seq))
            return
        self._to_robot(entry, PolicyChunk(version=msg.version, offset=msg.offset, total_bytes=total, corr=msg.seq), [blob])

    def _rollout_tick(self, now: float) -> None:
        running, tasks = {}, {}
        for rid, e in self.fleet.robots.items():
            tasks[rid] = e.status.task if e.status else e.hello.task
            if not e.stale:
                running[rid] = ((e.status.policy_version, e.status.policy_digest) if e.status
                                else (e.hello.policy_version, e.hello.policy_digest))
        try:
            self.rollout.tick(now, running, tasks)
        except Exception:  # a store error must not stop the hub; it is logged and retried
            log.exception("rollout tick failed")

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
        prefix, msg, blobs, error = recv(self.client_sock, 1, log)
        identity = prefix[0] if prefix else b""
        if error is not None:
            self.rejected["client:" + error.code] += 1
            self._refuse(self.client_sock, identity, str(error))
            return
        now = time.monotonic()
        if isinstance(msg, ClientHello):
            name = msg.operator or "anonymous"
            problem = operator_name_problem(name)
            if problem is not None:
                self.rejected["client:bad_name"] += 1
                log.info("rejected client_hello: %s", problem)
                self._refuse(self.client_sock, identity, problem, msg.seq)
                return
            self.clients[identity] = ClientEntry(identity, name, msg.role, now)
            log.info("client %s (%s) connected", msg.operator, msg.role)
            send(self.client_sock, self.seq.stamp(Welcome(deadman_ms=self.cfg.deadman_ms, heartbeat_ms=self.cfg.heartbeat_ms, session=self.session), corr=msg.seq), prefix=[identity])
            return
        client = self.clients.get(identity)
        if client is None:
            self.rejected["client:unknown"] += 1
            log.info("rejected %s from unknown client: no hello yet", type(msg).__name__)
            self._reply(identity, msg.seq, ok=False, error="send client_hello first")
            return
        client.last_seen = now
        handler = getattr(self, f"_client_{type(msg).__name__}", None)
        if handler is None:
            self.rejected["client:unexpected"] += 1
            log.info("rejected %s from client %s: not a client request", type(msg).__name__, client.operator)
            self._reply(identity, msg.seq, ok=False, error=f"{msg.__struct_config__.tag} is not a client request")
            return
        if isinstance(msg, PolicyUpload):
            handler(client, msg, blobs)
        else:
            handler(client, msg)

    def _robot_or_error(self, client: ClientEntry, msg) -> RobotEntry | None:
        e = self.fleet.robots.get(msg.robot_id)
        if e is None:
            self.rejected["client:unknown_robot"] += 1
            log.info("rejected %s from %s: unknown robot %r", type(msg).__name__, client.operator, msg.robot_id[:64])
            self._reply(client.identity, msg.seq, ok=False, error=f"unknown robot {msg.robot_id!r}")
        return e

    def _client_Heartbeat(self, client: ClientEntry, msg: Heartbeat) -> None:
        for rid in self.locks.held_by(client.identity):
            e = self.fleet.robots.get(rid)
            if e is not None:
                self._to_robot(e, OperatorBeat(operator=client.operator))

    def _client_Subscribe(self, client: ClientEntry, msg: Subscribe) -> None:
        client.subscribed_hz = min(max(msg.hz, 0.2), 50.0)
        self._reply(client.identity, msg.seq)

    def _client_Take(self, client: ClientEntry, msg: Take) -> None:
        e = self._robot_or_error(client, msg)
        if e is None:
            return
        try:
            self.locks.take(msg.robot_id, client.identity, client.operator)
        except TakeoverError as err:
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._to_robot(e, Takeover(operator=client.operator))
        log.info("%s took %s", client.operator, msg.robot_id)
        self._reply(client.identity, msg.seq)

    def _client_Give(self, client: ClientEntry, msg: Give) -> None:
        e = self._robot_or_error(client, msg)
        if e is None:
            return
        try:
            self.locks.give(msg.robot_id, client.identity)
        except TakeoverError as err:
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._to_robot(e, Release(operator=client.operator))
        log.info("%s released %s", client.operator, msg.robot_id)
        self._reply(client.identity, msg.seq)

    def _client_Teleop(self, client: ClientEntry, msg: Teleop) -> None:
        holder = self.locks.holder(msg.robot_id)
        if holder is None or holder.client != client.identity:
            self.rejected["client:teleop_without_lock"] += 1
            self._reply(client.identity, msg.seq, ok=False, error=f"you do not hold {msg.robot_id!r}")
            return
        e = self.fleet.robots.get(msg.robot_id)
        if e is not None:
            msg.operator = client.operator
            self._to_robot(e, msg)

    def _client_ResetEpisode(self, client: ClientEntry, msg: ResetEpisode) -> None:
        e = self._robot_or_error(client, msg)
        if e is None:
            return
        holder = self.locks.holder(msg.robot_id)
        if holder is not None and holder.client != client.identity:
            self._reply(client.identity, msg.seq, ok=False, error=f"{msg.robot_id} is held by {holder.operator}")
            return
        self._to_robot(e, ResetEpisode(robot_id=msg.robot_id, reason=msg.reason))
        self._reply(client.identity, msg.seq)

    def _client_RequestHelp(self, client: ClientEntry, msg: RequestHelp) -> None:
        if self._robot_or_error(client, msg) is None:
            return
        e = self.fleet.robots[msg.robot_id]
        episode = e.status.episode_id if e.status else e.hello.episode_id
        self.attention.note_help(msg.robot_id, episode, "", 0.0, f"{client.operator}: {msg.reason or 'no reason given'}")
        self._alert(Alert(robot_id=msg.robot_id, level="warning", code="help",
                          text=f"{client.operator} asks for help: {msg.reason or 'no reason given'}"))
        self._reply(client.identity, msg.seq)

    def _client_PolicyUpload(self, client: ClientEntry, msg: PolicyUpload, blobs: list[bytes]) -> None:
        if not role_allows(client.role, "publish"):  # AUTHZ(policy.publish)
            self._reply(client.identity, msg.seq, ok=False, error=f"role {client.role} may not publish policies")
            return
        try:
            version = self.rollout.upload(client.identity, client.operator, msg, blobs[0] if blobs else b"")
        except (RolloutError, PolicyStoreError, OSError) as err:
            self.rejected["client:policy_upload"] += 1
            log.info("refused policy upload from %s: %s", client.operator, err)
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._reply(client.identity, msg.seq, **({"version": str(version)} if version else {}))

    def _client_PolicyCommand(self, client: ClientEntry, msg: PolicyCommand) -> None:
        if not role_allows(client.role, "command"):  # AUTHZ(policy.command)
            self._reply(client.identity, msg.seq, ok=False, error=f"role {client.role} may not {msg.action} policies")
            return
        online = [rid for rid, e in self.fleet.robots.items() if not e.stale]
        try:
            text = self.rollout.command(client.operator, msg, online)
        except (RolloutError, PolicyStoreError) as err:
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        self._rollout_tick(time.monotonic())  # offers go out now, not at the next tick
        self._reply(client.identity, msg.seq, result=text)

    def _client_PolicyQuery(self, client: ClientEntry, msg: PolicyQuery) -> None:
        running: dict[int, list[str]] = {}
        for rid, e in self.fleet.robots.items():
            if not e.stale:
                running.setdefault(e.status.policy_version if e.status else e.hello.policy_version, []).append(rid)
        reply = PolicyList(versions=self.rollout.store.views(msg.version, running),
                           audit=self.rollout.store.audit_rows(msg.version, msg.audit_limit))
        send(self.client_sock, self.seq.stamp(reply, corr=msg.seq), prefix=[client.identity])

    def _client_LabelEpisode(self, client: ClientEntry, msg: LabelEpisode) -> None:
        if self.recorder is not None:
            try:
                self.recorder.label(msg.episode_id, msg.outcome, client.operator, msg.note)
            except Exception as err:  # a bad label must not stop the hub; the caller learns why
                self._reply(client.identity, msg.seq, ok=False, error=str(err))
                return
        self.labels[msg.episode_id] = msg.outcome
        self._reply(client.identity, msg.seq)

    def _client_ListEpisodes(self, client: ClientEntry, msg: ListEpisodes) -> None:
        self._answer_query(client, msg, episode_queries.list_episodes)

    def _client_ShowEpisode(self, client: ClientEntry, msg: ShowEpisode) -> None:
        self._answer_query(client, msg, episode_queries.show_episode)

    def _client_GetCurves(self, client: ClientEntry, msg: GetCurves) -> None:
        self._answer_query(client, msg, episode_queries.curves)

    def _client_GetEpisodeFrame(self, client: ClientEntry, msg: GetEpisodeFrame) -> None:
        self._answer_query(client, msg, lambda _store, q: self.episode_frames.answer(q))

    def _answer_query(self, client: ClientEntry, msg, query) -> None:
        """Answer a read-only store question with its typed reply, or a Reply that says why not."""
        if self.recorder is None:
            self._reply(client.identity, msg.seq, ok=False, error="this hub does not record episodes")
            return
        try:
            answer = query(self.recorder.store, msg)
        except episode_queries.QueryError as err:
            log.info("refused %s from %s: %s", type(msg).__name__, client.operator, err)
            self._reply(client.identity, msg.seq, ok=False, error=str(err))
            return
        except Exception as err:  # a failing store must not stop the hub; the caller learns why
            log.warning("%s from %s failed: %s", type(msg).__name__, client.operator, err)
            self._reply(client.identity, msg.seq, ok=False, error=f"store: {err}")
            return
        answer, blobs = answer if isinstance(answer, tuple) else (answer, [])
        send(self.client_sock, self.seq.stamp(answer, corr=msg.seq), blobs, prefix=[client.identity])

    # --- fleet state, alerts, liveness ---------------------------------------------------------

    def _help_alert(self, robot_id: str, episode_id: str, text: str) -> None:
        """One help alert per robot and episode, whether the status or a RequestHelp says it first."""
        if self._help_alerted.get(robot_id) != episode_id or not episode_id:
            self._help_alerted[robot_id] = episode_id
            self._alert(Alert(robot_id=robot_id, level="warning", code="help", text=text))

    def _alert(self, alert: Alert) -> None:
        log.warning("alert %s on %s: %s", alert.code, alert.robot_id, alert.text)
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
        if self._pending_alerts:  # alerts go out at once, to everyone subscribed
            due = [c for c in self.clients.values() if c.subscribed_hz > 0]
        state = self.fleet_state()
        self._pending_alerts.clear()
        for c in due:
            c.last_push = now
            send(self.client_sock, self.seq.stamp(state), prefix=[c.identity])
