"""Deterministic sample data and a hub stand-in answering from it, with no sockets.

For screenshots and snapshot tests of front ends (fixed content at a fixed clock), for the
render benchmarks (16 or 100 robots without starting 100 processes), and for trying a front end
without a fleet. ``SampleHub`` offers the part of ``HubClient``'s API front ends use; front-end
tests against a live hub use the real ``HubClient``.
"""

from __future__ import annotations

import random

import msgspec

from lwd_core.protocol.messages import (
    Alert,
    CurvePoint,
    Curves,
    EpisodeDetail,
    EpisodeInfo,
    FleetState,
    HumanSpan,
    LabelChange,
    LearnerStatus,
    LearnerView,
    LossSeries,
    PolicyVersionView,
    Reply,
    RobotView,
    RolloutView,
)

TASKS = ("push-v3", "reach-v3", "drawer-open-v3", "button-press-topdown-v3")
T0 = 1_767_225_600.0
"""2026-01-01 00:00 UTC: sample wall times count from here."""


def sample_fleet(n: int, *, seed: int = 0, tick: int = 0, operator: str = "op-1") -> FleetState:
    """``n`` robots in every state a screen must show (help, stopped, offline, held by you and by
    others, policy, idle); ``tick`` advances steps and jitters rates deterministically."""
    rng = random.Random(seed * 7919 + tick)
    robots = []
    for i in range(n):
        rid = f"r{i + 1:02d}"
        kind = i % 8
        mode = {2: "human", 3: "human", 4: "stopped", 6: "idle"}.get(kind, "policy")
        robots.append(RobotView(
            robot_id=rid, task=TASKS[i % len(TASKS)], mode=mode, stale=kind == 5,
            operator={2: operator, 3: "op-2", 4: "op-2"}.get(kind, ""),
            episode_id=f"{rid}-e{(tick // 50) + 1}", step=(tick * 4 + i * 13) % 300 if kind != 7 else 120,
            policy="flow", policy_version=13 if i % 5 == 0 else 12,
            control_hz=0.0 if kind == 5 else round(20.0 - rng.random() * 0.4, 1),
            jitter_p99_ms=round(1.0 + rng.random() * 2, 1), jitter_p50_ms=0.3,
            camera_fps=0.0 if kind == 5 else 2.0, last_seen_s=12.0 if kind == 5 else round(0.05 + 0.1 * rng.random(), 2),
            help_requested=kind == 1, help_reason="low value Q0.3=0.12 < 0.20" if kind == 1 else "",
            episodes=20 + i, successes=(20 + i) * (3 + i % 5) // 8,
        ))
    return FleetState(robots=robots, rollout=RolloutView(active=12, canary=13, state="canary",
                                                          canary_robots=[r.robot_id for r in robots if r.policy_version == 13]))


def sample_versions() -> list[PolicyVersionView]:
    """Oldest first, as ``HubClient.policy_versions`` returns them."""
    return [
        PolicyVersionView(version=11, parent=10, learner_step=40_000, created=T0, sha256="0" * 64, author="learner", status="retired",
                          labelled=220, successes=150, success_rate=150 / 220, intervention_rate=0.11),
        PolicyVersionView(version=12, parent=11, learner_step=60_000, created=T0 + 1800, sha256="1" * 64, author="learner",
                          status="active", labelled=180, successes=146, success_rate=146 / 180, intervention_rate=0.07),
        PolicyVersionView(version=13, parent=12, learner_step=80_000, created=T0 + 3000, sha256="2" * 64, author="learner",
                          status="canary", labelled=9, successes=8, success_rate=8 / 9, intervention_rate=0.05,
                          note="canary"),
    ]


def sample_alerts(n: int) -> list[Alert]:
    out = []
    for i in range(n):
        rid = f"r{i + 1:02d}"
        if i % 8 == 1:
            out.append(Alert(robot_id=rid, level="warning", code="help", text="low value Q0.3=0.12 < 0.20"))
        elif i % 8 == 4:
            out.append(Alert(robot_id=rid, level="critical", code="deadman", text="no operator signal from op-2; robot stopped"))
        elif i % 8 == 5:
            out.append(Alert(robot_id=rid, level="critical", code="stale", text="robot stopped answering"))
    return out


