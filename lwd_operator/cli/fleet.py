"""``lwd fleet``: start N simulated robot processes and keep an eye on them."""

from __future__ import annotations

import signal
import sys
import time

from lwd_operator.cli.common import add_hub_args
from lwd_operator.sim.fleet import FleetSpec, parse_tasks, start_robots, stop_processes


def add_arguments(p) -> None:
    add_hub_args(p)
    p.add_argument("--tasks", default="push-v3", help="comma-separated Meta-World tasks, or mt10 (default push-v3); robots take them in turn")
    p.add_argument("-n", type=int, default=4, help="number of robots (default 4)")
    p.add_argument("--prefix", default="sim", help="robot ids are PREFIX-0, PREFIX-1, ...")
    p.add_argument("--policy", help="built-in policy: noise or hold (default from config)")
    p.add_argument("--camera", help="mujoco, synthetic or none (default from config)")
    p.add_argument("--camera-fps", type=float, help="camera rate per robot")
    p.add_argument("--fast", action="store_true", help="robots step as fast as possible")
    p.add_argument("--seed", type=int, default=0, help="robot i gets seed SEED+i")


def spec_from_args(args) -> FleetSpec:
    return FleetSpec(
        tasks=parse_tasks(args.tasks), n=args.n, prefix=args.prefix, policy=args.policy, camera=args.camera,
        camera_fps=args.camera_fps, fast=args.fast, seed=args.seed, config=args.config, host=args.host,
        port=args.port, keys_dir=args.keys_dir, insecure_no_auth=args.insecure_no_auth, verbose=args.verbose)


def run(args) -> int:
    procs = start_robots(spec_from_args(args))
    print(f"lwd fleet: started {len(procs)} robots", flush=True)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and any(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop_processes(procs)
    failed = [i for i, p in enumerate(procs) if p.returncode not in (0, -signal.SIGTERM)]
    if failed:
        print(f"lwd fleet: robots {failed} exited with errors", file=sys.stderr)
    return 1 if failed else 0
