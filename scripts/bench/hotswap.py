"""Policy hot-swap benchmark: publish a snapshot, then time until every robot runs it.

Runs a real hub (``lwd hub``, recording off) and a real simulated fleet (``lwd fleet``, one
process per robot, ``--camera none``, built-in ``hold`` policy to start) on loopback. Each round
publishes a new small DIVL + QAM snapshot through ``HubClient.publish_policy`` and deploys it;
every robot downloads it in pieces, verifies it, loads it in its standby thread and swaps at a
chunk boundary, then reports (``PolicyReport``) its swap time, the control ticks it missed and
its control jitter p99 from the offer to one chunk after the swap, against the same number of
ticks just before the offer (the baseline, measured in the same run on the same robot).

    .venv/bin/python scripts/bench/hotswap.py                 # 16 robots, 3 rounds, slots 0 then 2
    .venv/bin/python scripts/bench/hotswap.py -n 4 --rounds 2 # smoke run

``--build-slots 0,2`` (the default) runs the whole benchmark once per value of
``robot.build_slots`` (robots of the machine building a version at once; 0 = no limit), each
with a fresh hub and fleet, and compares the later ones with the first (the baseline, measured
in the same run). Phases per swap (median over robots): offer to last byte fetched, waiting for
a build slot, building (wall and CPU), and the rest: the wait for the next chunk boundary.

Robots load torch before their control loop (``robot.preload_torch``; ``--no-preload`` to see
round 1 load it at the first swap instead); round 1 is still their first learned version.
Times are from the start of ``publish_policy`` to each robot's swap, on the machine's monotonic
clock (hub, robots and this script share it on loopback).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_operator.auth import init_keys, load_client_keys  # noqa: E402
from lwd_operator.client import HubClient  # noqa: E402
from lwd_operator.sim.metaworld_env import MT10_TASKS  # noqa: E402
from lwd_operator.sockets import Endpoints  # noqa: E402
from tests.conftest import free_port_block  # noqa: E402


def make_snapshot(path: str, seed: int, hidden: int) -> str:
    from lwd_core.learning import snapshot
    from lwd_core.learning.agents import AGENTS, DIVLQAMConfig

    ag = AGENTS["divl_qam"].create(obs_dim=39, action_dim=4, horizon=4, tasks=list(MT10_TASKS), seed=seed,
                                   config=DIVLQAMConfig(hidden=hidden, z_dim=hidden))
    ag.end_pretraining()
    snapshot.save(ag, path, version=1)
    return path


def median_of(reports: list, field: str) -> float:
    return float(np.median([getattr(r, field) for r in reports])) if reports else float("nan")


def run_config(args, slots: int) -> list[dict]:
    """One fleet with ``robot.build_slots = slots``: its rows, one per round."""
    tmp = tempfile.mkdtemp(prefix="lwd-hotswap-")
    keys = str(init_keys(os.path.join(tmp, "keys")))
    port = free_port_block()
    lwd = [sys.executable, "-m", "lwd_operator.cli"]
    common = ["--port", str(port), "--keys-dir", keys]
    cfg = os.path.join(tmp, "lwd.toml")
    with open(cfg, "w") as f:
        f.write(f"[robot]\ncontrol_hz = {args.hz}\nstall_s = 1000.0\npreload_torch = {str(args.preload).lower()}\n"
                f"build_slots = {slots}\n")
    hub = subprocess.Popen(lwd + ["hub", "--no-record", "--config", cfg] + common, stdout=subprocess.DEVNULL)
    fleet = subprocess.Popen(lwd + ["fleet", "-n", str(args.n), "--camera", "none", "--policy", "hold",
                                    "--tasks", "mt10", "--config", cfg] + common, stdout=subprocess.DEVNULL)
    # Snapshots first: building the first agent imports for seconds, which would starve this
    # client's heartbeats if it were already connected.
    snaps = [make_snapshot(os.path.join(tmp, f"snap{rnd}"), rnd, args.hidden) for rnd in range(1, args.rounds + 1)]
    client = HubClient(Endpoints(port=port), load_client_keys(keys), "bench").start(timeout=60)
    reports: list = []
    got = threading.Event()

    def on_report(r):
        reports.append(r)
        got.set()

    client.on_policy_report = on_report
    rows = []
    try:
        client.subscribe(hz=2)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            fs = client.latest_fleet
            if fs and len(fs.robots) == args.n and all(r.step > 20 for r in fs.robots):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"fleet of {args.n} did not come up")
        time.sleep(3.0)  # a few seconds of undisturbed ticks before the first offer
        for rnd in range(1, args.rounds + 1):
            snap = snaps[rnd - 1]
            reports.clear()
            t0 = time.monotonic_ns()
            version = client.publish_policy(snap, note=f"hotswap round {rnd}")
            rep = client.deploy(version, why="hotswap benchmark")
            assert rep.ok, rep.error
            end = time.monotonic() + 120
            while time.monotonic() < end and len({r.robot_id for r in reports if r.version == version}) < args.n:
                got.wait(0.5)
                got.clear()
            mine = [r for r in reports if r.version == version]
            ok = [r for r in mine if r.ok]
            if len(ok) < args.n:
                print(f"round {rnd}: only {len(ok)}/{args.n} robots swapped; refusals: "
                      f"{[r.reason for r in mine if not r.ok][:3]}")
            t = np.asarray([(r.swap_t_mono_ns - t0) / 1e9 for r in ok]) if ok else np.asarray([np.nan])
            during = np.asarray([r.jitter_p99_ms for r in ok]) if ok else np.asarray([np.nan])
            before = np.asarray([r.jitter_before_ms for r in ok]) if ok else np.asarray([np.nan])
            rows.append({
                "slots": slots, "round": f"{rnd} ({'first' if rnd == 1 else 'next'})", "swapped": f"{len(ok)}/{args.n}",
                "p50_s": np.percentile(t, 50), "p99_s": np.percentile(t, 99), "all_s": t.max(),
                "missed": sum(r.missed_ticks for r in ok),
                "jit_before": np.median(before), "jit_during": np.median(during),
                "ratio": np.median(during) / max(np.median(before), 1e-3),
                "jit_during_max": during.max(),
                **{k: median_of(ok, f"{f}_ms") for k, f in (("fetch", "fetch"), ("queue", "queue"), ("build", "build"),
                                                              ("cpu", "build_cpu"))},
                "boundary": float(np.median([r.load_ms - r.fetch_ms - r.queue_ms - r.build_ms for r in ok])) if ok else float("nan"),
            })
            time.sleep(3.0)  # let the jitter window of the next round start clean
    finally:
        client.close()
        fleet.terminate()
        hub.terminate()
        for proc in (fleet, hub):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=16, help="robots (default 16)")
    p.add_argument("--rounds", type=int, default=3, help="publish -> swap rounds (default 3)")
    p.add_argument("--hidden", type=int, default=64, help="width of the snapshot's networks (default 64)")
    p.add_argument("--hz", type=float, default=20.0, help="robots' control rate (default 20)")
    p.add_argument("--no-preload", dest="preload", action="store_false",
                   help="robots load torch at their first learned version, not before their loop")
    p.add_argument("--build-slots", default="0,2",
                   help="comma-separated robot.build_slots values, one fleet each; the first is the "
                        "baseline (default 0,2: no limit, then the default of two builds at a time)")
    args = p.parse_args()
    configs = [int(x) for x in args.build_slots.split(",")]
    rows = [r for slots in configs for r in run_config(args, slots)]

    print(f"\nhot-swap: {args.n} robots at {args.hz:g} Hz, snapshot hidden {args.hidden}, loopback, "
          f"torch {'preloaded' if args.preload else 'loaded at the first swap'}")
    print("publish -> robot swapped (s); jitter = p99 |period - target| (ms), median over robots;")
    print("baseline = the same robots' ticks just before the offer; ratio = during / before\n")
    print(f"{'slots':>5} {'round':<10} {'swapped':>7} {'p50 s':>6} {'p99 s':>6} {'all s':>6} {'missed':>6} "
          f"{'jit bef':>7} {'jit dur':>7} {'ratio':>6} {'dur max':>7}")
    for r in rows:
        print(f"{r['slots']:>5} {r['round']:<10} {r['swapped']:>7} {r['p50_s']:>6.2f} {r['p99_s']:>6.2f} "
              f"{r['all_s']:>6.2f} {r['missed']:>6} {r['jit_before']:>7.2f} {r['jit_during']:>7.2f} "
              f"{r['ratio']:>6.1f} {r['jit_during_max']:>7.2f}")
    print("\nwhere the time went (ms, median over robots): fetch = offer -> last byte, queue = waiting")
    print("for a build slot, build = verify + load + warm-up (wall / CPU), boundary = the rest\n")
    print(f"{'slots':>5} {'round':<10} {'fetch':>6} {'queue':>6} {'build':>6} {'cpu':>5} {'boundary':>8}")
    for r in rows:
        print(f"{r['slots']:>5} {r['round']:<10} {r['fetch']:>6.0f} {r['queue']:>6.0f} {r['build']:>6.0f} "
              f"{r['cpu']:>5.0f} {r['boundary']:>8.0f}")
    if len(configs) > 1:
        print(f"\nagainst slots {configs[0]} (same run): missed ticks and p99 time, summed over rounds")
        base = [r for r in rows if r["slots"] == configs[0]]
        for slots in configs[1:]:
            mine = [r for r in rows if r["slots"] == slots]
            bm, mm = sum(r["missed"] for r in base), sum(r["missed"] for r in mine)
            print(f"  slots {slots}: missed {mm} vs {bm}; p99 {max(r['p99_s'] for r in mine):.2f} s vs "
                  f"{max(r['p99_s'] for r in base):.2f} s (worst round)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
