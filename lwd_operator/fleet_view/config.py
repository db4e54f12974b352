"""Settings of the fleet presentation model (thresholds, alert rules, history length)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class FleetViewConfig:
    recent_episodes: int = 10
    """Success rate per robot is computed over its last this-many ended episodes."""
    stall_s: float = 6.0
    """A robot under its policy whose episode step has not advanced for this long is 'stalled'."""
    stale_frame_s: float = 2.0
    """A camera frame older than this is shown as old (its age highlighted)."""
    alert_ttl_s: float = 120.0
    """A help request or policy-load failure known only from an alert leaves the queue after this
    long if nothing else clears it (its robot is taken, its episode ends, its version changes)."""
    to_label_max: int = 50
    """At most this many ended episodes wait for a label in the queue (oldest are dropped)."""
    to_label_ttl_s: float = 900.0
    """An ended episode waits at most this long for a label before it leaves the queue."""
    sound_codes: tuple[str, ...] = ("help", "deadman", "stale", "operator_lost", "rollback")
    """Alert codes that deserve a sound (or terminal bell); everything else is shown silently."""
    sound_repeat_s: float = 10.0
    """The same code on the same robot sounds at most once per this many seconds."""
    sound_gap_s: float = 1.0
    """At most one sound per this many seconds over the whole fleet."""
    log_size: int = 500
    """Alert log entries kept (oldest are dropped)."""
