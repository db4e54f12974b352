"""The hub's view of the fleet: who is connected, what each robot reports, who is stale."""

from __future__ import annotations

import collections
import dataclasses
import time

from lwd_core.protocol.messages import RobotHello, RobotStatus, RobotView


@dataclasses.dataclass
class RobotEntry:
    hello: RobotHello
    identity: bytes
    last_seen: float
    status: RobotStatus | None = None
    episodes: int = 0
    successes: int = 0
    stale: bool = False
    key: str = ""
    """Name of the CURVE key that said hello for this robot."""
    ended: collections.OrderedDict = dataclasses.field(default_factory=collections.OrderedDict)
    """Episode ids whose end was counted (robots resend ends until their steps are durable)."""


class FleetRegistry:
    """Robot id -> entry. Single-threaded: owned by the hub loop."""

    def __init__(self, stale_s: float):
        self.stale_s = stale_s
        self.robots: dict[str, RobotEntry] = {}
        self._by_identity: dict[bytes, str] = {}

    def hello(self, identity: bytes, msg: RobotHello, now: float | None = None, key: str = "") -> RobotEntry:
        now = time.monotonic() if now is None else now
        old = self.robots.get(msg.robot_id)
        entry = RobotEntry(hello=msg, identity=identity, last_seen=now, key=key)
        if old is not None:
            entry.episodes, entry.successes, entry.ended = old.episodes, old.successes, old.ended
            self._by_identity.pop(old.identity, None)
        self.robots[msg.robot_id] = entry
        self._by_identity[identity] = msg.robot_id
        return entry

    def episode_ended(self, entry: RobotEntry, episode_id: str, success: bool) -> bool:
        """Count an episode's end once, however often the robot resends it; True the first time.

        (Counting every ``ended`` message made the status table show ~300 episodes per robot
        where the store held 24: robots resend the end of every episode whose steps are not
        yet acknowledged, after each reconnect and each ack timeout.)
        """
        if episode_id in entry.ended:
            return False
        entry.ended[episode_id] = None
        while len(entry.ended) > 1024:
            entry.ended.popitem(last=False)
        entry.episodes += 1
        entry.successes += int(success)
        return True

    def by_identity(self, identity: bytes) -> RobotEntry | None:
        rid = self._by_identity.get(identity)
        return self.robots.get(rid) if rid else None

    def seen(self, entry: RobotEntry, now: float | None = None) -> None:
        entry.last_seen = time.monotonic() if now is None else now
        entry.stale = False

    def update_staleness(self, now: float | None = None) -> list[RobotEntry]:
        """Mark silent robots stale; returns those that just became stale."""
        now = time.monotonic() if now is None else now
        newly = []
        for e in self.robots.values():
            if not e.stale and now - e.last_seen > self.stale_s:
                e.stale = True
                newly.append(e)
        return newly

    def view(self, entry: RobotEntry, operator: str, now: float | None = None) -> RobotView:
        now = time.monotonic() if now is None else now
        h, s = entry.hello, entry.status
        return RobotView(
            robot_id=h.robot_id,
            task=s.task if s else h.task,
            mode=s.mode if s else h.mode,
            stale=entry.stale,
            operator=operator,
            episode_id=s.episode_id if s else h.episode_id,
            step=s.step if s else 0,
            policy=s.policy if s else h.policy,
            policy_version=s.policy_version if s else h.policy_version,
            control_hz=s.control_hz if s else 0.0,
            jitter_p99_ms=s.jitter_p99_ms if s else 0.0,
            jitter_p50_ms=s.jitter_p50_ms if s else 0.0,
            camera_fps=s.camera_fps if s else 0.0,
            last_seen_s=round(now - entry.last_seen, 3),
            success=s.success if s else False,
            help_requested=s.help_requested if s else False,
            help_reason=s.help_reason if s else "",
            cameras=list(h.cameras),
            episodes=entry.episodes,
            successes=entry.successes,
        )
