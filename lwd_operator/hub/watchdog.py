"""Detects a dead worker thread of the hub (frame relay, recorder), alerts and restarts it.

The workers catch what they can; this is the net under them: if one still dies, telemetry or
recording must not stop silently for everyone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from lwd_core.protocol.messages import Alert

log = logging.getLogger("lwd.hub.watchdog")

CHECK_INTERVAL_S = 0.5


@dataclasses.dataclass
class _Watched:
    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    restarts: int = 0


class ThreadWatchdog:
    """``watch(name, alive, restart)``; the hub loop calls ``check(now)`` often."""

    def __init__(self, alert: Callable[[Alert], None]):
        self.alert = alert
        self.watched: list[_Watched] = []
        self._next = 0.0

    def watch(self, name: str, alive: Callable[[], bool], restart: Callable[[], None]) -> None:
        self.watched.append(_Watched(name, alive, restart))

    @property
    def restarts(self) -> dict[str, int]:
        return {w.name: w.restarts for w in self.watched}

    def check(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + CHECK_INTERVAL_S
        for w in self.watched:
            if w.alive():
                continue
            w.restarts += 1
            log.error("%s thread died; restarting it (restart %d)", w.name, w.restarts)
            self.alert(Alert(robot_id="", level="critical", code="thread_died",
                             text=f"the hub's {w.name} thread died and was restarted"))
            w.restart()
