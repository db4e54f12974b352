"""Alert rules: which hub alerts deserve a sound, rate-limited, and the alert log with times."""

from __future__ import annotations

import dataclasses
import datetime as dt

from lwd_core.protocol.messages import Alert
from lwd_operator.fleet_view.config import FleetViewConfig


@dataclasses.dataclass(frozen=True)
class LogEntry:
    """One line of the alert log."""

    t_wall: float
    """Wall-clock time (epoch seconds) the alert was received."""
    robot_id: str
    level: str
    code: str
    text: str
    sound: bool
    """Whether this entry made a sound (after rate limiting)."""

    def clock(self) -> str:
        """``HH:MM:SS`` in local time."""
        return dt.datetime.fromtimestamp(self.t_wall).strftime("%H:%M:%S")

    def line(self) -> str:
        who = self.robot_id or "hub"
        return f"{self.clock()} {self.level[:4]:4} {who} {self.code}: {self.text}"


class AlertRules:
    """Decides which alerts sound: codes in ``sound_codes``, at most once per ``sound_repeat_s``
    per (code, robot), and at most one sound per ``sound_gap_s`` overall. Muting silences sounds
    but the log still records every alert."""

    def __init__(self, cfg: FleetViewConfig):
        self.cfg = cfg
        self.muted = False
        self._last: dict[tuple[str, str], float] = {}
        self._last_any = float("-inf")

    def wants_sound(self, alert: Alert, now: float) -> bool:
        if self.muted or alert.code not in self.cfg.sound_codes:
            return False
        k = (alert.code, alert.robot_id)
        if now - self._last.get(k, float("-inf")) < self.cfg.sound_repeat_s:
            return False
        if now - self._last_any < self.cfg.sound_gap_s:
            return False
        self._last[k] = self._last_any = now
        return True
