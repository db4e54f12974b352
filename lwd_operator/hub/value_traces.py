"""The value/risk trace of each robot's current episode, kept by the hub for clients.

Robots put the newest few chunks' values on every ``RobotStatus`` (``ValuePoint``s); this
module merges them by chunk index into one bounded trace per robot and answers
``GetValueTrace``. Costs: per status, a loop over at most ``VALUE_POINTS_PER_STATUS`` points
(most already known); memory, ``MAX_TRACE_POINTS`` small records per robot; nothing is pushed
to clients (a console asks for the one robot it shows in detail).

Guarantees: points of an episode are kept in chunk order, each once; a new episode id starts
an empty trace; a trace never holds more than ``MAX_TRACE_POINTS`` points (the oldest go, and
``dropped`` counts them).
"""

from __future__ import annotations

import collections
import dataclasses

from lwd_core.protocol.messages import RobotStatus, ValuePoint, ValueTrace
from lwd_operator.hub.authz import grant

for _role in ("observer", "operator", "learner"):
    grant(_role, "get_value_trace")  # anyone who may watch the fleet may read its value traces

MAX_TRACE_POINTS = 512
"""Chunks kept per robot: a 300-step episode with 4-step chunks needs 75."""


@dataclasses.dataclass
class _Trace:
    episode_id: str
    points: collections.deque[ValuePoint]
    next_chunk: int = 0
    dropped: int = 0


class ValueTraces:
    """Robot id -> its current episode's trace. Single-threaded: owned by the hub loop."""

    def __init__(self, max_points: int = MAX_TRACE_POINTS):
        self.max_points = max_points
        self._traces: dict[str, _Trace] = {}
        self._status: dict[str, RobotStatus] = {}

    def note_status(self, msg: RobotStatus) -> None:
        """Merge the points a status carries into its robot's trace."""
        t = self._traces.get(msg.robot_id)
        if t is None or t.episode_id != msg.episode_id:
            t = _Trace(msg.episode_id, collections.deque(maxlen=self.max_points))
            self._traces[msg.robot_id] = t
        for p in msg.value_points:
            if p.chunk >= t.next_chunk:  # a point seen on an earlier status is not added again
                if len(t.points) == self.max_points:
                    t.dropped += 1
                t.points.append(p)
                t.next_chunk = p.chunk + 1
        self._status[msg.robot_id] = msg

    def forget(self, robot_id: str) -> None:
        self._traces.pop(robot_id, None)
        self._status.pop(robot_id, None)

    def trace(self, robot_id: str, since_chunk: int = 0) -> ValueTrace | None:
        """The robot's trace (points with ``chunk >= since_chunk``), or None before its first status."""
        st = self._status.get(robot_id)
        if st is None:
            return None
        t = self._traces[robot_id]
        points = [p for p in t.points if p.chunk >= since_chunk] if since_chunk > 0 else list(t.points)
        return ValueTrace(robot_id=robot_id, episode_id=t.episode_id, tau=st.value_tau, points=points,
                          help_step=st.help_step, help_reason=st.help_reason if st.help_requested else "",
                          step=st.step, dropped=t.dropped)
