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
import hashlib
import itertools
import json
import logging
import os
import pathlib
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import zmq

from lwd_core.protocol import ProtocolError, Sequencer, decode, encode
from lwd_core.protocol.messages import (
    Alert,
    ClientBye,
    ClientHello,
    Curves,
    EpisodeBatch,
    EpisodeDetail,
    EpisodeEvent,
    EpisodeFrame,
    EpisodeInfo,
    EpisodeList,
    FetchEpisodes,
    FleetState,
    Frame,
    GetCurves,
    GetEpisodeFrame,
    GetLearnerStatus,
    GetValueTrace,
    Give,
    Heartbeat,
    LabelEpisode,
    LearnerStates,
    LearnerStatus,
    LearnerView,
    ListEpisodes,
    Msg,
    PolicyAuditView,
    PolicyCommand,
    PolicyList,
    PolicyQuery,
    PolicyReport,
    PolicyUpload,
    PolicyVersionView,
    Refuse,
    Reply,
    RequestHelp,
    ResetEpisode,
    ShowEpisode,
    Subscribe,
    Take,
    Telemetry,
    Teleop,
    ValueTrace,
    Welcome,
    operator_name_problem,
)
from lwd_operator.auth import ClientKeys, secure_client
from lwd_operator.hub.frame_relay import topic
from lwd_operator.sockets import (
    MAX_CONTROL_BYTES,
    MAX_FRAME_BYTES,
    RELAY_HWM,
    Endpoints,
    make_socket,
)

