"""How urgent each cause of attention is: the one order of the hub's queue and every front end.

The hub ranks its ``AttentionItem`` s with these numbers (``AttentionItem.urgency``) and the
front ends' presentation model (``lwd_operator.fleet_view``) orders its queue by the same table,
so the console, the TUI and ``lwd status`` can never disagree about what comes first. Higher is
more urgent; equal causes go longest waiting first, then by robot id.

Why this order:

- **help first, above a deadman stop.** A robot asking for help is still moving under a policy
  that is about to fail (or a person saw it failing); a robot stopped by the deadman is already
  holding still and safe, and waits for a person without getting worse. The first seconds of a
  help request are the ones that save an episode.
- help from the robot's own risk signal (``help_value``: the DIVL value is low or falling) ranks
  just above help a person asked for on it: the signal says failure is near and measurable.
- a stop (deadman, or a stop this front end knows no reason for yet) and a hub that cannot store
  episodes (data is being lost) next; then a robot gone **offline** (nothing to do from here
  but look at it).
- a **stall** (no progress: the episode wastes time, the hand may be jammed) above a refused
  **policy load** (the robot keeps running its previous version: nothing is at risk).
- ended episodes waiting for a label always sit at the bottom.
"""

from __future__ import annotations

URGENCY: dict[str, int] = {
    "help_value": 100,
    "help": 95,
    "deadman": 90,
    "stopped": 90,
    "store_error": 90,
    "offline": 80,
    "stall": 50,
    "policy_load": 40,
    "to_label": 0,
}
"""Urgency by cause, higher first. ``help_value`` is shown as kind ``help`` (with the value)."""


def urgency(cause: str) -> int:
    """The urgency of ``cause`` (a key of ``URGENCY``); unknown causes rank just above labels."""
    return URGENCY.get(cause, 1)
