"""``lwd fleet``: start N simulated robot processes and keep an eye on them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from lwd_operator.cli_common import add_hub_args


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


def robot_commands(args) -> list[list[str]]:
    from lwd_operator.sim.metaworld_env import MT10_TASKS

    tasks = list(MT10_TASKS) if args.tasks == "mt10" else [t for t in args.tasks.split(",") if t]
    base = [sys.executable, "-m", "lwd_operator.cli", "robot"]
    for flag in ("config", "host", "port", "keys_dir", "policy", "camera", "camera_fps"):
        v = getattr(args, flag, None)
        if v is not None:
            base += [f"--{flag.replace('_', '-')}", str(v)]
    if args.insecure_no_auth:
        base.append("--insecure-no-auth")
    if args.fast:
        base.append("--fast")
    base += ["-v"] * args.verbose
    return [base + ["--driver", f"sim:metaworld/{tasks[i % len(tasks)]}", "--id", f"{args.prefix}-{i}",
                    "--seed", str(args.seed + i)] for i in range(args.n)]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the fleet process dies, so robots are never orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: robots then notice the hub going away instead


def start_robots(args) -> list[subprocess.Popen]:
    return [subprocess.Popen(cmd, preexec_fn=_die_with_parent) for cmd in robot_commands(args)]


def stop_processes(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """SIGTERM every process (robots end their episode and flush), SIGKILL what lingers."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            p.kill()


def run(args) -> int:
    procs = start_robots(args)
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
