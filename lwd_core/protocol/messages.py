"""Every message that crosses a LWD socket, declared once.

Wire form: a ZeroMQ multipart message ``[header, blob0, blob1, ...]``. ``header`` is a msgpack
map produced from one of the structs below; the tag field ``kind`` names the struct. Binary
payloads (JPEG frames, arrays, weight blobs) never go inside the header: they follow it as
separate frames and the header describes them (``BlobSpec``). Nothing is ever pickled.

Every struct inherits the envelope of ``Msg``: protocol version, kind, sender, sequence number,
monotonic send time and a correlation id that a reply copies from its request.

Compatibility rule: peers with the same major version talk; a newer minor may add fields with
defaults (unknown fields are ignored on decode), never remove or retype one.
"""

from __future__ import annotations

from typing import Literal

import msgspec

PROTO_MAJOR = 1
PROTO_MINOR = 1
PROTO = (PROTO_MAJOR, PROTO_MINOR)

Mode = Literal["policy", "human", "stopped", "idle"]
"""What drives a robot: its policy, a human operator, nothing (safe stop) or nothing yet (idle)."""

ActionSource = Literal["policy", "human"]
Outcome = Literal["success", "failure", "unlabeled"]


class Msg(msgspec.Struct, tag_field="kind", kw_only=True, omit_defaults=False):
    """Envelope carried by every message."""

    proto: tuple[int, int] = PROTO
    sender: str = ""
    seq: int = 0
    t_mono_ns: int = 0
    corr: int = 0
    """Request id; a reply carries its request's ``seq`` here."""


class Header(msgspec.Struct, kw_only=True):
    """The envelope alone: decoded first, so a peer with another major version gets a reason."""

    proto: tuple[int, int]
    kind: str
    sender: str = ""
    seq: int = 0
    corr: int = 0


class BlobSpec(msgspec.Struct, frozen=True):
    """Describes one binary frame after the header: an array (dtype + shape) or opaque bytes."""

    name: str
    dtype: str = "bytes"
    shape: tuple[int, ...] = ()


class CameraSpec(msgspec.Struct, frozen=True):
    name: str
    width: int
    height: int
    fps: float
    encoding: str = "jpeg"


# --- robot <-> hub: session ----------------------------------------------------------------


class RobotHello(Msg, tag="robot_hello"):
    """First message of a robot session (also after every reconnect: state is resent)."""

    robot_id: str
    driver: str
    task: str
    tasks: list[str]
    obs_dim: int
    action_dim: int
    action_space: str
    """e.g. ``ee_delta_xyz+gripper``: what teleop deltas mean for this robot."""
    cameras: list[CameraSpec]
    policy: str
    policy_version: int
    control_hz: float
    mode: Mode = "idle"
    episode_id: str = ""
    operator: str = ""
    session: str = ""
    """Random per robot process: a new value means the robot restarted (its episode was lost)."""
    policy_digest: str = ""
    """sha256 of the running policy's weights (empty for built-in policies)."""


class Welcome(Msg, tag="welcome"):
    """Reply to a hello: accepted, with the hub's settings."""

    deadman_ms: int
    heartbeat_ms: int
    session: str
    operator: str = ""
    """To a client: the name the hub knows it by (its key's name), shown to others and recorded."""


class Refuse(Msg, tag="refuse"):
    """Reply to a hello or request that cannot be served; ``reason`` is for the peer's log."""

    reason: str


class Heartbeat(Msg, tag="heartbeat"):
    """Liveness in either direction when nothing else was sent."""


VALUE_POINTS_PER_STATUS = 16
"""At most this many ``ValuePoint``s ride on one ``RobotStatus``."""


class ValuePoint(msgspec.Struct, kw_only=True, array_like=True):
    """The value a robot read at one action-chunk boundary under its policy
    (``lwd_operator.robot.help_signal``). ``array_like``: a few numbers, not a map of names."""

    chunk: int
    """Index of the chunk in its episode (0 first; counts only chunks whose value was read)."""
    step: int
    """Episode step at the chunk's first state."""
    value: float
    """The watched tau-quantile of V(s) at that state."""
    level: float
    """The task's running level the value was compared against (before this value)."""
    threshold: float
    """``level - help_drop``: below it the robot asks for help (``value_low``)."""
    armed: bool
    """The level had seen ``help_warmup_chunks`` chunks: the threshold applied."""


