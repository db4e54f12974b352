"""Simulated robot processes: one ``lwd robot`` process per robot, started and stopped together.

Each robot is its own process (as on a real fleet), so its control loop never shares a GIL with
the hub or another robot. Children get SIGTERM when the parent dies, so robots are never orphaned.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys


@dataclasses.dataclass(frozen=True)
class FleetSpec:
    """What ``lwd fleet`` and ``lwd demo`` start: N robots over the given tasks, in turn."""

    tasks: tuple[str, ...]
    n: int = 4
    prefix: str = "sim"
    policy: str | None = None
    camera: str | None = None
    camera_fps: float | None = None
    fast: bool = False
    seed: int = 0
    config: str | None = None
    host: str | None = None
    port: int | None = None
    keys_dir: str | None = None
    identity: str | None = None
    insecure_no_auth: bool = False
    verbose: int = 0


def parse_tasks(text: str) -> tuple[str, ...]:
    """``mt10`` or a comma-separated list of Meta-World task names."""
    from lwd_operator.sim.metaworld_env import MT10_TASKS

    return tuple(MT10_TASKS) if text == "mt10" else tuple(t for t in text.split(",") if t)


def robot_id(spec: FleetSpec, i: int) -> str:
    return f"{spec.prefix}-{i}"


def robot_commands(spec: FleetSpec) -> list[list[str]]:
    """One command line per robot. Phases are spread evenly over the control period: N robots
    on one machine then tick one after another instead of all at once."""
    base = [sys.executable, "-m", "lwd_operator.cli", "robot"]
    for flag in ("config", "host", "port", "keys_dir", "identity", "policy", "camera", "camera_fps"):
        v = getattr(spec, flag)
        if v is not None:
            base += [f"--{flag.replace('_', '-')}", str(v)]
    if spec.insecure_no_auth:
        base.append("--insecure-no-auth")
    if spec.fast:
        base.append("--fast")
    base += ["-v"] * spec.verbose
    return [base + ["--driver", f"sim:metaworld/{spec.tasks[i % len(spec.tasks)]}", "--id", robot_id(spec, i),
                    "--seed", str(spec.seed + i), "--tick-phase", f"{i / spec.n:.4f}"] for i in range(spec.n)]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the fleet process dies, so robots are never orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: robots then notice the hub going away instead


def start_robots(spec: FleetSpec) -> list[subprocess.Popen]:
    return [subprocess.Popen(cmd, preexec_fn=_die_with_parent) for cmd in robot_commands(spec)]


def stop_processes(procs: list[subprocess.Popen], grace_s: float = 8.0) -> None:
    """SIGTERM every process (robots end their episode and flush), SIGKILL what lingers.

    The grace outlasts a robot's wait for the hub's last acknowledgement (``shutdown_ack_s``,
    5 s): with the hub already gone (a benchmark stops both at once), a robot waits that long and
    then exits by itself; a 5 s grace killed the first robot waited for just before it did, and
    ``lwd fleet`` reported it as failed."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
