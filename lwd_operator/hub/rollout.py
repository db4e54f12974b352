"""Rollout control in the hub: which robot runs which policy version, and when that changes.

A robot's target version is, in order: its pin, the canary version if it is a canary robot,
else the active version (0 when there is none: the robot keeps what it started with). The hub
offers the target to every connected robot that runs something else (``PolicyOffer``); the robot
downloads it in pieces (``PolicyFetch`` / ``PolicyChunk``), verifies and swaps it, and says so
(``PolicyReport``). A robot that refuses a version keeps its current one; the hub records the
refusal, raises a ``policy_load`` alert and does not offer that version to that robot again.

Canary: a candidate runs on k robots (chosen across tasks, never pinned ones) while the others
run the incumbent; every ``evaluate_s`` the two are compared with ``canary_stats.compare`` and
the candidate is promoted (not worse; or it waits for approval with ``require_approval``) or
rolled back with a critical ``rollback`` alert (clearly worse, or it failed to load on a canary
robot). Every action, by hand or automatic (who = ``rollout``), is audited in the policy store.

Owned by the hub loop thread (no locks). Canary robots are not persisted: after a hub restart
a version still marked canary gets fresh canary robots.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from lwd_core.protocol.messages import (
    Alert,
    PolicyCommand,
    PolicyOffer,
    PolicyReport,
    PolicyUpload,
    RolloutView,
)
from lwd_operator.config import RolloutConfig
from lwd_operator.hub.canary_stats import compare
from lwd_operator.hub.policy_store import MAX_SNAPSHOT_BYTES, PolicyStore, PolicyStoreError

log = logging.getLogger("lwd.hub.rollout")

# Who may do what with policy versions, by the role of the sender's key (the gatekeeper has
# already checked the message kind against ``hub.authz``). A learner may publish candidates and
# propose them (canary or deploy: the auto-deployer of ``lwd demo``); promote, roll back and pin
# are admin decisions.
POLICY_ROLES = {
    "publish": {"learner", "admin"},
    "propose": {"learner", "admin"},
    "command": {"admin"},
    "query": {"operator", "bot", "observer", "learner", "admin"},
}
PROPOSALS = ("canary", "deploy")
"""Policy actions a ``propose`` role may take."""


def role_allows(role: str, what: str) -> bool:
    return role in POLICY_ROLES[what]


def may_command(role: str, action: str) -> bool:
    """May a key of ``role`` send ``PolicyCommand(action=...)``?"""
    return role_allows(role, "command") or (action in PROPOSALS and role_allows(role, "propose"))


class RolloutError(ValueError):
    pass


@dataclasses.dataclass
class _Upload:
    owner: bytes
    msg: PolicyUpload
    data: bytearray
    last: float


class Rollout:
    def __init__(self, store: PolicyStore, cfg: RolloutConfig, offer: Callable[[str, PolicyOffer], bool],
                 alert: Callable[[Alert], None]):
        self.store, self.cfg, self._offer, self._alert = store, cfg, offer, alert
        self.canary_robots: set[str] = set()
        self.awaiting_approval = False
        self.verdict = ""
        self.offered: dict[str, tuple[int, float]] = {}
        self.refused: dict[str, dict[int, str]] = {}
        self.reports: dict[str, PolicyReport] = {}
        self._uploads: dict[str, _Upload] = {}
        self._next_eval = 0.0
        self._tasks: dict[str, str] = {}

    # --- state ---------------------------------------------------------------------------------

    @property
    def canary(self) -> int:
        c = self.store.with_status("canary")
        return c[-1] if c else 0

    def target(self, robot_id: str, pins: dict[str, int] | None = None) -> int:
        pins = self.store.pins() if pins is None else pins
        if robot_id in pins:
            return pins[robot_id]
        canary = self.canary
        if canary and robot_id in self.canary_robots:
            return canary
        return self.store.active()

    def view(self) -> RolloutView:
        canary = self.canary
        state = "awaiting_approval" if canary and self.awaiting_approval else "canary" if canary else "idle"
        return RolloutView(active=self.store.active(), canary=canary, canary_robots=sorted(self.canary_robots),
                           state=state, verdict=self.verdict, pinned=self.store.pins())

    # --- uploads -------------------------------------------------------------------------------

    def upload(self, owner: bytes, author: str, msg: PolicyUpload, blob: bytes) -> int:
        """Take one piece; returns the new version after the last piece, else 0."""
        now = time.monotonic()
        for uid in [u for u, up in self._uploads.items() if now - up.last > 60]:
            del self._uploads[uid]  # abandoned uploads
        if not 0 < msg.total_bytes <= MAX_SNAPSHOT_BYTES or not 0 < msg.meta_bytes < msg.total_bytes:
            raise RolloutError(f"snapshot of {msg.total_bytes} bytes (meta {msg.meta_bytes}) is out of bounds "
                               f"(at most {MAX_SNAPSHOT_BYTES})")
        up = self._uploads.get(msg.upload_id)
        if msg.offset == 0:
            if len(self._uploads) >= 4 and up is None:
                raise RolloutError("too many uploads in progress")
            up = self._uploads[msg.upload_id] = _Upload(owner, msg, bytearray(), now)
        if up is None or up.owner != owner or up.msg.total_bytes != msg.total_bytes:
            raise RolloutError(f"unknown upload {msg.upload_id[:32]!r}: start again from offset 0")
        if msg.offset != len(up.data) or len(up.data) + len(blob) > msg.total_bytes:
            raise RolloutError(f"piece at {msg.offset} does not follow the {len(up.data)} bytes received")
        up.data += blob
        up.last = now
        if len(up.data) < msg.total_bytes:
            return 0
        del self._uploads[msg.upload_id]
        m = up.msg
        parent = self.store.active() if m.parent < 0 else m.parent
        data = bytes(up.data)
        version = self.store.add(data[:m.meta_bytes], data[m.meta_bytes:], sha256=m.sha256, author=author,
                                 parent=parent, learner_step=m.learner_step, note=m.note)
        self.store.audit(author, "publish", version, (), m.note)
        log.info("%s published policy v%d (parent v%d, learner step %d)", author, version, parent, m.learner_step)
        return version

    # --- commands ------------------------------------------------------------------------------

    def command(self, who: str, cmd: PolicyCommand, robots_online: list[str]) -> str:
        """Apply a command; returns a one-line summary. Raises ``RolloutError``/``PolicyStoreError``."""
        a, v = cmd.action, cmd.version
        if a in ("deploy", "canary", "promote", "pin") or (a == "rollback" and v):
            self.store.require(v)
        if a == "deploy" and not cmd.robots:
            return self._make_active(who, v, "deploy", cmd.why)
        if a in ("deploy", "pin"):
            if not cmd.robots:
                raise RolloutError("pin needs robot ids")
            for r in cmd.robots:
                self.store.pin(r, v, who)
            self.store.audit(who, a, v, cmd.robots, cmd.why)
            return f"pinned {', '.join(cmd.robots)} to v{v}"
        if a == "unpin":
            gone = [r for r in cmd.robots if self.store.unpin(r)]
            self.store.audit(who, "unpin", 0, cmd.robots, cmd.why)
            return f"unpinned {', '.join(gone) or 'nothing'}"
        if a == "canary":
            return self._start_canary(who, v, cmd.k or self.cfg.canary_robots, robots_online, cmd.why)
        if a == "promote":
            return self._make_active(who, v, "promote", cmd.why)
        if a == "rollback":
            return self._rollback(who, v, cmd.why)
        raise RolloutError(f"unknown action {a!r}")

    def _make_active(self, who: str, version: int, action: str, why: str) -> str:
        status = self.store.require(version)["status"]
        if status == "active":
            raise RolloutError(f"v{version} is already active")
        old = self.store.active()
        if old:
            self.store.set_status(old, "retired")
        if status == "canary":
            self.canary_robots.clear()
        self.store.set_status(version, "active")
        self.awaiting_approval, self.verdict = False, (self.verdict if action == "promote" else "")
        self.store.audit(who, action, version, (), why)
        log.info("%s: v%d active (was v%d): %s", who, version, old, why)
        return f"v{version} is active (was v{old})" if old else f"v{version} is active"

    def _start_canary(self, who: str, version: int, k: int, online: list[str], why: str) -> str:
        if self.canary and self.canary != version:
            raise RolloutError(f"v{self.canary} is already on canary: promote or roll it back first")
        status = self.store.require(version)["status"]
        if status not in ("candidate", "canary"):
            raise RolloutError(f"v{version} is {status}; only a candidate can go on canary")
        if not self.store.active():
            raise RolloutError("no active version to compare with: deploy one first")
        chosen = self._choose(online, k)
        if not chosen:
            raise RolloutError("no robot available for a canary (all pinned or offline)")
        self.canary_robots = set(chosen)
        self.store.set_status(version, "canary")
        self.awaiting_approval, self.verdict = False, ""
        self.store.audit(who, "canary", version, chosen, why)
        return f"v{version} on canary: {', '.join(chosen)}"

    def _choose(self, online: list[str], k: int, tasks: dict[str, str] | None = None) -> list[str]:
        """k unpinned robots, spread over tasks (one per task in turn)."""
        pins = self.store.pins()
        free = [r for r in sorted(online) if r not in pins]
        tasks = self._tasks if tasks is None else tasks
        by_task: dict[str, list[str]] = {}
        for r in free:
            by_task.setdefault(tasks.get(r, ""), []).append(r)
        out: list[str] = []
        while len(out) < k and any(by_task.values()):
            for rs in by_task.values():
                if rs and len(out) < k:
                    out.append(rs.pop(0))
        return out

    def _rollback(self, who: str, version: int, why: str) -> str:
        canary, active = self.canary, self.store.active()
        version = version or canary or active
        if not version:
            raise RolloutError("nothing to roll back")
        if version == canary:
            self.canary_robots.clear()
            self.awaiting_approval = False
            msg = f"v{version} rolled back; canary robots return to v{active}"
        elif version == active:
            prev = self.store.previous_active(version)
            if not prev:
                raise RolloutError(f"v{version} is active and no earlier version was: nothing to return to")
            self.store.set_status(prev, "active")
            msg = f"v{version} rolled back; v{prev} is active again"
        else:
            msg = f"v{version} marked rolled back"
        self.store.set_status(version, "rolled_back")
        self.store.audit(who, "rollback", version, (), why)
        log.warning("%s: %s (%s)", who, msg, why)
        return msg

    # --- robots --------------------------------------------------------------------------------

    def on_report(self, rep: PolicyReport) -> None:
        self.reports[rep.robot_id] = rep
        self.offered.pop(rep.robot_id, None)
        if rep.ok:
            log.info("%s runs v%d (was v%d; %.0f ms)", rep.robot_id, rep.version, rep.previous, rep.load_ms)
            return
        self.refused.setdefault(rep.robot_id, {})[rep.version] = rep.reason
        self._alert(Alert(robot_id=rep.robot_id, level="critical", code="policy_load",
                          text=f"refused policy v{rep.version}, keeps v{rep.previous}: {rep.reason}"))
        if rep.version == self.canary and rep.robot_id in self.canary_robots:
            self._rollback("rollout", rep.version, f"failed to load on canary robot {rep.robot_id}: {rep.reason}")
            self._alert(Alert(robot_id=rep.robot_id, level="critical", code="rollback",
                              text=f"v{rep.version} rolled back: it failed to load on {rep.robot_id}"))

    def forget_robot_session(self, robot_id: str) -> None:
        """A restarted robot may load what it refused before (e.g. after a fix): ask again."""
        self.refused.pop(robot_id, None)
        self.offered.pop(robot_id, None)

    def tick(self, now: float, running: dict[str, tuple[int, str]], tasks: dict[str, str]) -> None:
        """``running``: robot -> (version, weights digest) it runs (connected, non-stale robots
        only). A robot runs its target when both match: a local snapshot that happens to carry
        the same number as a hub version is not that version."""
        self._tasks = tasks
        pins = self.store.pins()
        canary = self.canary
        if canary:
            self.canary_robots &= set(running) | self.canary_robots  # keep offline ones
            if not self.canary_robots:  # after a hub restart
                self.canary_robots = set(self._choose(list(running), self.cfg.canary_robots, tasks))
        digests: dict[int, str] = {}
        for rid, (have, have_digest) in running.items():
            want = self.target(rid, pins)
            if not want or want in self.refused.get(rid, {}):
                continue
            if want not in digests:
                row = self.store.row(want)
                digests[want] = row["sha256"] if row else ""
            if want == have and have_digest == digests[want]:
                continue
            sent = self.offered.get(rid)
            if sent is not None and sent[0] == want and now - sent[1] < self.cfg.offer_retry_s:
                continue
            try:
                sha, total, meta = self.store.payload_info(want)
            except (OSError, PolicyStoreError) as e:
                log.error("cannot offer v%d to %s: %s", want, rid, e)
                self.offered[rid] = (want, now)
                continue
            if self._offer(rid, PolicyOffer(version=want, sha256=sha, total_bytes=total, meta_bytes=meta)):
                self.offered[rid] = (want, now)
        if canary and now >= self._next_eval:
            self._next_eval = now + self.cfg.evaluate_s
            self.evaluate()

    def evaluate(self) -> str:
        """Compare the canary with the incumbent and act on the verdict; returns the verdict."""
        canary, active = self.canary, self.store.active()
        if not canary or not active:
            return ""
        cand = self.store.episode_rows(canary)
        inc = self.store.episode_rows(active, {t for t, *_ in cand})
        c = self.cfg
        res = compare(cand, inc, min_episodes=c.min_episodes, success_margin=c.success_margin,
                      intervention_margin=c.intervention_margin, z=c.z)
        self.verdict = f"v{canary} vs v{active}: {res.text}"
        if res.verdict == "worse":
            self._rollback("rollout", canary, res.text)
            self._alert(Alert(robot_id="", level="critical", code="rollback",
                              text=f"v{canary} rolled back automatically: {res.text}"))
        elif res.verdict == "not_worse" and not c.require_approval:
            self._make_active("rollout", canary, "promote", res.text)
            self._alert(Alert(robot_id="", level="info", code="promote", text=f"v{canary} promoted: {res.text}"))
        elif ((res.verdict == "not_worse" or res.n_candidate >= c.max_episodes)
              and not self.awaiting_approval):
            self.awaiting_approval = True
            self._alert(Alert(robot_id="", level="warning", code="approval",
                              text=f"v{canary} waits for an operator's approval: {res.text}"))
        return res.verdict