class RobotStatus(Msg, tag="robot_status"):
    """Periodic robot summary (a few Hz); doubles as the robot's heartbeat."""

    robot_id: str
    mode: Mode
    task: str
    episode_id: str
    step: int
    policy: str
    policy_version: int
    control_hz: float
    """Measured control rate over the last second."""
    jitter_p99_ms: float
    camera_fps: float
    operator: str = ""
    jitter_p50_ms: float = 0.0
    """Median deviation of the control period from its target, over the last 10 s."""
    success: bool = False
    help_requested: bool = False
    help_reason: str = ""
    ee_pos: list[float] = []
    policy_error: str = ""
    """Why the last offered policy version was refused (empty when none was)."""
    policy_digest: str = ""
    """sha256 of the running policy's weights (empty for built-in policies): tells apart a
    local snapshot and a hub version that happen to share a number."""
    policy_standby: int = 0
    """Version being downloaded or loaded beside the running one (0: none)."""
    missed_ticks: int = 0
    """Control ticks missed since the robot started (a period overrun by a whole period)."""
    value_tau: float = 0.0
    """Quantile of the critic's value distribution the robot watches for help; 0 when the
    running policy has no critic (built-ins, BC): then there is no value signal."""
    value_points: list[ValuePoint] = []
    """This episode's chunk values not sent on an earlier status, plus the last 2 that were,
    oldest first (at most ``VALUE_POINTS_PER_STATUS``): the hub merges them into the episode's
    trace by chunk index, so a lost status leaves no gap unless more than 2 chunks ran since."""
    help_step: int = -1
    """Step of this episode at which the robot asked for help by itself (-1: it has not)."""


class EpisodeEvent(Msg, tag="episode_event"):
    """Start or end of an episode on a robot."""

    robot_id: str
    episode_id: str
    task: str
    event: Literal["started", "ended"]
    reason: str = ""
    """For ``ended``: success, timeout, operator, reset or shutdown."""
    success: bool = False
    steps: int = 0
    human_steps: int = 0
    clock_offset_ns: int = 0
    """For ``started``: the robot's wall clock minus its monotonic clock. Step ``t_ns`` and
    frame ``t_capture_ns`` are both the robot's monotonic clock; add this to show wall time."""
    help_step: int = -1
    """For ``ended``: the step at which the robot first asked for help by itself in this
    episode (-1: it did not)."""
    help_signal: str = ""
    """For ``ended``: the signal of that first request: value_low, value_falling or
    no_progress."""
    help_signals: dict[str, int] = {}
    """For ``ended``: the first step at which each help signal fired under the policy, each as
    if it were the robot's only signal, whether or not another one had asked first (a request
    does not silence the others here). Keys: value_low or value_falling (the value monitor
    fires once per episode, so at most one of the two) and no_progress; a signal that never
    fired is absent. What help-request quality is measured from
    (``lwd_operator.sim.help_quality``)."""


class StepBatch(Msg, tag="step_batch"):
    """Consecutive recorded steps of one episode; arrays travel as blobs in ``blobs`` order.

    Blobs: ``state`` float32 [n, obs_dim] (observation before the action), ``action`` float32
    [n, action_dim] (action actually applied), ``source`` uint8 [n] (0 policy, 1 human),
    ``policy_version`` int32 [n], ``t_ns`` int64 [n] (the robot's monotonic clock, the one
    that stamps its frames). ``first_step`` is the episode step index of
    row 0; (robot, episode, step) is the idempotency key. ``final_state`` is present on the
    batch that closes the episode (observation after the last action).
    """

    robot_id: str
    episode_id: str
    first_step: int
    n: int
    blobs: list[BlobSpec]
    closes_episode: bool = False


class StepAck(Msg, tag="step_ack"):
    """Hub -> robot: every step of ``episode_id`` below ``durable_until`` is durable."""

    episode_id: str
    durable_until: int


class Alert(Msg, tag="alert"):
    """Something an operator should see; ``level`` orders the attention queue."""

    robot_id: str
    level: Literal["info", "warning", "critical"]
    code: str
    """Stable machine-readable code: deadman, help, stale, store_error, ..."""
    text: str


