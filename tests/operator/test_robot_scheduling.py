"""How robot processes share a small machine: tick phases spread over the period, and the
control thread's short scheduler slice (lwd_operator.robot.threads)."""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import subprocess
import sys
import threading

import pytest

from lwd_operator.robot.node import phase_delay
from lwd_operator.robot.threads import CONTROL_SLICE_NS, ask_short_slice
from lwd_operator.sim.fleet import FleetSpec, robot_commands


@pytest.mark.parametrize("phase", [0.0, 0.25, 0.5, 0.999])
@pytest.mark.parametrize("now", [0.0, 0.01, 12345.678, 1e6 + 0.049])
def test_first_tick_lands_on_the_phase_within_one_period(phase, now):
    period = 0.05
    d = phase_delay(phase, period, now)
    assert 0 <= d < period
    assert ((now + d) - phase * period) / period == pytest.approx(round(((now + d) - phase * period) / period), abs=1e-6)


def test_fleet_spreads_robot_phases_evenly():
    cmds = robot_commands(FleetSpec(tasks=("reach-v3",), n=4))
    phases = [float(c[c.index("--tick-phase") + 1]) for c in cmds]
    assert phases == [0.0, 0.25, 0.5, 0.75]


def test_robot_refuses_a_phase_outside_the_period():
    out = subprocess.run([sys.executable, "-m", "lwd_operator.cli", "robot", "--tick-phase", "1.5",
                          "--insecure-no-auth", "--camera", "none"], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "--tick-phase must be in [0, 1)" in out.stderr


def _slice_ns(tid: int) -> int | None:
    nr = {"x86_64": 315, "aarch64": 275}.get(platform.machine())  # sched_getattr
    if nr is None:
        return None
    buf = ctypes.create_string_buffer(56)
    if ctypes.CDLL(None, use_errno=True).syscall(nr, tid, buf, 56, 0) != 0:
        return None
    return struct.unpack("IIQiIQQQII", buf.raw)[5]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread scheduling is Linux's")
def test_control_thread_slice_keeps_its_nice_and_touches_only_the_caller():
    got: dict = {}

    def worker():
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + 3)
        before = os.getpriority(os.PRIO_PROCESS, tid)
        got["ok"] = ask_short_slice()
        got["nice"] = (before, os.getpriority(os.PRIO_PROCESS, tid))
        got["slice"] = _slice_ns(tid)

    main_slice = _slice_ns(threading.get_native_id())
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert got["nice"][0] == got["nice"][1]  # a slice, not a priority change
    assert _slice_ns(threading.get_native_id()) == main_slice  # only the calling thread
    if got["ok"] and got["slice"]:  # kernels with EEVDF custom slices report it back
        assert got["slice"] == CONTROL_SLICE_NS


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="per-thread scheduling classes are Linux's")
def test_short_slice_keeps_an_idle_thread_idle():
    # Robots started under `chrt --idle` (tests beside a benchmark) must stay out of the way.
    got: dict = {}

    def worker():
        tid = threading.get_native_id()
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        got["ok"] = ask_short_slice()
        got["policy"] = os.sched_getscheduler(tid)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert got["policy"] == os.SCHED_IDLE
    assert got["ok"] is False  # no slice asked: the idle class has none to shorten
