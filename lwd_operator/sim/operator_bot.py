"""The operator bot: a simulated operator that uses the same client API as a person would.

It serves the hub's attention queue first, most urgent first, the way a person would (help
requests from the value signal, then a person's, then stalls), then takes over robots whose
episode is failing (no success after ``patience_s``), drives them with Meta-World's scripted expert through the normal teleop path
(telemetry in, end-effector deltas out), hands them back when the episode ends, and labels every
finished episode from the simulator's success flag. It exists so the whole loop can run, and be
tested, with no person present.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import numpy as np

from lwd_core.protocol.messages import EpisodeEvent, FleetState, Telemetry
from lwd_operator.client import HubClient, HubError
from lwd_operator.config import BotConfig
from lwd_operator.sim.metaworld_env import ACTION_SCALE_M

log = logging.getLogger("lwd.bot")

LIFT_HEIGHT_M = 0.25
LIFT_TICKS = 8


@dataclasses.dataclass
class BotStats:
    takeovers: int = 0
    labelled: int = 0
    successes: int = 0
    failures: int = 0
    refused: int = 0
    outcomes: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)
    """(robot, episode, success) per labelled episode, in order."""


class _Experts:
    """One scripted expert per task; Meta-World's experts are stateless functions of the state."""

    def __init__(self):
        self._by_task = {}

    def action(self, task: str, state: list[float]) -> np.ndarray:
        if task not in self._by_task:
            import metaworld.policies as policies

            self._by_task[task] = policies.ENV_POLICY_MAP[task]()
        a = self._by_task[task].get_action(np.asarray(state, np.float64))
        return np.clip(np.asarray(a, np.float64), -1.0, 1.0)