# --- hub -> robot: commands ----------------------------------------------------------------


class Takeover(Msg, tag="takeover"):
    """Switch to human control at the next tick; hold still until teleop arrives."""

    operator: str


class Release(Msg, tag="release"):
    """Hand control back to the policy at the next tick."""

    operator: str


class Teleop(Msg, tag="teleop"):
    """End-effector velocity command: ``dpos`` metres per control tick, gripper in [-1, 1]."""

    robot_id: str
    dpos: tuple[float, float, float]
    gripper: float
    operator: str = ""


class OperatorBeat(Msg, tag="operator_beat"):
    """The operator driving this robot is alive (forwarded by the hub from the client's beat)."""

    operator: str


class ResetEpisode(Msg, tag="reset_episode"):
    """End the current episode (reason ``operator``) and start a new one."""

    robot_id: str
    reason: str = "operator"


# --- client <-> hub ------------------------------------------------------------------------


MAX_OPERATOR_NAME = 64


def operator_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an operator name, or None. Names land in logs, the status table and
    the episode store's audit trail, so they are short and printable (no terminal escapes)."""
    if not name or len(name) > MAX_OPERATOR_NAME:
        return f"operator name must be 1-{MAX_OPERATOR_NAME} characters, got {len(name)}"
    if not name.isprintable():
        return f"operator name {name[:MAX_OPERATOR_NAME]!r} has unprintable characters"
    return None


class ClientHello(Msg, tag="client_hello"):
    operator: str
    """Who asks to act (see ``operator_name_problem``); a hub with authentication shows and
    records the key's name instead."""
    role: Literal["operator", "observer", "bot", "learner", "admin"] = "operator"
    """A request only: the hub takes the role (and the name) from the client's key."""
    session: str = ""
    """Random per client process: sequence numbers start again in a new session."""


class ClientBye(Msg, tag="client_bye"):
    """The client is leaving: the hub hands every robot it holds back to its policy (as a
    ``Give`` would), forgets the client and replies. Unlike a timeout, nobody is alerted."""

    reason: str = ""


class Subscribe(Msg, tag="subscribe"):
    """Ask for ``FleetState`` pushes (and alerts/episode events) at ``hz``."""

    hz: float = 5.0


class Take(Msg, tag="take"):
    robot_id: str


class Give(Msg, tag="give"):
    """Release a robot the caller holds (``Release`` is the hub->robot command)."""

    robot_id: str


class LabelEpisode(Msg, tag="label_episode"):
    robot_id: str
    episode_id: str
    outcome: Outcome
    note: str = ""


class RequestHelp(Msg, tag="request_help"):
    """Ask for an operator's attention on a robot (raises a help alert for everyone).

    Sent by a client (a person asks for someone else to look), or by the robot itself when its
    risk signal crosses a threshold (``lwd_operator.robot.help_signal``): then ``signal`` names
    the trigger (value_low, value_falling, no_progress) and ``value`` is what triggered it.
    """

    robot_id: str
    reason: str = ""
    signal: str = ""
    value: float = 0.0


class Reply(Msg, tag="reply"):
    """Generic answer to a client request; ``corr`` is the request's ``seq``."""

    ok: bool
    error: str = ""
    data: dict[str, str] = {}


# --- policy versions: publish, distribute, roll out (lwd_operator.hub.rollout) ---------------


PolicyStatus = Literal["candidate", "canary", "active", "retired", "rolled_back"]


class PolicyUpload(Msg, tag="policy_upload"):
    """Client -> hub: one piece of a snapshot (``meta.json`` bytes then ``model.safetensors``
    bytes, concatenated), blob 0. Pieces go in order; each is answered with a ``Reply``; the
    reply to the last carries ``data["version"]``, the version the hub assigned."""

    upload_id: str
    offset: int
    total_bytes: int
    meta_bytes: int
    sha256: str
    """sha256 of ``model.safetensors`` (meta.json's ``sha256``): checked by the hub."""
    parent: int = -1
    """-1: the hub's active version."""
    learner_step: int = 0
    note: str = ""


class PolicyOffer(Msg, tag="policy_offer"):
    """Hub -> robot: run ``version`` (download it with ``PolicyFetch``, verify, then swap)."""

    version: int
    sha256: str
    total_bytes: int
    meta_bytes: int


