"""Host-wide policy build slots (lwd_operator.robot.build_slots): at most k holders at once,
across threads and processes; a dead holder's slot comes back; a stuck one only delays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from lwd_operator.robot.build_slots import build_slot
from tests.util import wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="flock slots are POSIX")


def _max_concurrent(slots: int, directory: str, workers: int = 6) -> int:
    inside, peak, lock = [0], [0], threading.Lock()

    def work():
        with build_slot(slots, directory=directory):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.03)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert inside[0] == 0
    return peak[0]


@pytest.mark.parametrize("slots", [1, 2])
def test_at_most_k_builds_at_once(tmp_path, slots):
    assert 1 <= _max_concurrent(slots, str(tmp_path)) <= slots


def test_a_slot_held_by_a_killed_process_comes_back(tmp_path):
    code = ("import sys, time; from lwd_operator.robot.build_slots import build_slot\n"
            f"with build_slot(1, directory={str(tmp_path)!r}):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert p.stdout.readline().strip() == "held"
        with build_slot(1, directory=str(tmp_path), max_wait_s=0.3) as waited:
            assert waited >= 0.3  # taken: this one waited its limit, then went ahead
        os.kill(p.pid, signal.SIGKILL)
        p.wait(60)
        got = {}

        def take():
            with build_slot(1, directory=str(tmp_path), max_wait_s=60) as w:
                got["waited"] = w

        t = threading.Thread(target=take)
        t.start()
        wait_until(lambda: "waited" in got, what="the dead holder's slot")
        t.join()
        assert got["waited"] < 60
    finally:
        p.kill()
        p.wait(60)


def test_no_limit_never_waits(tmp_path):
    with build_slot(1, directory=str(tmp_path)):
        with build_slot(0, directory=str(tmp_path)) as waited:
            assert waited == 0.0


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="scheduling classes are Linux's")
def test_an_idle_class_holder_does_not_hold_back_normal_robots(tmp_path, monkeypatch):
    held, release = threading.Event(), threading.Event()

    def idle_holder():
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        with build_slot(1, directory=str(tmp_path)):
            held.set()
            release.wait(60)

    t = threading.Thread(target=idle_holder)
    t.start()
    try:
        assert held.wait(60)
        # This thread plays a normal-class robot even where the tests run under `chrt --idle`
        # (an idle thread may not leave its class without privileges).
        me, real = threading.get_native_id(), os.sched_getscheduler
        monkeypatch.setattr(os, "sched_getscheduler", lambda tid: os.SCHED_OTHER if tid == me else real(tid))
        with build_slot(1, directory=str(tmp_path), max_wait_s=30) as waited:
            assert waited < 30  # its own slot, not the idle holder's (that one would wait 30 s)
    finally:
        release.set()
        t.join(60)
