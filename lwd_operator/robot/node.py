"""One robot node: a fixed-rate control loop, the hub link, camera publishers and telemetry.

Guarantees:
- The control loop never waits on the network, rendering or policy loading: it only drains a
  command queue, steps the driver, and posts messages.
- Control switches between policy and human only between two ticks.
- Deadman: under human control, no teleop command or operator heartbeat for ``deadman_ms``
  means the robot holds still (mode ``stopped``) and raises an alert. It never resumes the
  policy by itself; only an explicit release does.
- Every executed step is recorded with its ``action_source`` and policy version.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import logging
import math
import sys
import threading
import time
import uuid

import msgspec
import numpy as np
import zmq

from lwd_core.data.episode import SOURCE_HUMAN, SOURCE_POLICY
from lwd_core.protocol import Sequencer, array_blob, encode
from lwd_core.protocol.messages import (
    VALUE_POINTS_PER_STATUS,
    Alert,
    EpisodeEvent,
    OperatorBeat,
    Release,
    RequestHelp,
    ResetEpisode,
    RobotHello,
    RobotStatus,
    StepBatch,
    Takeover,
    Telemetry,
    Teleop,
    ValuePoint,
)
from lwd_operator.auth import ClientKeys, secure_client
from lwd_operator.hub.frame_relay import topic
from lwd_operator.robot.camera import CameraPublisher
from lwd_operator.robot.command_check import CommandCheck
from lwd_operator.robot.driver import Driver
from lwd_operator.robot.help_signal import HelpConfig, HelpMonitor
from lwd_operator.robot.hot_swap import HotSwapPolicy, TickStats, preload_learning
from lwd_operator.robot.link import HubLink
from lwd_operator.robot.policies import PolicyRunner
from lwd_operator.robot.threads import ask_short_slice
from lwd_operator.sockets import FRAME_HWM, MAX_FRAME_BYTES, Endpoints, make_socket

log = logging.getLogger("lwd.robot")


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    robot_id: str
    control_hz: float = 20.0
    """Fixed control rate."""
    fast: bool = False
    """Step as fast as possible (benchmarks); telemetry is then capped at 50 Hz."""
    tick_phase: float | None = None
    """Where in the control period this robot ticks, as a fraction of it on the host's
    monotonic clock (None: wherever it started). Robots sharing a machine get evenly spread
    phases (``lwd fleet``), so their ticks do not land on the cores at the same instant."""
    max_episode_steps: int = 300
    """Episodes end as timeout after this many ticks."""
    teleop_hold_ms: int = 120
    """A teleop command keeps acting this long unless a newer one arrives."""
    deadman_ms: int = 300
    """Used until the hub's welcome says otherwise."""
    stall_s: float = 4.0
    """Ask for help when the end effector moves < 2 cm in this long under the policy."""
    batch_steps: int = 10
    """Steps per StepBatch sent to the recorder."""
    status_hz: float = 5.0
    shutdown_ack_s: float = 5.0
    """On shutdown, wait this long at most for the hub to acknowledge the last steps."""
    help: HelpConfig = HelpConfig()
    """When the value signal asks for help (``lwd_operator.robot.help_signal``)."""
    preload_torch: bool = False
    """Import torch before the control loop starts, so the first learned version to arrive does
    not stall the loop while torch loads (``hot_swap.preload_learning``; ~200 MB per robot).
    ``lwd robot`` turns it on (``robot.preload_torch``); off here because a process running
    several nodes (tests, tools) would pay it on every node's start at once."""
    policy_build_slots: int = 2
    """Robots of this machine that build a new policy version at once (``robot.build_slots``)."""


def phase_delay(phase: float, period: float, now: float) -> float:
    """Seconds from ``now`` to the next instant at ``phase`` (a fraction) of the control period,
    in [0, period). The phase is placed on the monotonic clock: on Linux perf_counter is the same
    clock, but only monotonic is promised to be shared by all processes of the machine."""
    return (phase * period - now) % period


