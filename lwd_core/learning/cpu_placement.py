"""Where the learner's CPU work runs when it shares a small machine with a robot fleet.

Measured on this project's 2-core machine with other work running (docs/benchmarks.md, learner
speed): torch's CPU kernels parallelise with OpenMP, whose threads by default *spin* at the end of
every parallel region waiting for the others. When another process holds one of the two cores,
the spinning thread burns its time slice waiting for a thread that is not running, and a
256 x 512 x 512 matrix product ran ~5x slower with two threads than with one. With
``OMP_WAIT_POLICY=PASSIVE`` the waiting thread sleeps instead: two threads then cost nothing
over one under load and still use both cores when they are free. The spinning also takes CPU
from the robots' control loops, so every ``lwd`` command asks for the passive policy.

OpenMP reads the variable once, when torch is first imported, so ``prefer_passive_openmp``
must run before that (the CLI does it first thing); this module imports torch only inside
``place_learner``.
"""

from __future__ import annotations

import dataclasses
import os
import sys

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_openmp() -> bool:
    """Ask OpenMP to sleep, not spin, while waiting (unless the environment already chose a
    policy). Returns True when the passive policy will be in effect for this process: the
    variable says PASSIVE and torch had not been imported before."""
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")
    return os.environ[WAIT_POLICY].upper() == "PASSIVE" and "torch" not in sys.modules


@dataclasses.dataclass(frozen=True)
class Placement:
    """What ``place_learner`` did: the settings in effect afterwards."""

    threads: int
    """torch intra-op threads."""
    interop_threads: int
    """torch inter-op threads (unchanged when torch had already started its inter-op pool)."""
    nice: int
    """The process's niceness afterwards."""
    wait_policy: str
    """OMP_WAIT_POLICY as the process sees it ("" when unset: OpenMP's spinning default)."""


def place_learner(threads: int, interop_threads: int = 1, nice: int = 0) -> Placement:
    """Cap the learner's torch threads and, with ``nice > 0``, lower its CPU priority by that much
    (``os.nice``: the kernel then favours the robots and the hub when the cores are contended; the
    learner still gets every idle cycle). Priorities can only be lowered without privileges, and
    niceness adds up, so call it once per process."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(interop_threads)
    except RuntimeError:
        pass  # the inter-op pool already started (it can be sized once per process)
    now = os.nice(nice) if nice > 0 else os.nice(0)
    return Placement(torch.get_num_threads(), torch.get_num_interop_threads(), now, os.environ.get(WAIT_POLICY, ""))
