"""Value-trace cost: what carrying the newest chunks' critic values on every robot status costs
the robot (encode), the hub (decode + validate + merge) and a console's question.

Baseline, measured in the same run: the same ``RobotStatus`` without value points (what a robot
with a built-in policy sends). Cases: 3 points (the steady state of 4-step chunks at 20 Hz and 5
statuses a second: one new chunk and the 2 repeated ones) and 16 (the most a status carries). Figures per status in microseconds, the status size in bytes,
and the hub's share of one core at ``--robots`` robots sending ``--status-hz`` statuses a second;
then the cost of answering one ``GetValueTrace`` with a full trace (512 chunks).

    .venv/bin/python scripts/bench/value_trace.py                   # 100 000 statuses each
    .venv/bin/python scripts/bench/value_trace.py --n 2000          # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_core.protocol import decode, encode  # noqa: E402
from lwd_core.protocol.messages import VALUE_POINTS_PER_STATUS, RobotStatus, ValuePoint  # noqa: E402
from lwd_operator.hub.value_traces import MAX_TRACE_POINTS, ValueTraces  # noqa: E402


def status(i: int, points: int) -> RobotStatus:
    """Status ``i`` carrying chunk ``i`` and the ``points - 1`` chunks before it."""
    first = max(0, i - points + 1)
    pts = [ValuePoint(chunk=c, step=4 * c, value=0.5 + 0.001 * (c % 97), level=0.55, threshold=0.25, armed=c >= 20)
           for c in range(first, i + 1)] if points else []
    return RobotStatus(robot_id="sim-07", mode="policy", task="push-v3", episode_id="sim-07-18c2f-3", step=4 * i,
                       policy="flow:divl_qam", policy_version=12, control_hz=20.0, jitter_p99_ms=1.2,
                       camera_fps=30.0, ee_pos=[0.1, 0.6, 0.2], value_tau=0.25 if points else 0.0,
                       value_points=pts, help_step=-1)


def measure(n: int, points: int) -> dict:
    msgs = [status(i % 300, points) for i in range(n)]  # 300-chunk episodes, repeated
    t0 = time.perf_counter()
    wire = [encode(m) for m in msgs]
    t_enc = time.perf_counter() - t0
    traces = ValueTraces()
    t0 = time.perf_counter()
    for frames in wire:
        msg, _ = decode(frames)
        traces.note_status(msg)
    t_hub = time.perf_counter() - t0
    return {"enc_us": t_enc / n * 1e6, "hub_us": t_hub / n * 1e6, "bytes": sum(len(w[0]) for w in wire) / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="statuses per case")
    ap.add_argument("--robots", type=int, default=64, help="fleet size for the hub's share of a core")
    ap.add_argument("--status-hz", type=float, default=5.0)
    a = ap.parse_args()
    base = measure(a.n, 0)
    cases = [("no points", base)] + [(f"{k} points", measure(a.n, k)) for k in (3, VALUE_POINTS_PER_STATUS)]
    rate = a.robots * a.status_hz
    print(f"value trace on RobotStatus, {a.n} statuses per case (baseline: no value points)")
    print("case            encode µs   hub µs   bytes   hub × base   hub % core "
          f"at {a.robots} robots × {a.status_hz:g} Hz")
    for name, r in cases:
        print(f"{name:<14} {r['enc_us']:10.2f} {r['hub_us']:8.2f} {r['bytes']:7.0f} "
              f"{r['hub_us'] / base['hub_us']:12.2f} {r['hub_us'] * rate / 1e4:11.3f}")
    traces = ValueTraces()
    for i in range(MAX_TRACE_POINTS + 40):
        traces.note_status(status(i, VALUE_POINTS_PER_STATUS))
    reps = max(a.n // 100, 20)
    t0 = time.perf_counter()
    for _ in range(reps):
        size = len(encode(traces.trace("sim-07"))[0])
    answer = (time.perf_counter() - t0) / reps * 1e6
    t0 = time.perf_counter()
    for _ in range(reps):
        encode(traces.trace("sim-07", since_chunk=MAX_TRACE_POINTS + 35))
    inc = (time.perf_counter() - t0) / reps * 1e6
    print(f"GetValueTrace answer: full trace ({MAX_TRACE_POINTS} chunks, {size} bytes) {answer:.1f} µs; "
          f"newest 5 chunks {inc:.1f} µs ({answer / inc:.1f}× less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