class OperatorBot:
    def __init__(self, client: HubClient, cfg: BotConfig | None = None, label: bool = True,
                 takeover: bool = True):
        self.client, self.cfg, self.label, self.takeover = client, cfg or BotConfig(), label, takeover
        self.stats = BotStats()
        self.driving: dict[str, str] = {}
        """robot -> episode it was taken over in"""
        self._experts = _Experts()
        self._episode_start: dict[str, tuple[str, float]] = {}
        self._lift_ticks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pending_labels: list[EpisodeEvent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="operator-bot", daemon=True)
        client.on_telemetry = self._on_telemetry
        client.on_episode = self._on_episode

    def start(self) -> OperatorBot:
        # Import the experts here, not on the client thread: a multi-second first import there
        # would starve the heartbeats that keep this operator's robots alive.
        import metaworld.policies  # noqa: F401

        self.client.subscribe(hz=10)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Label what already ended, leave every episode it is still driving explicitly
        unlabeled with a note (its outcome is not known yet), and hand those robots back."""
        self._stop.set()
        self._thread.join(timeout=3)
        with self._lock:
            labels, self._pending_labels = self._pending_labels, []
        for ev in labels:
            self._label(ev)
        for rid, episode in list(self.driving.items()):
            note = "operator bot stopped while driving; outcome not known when it left"
            try:
                rep = self.client.label(rid, episode, "unlabeled", note=note)
                if not rep.ok:
                    log.warning("could not note %s as left unlabeled: %s", episode, rep.error)
            except Exception as e:  # the hub may be gone already: nothing more to tell it
                log.warning("could not note %s as left unlabeled: %s", episode, e)
            self._release(rid)

    # --- on the client thread: keep it quick ---------------------------------------------------

    def _on_telemetry(self, t: Telemetry) -> None:
        if t.robot_id not in self.driving or t.mode == "policy" or t.success:
            return
        lift = self._lift_ticks.get(t.robot_id, 0)
        if lift > 0:
            # Back off first: open the gripper and raise the hand clear of whatever the failing
            # policy left it tangled in, as a careful operator would (the expert alone recovers
            # from a noisy start ~90 % of the time, with this ~100 %).
            self._lift_ticks[t.robot_id] = lift - 1
            dz = float(np.clip(LIFT_HEIGHT_M - t.ee_pos[2], -1, 1) * 0.5) if t.ee_pos else 0.0
            self.client.teleop(t.robot_id, (0.0, 0.0, min(max(dz, -0.01), 0.01)), -1.0)
            return
        a = self._experts.action(t.task, t.state)
        # Scripted experts ask for more than a tick can do; the simulator would clip it, but a
        # robot refuses teleop beyond its limits, so the bot asks for what can be done.
        a = np.clip(a, -1.0, 1.0)
        self.client.teleop(t.robot_id, a[:3] * ACTION_SCALE_M, float(a[3]))

    def _on_episode(self, ev: EpisodeEvent) -> None:
        if ev.event != "ended":
            return
        with self._lock:
            if self.label and ev.reason != "shutdown":
                self._pending_labels.append(ev)

    # --- bot thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                labels, self._pending_labels = self._pending_labels, []
            try:
                while labels:
                    self._label(labels[0])
                    labels.pop(0)
                fleet = self.client.latest_fleet
                if fleet is not None and self.takeover:
                    self._decide(fleet)
            except HubError as e:
                # A slow hub (a request timed out) is no reason for the operator to walk away:
                # keep the labels not yet acknowledged and try again on the next round.
                log.warning("operator bot: %s; retrying", e)
                with self._lock:
                    self._pending_labels[:0] = labels

    def _label(self, ev: EpisodeEvent) -> None:
        if ev.robot_id in self.driving:
            self._release(ev.robot_id)  # the episode is over: hand back before the next one runs
        outcome = "success" if ev.success else "failure"
        rep = self.client.label(ev.robot_id, ev.episode_id, outcome, note=f"operator bot: {ev.reason}")
        if not rep.ok:
            log.warning("label of %s refused: %s", ev.episode_id, rep.error)
            return
        self.stats.labelled += 1
        self.stats.successes += ev.success
        self.stats.failures += not ev.success
        self.stats.outcomes.append((ev.robot_id, ev.episode_id, ev.success))

    def _decide(self, fleet: FleetState) -> None:
        now = time.monotonic()
        rank: dict[str, int] = {}
        for i, item in enumerate(fleet.attention):
            if item.kind in ("help", "stall"):  # what an operator's hands can fix
                rank.setdefault(item.robot_id, i)
        for r in sorted(fleet.robots, key=lambda r: rank.get(r.robot_id, len(rank))):
            if r.robot_id in self.driving:
                if r.operator and r.operator != self.client.operator:
                    log.warning("lost %s to %s", r.robot_id, r.operator)
                    self.driving.pop(r.robot_id, None)
                elif r.episode_id != self.driving[r.robot_id] and r.mode == "human":
                    self._release(r.robot_id)  # a new episode began: the policy gets its chance
                continue
            seen = self._episode_start.get(r.robot_id)
            if seen is None or seen[0] != r.episode_id:
                self._episode_start[r.robot_id] = (r.episode_id, now)
                continue
            failing = r.help_requested or r.robot_id in rank or now - seen[1] >= self.cfg.patience_s
            if (r.mode == "policy" and not r.stale and not r.operator and not r.success and failing
                    and len(self.driving) < self.cfg.max_robots):
                self._take(r.robot_id, r.episode_id, r.help_reason or "no success yet")

    def _take(self, robot_id: str, episode_id: str, why: str) -> None:
        rep = self.client.take(robot_id)
        if not rep.ok:
            self.stats.refused += 1
            log.info("could not take %s: %s", robot_id, rep.error)
            return
        log.info("took %s (%s)", robot_id, why)
        self.stats.takeovers += 1
        self._lift_ticks[robot_id] = LIFT_TICKS
        self.driving[robot_id] = episode_id
        self.client.watch_telemetry(robot_id)

    def _release(self, robot_id: str) -> None:
        self.driving.pop(robot_id, None)
        self.client.unwatch(robot_id)
        try:
            rep = self.client.give(robot_id)
        except Exception as e:  # HubError: the hub is gone; its timeout frees the robot
            log.info("release of %s: %s", robot_id, e)
            return
        if not rep.ok:
            log.info("release of %s: %s", robot_id, rep.error)