class RobotNode:
    def __init__(self, cfg: NodeConfig, driver: Driver, policy: PolicyRunner, endpoints: Endpoints,
                 keys: ClientKeys | None, camera_fps: float = 0.0):
        self.cfg, self.driver = cfg, driver
        self.ticks = TickStats(cfg.control_hz, cfg.fast)
        # Hot-swappable: new versions arrive over the hub link and swap at a chunk boundary.
        self.policy = HotSwapPolicy(policy, robot_id=cfg.robot_id, obs_dim=driver.obs_dim,
                                    action_dim=driver.action_dim, task=lambda: driver.task,
                                    post=lambda m: self.link.post(m), ticks=self.ticks,
                                    build_slots=cfg.policy_build_slots)
        self.help = HelpMonitor(cfg.help)
        # The value signals as if they were the robot's only signal: observed until they fire,
        # even when no_progress asked first (which stops ``help``), so each signal's own first
        # firing is known (``help_signals``) and help requests can be scored signal by signal.
        self._value_alone = HelpMonitor(cfg.help)
        self.help_signals: dict[str, int] = {}
        """This episode: signal -> first step it fired, each on its own (``EpisodeEvent``)."""
        self._first_help: tuple[int, str] = (-1, "")
        self._chunk_version = 0
        # The value trace: the newest chunks' values ride on each status (the hub keeps the
        # episode's trace), so the loop only appends one small record per chunk.
        self._values: collections.deque[ValuePoint] = collections.deque(maxlen=VALUE_POINTS_PER_STATUS)
        self._value_chunks = 0
        self._value_posted = 0
        """Chunks whose values a posted status carried (a status repeats the last 2 of them)."""
        self._value_tau = 0.0
        self.help_step = -1
        self.ctx = zmq.Context()
        self.endpoints = endpoints.connect_form()
        self.seq = Sequencer(cfg.robot_id)
        self.session = uuid.uuid4().hex[:12]
        self.mode = "policy"
        self.operator = ""
        self.deadman_s = cfg.deadman_ms / 1000
        self.episode_id = ""
        self.step = 0
        self.episode_index = 0
        self.success = False
        self.help_reason = ""
        self._chunk: collections.deque[np.ndarray] = collections.deque()
        self._teleop: tuple[np.ndarray, float, float] | None = None
        self._last_live = 0.0
        self._rows: list[tuple] = []
        self._first_row_step = 0
        self._human_steps = 0
        self._ee_hist: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._periods: collections.deque[float] = collections.deque(maxlen=200)
        self._tick_times: collections.deque[float] = collections.deque(maxlen=200)
        self._stop = threading.Event()
        self.link = HubLink(self.ctx, cfg.robot_id, self.endpoints.robots, keys, self._hello)
        self.check = CommandCheck(driver, cfg.robot_id, self.link.post)
        self.link.on_side_message = self.policy.on_message
        self.pub = make_socket(self.ctx, zmq.PUB, max_bytes=MAX_FRAME_BYTES, hwm=FRAME_HWM)
        secure_client(self.pub, keys)
        self.pub.connect(self.endpoints.frames_in)
        self.cameras: list[CameraPublisher] = []
        for spec in driver.cameras if camera_fps > 0 else []:
            sock = make_socket(self.ctx, zmq.PUB, max_bytes=MAX_FRAME_BYTES, hwm=FRAME_HWM)
            secure_client(sock, keys)
            sock.connect(self.endpoints.frames_in)
            spec = msgspec.structs.replace(spec, fps=camera_fps)
            self.cameras.append(CameraPublisher(sock, cfg.robot_id, spec, lambda n=spec.name: driver.render(n),
                                                lambda: (self.episode_id, self.step)))
        self._last_tele = 0.0
        self._next_status = 0.0

    # --- hello / status ---------------------------------------------------------------------------

    def _hello(self) -> RobotHello:
        d = self.driver
        return RobotHello(
            robot_id=self.cfg.robot_id, driver=d.name, task=d.task, tasks=d.tasks, obs_dim=d.obs_dim,
            action_dim=d.action_dim, action_space=d.action_space,
            cameras=[c.spec for c in self.cameras], policy=self.policy.name,
            policy_version=self.policy.version, control_hz=self.cfg.control_hz, mode=self.mode,
            episode_id=self.episode_id, operator=self.operator, session=self.session,
            policy_digest=self.policy.digest)

    @property
    def control_hz(self) -> float:
        t = self._tick_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def jitter_ms(self, q: float) -> float:
        """Percentile ``q`` of |actual period - target period| over the last 200 ticks."""
        if not self._periods or self.cfg.fast:
            return 0.0
        dev = np.abs(np.asarray(self._periods) - 1.0 / self.cfg.control_hz)
        return float(np.percentile(dev, q) * 1000)

    def status(self, value_points: list[ValuePoint] | None = None) -> RobotStatus:
        """This robot's status; ``value_points`` default to the newest chunks' values."""
        ee = self.driver.ee_position()
        return RobotStatus(
            robot_id=self.cfg.robot_id, mode=self.mode, task=self.driver.task, episode_id=self.episode_id,
            step=self.step, policy=self.policy.name, policy_version=self.policy.version,
            control_hz=round(self.control_hz, 2), jitter_p99_ms=round(self.jitter_ms(99), 3),
            jitter_p50_ms=round(self.jitter_ms(50), 3),
            camera_fps=round(sum(c.fps for c in self.cameras), 2), operator=self.operator,
            success=self.success, help_requested=bool(self.help_reason), help_reason=self.help_reason,
            ee_pos=[] if ee is None else [float(x) for x in ee], policy_error=self.policy.error,
            policy_standby=self.policy.standby_version, missed_ticks=self.ticks.missed,
            policy_digest=self.policy.digest, value_tau=self._value_tau, value_points=list(self._values) if value_points is None else value_points,
            help_step=self.help_step)

    # --- episodes -------------------------------------------------------------------------------

    def _start_episode(self) -> None:
        self.obs = self.driver.reset()
        self.episode_index += 1
        self.episode_id = f"{self.cfg.robot_id}-{time.time_ns() // 1_000_000:x}-{self.episode_index}"
        self.step, self.success, self.help_reason = 0, False, ""
        self._rows, self._first_row_step, self._human_steps = [], 0, 0
        self._chunk.clear()
        self._ee_hist.clear()
        self.help.new_episode()
        self._value_alone.new_episode()
        self.help_signals, self._first_help = {}, (-1, "")
        self._values.clear()
        self._value_chunks, self._value_posted, self.help_step = 0, 0, -1
        self.link.post(EpisodeEvent(robot_id=self.cfg.robot_id, episode_id=self.episode_id,
                                    task=self.driver.task, event="started",
                                    clock_offset_ns=time.time_ns() - time.monotonic_ns()))

    def _end_episode(self, reason: str) -> None:
        self._flush_steps(final=True)
        self.link.post(EpisodeEvent(
            robot_id=self.cfg.robot_id, episode_id=self.episode_id, task=self.driver.task,
            event="ended", reason=reason, success=self.success, steps=self.step,
            human_steps=self._human_steps, help_step=self._first_help[0], help_signal=self._first_help[1],
            help_signals=dict(self.help_signals)))

    def _flush_steps(self, final: bool = False) -> None:
        """Send buffered rows. Periodic flushes keep the newest row back, so the batch that
        closes an episode (and carries ``final_state``) always has at least one row."""
        rows = self._rows if final else self._rows[:-1]
        if not rows:
            return
        cols = list(zip(*rows, strict=True))
        specs, blobs = [], []
        arrays = [
            ("state", np.asarray(cols[0], np.float32).reshape(len(rows), self.driver.obs_dim)),
            ("action", np.asarray(cols[1], np.float32).reshape(len(rows), self.driver.action_dim)),
            ("source", np.asarray(cols[2], np.uint8)),
            ("policy_version", np.asarray(cols[3], np.int32)),
            ("t_ns", np.asarray(cols[4], np.int64)),
        ]
        if final:
            arrays.append(("final_state", np.asarray(self.obs, np.float32)))
        for name, arr in arrays:
            spec, arr = array_blob(name, arr)
            specs.append(spec)
            blobs.append(arr.tobytes())  # the journal keeps exactly the bytes that were sent
        self.link.post(StepBatch(robot_id=self.cfg.robot_id, episode_id=self.episode_id,
                                 first_step=self._first_row_step, n=len(rows), blobs=specs,
                                 closes_episode=final), blobs)
        self._first_row_step += len(rows)
        self._rows = self._rows[len(rows):]

    # --- commands -------------------------------------------------------------------------------

    def _apply_commands(self, now: float) -> None:
        for msg in self.link.commands():
            if isinstance(msg, Takeover):
                self.mode, self.operator, self._last_live, self._teleop = "human", msg.operator, now, None
                self._chunk.clear()
                self.help_reason = ""
            elif isinstance(msg, Release):
                if self.mode in ("human", "stopped"):
                    self.mode, self.operator, self._teleop = "policy", "", None
                    self._chunk.clear()  # the policy starts a fresh chunk from the current state
            elif isinstance(msg, Teleop):
                if self.mode in ("human", "stopped"):
                    if self.check.teleop_problem(msg.dpos, msg.gripper) is not None:
                        continue  # refused and alerted: never reaches the driver
                    self._teleop = (np.asarray(msg.dpos, np.float64), float(msg.gripper), now)
                    self._live(now)
            elif isinstance(msg, OperatorBeat):
                if self.mode in ("human", "stopped"):
                    self._live(now)
            elif isinstance(msg, ResetEpisode):
                self._end_episode(msg.reason or "operator")
                self._start_episode()

    def _live(self, now: float) -> None:
        self._last_live = now
        if self.mode == "stopped":
            log.info("operator %s is back; human control resumes", self.operator)
            self.mode = "human"

    # --- control loop ------------------------------------------------------------------------------

    def _choose_action(self, now: float) -> tuple[np.ndarray, int]:
        d = self.driver
        if self.mode == "human" and now - self._last_live > self.deadman_s:
            self.mode = "stopped"
            self._teleop = None
            log.warning("deadman: no operator signal for %.1f ms; holding still", (now - self._last_live) * 1000)
            self.link.post(Alert(robot_id=self.cfg.robot_id, level="critical", code="deadman",
                                 text=f"no operator signal from {self.operator}; robot stopped"))
        if self.mode == "stopped":
            return d.hold_action(), SOURCE_HUMAN
        if self.mode == "human":
            t = self._teleop
            if t is not None and now - t[2] <= self.cfg.teleop_hold_ms / 1000:
                return d.teleop_action(t[0], t[1]), SOURCE_HUMAN
            return d.hold_action(), SOURCE_HUMAN
        if not self._chunk:  # chunk boundary: the only place a new policy takes effect
            self._chunk.extend(self.policy.next_chunk(self.obs, d.task))
            self._chunk_version = self.policy.version  # the version that made this chunk
            self._watch_value(d.task)
        return self._chunk.popleft(), SOURCE_POLICY

    def _watch_value(self, task: str) -> None:
        """Read the value at a chunk boundary, trace it, and ask for help when it says so.

        The value is read (and traced) after help was asked too, so the operator sees whether
        the episode recovers; the running level only learns from chunks before that."""
        c = self.cfg.help
        value = self.policy.value_quantile(self.obs, task, c.tau)
        self._value_tau = 0.0 if value is None else c.tau
        if value is None or not math.isfinite(value):
            return
        chunk = self._value_chunks
        level, armed = self.help.level(self._chunk_version, task, value, chunk)
        self._values.append(ValuePoint(chunk=chunk, step=self.step, value=float(value),
                                       level=float(level), threshold=float(level - c.drop), armed=armed))
        self._value_chunks += 1
        if not any(s.startswith("value") for s in self.help_signals):
            alone = self._value_alone.observe(self._chunk_version, task, value, chunk)
            if alone is not None:
                self.help_signals[alone[0]] = self.step
        if self.help_reason:
            return
        trigger = self.help.observe(self._chunk_version, task, value, chunk)
        if trigger is not None:
            self._ask_help(trigger[0], trigger[1], value)

    def _ask_help(self, signal: str, reason: str, value: float = 0.0) -> None:
        """Raise this robot in the hub's attention queue (once per episode)."""
        self.help_reason, self.help_step = reason, self.step
        if self._first_help[0] < 0:
            self._first_help = (self.step, signal)
        self.link.post(RequestHelp(robot_id=self.cfg.robot_id, reason=reason, signal=signal, value=float(value)))

    def tick(self) -> None:
        now = time.monotonic()
        self._apply_commands(now)
        if self.link.welcome is not None:
            self.deadman_s = self.link.welcome.deadman_ms / 1000
        action, source = self._choose_action(now)
        action = self.check.checked(action, "policy" if source == SOURCE_POLICY else "human")
        applied = self.driver.send_action(action)
        version = self._chunk_version if source == SOURCE_POLICY else 0
        # Steps and camera frames share the monotonic clock, so frames align to steps exactly.
        self._rows.append((self.obs, applied, source, version, time.monotonic_ns()))
        self._human_steps += source == SOURCE_HUMAN
        self.obs = self.driver.observation()
        self.step += 1
        self.success = self.driver.signal().success
        self._watch_progress(now)
        if len(self._rows) > self.cfg.batch_steps:
            self._flush_steps()
        if not self.cfg.fast or now - self._last_tele >= 0.02:
            self._last_tele = now
            self._publish_telemetry()
        if now >= self._next_status:
            self._next_status = now + 1.0 / self.cfg.status_hz
            # Values not posted yet, and the last 2 that were: a status lost on a reconnect
            # costs the trace nothing unless more than 2 chunks ran meanwhile.
            points = [p for p in self._values if p.chunk >= self._value_posted - 2]
            self._value_posted = self._value_chunks
            self.link.post(self.status(points))
        if self.success or self.step >= self.cfg.max_episode_steps:
            self._end_episode("success" if self.success else "timeout")
            self._start_episode()

    def _watch_progress(self, now: float) -> None:
        ee = self.driver.ee_position()
        if ee is None or self.mode != "policy" or (self.help_reason and "no_progress" in self.help_signals):
            return  # watched after another signal asked too: its own first firing is recorded
        self._ee_hist.append((now, ee))
        while self._ee_hist and now - self._ee_hist[0][0] > self.cfg.stall_s:
            self._ee_hist.popleft()
        t0, ee0 = self._ee_hist[0]
        if now - t0 >= self.cfg.stall_s * 0.95:
            span = np.ptp(np.asarray([e for _, e in self._ee_hist]), axis=0)
            if float(np.linalg.norm(span)) < 0.02:
                self.help_signals.setdefault("no_progress", self.step)
                if not self.help_reason:
                    self._ask_help("no_progress", f"no progress for {self.cfg.stall_s:.0f} s")

    def _publish_telemetry(self) -> None:
        ee = self.driver.ee_position()
        msg = self.seq.stamp(Telemetry(
            robot_id=self.cfg.robot_id, step=self.step, mode=self.mode,
            state=[float(x) for x in self.obs], ee_pos=[] if ee is None else [float(x) for x in ee],
            success=self.success, task=self.driver.task, episode_id=self.episode_id))
        try:
            self.pub.send_multipart([topic("tele", self.cfg.robot_id), *encode(msg)], zmq.NOBLOCK)
        except zmq.Again:
            pass

    def run(self, duration_s: float | None = None) -> None:
        """Run the control loop in this thread until ``stop()`` (or ``duration_s``)."""
        # The control thread waits at most one switch interval for the GIL when its timer fires
        # (default 5 ms): 1 ms keeps tick jitter low while the camera and link threads run.
        sys.setswitchinterval(0.001)
        ask_short_slice()
        if self.cfg.preload_torch:
            preload_learning()
        self.driver.connect()
        self.link.start()
        for c in self.cameras:
            c.start()
        self._start_episode()
        # What exists now (imports, the simulator: ~100k objects) lives as long as the process:
        # out of the collector's reach, a full collection no longer costs tens of ms in a tick.
        gc.collect()
        gc.freeze()
        period = 1.0 / self.cfg.control_hz
        end = None if duration_s is None else time.monotonic() + duration_s
        phase = None if self.cfg.fast else self.cfg.tick_phase
        next_t = time.perf_counter() + (0.0 if phase is None else phase_delay(phase, period, time.monotonic()))
        last = None
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                start = time.perf_counter()
                if last is not None:
                    self._periods.append(start - last)
                    self.ticks.add(start - last)
                last = start
                self._tick_times.append(time.monotonic())
                self.tick()
                if self.cfg.fast:
                    continue
                next_t += period
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -period:  # overran by a whole period: re-anchor instead of bursting
                    next_t = time.perf_counter()
        finally:
            self._end_episode("shutdown")
            # Give the hub a moment to make the last steps durable; what is still unacknowledged
            # after that is lost with this process (it was never promised durable).
            end_wait = time.monotonic() + self.cfg.shutdown_ack_s
            time.sleep(0.05)
            # Not only while connected: a starved hub looks silent for a moment, and the link
            # reconnects by itself within the wait.
            while len(self.link.journal) and time.monotonic() < end_wait:
                time.sleep(0.05)
            self.close()

    def start(self) -> RobotNode:
        self._thread = threading.Thread(target=self.run, name=f"robot-{self.cfg.robot_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        t = getattr(self, "_thread", None)
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)

    def close(self) -> None:
        self.policy.close()
        for c in self.cameras:
            c.stop()
        self.link.stop()
        self.driver.disconnect()
        self.ctx.destroy(linger=0)