class PolicyFetch(Msg, tag="policy_fetch"):
    """Robot -> hub: send bytes ``[offset, offset + length)`` of ``version``'s payload."""

    robot_id: str
    version: int
    offset: int
    length: int


class PolicyChunk(Msg, tag="policy_chunk"):
    """Hub -> robot: a piece of a version's payload, blob 0 (empty when ``error`` is set)."""

    version: int
    offset: int
    total_bytes: int
    error: str = ""


class PolicyReport(Msg, tag="policy_report"):
    """Robot -> hub (and hub -> subscribed clients): a version was swapped in or refused.

    ``load_ms``: offer to swap. Jitter and missed ticks cover the control ticks from the offer
    to one chunk after the swap; ``jitter_before_ms`` the same number of ticks before the offer.
    Where the time went (swapped versions): ``fetch_ms`` offer to last byte, ``queue_ms`` waiting
    for a host-wide build slot, ``build_ms`` verifying, loading and the warm-up chunk (wall
    time; ``build_cpu_ms`` its CPU time); the rest of ``load_ms`` is the wait for a chunk boundary.
    """

    robot_id: str
    version: int
    ok: bool
    reason: str = ""
    previous: int = 0
    swap_t_mono_ns: int = 0
    """The robot's monotonic clock at the swap (comparable with others only on one machine)."""
    load_ms: float = 0.0
    jitter_p99_ms: float = 0.0
    jitter_before_ms: float = 0.0
    missed_ticks: int = 0
    fetch_ms: float = 0.0
    queue_ms: float = 0.0
    build_ms: float = 0.0
    build_cpu_ms: float = 0.0


class PolicyCommand(Msg, tag="policy_command"):
    """Client -> hub: a rollout action, audited with the client's name and ``why``.

    ``deploy``: ``version`` becomes active fleet-wide (or, with ``robots``, those robots are
    pinned to it); ``canary``: run it on ``k`` robots (0: the configured number) and let the
    rollout decide; ``promote``; ``rollback`` (``version`` 0: the canary, else the active);
    ``pin`` / ``unpin`` ``robots`` to ``version``.
    """

    action: Literal["deploy", "canary", "promote", "rollback", "pin", "unpin"]
    version: int = 0
    robots: list[str] = []
    k: int = 0
    why: str = ""


class PolicyQuery(Msg, tag="policy_query"):
    """Client -> hub: the versions (``version`` 0: all) and their audit trail."""

    version: int = 0
    audit_limit: int = 50


class PolicyVersionView(msgspec.Struct, kw_only=True):
    """One row of the policy store, with its live metrics from recorded episodes."""

    version: int
    parent: int
    learner_step: int
    sha256: str
    created: float
    """Unix time."""
    author: str
    status: PolicyStatus
    note: str = ""
    bytes: int = 0
    episodes: int = 0
    labelled: int = 0
    successes: int = 0
    success_rate: float = -1.0
    """-1 when no episode of this version is labelled."""
    intervention_rate: float = -1.0
    """Human steps / all steps of this version's episodes; -1 without steps."""
    robots: list[str] = []
    """Robots running it now."""


class PolicyAuditView(msgspec.Struct, kw_only=True):
    at: float
    who: str
    action: str
    version: int
    robots: list[str] = []
    why: str = ""


class PolicyList(Msg, tag="policy_list"):
    """Hub -> client: answer to ``PolicyQuery``."""

    versions: list[PolicyVersionView]
    audit: list[PolicyAuditView] = []


class RolloutView(msgspec.Struct, kw_only=True):
    """The fleet's rollout state, for consoles."""

    active: int = 0
    canary: int = 0
    canary_robots: list[str] = []
    state: Literal["idle", "canary", "awaiting_approval"] = "idle"
    verdict: str = ""
    """Last comparison of canary and incumbent, in words (with its intervals)."""
    pinned: dict[str, int] = {}


class AttentionItem(msgspec.Struct, kw_only=True):
    """One entry of the attention queue, most urgent first (``lwd_operator.hub.attention``)."""

    robot_id: str
    kind: Literal["help", "deadman", "stall", "offline", "policy_load"]
    urgency: int
    """Higher first, from ``lwd_core.protocol.attention.URGENCY`` (help above deadman, then
    offline, stall, policy_load)."""
    reason: str
    since_s: float = 0.0
    """How long the item has been raised, in seconds."""
    value: float = 0.0
    """For help from the value signal: the value that triggered it."""


