"""FleetView: the whole presentation model, fed from a HubClient (or directly in tests)."""

from __future__ import annotations

import collections
import dataclasses
import queue
import time
from collections.abc import Callable

from lwd_core.protocol.messages import Alert, EpisodeEvent, FleetState, RobotView
from lwd_operator.fleet_view.alerts import AlertRules, LogEntry
from lwd_operator.fleet_view.attention import AlertCause, AttentionItem, order
from lwd_operator.fleet_view.config import FleetViewConfig
from lwd_operator.fleet_view.history import EndedEpisode, EpisodeHistory, RobotSummary
from lwd_operator.fleet_view.rows import FleetRow, fmt_age


@dataclasses.dataclass(frozen=True)
class FleetSummary:
    """The status-bar line: counts over the fleet."""

    robots: int
    help: int
    stopped: int
    offline: int
    stalled: int
    to_label: int
    yours: tuple[str, ...]
    """Robots this operator holds."""
    versions: dict[int, int]
    """Policy version -> number of robots running it."""
    connected: bool

    def line(self) -> str:
        vers = " ".join(f"v{v}:{n}" for v, n in sorted(self.versions.items(), reverse=True))
        parts = [f"{self.robots} robots", f"help {self.help}", f"stopped {self.stopped}",
                 f"offline {self.offline}", f"to label {self.to_label}"]
        if vers:
            parts.append(vers)
        if self.yours:
            parts.append("you hold " + ",".join(self.yours))
        return " · ".join(parts)


@dataclasses.dataclass
class _Track:
    """What the model remembers about a robot between updates."""

    step: int = -1
    episode_id: str = ""
    step_since: float = 0.0
    cause_since: dict = dataclasses.field(default_factory=dict)


