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
PROTO_MINOR = 0
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


class StepBatch(Msg, tag="step_batch"):
    """Consecutive recorded steps of one episode; arrays travel as blobs in ``blobs`` order.

    Blobs: ``state`` float32 [n, obs_dim] (observation before the action), ``action`` float32
    [n, action_dim] (action actually applied), ``source`` uint8 [n] (0 policy, 1 human),
    ``policy_version`` int32 [n], ``t_ns`` int64 [n]. ``first_step`` is the episode step index of
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
    role: Literal["operator", "observer", "bot"] = "operator"
    """A request only: the hub takes the role (and the name) from the client's key."""
    session: str = ""
    """Random per client process: sequence numbers start again in a new session."""


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
    """Ask for an operator's attention on a robot (raises a help alert for everyone)."""

    robot_id: str
    reason: str = ""


class Reply(Msg, tag="reply"):
    """Generic answer to a client request; ``corr`` is the request's ``seq``."""

    ok: bool
    error: str = ""
    data: dict[str, str] = {}


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


class FleetState(Msg, tag="fleet_state"):
    robots: list[RobotView]
    alerts: list[Alert] = []


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
    | Subscribe
    | Take
    | Give
    | LabelEpisode
    | RequestHelp
    | Reply
    | FleetState
    | Frame
    | Telemetry
)