class RobotView(msgspec.Struct, kw_only=True):
    """One row of the fleet table as the hub sees it."""

    robot_id: str
    task: str
    mode: Mode
    stale: bool
    operator: str
    episode_id: str
    step: int
    policy: str
    policy_version: int
    control_hz: float
    jitter_p99_ms: float
    camera_fps: float
    last_seen_s: float
    """Seconds since the hub last heard from the robot."""
    jitter_p50_ms: float = 0.0
    success: bool = False
    help_requested: bool = False
    help_reason: str = ""
    cameras: list[CameraSpec] = []
    episodes: int = 0
    successes: int = 0
    policy_target: int = 0
    """Version the hub wants this robot on (0: none chosen; the robot keeps its own)."""
    pinned: bool = False
    canary: bool = False
    policy_error: str = ""
    policy_standby: int = 0


class FleetState(Msg, tag="fleet_state"):
    robots: list[RobotView]
    alerts: list[Alert] = []
    rollout: RolloutView = msgspec.field(default_factory=RolloutView)
    attention: list[AttentionItem] = []
    """The attention queue, most urgent first; see ``AttentionItem``."""


# --- learner <-> hub: the episode feed ------------------------------------------------------


class FetchEpisodes(Msg, tag="fetch_episodes"):
    """Learner -> hub: labelled episodes that became ready after ``cursor`` (the store's
    ``ready_seq``), at most ``max_steps`` steps (but always at least one whole episode).

    The cursor is the acknowledgement: asking again with the ``next_cursor`` of a reply says
    everything up to it is safely held by the learner, so a learner that restarts from its
    persisted cursor receives every episode exactly once, with nothing to re-read.
    """

    cursor: int = 0
    max_steps: int = 20_000
    max_episodes: int = 256


class FedEpisode(msgspec.Struct, frozen=True, kw_only=True):
    """One episode of an ``EpisodeBatch``: its rows are ``steps`` consecutive rows of the blobs."""

    episode_id: str
    robot_id: str
    task: str
    outcome: Outcome
    steps: int
    ready_seq: int
    instruction: str = ""


class EpisodeBatch(Msg, tag="episode_batch"):
    """Hub -> learner: reply to ``FetchEpisodes`` (``corr`` = its ``seq``).

    Blobs, in ``blobs`` order, with the episodes' rows concatenated in ``episodes`` order:
    ``states`` float32 [N, obs_dim], ``actions`` float32 [N, action_dim], ``sources`` uint8 [N],
    ``policy_versions`` int32 [N], and ``final_states`` float32 [E, obs_dim] (one per episode).
    ``next_cursor`` is the cursor to ask with next (it also moves past ready episodes the feed
    skips, such as imported demonstrations); ``more`` says more episodes were ready at once.
    """

    episodes: list[FedEpisode]
    blobs: list[BlobSpec]
    next_cursor: int
    more: bool = False


# --- learner -> hub -> clients: the learner's state and losses -------------------------------

LearnerPhase = Literal["pretrain", "online", "waiting"]
"""What the learner is doing: offline pre-training, learning online, or waiting for data (it
holds no episode to learn from yet)."""

MAX_LOSS_TERMS = 16
"""Most named values in ``LearnerStatus.losses`` (the agents return fewer than 10)."""
MAX_LOSS_HISTORY = 500
"""Most loss points the hub keeps per learner (a ring buffer: the newest ones)."""