class FleetView:
    """Rows, attention queue, alert log and sounds for one operator's front end.

    Not thread-safe: call it from one thread (the UI thread). ``attach(client)`` makes the
    client's callbacks queue their messages; ``refresh()`` then applies them on the caller's
    thread. Tests call ``update`` / ``on_episode`` directly with a fake clock.
    """

    def __init__(self, operator: str = "", config: FleetViewConfig | None = None,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        self.operator = operator
        self.cfg = config or FleetViewConfig()
        self.clock, self.wall_clock = clock, wall_clock
        self.rules = AlertRules(self.cfg)
        self.history = EpisodeHistory(self.cfg.recent_episodes)
        self.log: collections.deque[LogEntry] = collections.deque(maxlen=self.cfg.log_size)
        self.fleet: FleetState | None = None
        self.rows: list[FleetRow] = []
        self.queue: list[AttentionItem] = []
        self.summary = FleetSummary(0, 0, 0, 0, 0, 0, (), {}, False)
        self.version = 0
        """Increases on every recompute: a front end repaints only when it changed."""
        self._tracks: dict[str, _Track] = {}
        self._causes: dict[tuple[str, str], AlertCause] = {}
        self._to_label: dict[str, EndedEpisode] = {}
        self._sounds: list[LogEntry] = []
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._client = None

    # --- input ------------------------------------------------------------------------------------

    def attach(self, client) -> None:
        """Queue the client's fleet states and episode events for ``refresh()`` (any thread)."""
        self._client = client
        client.on_fleet = lambda m: self._inbox.put(m)
        client.on_episode = lambda m: self._inbox.put(m)

    def refresh(self) -> bool:
        """Apply what the attached client received; True if anything changed on screen."""
        before = self.version
        latest = None
        while True:
            try:
                m = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(m, FleetState):
                self.fleet = m
                for a in m.alerts:
                    self.on_alert(a)
                latest = m
            else:
                self.on_episode(m)
        c = self._client
        frames = c.latest_frames if c is not None else None
        connected = c is not None and not c.hub_stale
        self.update(latest or self.fleet, frames, connected=connected, alerts=False)
        return self.version != before

    def update(self, fleet: FleetState | None, frames: dict | None = None, *, connected: bool = True,
               alerts: bool = True) -> None:
        """Recompute rows, queue and summary from ``fleet`` (and its alerts, unless ``alerts`` is
        False because they were already applied). ``frames`` maps (robot, camera) to
        (Frame, jpeg, t_received) as ``HubClient.latest_frames`` does, on this model's clock."""
        now = self.clock()
        self.fleet = fleet  # first: alerts below look up their robot's episode and version
        if fleet is not None and alerts:
            for a in fleet.alerts:
                self.on_alert(a)
        robots = fleet.robots if fleet else []
        frame_age: dict[str, float] = {}
        for (rid, _cam), (_f, _jpeg, t_rx) in list((frames or {}).items()):
            frame_age[rid] = min(frame_age.get(rid, float("inf")), max(0.0, now - t_rx))
        self._expire(now, {r.robot_id: r for r in robots})
        rows, items = [], []
        for r in robots:
            row, its = self._robot(r, now, frame_age.get(r.robot_id))
            rows.append(row)
            items += its
        for c in self._causes.values():
            if c.code == "store_error":
                items.append(self._item("store_error", "", f"store: {c.text}", now, since=c.since, level="critical"))
        for e in sorted(self._to_label.values(), key=lambda e: e.t_end):
            outcome = "success" if e.success else e.reason or "ended"
            items.append(AttentionItem("to_label", e.robot_id, f"label {e.episode_id} ({outcome}, {e.steps} steps)",
                                       e.t_end, now - e.t_end, e.episode_id, "info"))
        self.rows = rows
        self.queue = order(items)
        count = collections.Counter(row.state for row in rows)
        vers = collections.Counter(r.policy_version for r in robots)
        self.summary = FleetSummary(
            len(rows), count["help"], count["stopped"], count["offline"], count["stalled"], len(self._to_label),
            tuple(r.robot_id for r in robots if r.operator == self.operator and r.mode == "human" and self.operator),
            dict(vers), connected)
        self.version += 1

    def on_alert(self, alert: Alert) -> None:
        """Log an alert, decide its sound, and remember causes the robot status does not show."""
        now = self.clock()
        sound = self.rules.wants_sound(alert, now)
        entry = LogEntry(self.wall_clock(), alert.robot_id, alert.level, alert.code, alert.text, sound)
        self.log.append(entry)
        if sound:
            self._sounds.append(entry)
        code = "policy_load" if alert.code.startswith("policy") else alert.code
        if code in ("help", "deadman", "operator_lost", "policy_load", "store_error"):
            view = self._view(alert.robot_id)
            old = self._causes.get((code, alert.robot_id))
            self._causes[(code, alert.robot_id)] = AlertCause(
                code, alert.robot_id, alert.text, old.since if old else now,
                view.episode_id if view else "", view.policy_version if view else -1, alert.level)
        self.version += 1

    def on_episode(self, ev: EpisodeEvent) -> None:
        """An episode started or ended: history, and ended episodes wait for a label."""
        now = self.clock()
        ended = self.history.add(ev, now)
        if ended is not None:
            self._to_label[ended.episode_id] = ended
            while len(self._to_label) > self.cfg.to_label_max:
                self._to_label.pop(min(self._to_label.values(), key=lambda e: e.t_end).episode_id)
        self.version += 1

    def labelled(self, episode_id: str) -> None:
        """The episode got a label (from this front end or another): it leaves the queue."""
        if self._to_label.pop(episode_id, None) is not None:
            self.version += 1

    def dismiss(self, item: AttentionItem) -> None:
        """Drop an alert-derived entry (help, policy load, store error) or a label-waiting one."""
        self._causes.pop((item.kind, item.robot_id), None)
        if item.kind == "to_label":
            self._to_label.pop(item.episode_id, None)
        self.version += 1

    # --- output ---------------------------------------------------------------------------------

    def take_sounds(self) -> list[LogEntry]:
        """Alerts that should sound now (already rate limited); each is returned once."""
        out, self._sounds = self._sounds, []
        return out

    def set_muted(self, muted: bool) -> None:
        self.rules.muted = muted

    def row(self, robot_id: str) -> FleetRow | None:
        return next((r for r in self.rows if r.robot_id == robot_id), None)

    def robot_summary(self, robot_id: str) -> RobotSummary:
        return self.history.summary(robot_id)

    def to_label(self, robot_id: str | None = None) -> list[EndedEpisode]:
        """Ended episodes waiting for a label, newest first (optionally of one robot)."""
        eps = [e for e in self._to_label.values() if robot_id is None or e.robot_id == robot_id]
        return sorted(eps, key=lambda e: -e.t_end)

    def most_urgent(self) -> AttentionItem | None:
        """The first queue entry about a robot (what 'jump' selects)."""
        return next((i for i in self.queue if i.robot_id), None)

    # --- internals --------------------------------------------------------------------------------

    def _view(self, robot_id: str) -> RobotView | None:
        if self.fleet is None:
            return None
        return next((r for r in self.fleet.robots if r.robot_id == robot_id), None)

    def _expire(self, now: float, views: dict[str, RobotView]) -> None:
        """Alert-derived causes clear when their reason is gone."""
        for k, c in list(self._causes.items()):
            v = views.get(c.robot_id)
            gone = now - c.since > self.cfg.alert_ttl_s
            if c.code == "help":
                gone |= v is not None and (v.mode == "human" or (c.episode_id and v.episode_id != c.episode_id))
            elif c.code in ("deadman", "operator_lost"):
                gone |= v is not None and v.mode != "stopped"
            elif c.code == "policy_load":
                gone |= v is not None and c.policy_version >= 0 and v.policy_version != c.policy_version
            if gone:
                del self._causes[k]
        for eid, e in list(self._to_label.items()):
            if now - e.t_end > self.cfg.to_label_ttl_s:
                del self._to_label[eid]

    def _item(self, kind, robot_id, text, now, since=None, episode_id="", level="warning",
              hub_urgency=0) -> AttentionItem:
        return AttentionItem(kind, robot_id, text, since if since is not None else now,
                             now - (since if since is not None else now), episode_id, level, hub_urgency)

    def _robot(self, r: RobotView, now: float, frame_age: float | None) -> tuple[FleetRow, list[AttentionItem]]:
        tr = self._tracks.setdefault(r.robot_id, _Track(step_since=now))
        if r.step != tr.step or r.episode_id != tr.episode_id or r.mode != "policy":
            tr.step, tr.episode_id, tr.step_since = r.step, r.episode_id, now
        stalled_s = now - tr.step_since if r.mode == "policy" and not r.stale else 0.0
        causes: list[tuple[str, str, str]] = []  # (kind, text, level)
        hub_items = [h for h in getattr(self.fleet, "attention", None) or [] if h.robot_id == r.robot_id]
        hub_kinds = {h.kind for h in hub_items}
        # The hub files a robot's "no progress" help request as a stall (its help alert still
        # says help): follow it, or this queue would show a help entry the hub's has not.
        as_stall = "stall" in hub_kinds and "help" not in hub_kinds
        help_c = self._causes.get(("help", r.robot_id))
        if (r.help_requested or help_c) and not as_stall:
            why = r.help_reason or (help_c.text if help_c else "") or "asks for help"
            causes.append(("help", f"help: {why}", "warning"))
        if r.mode == "stopped":
            dead = self._causes.get(("deadman", r.robot_id)) or self._causes.get(("operator_lost", r.robot_id))
            who = f" ({r.operator})" if r.operator else ""
            if dead:
                # the robot's own words name the operator; say it once
                text = dead.text if r.operator and r.operator in dead.text else f"{dead.text}{who}"
                causes.append(("deadman", f"deadman stop: {text}", "critical"))
            else:
                causes.append(("stopped", f"stopped{who}", "warning"))
        if r.stale:
            causes.append(("offline", f"offline, silent {fmt_age(r.last_seen_s)}", "critical"))
        pol = self._causes.get(("policy_load", r.robot_id))
        if pol:
            causes.append(("policy_load", f"policy load failed: {pol.text}", "warning"))
        if stalled_s >= self.cfg.stall_s:
            causes.append(("stall", f"stalled {stalled_s:.0f} s at step {r.step}", "warning"))
        # The hub's own attention items (its value signal, stall detector, refused versions):
        # its reason wins where both see a cause, its age where it saw it first.
        hub_since: dict[str, float] = {}
        hub_urgency: dict[str, int] = {}
        for h in hub_items:
            kind = {"help": "help", "deadman": "deadman", "stall": "stall", "offline": "offline",
                    "policy_load": "policy_load"}.get(h.kind)
            if kind is None:
                continue
            hub_since[kind] = now - h.since_s
            hub_urgency[kind] = h.urgency
            label = {"help": "help", "deadman": "deadman stop", "stall": "stalled", "offline": "offline",
                     "policy_load": "policy load failed"}[kind]
            if not h.reason:
                text = label
            elif h.reason.split(":")[0].split()[0] in ("stopped", "stalled", "offline", "help", "no"):
                text = f"{kind}: {h.reason}" if kind == "deadman" else h.reason  # it names itself
            else:
                text = f"{label}: {h.reason}"
            same = [k for k, c in enumerate(causes) if c[0] == kind or (kind == "deadman" and c[0] == "stopped")]
            if same:
                causes[same[0]] = (kind, text, causes[same[0]][2])
            else:
                causes.append((kind, text, "critical" if kind in ("deadman", "offline") else "warning"))
        items = []
        for kind, text, level in causes:
            if kind in hub_since:
                since = tr.cause_since.setdefault("stopped" if kind == "deadman" else kind, hub_since[kind])
            elif kind == "stall":
                since = tr.step_since  # the age is how long it has not moved, not how long we knew
            elif kind == "offline":
                since = tr.cause_since.setdefault(kind, now - r.last_seen_s)
            else:  # a stop first seen as 'stopped' keeps its age once its deadman alert arrives
                since = tr.cause_since.setdefault("stopped" if kind == "deadman" else kind, now)
            items.append(self._item(kind, r.robot_id, text, now, since=since, episode_id="", level=level,
                                    hub_urgency=hub_urgency.get(kind, 0)))
        live = {("stopped" if c[0] == "deadman" else c[0]) for c in causes}
        for kind in [k for k in tr.cause_since if k not in live]:
            del tr.cause_since[kind]  # cause cleared: a new occurrence starts a new age
        kinds = {c[0] for c in causes}
        if "help" in kinds:
            state, pill = "help", "HELP"
        elif kinds & {"deadman", "stopped"}:
            state, pill = "stopped", "STOPPED"
        elif r.stale:
            state, pill = "offline", "OFFLINE"
        elif "stall" in kinds:
            state, pill = "stalled", "STALLED"
        elif r.mode == "human" and self.operator and r.operator == self.operator:
            state, pill = "you", "YOU"
        elif r.mode == "human":
            state, pill = "human", f"HUMAN {r.operator}".strip()
        elif r.mode == "policy":
            state, pill = "policy", "POLICY"
        else:
            state, pill = "idle", "IDLE"
        s = self.history.summary(r.robot_id)
        rate = s.success_rate
        if rate is None and r.episodes:
            rate = r.successes / r.episodes  # the hub's count since it started, before our own
        row = FleetRow(
            robot_id=r.robot_id, task=r.task, mode=r.mode, state=state, pill=pill, operator=r.operator,
            policy=r.policy, policy_version=r.policy_version, episode_id=r.episode_id, step=r.step,
            control_hz=r.control_hz, jitter_p50_ms=r.jitter_p50_ms, jitter_p99_ms=r.jitter_p99_ms,
            camera_fps=r.camera_fps, frame_age_s=frame_age, heartbeat_age_s=r.last_seen_s,
            success_rate=rate, recent_episodes=s.recent, episodes=max(r.episodes, s.recent),
            intervention_rate=s.intervention_rate, stalled_s=stalled_s,
            reason=items[0].text if items else "")
        return row, items