if TYPE_CHECKING:
    from lwd_core.data.episode import Episode

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
        self.on_policy_report: Callable[[PolicyReport], None] | None = None
        """Called (client thread) when a robot swapped in or refused a version (subscribers)."""
        self.last_hub_msg = 0.0
        self.rejected = 0
        self._need_hello = False
        self._leaving = False
        self._subscribed_hz = 0.0
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

    def close(self, reason: str = "closed", timeout: float = 1.0, *, goodbye: bool = True) -> None:
        """Say goodbye (the hub gives back every robot this client holds) and disconnect.

        Waits up to ``timeout`` for the hub's answer; an unreachable hub times the client out
        as before, so closing never hangs. ``goodbye=False`` vanishes without a word, like a
        crashed console (the robots it held then stop on their deadman)."""
        if goodbye and self._welcome.done() and self._thread.is_alive() and not self._stop.is_set():
            try:
                self.request(ClientBye(reason=reason), timeout=timeout)
            except HubError:
                log.info("hub did not answer the goodbye; it will time this client out")
            self._leaving = True  # the hub forgot us: no heartbeat may bring back a hello
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

    def request(self, msg: Msg, timeout: float = 5.0, blobs=()) -> Reply:
        return self.request_blobs(msg, timeout, blobs)[0]

    def request_blobs(self, msg: Msg, timeout: float = 5.0, blobs=()) -> tuple[Msg, list[bytes]]:
        """Send a request (with binary frames, if any); its answer and the frames that came with it."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._out.put(("req", (msg, list(blobs)), fut))
        try:
            rep, blobs = fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()  # the client thread forgets it (a late reply is then ignored)
            raise HubError(f"hub did not answer {msg.__struct_config__.tag} within {timeout} s") from None
        if isinstance(rep, Refuse):
            return Reply(ok=False, error=rep.reason), []
        return rep, blobs

    def fetch_episodes(self, cursor: int, max_steps: int = 20_000, max_episodes: int = 256,
                       timeout: float = 30.0) -> tuple[list[Episode], int, bool]:
        """Labelled episodes that became ready after ``cursor``: ``(episodes, next_cursor, more)``.

        Needs a client with role ``learner``. Asking again with ``next_cursor`` acknowledges
        this batch (see ``FetchEpisodes``); raises ``HubError`` when the hub refuses or the
        batch does not decode (the cursor then stays where it was: nothing is lost).
        """
        rep, blobs = self.request_blobs(
            FetchEpisodes(cursor=cursor, max_steps=max_steps, max_episodes=max_episodes), timeout)
        if not isinstance(rep, EpisodeBatch):
            raise HubError(getattr(rep, "error", None) or getattr(rep, "reason", "") or f"unexpected {type(rep).__name__}")
        from lwd_operator.hub.episode_feed import unpack_episodes  # the store stays out of GUIs

        try:
            episodes = unpack_episodes(rep, blobs)
        except (ProtocolError, ValueError) as e:
            raise HubError(f"bad episode batch from hub: {e}") from None
        return episodes, rep.next_cursor, rep.more

    def subscribe(self, hz: float = 5.0) -> Reply:
        self._subscribed_hz = hz  # renewed after a re-hello (hub restart or client timeout)
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

    def relabel(self, episode_id: str, outcome: str, note: str = "") -> Reply:
        """Change an ended episode's label (audited like every label: old, new, who, when, note)."""
        return self.request(LabelEpisode(robot_id="", episode_id=episode_id, outcome=outcome, note=note))

    def list_episodes(self, *, task: str = "", robot: str = "", outcome: str = "", status: str = "",
                      policy_version: int = -1, since: float = 0.0, source: str = "", limit: int = 50,
                      timeout: float = 5.0) -> list[EpisodeInfo]:
        """Episodes newest first, filtered like ``lwd episodes list``; raises ``HubError`` on refusal."""
        return self._answer(ListEpisodes(task=task, robot=robot, outcome=outcome, status=status,
                                         policy_version=policy_version, since=since, source=source,
                                         limit=limit), EpisodeList, timeout).episodes

    def show_episode(self, episode_id: str, timeout: float = 5.0) -> EpisodeDetail:
        """One episode with its label audit trail and human spans; raises ``HubError`` if unknown."""
        return self._answer(ShowEpisode(episode_id=episode_id), EpisodeDetail, timeout)

    def curves(self, points: int = 40, timeout: float = 5.0) -> Curves:
        """Success and intervention rates against cumulative fleet steps, overall and per task."""
        return self._answer(GetCurves(points=points), Curves, timeout)

    def episode_frame(self, episode_id: str, camera: str = "", index: int = 0,
                      timeout: float = 5.0) -> tuple[EpisodeFrame, bytes]:
        """Recorded frame ``index`` of ``camera`` (clamped; empty camera: the first) and its JPEG."""
        rep, blobs = self.request_blobs(GetEpisodeFrame(episode_id=episode_id, camera=camera, index=index), timeout)
        if isinstance(rep, EpisodeFrame) and blobs:
            return rep, blobs[0]
        raise HubError(getattr(rep, "error", "") or f"unexpected answer {type(rep).__name__}")

    def value_trace(self, robot_id: str, since_chunk: int = 0, timeout: float = 5.0) -> ValueTrace:
        """The value/risk trace of ``robot_id``'s current episode (``ValueTrace``: the critic's
        value per chunk, the level and threshold it was compared with, where help was asked);
        raises ``HubError`` for an unknown robot or one that has sent no status yet."""
        return self._answer(GetValueTrace(robot_id=robot_id, since_chunk=since_chunk), ValueTrace, timeout)

    def report_learner_status(self, status: LearnerStatus) -> None:
        """Fire and forget (learner keys): the hub answers only a refusal, which is logged."""
        self._out.put(("send", status, None))

    def learner_status(self, history: int = 0, timeout: float = 5.0) -> list[LearnerView]:
        """Every learner the hub has heard from, most recent first, each with its newest status
        (ages as of the answer), ``stale`` when silent too long, and up to ``history`` points
        of each loss term (``MAX_LOSS_HISTORY`` at most)."""
        return self._answer(GetLearnerStatus(history=history), LearnerStates, timeout).learners

    def _answer(self, msg: Msg, kind: type, timeout: float):
        rep = self.request(msg, timeout)
        if isinstance(rep, kind):
            return rep
        raise HubError(getattr(rep, "error", "") or f"unexpected answer {type(rep).__name__}")

    def request_help(self, robot_id: str, reason: str = "") -> Reply:
        return self.request(RequestHelp(robot_id=robot_id, reason=reason))

    # --- policy versions and rollout (lwd_operator.hub.rollout) ---------------------------------

    def publish_policy(self, snapshot_dir: str | os.PathLike, *, parent: int | None = None,
                       learner_step: int = 0, note: str = "", chunk_bytes: int = 512 * 1024,
                       timeout: float = 30.0) -> int:
        """Upload a snapshot folder (``lwd_core.learning.snapshot.save``) in pieces; returns the
        version the hub assigned (status ``candidate``). ``parent`` None: the active version.
        Raises ``HubError`` when the hub refuses it (digest mismatch, not a snapshot, role)."""
        d = pathlib.Path(snapshot_dir)
        try:
            meta = (d / "meta.json").read_bytes()
            weights = (d / "model.safetensors").read_bytes()
            declared = json.loads(meta).get("sha256", "")
        except (OSError, ValueError) as e:
            raise HubError(f"{d}: not a readable snapshot ({e})") from None
        payload = meta + weights
        upload_id = f"{self.operator}-{os.getpid()}-{next(self._ids)}-{time.monotonic_ns()}"
        digest = hashlib.sha256(weights).hexdigest()
        if digest != declared:
            raise HubError(f"{d}: weights digest {digest[:12]}… does not match meta.json's {declared[:12]}…")
        chunk_bytes = max(1, min(chunk_bytes, 768 * 1024))  # under the hub's client message limit
        rep = None
        for off in range(0, len(payload), chunk_bytes):
            rep = self.request(PolicyUpload(
                upload_id=upload_id, offset=off, total_bytes=len(payload), meta_bytes=len(meta), sha256=digest,
                parent=-1 if parent is None else int(parent), learner_step=int(learner_step), note=note),
                timeout, blobs=[payload[off:off + chunk_bytes]])
            if not rep.ok:
                raise HubError(f"hub refused the snapshot: {rep.error}")
        return int(rep.data["version"])

    def policy_list(self, version: int = 0, audit_limit: int = 50, timeout: float = 5.0) -> PolicyList:
        rep = self.request(PolicyQuery(version=version, audit_limit=audit_limit), timeout)
        if not isinstance(rep, PolicyList):
            raise HubError(f"policy query refused: {getattr(rep, 'error', rep)}")
        return rep

    def policy_versions(self) -> list[PolicyVersionView]:
        """Every version with its status, lineage and live metrics, oldest first."""
        return self.policy_list().versions

    def policy_audit(self, version: int = 0, limit: int = 50) -> list[PolicyAuditView]:
        """Who did what to which version, newest first."""
        return self.policy_list(version, limit).audit

    def _policy(self, action: str, version: int = 0, robots=(), k: int = 0, why: str = "") -> Reply:
        return self.request(PolicyCommand(action=action, version=int(version), robots=list(robots), k=int(k), why=why))

    def deploy(self, version: int, robots: list[str] | None = None, why: str = "") -> Reply:
        """Make ``version`` active fleet-wide; with ``robots``, pin just those robots to it."""
        return self._policy("deploy", version, robots or (), why=why)

    def canary(self, version: int, k: int | None = None, why: str = "") -> Reply:
        """Run candidate ``version`` on k robots (None: the configured number); the hub then
        promotes or rolls it back (see ``lwd_operator.hub.canary_stats``)."""
        return self._policy("canary", version, k=k or 0, why=why)

    def promote(self, version: int, why: str = "") -> Reply:
        return self._policy("promote", version, why=why)

    def rollback(self, version: int | None = None, why: str = "") -> Reply:
        """Roll back ``version`` (None: the canary if there is one, else the active version)."""
        return self._policy("rollback", version or 0, why=why)

    def pin(self, robot_id: str, version: int, why: str = "") -> Reply:
        return self._policy("pin", version, [robot_id], why=why)

    def unpin(self, robot_id: str, why: str = "") -> Reply:
        return self._policy("unpin", 0, [robot_id], why=why)

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
        sub = make_socket(self.ctx, zmq.SUB, max_bytes=MAX_FRAME_BYTES, hwm=RELAY_HWM)
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
            if self._leaving:
                next_hello = next_beat = now + 3600.0
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
                        self._pending[self._send(dealer, *item)] = fut
                elif op == "send":
                    self._send(dealer, item)
                elif op == "sub" and item not in subs:
                    subs.add(item)
                    sub.setsockopt(zmq.SUBSCRIBE, item)
                elif op == "unsub":
                    for t in [t for t in subs if t.split(b"/")[1] == item.encode()]:
                        sub.setsockopt(zmq.UNSUBSCRIBE, t)
                        subs.discard(t)

    def _send(self, dealer: zmq.Socket, msg: Msg, blobs=()) -> int:
        self.seq.stamp(msg)
        try:
            dealer.send_multipart(encode(msg, blobs), zmq.NOBLOCK)
        except zmq.Again:
            log.warning("hub not reachable; dropped %s", msg.__struct_config__.tag)
        return msg.seq

    def _on_control(self, frames: list[bytes]) -> None:
        try:
            msg, blobs = decode(frames)
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
            elif self._subscribed_hz > 0:  # welcomed again: the hub forgot our subscription
                self._out.put(("send", Subscribe(hz=self._subscribed_hz), None))
            return
        fut = self._pending.pop(msg.corr, None) if msg.corr else None
        if fut is not None:
            try:
                fut.set_result((msg, blobs))
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
        elif isinstance(msg, PolicyReport):
            if self.on_policy_report:
                self.on_policy_report(msg)
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
