"""The attention queue: what needs a person, most urgent first, each entry saying why.

Entries are recomputed from the fleet on every update, so they clear themselves when their cause
clears; an entry keeps the time it was first seen (``since``) while its cause lasts, which is
what orders equals (older first) and what the age shown counts from. Urgency is the hub's table
(``lwd_core.protocol.attention.URGENCY``: help, then deadman, offline, stall, policy load), so
this queue and the hub's ``FleetState.attention`` order the same causes the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from lwd_core.protocol.attention import URGENCY, urgency

Kind = Literal["help", "deadman", "stopped", "store_error", "offline", "policy_load", "stall", "to_label"]

__all__ = ["URGENCY", "AlertCause", "AttentionItem", "Kind", "order"]

MARK = {"help": "!", "deadman": "!", "stopped": "!", "store_error": "!", "offline": "·",
        "policy_load": "·", "stall": "·", "to_label": " "}
"""One-character urgency mark shown before an entry (state is never colour alone)."""


@dataclasses.dataclass(frozen=True)
class AttentionItem:
    """One queue entry. ``key`` is stable while the cause lasts (use it to keep a selection)."""

    kind: Kind
    robot_id: str
    """Empty for hub-wide causes (store errors)."""
    text: str
    """Why, in words and numbers: 'help: low value Q0.3=0.12 < 0.2', 'stalled 7 s at step 120'."""
    since: float
    """Monotonic time (model clock) the cause was first seen."""
    age_s: float
    episode_id: str = ""
    level: Literal["info", "warning", "critical"] = "warning"
    hub_urgency: int = 0
    """The hub's urgency when the hub raised this cause too (it tells help from the robot's value
    signal, ranked higher, from help a person asked for); 0: rank by ``kind``."""

    @property
    def urgency(self) -> int:
        """Higher is more urgent (``URGENCY``)."""
        return self.hub_urgency or urgency(self.kind)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.robot_id, self.episode_id)

    @property
    def mark(self) -> str:
        return MARK[self.kind]


def order(items: list[AttentionItem]) -> list[AttentionItem]:
    """Most urgent first, then age (older first), then robot id (a stable order for equals)."""
    return sorted(items, key=lambda i: (-i.urgency, i.since, i.robot_id, i.episode_id))


@dataclasses.dataclass
class AlertCause:
    """A cause known from a hub alert (not visible in the robot's status): kept until cleared."""

    code: str
    robot_id: str
    text: str
    since: float
    episode_id: str
    policy_version: int
    level: str