class LearnerStatus(Msg, tag="learner_status"):
    """Learner -> hub, every ``LearnerConfig.status_every_s`` seconds and at each candidate
    (fire and forget: the hub answers only a refusal). Learner and admin keys only. The hub
    names the learner by its key, never by this message, and keeps the newest status of each
    learner and a bounded history of its losses (``GetLearnerStatus``).

    Ages are seconds before sending (clocks differ between machines); negative: never."""

    learner: str = ""
    """Set by the hub (the sender's key name); ignored on the way in."""
    agent: str = ""
    """The learning rule: divl_qam or bc."""
    phase: LearnerPhase = "online"
    updates: int = 0
    """Every gradient update since the run began (pre-training included)."""
    online_updates: int = 0
    updates_per_s: float = 0.0
    """Over the last ~10 s."""
    episodes: int = 0
    """Online episodes received from the hub (and held in the learner's episode log)."""
    steps: int = 0
    """Online steps received."""
    cursor: int = 0
    """The episode feed cursor the learner will ask from next."""
    online_share: float = 0.0
    """Share of each batch drawn from online data now (the rest is offline data)."""
    tau: float = -1.0
    """DIVL's tau_base in use (-1: the agent has none)."""
    losses: dict[str, float] = {}
    """The last update's terms as the agent returns them (critic, actor / QAM, BC, q_mean...);
    finite values only."""
    nonfinite: list[str] = []
    """Terms of the last update that were NaN or infinite (training diverged): never hidden."""
    candidate_version: int = 0
    """The last candidate proposed (0: none yet)."""
    candidate_age_s: float = -1.0
    checkpoint_age_s: float = -1.0


class GetLearnerStatus(Msg, tag="get_learner_status"):
    """Client -> hub: the learners' newest status and up to ``history`` loss points each."""

    history: int = 0


class LossSeries(msgspec.Struct, kw_only=True):
    """One loss term of a learner over its recent updates, oldest first: ``values[i]`` after
    ``updates[i]`` updates."""

    name: str
    updates: list[int] = []
    values: list[float] = []


class LearnerView(msgspec.Struct, kw_only=True):
    """One learner as the hub sees it: its newest status (ages as of the hub's answer)."""

    status: LearnerStatus
    seen_s_ago: float
    """Seconds since the hub last heard from it."""
    stale: bool
    """Silent for longer than ``HubConfig.learner_stale_s``: offline or stuck."""
    history: list[LossSeries] = []
    """Terms by name; evenly thinned so that one answer stays under the header limit."""


class LearnerStates(Msg, tag="learner_states"):
    """Hub -> client: reply to ``GetLearnerStatus``; learners most recently heard from first."""

    learners: list[LearnerView] = []


# --- client <-> hub: episodes and learning curves (answered from the hub's store) ----------

MAX_EPISODE_LIST = 200
"""The most episodes one ``EpisodeList`` carries (the header stays far below its size cap)."""


class ListEpisodes(Msg, tag="list_episodes"):
    """Episodes, newest first, with the filters of ``lwd episodes list``; empty means any."""

    task: str = ""
    robot: str = ""
    outcome: str = ""
    status: str = ""
    policy_version: int = -1
    """-1: any version."""
    since: float = 0.0
    """Epoch seconds; episodes started after it (0: any time)."""
    source: str = ""
    limit: int = 50
    """At most ``MAX_EPISODE_LIST``."""


class EpisodeInfo(msgspec.Struct, kw_only=True):
    """One episode's index row, as the store holds it."""

    episode_id: str
    robot_id: str
    task: str
    status: str
    outcome: str
    started_at: float
    ended_at: float = 0.0
    """0 while running."""
    end_reason: str = ""
    steps: int = 0
    human_steps: int = 0
    policy_versions: list[int] = []
    labelled_by: str = ""
    notes: str = ""
    source: str = "robot"


class EpisodeList(Msg, tag="episode_list"):
    """Reply to ``ListEpisodes``."""

    episodes: list[EpisodeInfo]


class ShowEpisode(Msg, tag="show_episode"):
    episode_id: str


class LabelChange(msgspec.Struct, kw_only=True):
    """One row of an episode's label audit trail."""

    old: str
    new: str
    who: str
    at: float
    note: str = ""


class HumanSpan(msgspec.Struct, kw_only=True):
    """Steps [start_step, end_step) of an episode driven by ``operator``."""

    start_step: int
    end_step: int
    operator: str = ""


class EpisodeDetail(Msg, tag="episode_detail"):
    """Reply to ``ShowEpisode``: the row, its label audit trail and its human spans."""

    episode: EpisodeInfo
    audit: list[LabelChange] = []
    interventions: list[HumanSpan] = []


class GetCurves(Msg, tag="get_curves"):
    """Success and intervention rates against cumulative fleet steps, overall and per task."""

    points: int = 40
    """Windows per series (at most 60); the hub picks the window size from the total steps."""