def sample_episodes(n: int = 30) -> list[EpisodeInfo]:
    """Newest first."""
    out = []
    for i in range(n):
        rid = f"r{i % 6 + 1:02d}"
        outcome = ("success", "failure", "unlabeled")[i % 3]
        steps = 120 + (i * 37) % 180
        out.append(EpisodeInfo(
            episode_id=f"{rid}-e{100 - i}", robot_id=rid, task=TASKS[i % len(TASKS)], status="ended",
            outcome=outcome, started_at=T0 + 3600 - 60 * i, ended_at=T0 + 3600 - 60 * i + steps / 20,
            end_reason="success" if outcome == "success" else "timeout", steps=steps,
            human_steps=(steps // 3) if i % 4 == 1 else 0, policy_versions=[12 if i % 2 else 13],
            labelled_by="op-1" if outcome != "unlabeled" else ""))
    return out


def sample_curves(points: int = 30) -> Curves:
    pts = []
    for g, (base, gain) in {"all": (0.35, 0.5), **{t: (0.2 + 0.1 * k, 0.6 - 0.1 * k) for k, t in enumerate(TASKS)}}.items():
        for k in range(points):
            steps = 2000 * (k + 1)
            p = min(0.97, base + gain * k / points + 0.04 * ((k * 7) % 3 - 1))
            eps = 12 if g == "all" else 3
            pts.append(CurvePoint(group=g, fleet_steps=steps, episodes=eps, labelled=eps, successes=round(p * eps),
                                  steps=2000 if g == "all" else 500,
                                  human_steps=int((2000 if g == "all" else 500) * max(0.02, 0.4 - 0.012 * k))))
    return Curves(points=pts, total_steps=2000 * points)


def sample_learners(points: int = 60) -> list[LearnerView]:
    """One DIVL + QAM learner online at 41 200 updates, v13 proposed 2 min ago, with decaying
    losses over its last ``points`` reports."""
    ups = [41_200 - 200 * (points - 1 - i) for i in range(points)]
    def shape(k: int) -> list[float]:  # decaying with some noise, each term its own
        return [(1.0 + 0.3 * ((i * (7 + 2 * k)) % 5) / 4) / (1 + i / (8 + 6 * k)) for i in range(points)]

    history = [LossSeries(name="adjoint_loss", updates=ups, values=[round(0.8 * x + 0.3, 4) for x in shape(0)]),
               LossSeries(name="bc_loss", updates=ups, values=[round(0.12 * x + 0.05, 4) for x in shape(1)]),
               LossSeries(name="q_loss", updates=ups, values=[round(2.5 * x + 0.4, 4) for x in shape(2)])]
    last = {s.name: s.values[-1] for s in history}
    status = LearnerStatus(
        learner="learner", agent="divl_qam", phase="online", updates=41_200, online_updates=39_200,
        updates_per_s=3.1, episodes=412, steps=123_600, cursor=418, online_share=0.5, tau=0.9,
        losses={**last, "q_mean": 0.62, "tau": 0.87}, candidate_version=13, candidate_age_s=125.0,
        checkpoint_age_s=40.0)
    return [LearnerView(status=status, seen_s_ago=1.2, stale=False, history=history)]


class SampleHub:
    """The ``HubClient`` calls front ends make, answered from sample data (no sockets).

    Labels are kept with an audit trail like the store's; take / give change the sample fleet.
    """

    def __init__(self, n_robots: int = 16, operator: str = "op-1", n_episodes: int = 30):
        self.operator = operator
        self.n = n_robots
        self.latest_fleet = sample_fleet(n_robots, operator=operator)
        self.latest_frames: dict = {}
        self.latest_telemetry: dict = {}
        self.alerts: list[Alert] = []
        self.hub_stale = False
        self.on_fleet = self.on_episode = self.on_telemetry = self.on_frame = None
        self.episodes = {e.episode_id: e for e in sample_episodes(n_episodes)}
        self.audit: dict[str, list[LabelChange]] = {
            e.episode_id: [LabelChange(old="unlabeled", new=e.outcome, who="op-1", at=e.ended_at + 30)]
            for e in self.episodes.values() if e.outcome != "unlabeled"}
        self.held: set[str] = set()
        self.teleops: list[tuple[str, tuple, float]] = []
        self.tick = 0
        self.versions = sample_versions()
        self.policy_log: list[tuple[str, int, str]] = []

    def advance(self, ticks: int = 1, alerts: list[Alert] | None = None) -> FleetState:
        """Move the sample fleet on and deliver it as the hub would (``on_fleet``)."""
        self.tick += ticks
        fleet = sample_fleet(self.n, tick=self.tick, operator=self.operator)
        for r in fleet.robots:
            if r.robot_id in self.held:
                r.mode, r.operator = "human", self.operator
        fleet.alerts = list(alerts or [])
        self.latest_fleet = fleet
        if self.on_fleet:
            self.on_fleet(fleet)
        return fleet

    def subscribe(self, hz: float = 5.0) -> Reply:
        return Reply(ok=True)

    def watch_frames(self, robot_id: str, camera: str = "") -> None:
        pass

    def close(self) -> None:
        pass

    def take(self, robot_id: str) -> Reply:
        self.held.add(robot_id)
        return Reply(ok=True)

    def give(self, robot_id: str) -> Reply:
        if robot_id not in self.held:
            return Reply(ok=False, error=f"{robot_id} is not held")
        self.held.discard(robot_id)
        return Reply(ok=True)

    def teleop(self, robot_id: str, dpos, gripper: float) -> None:
        self.teleops.append((robot_id, tuple(dpos), gripper))

    def label(self, robot_id: str, episode_id: str, outcome: str, note: str = "") -> Reply:
        return self.relabel(episode_id, outcome, note)

    def relabel(self, episode_id: str, outcome: str, note: str = "") -> Reply:
        e = self.episodes.get(episode_id)
        if e is None:
            return Reply(ok=False, error=f"no episode {episode_id!r}")
        self.audit.setdefault(episode_id, []).append(
            LabelChange(old=e.outcome, new=outcome, who=self.operator, at=T0 + 7200 + len(self.audit), note=note))
        self.episodes[episode_id] = msgspec.structs.replace(e, outcome=outcome, labelled_by=self.operator)
        return Reply(ok=True)

    def list_episodes(self, *, task="", robot="", outcome="", status="", policy_version=-1, since=0.0,
                      source="", limit=50, timeout=5.0) -> list[EpisodeInfo]:
        out = [e for e in self.episodes.values()
               if (not task or e.task == task) and (not robot or e.robot_id == robot)
               and (not outcome or e.outcome == outcome) and (not status or e.status == status)
               and (policy_version < 0 or policy_version in e.policy_versions) and e.started_at >= since
               and (not source or e.source == source)]
        return sorted(out, key=lambda e: -e.started_at)[:limit]

    def show_episode(self, episode_id: str, timeout: float = 5.0) -> EpisodeDetail:
        e = self.episodes[episode_id]
        spans = [HumanSpan(start_step=e.steps // 2, end_step=e.steps // 2 + e.human_steps, operator="op-2")] if e.human_steps else []
        return EpisodeDetail(episode=e, audit=list(self.audit.get(episode_id, [])), interventions=spans)

    def policy_versions(self) -> list[PolicyVersionView]:
        return list(self.versions)

    def _set_status(self, version: int, status: str) -> None:
        self.versions = [msgspec.structs.replace(v, status=status) if v.version == version else v for v in self.versions]

    def promote(self, version: int, why: str = "") -> Reply:
        for v in self.versions:
            if v.status == "active":
                self._set_status(v.version, "retired")
        self._set_status(version, "active")
        self.policy_log.append(("promote", version, why))
        return Reply(ok=True)

    def rollback(self, version: int | None = None, why: str = "") -> Reply:
        self._set_status(version or 13, "rolled_back")
        self.policy_log.append(("rollback", version or 13, why))
        return Reply(ok=True)

    def pin(self, robot_id: str, version: int, why: str = "") -> Reply:
        self.policy_log.append((f"pin {robot_id}", version, why))
        return Reply(ok=True)

    def curves(self, points: int = 40, timeout: float = 5.0) -> Curves:
        return sample_curves(min(points, 30))

    def value_trace(self, robot_id: str, since_chunk: int = 0, timeout: float = 5.0):
        """Every fifth robot's policy has no critic; the others sag and ask for help."""
        from lwd_operator.fleet_view.value_trace import sample_trace

        critic = not robot_id.endswith(("5", "0"))
        t = sample_trace(robot_id, self.tick + 40, critic=critic)
        t.points = [p for p in t.points if p.chunk >= since_chunk]
        return t

    def learner_status(self, history: int = 0, timeout: float = 5.0) -> list[LearnerView]:
        return sample_learners(max(1, min(history, 60)))
