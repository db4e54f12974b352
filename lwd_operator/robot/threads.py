"""Thread priorities inside a robot process: the control thread first.

On a machine with fewer cores than busy threads, the kernel decides who runs when a control
tick's timer fires. The camera and hub-link threads can wait a few milliseconds without harm;
the control thread cannot. Raising their niceness (allowed without privileges) makes the
scheduler pick the control thread first.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("lwd.robot")

BACKGROUND_NICE = 5
"""Niceness added to a robot's background threads (0 = same as the control thread; 5 gives
them about a third of the control thread's share of a contended core)."""


def lower_this_thread(nice: int = BACKGROUND_NICE) -> None:
    """Make the calling thread yield to the process's other threads when a core is contended.
    Linux schedules threads one by one, so this touches only the caller. Best effort: where
    the platform has no per-thread priority, nothing changes."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except (AttributeError, OSError) as e:  # pragma: no cover - not Linux
        log.debug("thread priority unchanged: %s", e)
