"""The hub's checks on who sends what: identity, role, robot ownership, replays and rates.

Every message that reaches a hub handler has passed ``Gatekeeper``: its key is authorized for
its kind on its port (``authz``), its sequence number grows (``SequenceGuard``), and a robot
speaks only for itself (its key is bound to the robot id; it names only its own robot and
episodes it started). Every refusal is counted by class in ``rejected`` and logged with the
sender's key name, throttled per (key, class) so a flood cannot flood the log.
"""

from __future__ import annotations

import collections
import logging

import numpy as np

from lwd_core.protocol.messages import EpisodeEvent, Msg, RobotHello, StepBatch
from lwd_operator.hub import authz
from lwd_operator.hub.authz import INSECURE, Identity
from lwd_operator.hub.limits import LogThrottle, PeerBuckets, SequenceGuard
from lwd_operator.hub.registry import FleetRegistry, RobotEntry

log = logging.getLogger("lwd.hub.gate")

EPISODES_REMEMBERED = 256
"""Episode ids remembered per robot for ownership checks (older ones fall out)."""


class Gatekeeper:
    """Owned by the hub loop (single-threaded). ``identities``: key name -> Identity, or None
    for a hub without authentication (every peer is then ``authz.INSECURE``)."""

    def __init__(self, identities: dict[str, Identity] | None, fleet: FleetRegistry):
        self.identities = identities
        self.fleet = fleet
        self.rejected: collections.Counter = collections.Counter()
        """'<port>:<class>' -> refused messages (the hub's ``rejected`` counter)."""
        self.by_key: collections.Counter = collections.Counter()
        """key name -> refused messages."""
        self.log = LogThrottle(log)
        self.sequences = SequenceGuard()
        self.refusal_replies = PeerBuckets(rate=20.0, burst=50.0)
        """Refuse replies per peer: a peer sending garbage gets some answers, not one per message."""
        self.requests = PeerBuckets(rate=200.0, burst=400.0)
        """Client requests per connection (teleop at 50 Hz and heartbeats fit easily)."""
        self.alerts = PeerBuckets(rate=5.0, burst=20.0)
        """Alerts per robot."""
        self._episodes: dict[str, collections.OrderedDict] = {}
        self._owner: dict[str, str] = {}

    def identity(self, user: str) -> Identity | None:
        if self.identities is None:
            return INSECURE
        return self.identities.get(user)

    def reject(self, port: str, code: str, user: str, text: str) -> None:
        """Count and log (throttled) one refused message."""
        self.rejected[f"{port}:{code}"] += 1
        self.by_key[user or "?"] += 1
        self.log(logging.INFO, (user, port, code), "rejected from key %s on %s port (%s): %s",
                 user or "?", port, code, text)

    def admit(self, port: str, user: str, peer: bytes, msg: Msg, session: str = "") -> str | None:
        """Why ``msg`` from key ``user`` on connection ``peer`` is refused (already counted and
        logged), or None.

        ``session``: the sender's session from its hello ("" if none is known).
        """
        ident = self.identity(user)
        kind = msg.__struct_config__.tag
        reason = authz.refusal(ident, port, kind)
        if reason is not None:
            self.reject(port, "role", user, reason)
            return reason
        if not self.sequences.accept((user, session or peer), msg.seq):
            reason = f"{kind} seq {msg.seq} does not follow the last one (replay or rewind)"
            self.reject(port, "replay", user, reason)
            return reason
        return None

    # --- robots -------------------------------------------------------------------------------

    def hello_problem(self, user: str, peer: bytes, msg: RobotHello) -> str | None:
        """Why a robot hello must be refused: the key is not bound to the id, or another live
        connection (another key, or another process of this key) holds it."""
        ident = self.identity(user)
        if ident is None or not ident.may_be(msg.robot_id):
            return f"key {user!r} is not bound to robot {msg.robot_id!r}"
        old = self.fleet.robots.get(msg.robot_id)
        if old is not None and old.identity != peer and not old.stale:
            same = old.key == user and old.hello.session == msg.session
            if not same:
                return f"robot {msg.robot_id!r} is held by a live connection"
        return None

    def robot_problem(self, entry: RobotEntry, msg: Msg) -> str | None:
        """Why a robot's message names what is not its own (another robot, another robot's
        episode), or None. A ``started`` event claims its episode for this robot."""
        rid = entry.hello.robot_id
        named = getattr(msg, "robot_id", rid)
        if named != rid:
            return f"{msg.__struct_config__.tag} names robot {named!r}, sender is {rid!r}"
        ep = getattr(msg, "episode_id", "") if isinstance(msg, (StepBatch, EpisodeEvent)) else ""
        if not ep:
            return None
        owner = self._owner.get(ep)
        if owner is not None and owner != rid:
            return f"episode {ep!r} belongs to robot {owner!r}"
        if owner is None:
            self._claim(rid, ep)
        return None

    def _claim(self, robot_id: str, episode_id: str) -> None:
        eps = self._episodes.setdefault(robot_id, collections.OrderedDict())
        eps[episode_id] = None
        self._owner[episode_id] = robot_id
        while len(eps) > EPISODES_REMEMBERED:
            old, _ = eps.popitem(last=False)
            self._owner.pop(old, None)


STEP_ARRAYS = {"state": 2, "action": 2, "source": 1, "policy_version": 1, "t_ns": 1}
"""Arrays every step batch carries, with their number of dimensions."""


def steps_problem(msg: StepBatch, arrays: dict, obs_dim: int, action_dim: int) -> str | None:
    """Why a step batch's arrays do not fit its header and its robot's hello, or None: every
    array present with ``n`` rows, state/action widths as declared, floats finite."""
    if msg.n <= 0 or msg.n > 100_000 or msg.first_step < 0:
        return f"bad range first_step={msg.first_step} n={msg.n}"
    width = {"state": obs_dim, "action": action_dim}
    for k, ndim in STEP_ARRAYS.items():
        a = arrays.get(k)
        if not isinstance(a, np.ndarray):
            return f"missing array {k!r}"
        if a.ndim != ndim or len(a) != msg.n or (ndim == 2 and a.shape[1] != width[k]):
            return f"{k} has shape {a.shape}, expected {msg.n} rows" + (f" of {width[k]}" if ndim == 2 else "")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return f"{k} has non-finite values"
    final = arrays.get("final_state")
    if final is not None and (not isinstance(final, np.ndarray) or final.shape != (obs_dim,)
                              or not np.isfinite(final).all()):
        return "final_state does not match the observation size or is not finite"
    return None
