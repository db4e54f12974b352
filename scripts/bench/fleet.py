"""Fleet transport benchmark: frames produced vs delivered, frame age, control jitter, hub CPU.

Runs a real hub (``lwd hub``) and a real simulated fleet (``lwd fleet``) as separate processes on
loopback, with one subscriber that watches every camera through the hub's relay.

    .venv/bin/python scripts/bench/fleet.py                      # N = 1, 4, 8, 16 synthetic @ 30 fps
    .venv/bin/python scripts/bench/fleet.py --ns 4 --camera mujoco --fps 30   # renderer at its own pace

Baseline: the N = 1 row of the same run; ``age p99 ×`` is each row's p99 frame age over it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_operator.auth import init_keys, load_client_keys  # noqa: E402
from lwd_operator.client import HubClient  # noqa: E402
from lwd_operator.sockets import Endpoints  # noqa: E402
from tests.conftest import free_port_block  # noqa: E402


def run_one(n: int, camera: str, fps: float, seconds: float, keys_dir: str) -> dict:
    port = free_port_block()
    lwd = [sys.executable, "-m", "lwd_operator.cli"]
    common = ["--port", str(port), "--keys-dir", keys_dir]
    hub = subprocess.Popen(lwd + ["hub", "--no-record"] + common, stdout=subprocess.DEVNULL)
    fleet = subprocess.Popen(lwd + ["fleet", "-n", str(n), "--camera", camera, "--camera-fps", str(fps),
                                    "--policy", "noise", "--tasks", "push-v3"] + common,
                             stdout=subprocess.DEVNULL)
    client = HubClient(Endpoints(port=port), load_client_keys(keys_dir), "bench", role="observer").start()
    try:
        client.subscribe(hz=2)
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end:
            fs = client.latest_fleet
            if fs and len(fs.robots) == n and all(r.step > 20 for r in fs.robots):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"fleet of {n} did not come up")
        for r in client.latest_fleet.robots:
            client.watch_frames(r.robot_id)
        time.sleep(3.0)  # warm-up: subscriptions propagate, caches fill
        ages: list[float] = []
        seqs: dict[tuple[str, str], list[int]] = {}

        def on_frame(f, jpeg):
            ages.append((time.monotonic_ns() - f.t_capture_ns) / 1e6)
            s = seqs.setdefault((f.robot_id, f.camera), [f.frame_seq, f.frame_seq, 0])
            s[1] = f.frame_seq
            s[2] += 1

        hub_ps = psutil.Process(hub.pid)
        hub_ps.cpu_percent()
        client.on_frame = on_frame
        time.sleep(seconds)
        client.on_frame = None
        hub_cpu = hub_ps.cpu_percent()
        fs = client.latest_fleet
        produced = sum(last - first + 1 for first, last, _ in seqs.values())
        delivered = sum(c for _, _, c in seqs.values())
        return {
            "n": n, "camera": camera, "fps": fps,
            "produced": produced, "delivered": delivered,
            "delivered_pct": 100.0 * delivered / max(produced, 1),
            "cam_fps": produced / seconds / n,
            "age_p50": float(np.percentile(ages, 50)) if ages else float("nan"),
            "age_p99": float(np.percentile(ages, 99)) if ages else float("nan"),
            "ctrl_hz": float(np.mean([r.control_hz for r in fs.robots])),
            "jit_p50": float(np.median([r.jitter_p50_ms for r in fs.robots])),
            "jit_p99": float(np.max([r.jitter_p99_ms for r in fs.robots])),
            "hub_cpu": hub_cpu,
        }
    finally:
        client.close()
        for p in (fleet, hub):
            p.terminate()
        for p in (fleet, hub):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", default="1,4,8,16", help="fleet sizes (default 1,4,8,16)")
    ap.add_argument("--camera", default="synthetic", help="synthetic or mujoco")
    ap.add_argument("--fps", type=float, default=30.0, help="camera rate asked of each robot")
    ap.add_argument("--seconds", type=float, default=15.0, help="measurement window per fleet size")
    args = ap.parse_args()
    keys_dir = init_keys(tempfile.mkdtemp(prefix="lwd-bench-keys-"))
    rows = []
    print(f"# fleet benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {psutil.cpu_count()} CPUs, camera {args.camera} @ {args.fps:g} fps")
    print("| robots | camera | cam fps/robot | frames produced | delivered | age p50 ms | age p99 ms | age p99 × | ctrl Hz | jitter p50 ms | jitter p99 ms | hub CPU % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in [int(x) for x in args.ns.split(",")]:
        r = run_one(n, args.camera, args.fps, args.seconds, str(keys_dir))
        rows.append(r)
        base = rows[0]["age_p99"]
        print(f"| {n} | {r['camera']} | {r['cam_fps']:.1f} | {r['produced']} | {r['delivered_pct']:.2f} % | "
              f"{r['age_p50']:.1f} | {r['age_p99']:.1f} | {r['age_p99'] / base:.2f} | {r['ctrl_hz']:.1f} | "
              f"{r['jit_p50']:.2f} | {r['jit_p99']:.2f} | {r['hub_cpu']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
