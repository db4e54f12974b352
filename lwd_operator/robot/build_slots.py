"""Host-wide slots for building policy versions: at most k robot processes of one machine build
a new version at the same moment.

Why: building a version (digest, config and shape checks, constructing the networks, a warm-up
chunk) costs each robot 25-40 ms of CPU, most of it holding its process's GIL. When the hub
deploys a version, every robot receives it at once; 16 builds on 2 cores then run for most of a
second, each worker thread is preempted by the other robots' builds while it holds its GIL, and
the control thread of its process waits for the GIL: 6-110 missed ticks per 16-robot swap
(docs/benchmarks.md, "Policy hot-swap"). Taking turns keeps the cores free for the control loops
and costs little time, because one build alone is short.

The resource is the machine's cores, so robots coordinate on the machine (not through the hub,
which does not know which robots share a host): a slot is a file in the temp directory, held
with ``flock``. The kernel releases it when its holder closes it or dies, so a crashed robot
never keeps a slot.

Guarantees: at most ``slots`` holders at once among processes (and threads) of one user and
scheduling class (idle or not, see ``slot_path``) using the same directory; a waiter that has waited ``max_wait_s`` builds anyway (logged), so a stuck
holder (a stopped process) delays others but never blocks them; ``slots <= 0`` means no limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no host-wide limit
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("lwd.robot.hot_swap")

POLL_S = 0.005
"""How often a waiter tries the slots again (a build lasts tens of milliseconds)."""


def slot_path(directory: str, index: int) -> str:
    """Slot ``index`` for the calling thread. Threads of the SCHED_IDLE class (robots under
    ``chrt --idle``: tests beside a benchmark) have slots of their own: an idle holder may be
    starved for seconds by normal work, and must not make normal robots wait behind it."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    idle = ""
    if hasattr(os, "SCHED_IDLE"):
        try:
            idle = "idle-" if os.sched_getscheduler(threading.get_native_id()) == os.SCHED_IDLE else ""
        except OSError:  # pragma: no cover - no per-thread policy here
            pass
    return os.path.join(directory, f"lwd-policy-build-{uid}-{idle}{index}.lock")


@contextlib.contextmanager
def build_slot(slots: int, *, max_wait_s: float = 10.0, directory: str | None = None) -> Iterator[float]:
    """Hold one of ``slots`` host-wide build slots for the ``with`` block; yields the seconds
    waited for it. Blocks the calling thread (not the GIL) while every slot is taken."""
    if slots <= 0 or fcntl is None:
        yield 0.0
        return
    directory = directory or tempfile.gettempdir()
    t0 = time.monotonic()
    # Opened once for the whole wait: a try is then one flock() per slot (a few microseconds
    # of the GIL), not an open() and a close().
    files = [open(slot_path(directory, i), "a") for i in range(slots)]  # noqa: SIM115 - closed below
    try:
        held = None
        while held is None:
            for f in files:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue
                held = f
                break
            if held is None:
                if time.monotonic() - t0 > max_wait_s:
                    log.warning("no policy build slot free after %.0f s: building without one", max_wait_s)
                    break
                time.sleep(POLL_S)
        yield time.monotonic() - t0
    finally:
        for f in files:
            f.close()  # closing the held file releases its lock