class CurvePoint(msgspec.Struct, kw_only=True):
    group: str
    """``all`` or a task name."""
    fleet_steps: int
    """Cumulative fleet steps at the end of the window."""
    episodes: int
    labelled: int
    successes: int
    steps: int
    human_steps: int


class Curves(Msg, tag="curves"):
    """Reply to ``GetCurves``; points are ordered by group, then fleet steps."""

    points: list[CurvePoint]
    total_steps: int = 0


class GetEpisodeFrame(Msg, tag="get_episode_frame"):
    """Frame ``index`` (capture order, clamped to the episode) of ``camera`` of a recorded
    episode; an empty camera means the first one."""

    episode_id: str
    camera: str = ""
    index: int = 0


class EpisodeFrame(Msg, tag="episode_frame"):
    """Reply to ``GetEpisodeFrame``; the JPEG is blob 0. ``step`` is the control step the frame
    belongs to (the last step recorded at or before its capture); ``pre_intervention_k`` is how
    many policy steps before each takeover the store marks as pre-intervention."""

    episode_id: str
    camera: str
    cameras: list[str]
    index: int
    count: int
    step: int
    t_ns: int
    pre_intervention_k: int = 0


class GetValueTrace(Msg, tag="get_value_trace"):
    """Client -> hub: the value/risk trace of ``robot_id``'s current episode
    (``lwd_operator.hub.value_traces``); answered with ``ValueTrace``."""

    robot_id: str
    since_chunk: int = 0
    """Only points with ``chunk >= since_chunk`` (a client that has the rest asks for less)."""


class ValueTrace(Msg, tag="value_trace"):
    """The values a robot read per chunk in its current episode, oldest first (bounded: the
    newest ``lwd_operator.hub.value_traces.MAX_TRACE_POINTS`` chunks), with where it asked
    for help."""

    robot_id: str
    episode_id: str
    tau: float
    """Watched quantile; 0: the running policy has no critic (no value signal)."""
    points: list[ValuePoint] = []
    help_step: int = -1
    """Step at which the robot asked for help in this episode (-1: not yet)."""
    help_reason: str = ""
    step: int = 0
    """The episode's step at the robot's last status."""
    dropped: int = 0
    """Points of this episode that fell out of the bounded trace (oldest first)."""


# --- frame relay (PUB/SUB through the hub's XSUB/XPUB) -------------------------------------


class Frame(Msg, tag="frame"):
    """One camera image; topic frame ``frame/<robot>/<camera>``; the JPEG is blob 0."""

    robot_id: str
    camera: str
    width: int
    height: int
    encoding: str
    frame_seq: int
    t_capture_ns: int
    """The robot's monotonic clock, the same clock as its steps' ``t_ns``."""
    episode_id: str = ""
    """Episode running when the frame was captured (lets the recorder file it)."""
    step: int = -1
    """Control step the rendered state belongs to."""


class Telemetry(Msg, tag="telemetry"):
    """Per-tick robot state on topic ``tele/<robot>``; latest-only, for drivers of the robot."""

    robot_id: str
    step: int
    mode: Mode
    state: list[float]
    ee_pos: list[float]
    success: bool
    task: str
    episode_id: str


ANY_MESSAGE = (
    RobotHello
    | Welcome
    | Refuse
    | Heartbeat
    | RobotStatus
    | EpisodeEvent
    | StepBatch
    | StepAck
    | Alert
    | Takeover
    | Release
    | Teleop
    | OperatorBeat
    | ResetEpisode
    | ClientHello
    | ClientBye
    | Subscribe
    | Take
    | Give
    | LabelEpisode
    | RequestHelp
    | Reply
    | FleetState
    | Frame
    | Telemetry
    | FetchEpisodes
    | EpisodeBatch
    | ListEpisodes
    | EpisodeList
    | ShowEpisode
    | EpisodeDetail
    | GetCurves
    | Curves
    | GetEpisodeFrame
    | EpisodeFrame
    | GetValueTrace
    | ValueTrace
    | PolicyUpload
    | PolicyOffer
    | PolicyFetch
    | PolicyChunk
    | PolicyReport
    | PolicyCommand
    | PolicyQuery
    | PolicyList
    | LearnerStatus
    | GetLearnerStatus
    | LearnerStates
)
