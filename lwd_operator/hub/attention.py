"""The attention queue: which robot needs a person most, most urgent first.

Rebuilt from the hub's state at every fleet push (so it can never disagree with it) and sent
in ``FleetState.attention``. Urgency comes from ``lwd_core.protocol.attention.URGENCY``, the table
the front ends order by too (it says why help comes before a deadman stop); ties: longest
waiting first. Kinds:

- ``help`` when the robot's own risk signal asked (DIVL value low or falling: ``value`` is the
  value that triggered it; cause ``help_value``) or a person asked for help on it;
- ``deadman``: a robot under human control stopped because its operator went silent;
- ``offline``: a robot stopped answering the hub;
- ``stall``: the no-progress detector (the hand has not moved for ``stall_s``);
- ``policy_load``: the robot refused the policy version it was offered (it keeps its old one).

An item stays while its condition holds; ``since_s`` counts from when it first appeared.
"""

from __future__ import annotations

import dataclasses
import time

from lwd_core.protocol.attention import URGENCY
from lwd_core.protocol.messages import AttentionItem
from lwd_operator.hub.registry import FleetRegistry

VALUE_SIGNALS = ("value_low", "value_falling")


@dataclasses.dataclass
class HelpNote:
    episode_id: str
    signal: str
    value: float
    reason: str


class AttentionQueue:
    """Single-threaded: owned by the hub loop."""

    def __init__(self):
        self.help: dict[str, HelpNote] = {}
        self._since: dict[tuple[str, str], float] = {}

    def note_help(self, robot_id: str, episode_id: str, signal: str, value: float, reason: str) -> None:
        self.help[robot_id] = HelpNote(episode_id, signal, value, reason)

    def build(self, fleet: FleetRegistry, refused: dict[str, dict[int, str]],
              now: float | None = None) -> list[AttentionItem]:
        now = time.monotonic() if now is None else now
        raw: list[tuple[str, str, int, str, float]] = []
        for rid, e in fleet.robots.items():
            s = e.status
            if e.stale:
                raw.append((rid, "offline", URGENCY["offline"], "robot stopped answering", 0.0))
                continue
            if s is None:
                continue
            if s.mode == "stopped":
                raw.append((rid, "deadman", URGENCY["deadman"], f"stopped: no signal from {s.operator or 'its operator'}", 0.0))
            note = self.help.get(rid)
            if note is not None and note.episode_id != s.episode_id:
                del self.help[rid]  # that episode is over
                note = None
            if s.help_requested or note is not None:
                sig = note.signal if note else ""
                reason = (note.reason if note else "") or s.help_reason or "help requested"
                if sig == "no_progress" or (not sig and reason.startswith("no progress")):
                    raw.append((rid, "stall", URGENCY["stall"], reason, 0.0))
                elif sig in VALUE_SIGNALS:
                    raw.append((rid, "help", URGENCY["help_value"], reason, note.value))
                else:
                    raw.append((rid, "help", URGENCY["help"], reason, 0.0))
            bad = s.policy_error or "; ".join(f"v{v}: {r}" for v, r in refused.get(rid, {}).items())
            if bad:
                raw.append((rid, "policy_load", URGENCY["policy_load"], bad[:200], 0.0))
        keys = {(r[0], r[1]) for r in raw}
        self._since = {k: t for k, t in self._since.items() if k in keys}
        items = []
        for rid, kind, urg, reason, value in raw:
            t0 = self._since.setdefault((rid, kind), now)
            items.append(AttentionItem(robot_id=rid, kind=kind, urgency=urg, reason=reason,
                                       since_s=round(now - t0, 2), value=float(value)))
        items.sort(key=lambda i: (-i.urgency, -i.since_s, i.robot_id))
        return items
