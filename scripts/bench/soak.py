"""Soak: a simulated fleet, the operator bot (and the learner, with ``--learner``) for N minutes.

Every process's RSS and open file descriptors are sampled over time and fitted with a line
(slope per minute, after a start-up fifth): a leak shows as a steady positive slope. The fleet's
control rate, worst control jitter and camera frame age are sampled alongside, and at the end
the store is audited: every ended episode holds as many distinct steps as its robot reported.

    .venv/bin/python scripts/bench/soak.py                        # 16 robots, 30 minutes
    .venv/bin/python scripts/bench/soak.py --robots 4 --minutes 2 # a smoke run

Baseline: the first sample window of the same run (``× start``: the last window over it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from campaign import Samples, Stack, add_learner_arguments, audit_store, check_learner, print_audit  # noqa: E402

from lwd_operator.auth import load_client_keys  # noqa: E402
from lwd_operator.client import HubClient  # noqa: E402
from lwd_operator.sockets import Endpoints  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robots", type=int, default=16, help="simulated robots (default 16)")
    ap.add_argument("--minutes", type=float, default=30.0, help="soak length (default 30)")
    ap.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--camera", default="synthetic", help="synthetic (default), mujoco or none")
    ap.add_argument("--fps", type=float, default=10.0, help="camera rate per robot (default 10)")
    add_learner_arguments(ap)
    args = ap.parse_args()
    check_learner(args, "soak")
    stack = Stack(args.robots, args.camera, args.fps, bots=1, learner=args.learner, learner_args=args.learner_args)
    print(f"# soak, {time.strftime('%Y-%m-%d %H:%M')}: {args.robots} robots, camera {args.camera} @ {args.fps:g} fps, "
          f"operator bot{', learner' if args.learner else ''}, {args.minutes:g} min; files in {stack.dir}")
    stack.start_all()
    client = None
    samples = Samples()
    windows: list[dict] = []
    try:
        client = HubClient(Endpoints(port=stack.port), load_client_keys(stack.keys), "soak", role="observer").start(timeout=120)
        client.subscribe(hz=2)
        t_up = time.monotonic() + 300
        while time.monotonic() < t_up and not (client.latest_fleet and len(client.latest_fleet.robots) == args.robots):
            time.sleep(0.5)
        for r in client.latest_fleet.robots if client.latest_fleet else []:
            client.watch_frames(r.robot_id)
        ages: list[float] = []
        client.on_frame = lambda f, _jpeg: ages.append((time.monotonic_ns() - f.t_capture_ns) / 1e6)
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        print("| min | robots | ctrl Hz min | jitter p99 ms (worst) | frames/s | age p50 ms | age p99 ms | RSS MiB (all) | fds (all) |")
        print("|---|---|---|---|---|---|---|---|---|")
        while time.monotonic() < end:
            time.sleep(min(args.sample_s, max(end - time.monotonic(), 0.1)))
            now = time.monotonic() - t0
            samples.take(stack.processes(), now)
            got = ages[:]
            del ages[:len(got)]  # the client's thread appends meanwhile: take exactly what was seen
            fs = client.latest_fleet
            robots = fs.robots if fs else []
            w = {"t": now / 60, "n": len(robots),
                 "hz": min((r.control_hz for r in robots), default=float("nan")),
                 "jit": max((r.jitter_p99_ms for r in robots), default=float("nan")),
                 "fps": len(got) / args.sample_s,
                 "age50": float(np.percentile(got, 50)) if got else float("nan"),
                 "age99": float(np.percentile(got, 99)) if got else float("nan"),
                 "rss": sum(v[-1] for k, v in samples.rss.items() if samples.t[k][-1] == now),
                 "fds": sum(v[-1] for k, v in samples.fds.items() if samples.t[k][-1] == now)}
            windows.append(w)
            print(f"| {w['t']:.1f} | {w['n']} | {w['hz']:.1f} | {w['jit']:.2f} | {w['fps']:.0f} | {w['age50']:.1f} | "
                  f"{w['age99']:.1f} | {w['rss']:.0f} | {w['fds']} |", flush=True)
    finally:
        if client is not None:
            client.close()
        stack.stop()
    if windows:
        a, b = windows[0], windows[-1]
        print(f"\nlast window × first: ctrl Hz {b['hz'] / a['hz']:.2f}, jitter p99 {b['jit'] / max(a['jit'], 1e-3):.2f}, "
              f"frame age p99 {b['age99'] / max(a['age99'], 1e-3):.2f}, frames/s {b['fps'] / max(a['fps'], 1e-3):.2f}")
    print("\n| process | RSS MiB at end | RSS MiB/min | fds at end | fds/min |")
    print("|---|---|---|---|---|")
    for name, (rss, drss, fds, dfds) in sorted(samples.slopes().items()):
        print(f"| {name} | {rss:.0f} | {drss:+.2f} | {fds} | {dfds:+.2f} |")
    print()
    print_audit(audit_store(stack.recordings))


if __name__ == "__main__":
    main()
