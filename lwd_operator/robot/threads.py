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
"""Scheduler slice asked for control threads and renderers: 0.1 ms, the kernel's smallest."""

_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
_SLICED_POLICIES = {getattr(os, n) for n in ("SCHED_OTHER", "SCHED_BATCH") if hasattr(os, n)}
"""Classes whose slice can be set (the kernel takes one for SCHED_IDLE but keeps 1.4 ms)."""


def ask_short_slice(slice_ns: int = CONTROL_SLICE_NS) -> bool:
    """Ask Linux's EEVDF scheduler (6.6+) for a short slice for the calling thread.

    Both sides of a wakeup use it. The control thread: a short slice gives it an earlier
    virtual deadline, so when its timer fires it is picked first. A background process (the
    MuJoCo renderer): a short slice bounds how long it may keep the core once a control thread
    wants it (the default slice is 1.4 ms here, and a nice value alone does not shorten it:
    renderers at nice 5 still cost the control loops 2.9 ms of p99 jitter at 4 robots). Unlike
    a real-time class or SCHED_IDLE, no one's share of the CPU changes. Needs no privilege.
    The thread keeps its scheduling class: a thread under ``chrt --idle`` (tests on a shared
    machine) is left SCHED_IDLE (False) instead of turning back into normal work.
    Best effort: False where the kernel or platform has no custom slices."""
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
        policy = os.sched_getscheduler(tid)
        if policy not in _SLICED_POLICIES:
            return False  # idle or real-time: left as they are
        # struct sched_attr (v1, 56 bytes): the thread's own policy and nice, sched_runtime = slice.
        attr = ctypes.create_string_buffer(struct.pack("IIQiIQQQII", 56, policy, 0, nice, 0, slice_ns, 0, 0, 0, 0), 56)
        if libc.syscall(nr, tid, attr, 0) != 0:
            log.debug("thread slice unchanged: errno %d", ctypes.get_errno())
            return False
    except (OSError, AttributeError) as e:  # pragma: no cover - no libc
        log.debug("thread slice unchanged: %s", e)
        return False
    return True
