"""Thread priorities inside a robot process: the control thread first.

On a machine with fewer cores than busy threads, the kernel decides who runs when a control
tick's timer fires. The camera and hub-link threads can wait a few milliseconds without harm;
the control thread cannot. Raising their niceness (allowed without privileges) makes the
scheduler pick the control thread first.
"""

from __future__ import annotations

import logging
import os
import sys
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


CONTROL_SLICE_NS = 100_000
"""Scheduler slice asked for the control thread: 0.1 ms, the kernel's smallest."""

_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def prefer_this_thread_on_wakeup(slice_ns: int = CONTROL_SLICE_NS) -> bool:
    """Ask Linux's EEVDF scheduler (6.6+) for a short slice for the calling thread.

    A task with a short slice gets an earlier virtual deadline and limits how long the task it
    wakes up against may keep the core, so a control thread whose timer fires runs within about
    its slice instead of after the running task's whole slice (1.4 ms by default here, more under
    load: a render process, another robot). Unlike a real-time class or SCHED_IDLE for the
    others, no one's share of the CPU changes: the learner and the renderers still get theirs.
    Needs no privilege. Best effort: False where the kernel or platform has no custom slices."""
    import ctypes
    import platform
    import struct

    nr = _SYS_SCHED_SETATTR.get(platform.machine())
    if nr is None or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        # struct sched_attr (v1, 56 bytes): SCHED_OTHER with this nice and sched_runtime = slice.
        attr = ctypes.create_string_buffer(struct.pack("IIQiIQQQII", 56, 0, 0, nice, 0, slice_ns, 0, 0, 0, 0), 56)
        if libc.syscall(nr, tid, attr, 0) != 0:
            log.debug("control thread slice unchanged: errno %d", ctypes.get_errno())
            return False
    except (OSError, AttributeError) as e:  # pragma: no cover - no libc
        log.debug("control thread slice unchanged: %s", e)
        return False
    return True
