"""The attention queue: what needs a person, most urgent first, each entry saying why.

Entries are recomputed from the fleet on every update, so they clear themselves when their cause
clears; an entry keeps the time it was first seen (``since``) while its cause lasts, which is
what orders equals (older first) and what the age shown counts from.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Kind = Literal["help", "deadman", "stopped", "store_error", "offline", "policy_load", "stall", "to_label"]

URGENCY: dict[str, int] = {
    "help": 0,
    "deadman": 1,
    "stopped": 1,
    "store_error": 1,
    "offline": 2,
    "policy_load": 3,
    "stall": 4,
    "to_label": 9,
}
"""Lower is more urgent. Ended episodes waiting for a label always sit at the bottom."""

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

    @property
    def urgency(self) -> int:
        return URGENCY[self.kind]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.robot_id, self.episode_id)

    @property
    def mark(self) -> str:
        return MARK[self.kind]


def order(items: list[AttentionItem]) -> list[AttentionItem]:
    """Urgency first, then age (older first), then robot id (a stable order for equal entries)."""
    return sorted(items, key=lambda i: (i.urgency, i.since, i.robot_id, i.episode_id))


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
