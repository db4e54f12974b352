"""Console benchmark: the camera wall with N robots x 2 cameras x 30 fps synthetic cameras.

A real hub and N light robot nodes (a trivial driver with two synthetic JPEG cameras, so the
figures measure the console, not MuJoCo) run in a child process; the console window runs in
another (offscreen Qt unless a display is set). Measured in the console process:

- GUI event-loop latency: lateness of a 20 ms repeating timer (p50 / p99);
- newest-frame age on screen: capture -> first paint of each frame shown (p50 / p99);
- frames shown per camera per second (each camera sends 30);
- CPU (% of one core) and RSS sampled every 10 s (growth = last minute vs first minute).

Baseline: the same figures with 1 robot in the same run; ratios are N-robot / 1-robot.

    .venv/bin/python scripts/bench/console.py                 # 16 robots, 10 minutes (+ baseline)
    .venv/bin/python scripts/bench/console.py --minutes 1     # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, ROOT)


# --- the fleet side (child process) --------------------------------------------------------------


def run_fleet(port: int, keys_dir: str, robots: int, fps: float) -> None:
    from lwd_core.protocol.messages import CameraSpec
    from lwd_operator.auth import load_client_keys
    from lwd_operator.config import HubConfig
    from lwd_operator.hub.hub import Hub
    from lwd_operator.robot.driver import Driver, DriverConfig, EpisodeSignal
    from lwd_operator.robot.node import NodeConfig, RobotNode
    from lwd_operator.robot.policies import make_builtin
    from lwd_operator.sim.synthetic import SyntheticFrames
    from lwd_operator.sockets import Endpoints

    class BenchDriver(Driver):
        """A robot that costs nothing: 4-d state, two synthetic cameras."""

        name = "bench"
        config_class = DriverConfig

        def __init__(self, cfg):
            super().__init__(cfg)
            self.x = np.zeros(4, np.float32)
            self.cams = {c: SyntheticFrames(160, 120, seed=cfg.seed * 2 + i) for i, c in enumerate(("front", "wrist"))}

        def connect(self): ...
        def disconnect(self): ...
        obs_dim = property(lambda self: 4)
        action_dim = property(lambda self: 4)
        cameras = property(lambda self: [CameraSpec(c, 160, 120, fps) for c in self.cams])

        def reset(self):
            self.x[:] = 0
            return self.x.copy()

        def observation(self):
            return self.x.copy()

        def send_action(self, a):
            self.x += 0.001 * np.asarray(a, np.float32)
            return np.asarray(a, np.float32)

        def hold_action(self):
            return np.zeros(4, np.float32)

        def teleop_action(self, dpos, gripper):
            return np.concatenate([np.asarray(dpos, np.float32), [gripper]]).astype(np.float32)

        def signal(self):
            return EpisodeSignal(success=False)

        def ee_position(self):
            return self.x[:3].copy()

        def render(self, camera):
            return self.cams[camera]()

    hub = Hub(HubConfig(port=port, keys_dir=keys_dir, stale_ms=3000)).start()
    keys = load_client_keys(keys_dir, "robot")  # a robot key: only robots speak on the robot port
    nodes = []
    for i in range(robots):
        drv = BenchDriver(DriverConfig(task="bench", seed=i))
        nodes.append(RobotNode(NodeConfig(robot_id=f"b{i:02d}", max_episode_steps=10**9, stall_s=1e9), drv,
                               make_builtin("hold", np.zeros(4, np.float32)), Endpoints(port=port), keys,
                               camera_fps=fps).start())
    try:
        while True:
            time.sleep(1)
    finally:
        for n in nodes:
            n.stop()
        hub.stop()


# --- the console side (child process) ------------------------------------------------------------


def run_console(port: int, keys_dir: str, robots: int, seconds: float, warmup: float) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import psutil
    from PyQt6.QtCore import QSettings, Qt, QTimer

    from lwd_operator.auth import load_client_keys
    from lwd_operator.client import HubClient
    from lwd_operator.sockets import Endpoints
    from ui.console.app import application
    from ui.console.window import ConsoleWindow

    app = application()
    client = HubClient(Endpoints(port=port), load_client_keys(keys_dir, "observer"), "bench", role="observer").start()
    store = QSettings(os.path.join(tempfile.mkdtemp(), "c.ini"), QSettings.Format.IniFormat)
    win = ConsoleWindow(client, store=store, use_devices=False)
    win.resize(1600, 1000)
    win.show()
    proc = psutil.Process()
    end_warm = time.monotonic() + warmup
    while time.monotonic() < end_warm and len(win.wall.tiles) < robots:
        app.processEvents()
        time.sleep(0.01)
    while time.monotonic() < end_warm:
        app.processEvents()
        time.sleep(0.01)
    # Frame ages go into fixed histograms (0.1 ms bins up to 10 s), not lists: the console's
    # RSS over 10 minutes must show the console, not the benchmark's own samples.
    hist = np.zeros((5, 100_000), np.int64)  # rows: age, its 3 stages, the GUI loop's lateness

    def shown(age, stages):
        for i, x in enumerate((age, *stages)):
            hist[i, min(max(int(x * 10_000), 0), 99_999)] += 1

    for t in win.wall.tiles.values():
        t.shown, t.on_shown = 0, shown
    last = [time.perf_counter()]

    def probe():
        now = time.perf_counter()
        hist[4, min(max(int((now - last[0] - 0.020) * 10_000), 0), 99_999)] += 1
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(20)
    timer.timeout.connect(probe)
    samples = []
    proc.cpu_percent(None)
    t0 = time.monotonic()

    def sample():
        samples.append((round(time.monotonic() - t0, 1), proc.cpu_percent(None), proc.memory_info().rss / 2**20))

    sampler = QTimer()
    sampler.setInterval(10_000)
    sampler.timeout.connect(sample)
    timer.start()
    sampler.start()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    last[0] = time.perf_counter()
    app.exec()
    if not samples or time.monotonic() - t0 - samples[-1][0] > 3.0:  # a short tail is noise
        sample()
    elapsed = time.monotonic() - t0
    tiles = list(win.wall.tiles.values())
    cams = sum(len(t.cameras) for t in tiles) or 1
    n_shown, n_ticks = int(hist[0].sum()), int(hist[4].sum())

    def pct(row: int, q: float) -> float:
        """Percentile q of histogram row ``row``, in ms (bin upper edge)."""
        return float(np.searchsorted(np.cumsum(hist[row]), q / 100 * hist[row].sum()) + 1) / 10.0
    win.shutdown()
    first = [s for s in samples if s[0] <= 60] or samples[:1]
    lastm = [s for s in samples if s[0] >= samples[-1][0] - 60] or samples[-1:]
    return {
        "robots": robots, "tiles": len(tiles), "cameras": cams, "seconds": round(elapsed, 1),
        "loop_p50_ms": pct(4, 50) if n_ticks else None,
        "loop_p99_ms": pct(4, 99) if n_ticks else None,
        "age_p50_ms": pct(0, 50) if n_shown else None,
        "age_p99_ms": pct(0, 99) if n_shown else None,
        "stages_p50_ms": [pct(i, 50) for i in (1, 2, 3)] if n_shown else None,
        "stages_p99_ms": [pct(i, 99) for i in (1, 2, 3)] if n_shown else None,
        "shown_per_cam_s": sum(t.shown for t in tiles) / cams / elapsed,
        "cpu_pct": float(np.mean([s[1] for s in samples])) if samples else None,
        "rss_first_mb": float(np.mean([s[2] for s in first])) if first else None,
        "rss_last_mb": float(np.mean([s[2] for s in lastm])) if lastm else None,
        "samples": samples,
    }


# --- the driver (parent) ------------------------------------------------------------------------------


def measure(robots: int, minutes: float, fps: float, warmup: float) -> dict:
    from lwd_operator.auth import init_keys
    from tests.conftest import free_port_block

    keys_dir = str(init_keys(os.path.join(tempfile.mkdtemp(prefix="lwd-bench-console-"), "keys")))
    port = free_port_block()
    env = {**os.environ, "PYTHONPATH": os.path.abspath(ROOT)}
    me = [sys.executable, os.path.abspath(__file__)]
    fleet = subprocess.Popen(me + ["--child", "fleet", "--port", str(port), "--keys-dir", keys_dir,
                                   "--robots", str(robots), "--fps", str(fps)], env=env)
    try:
        time.sleep(2.0)
        out = subprocess.run(me + ["--child", "console", "--port", str(port), "--keys-dir", keys_dir,
                                   "--robots", str(robots), "--minutes", str(minutes), "--warmup", str(warmup)],
                             env=env, capture_output=True, text=True, timeout=minutes * 60 + warmup + 120)
        if out.returncode != 0:
            raise SystemExit(f"console child failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        fleet.terminate()
        try:
            fleet.wait(10)
        except subprocess.TimeoutExpired:
            fleet.kill()


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=10.0, help="measured time of the N-robot run (default 10)")
    ap.add_argument("--baseline-minutes", type=float, help="measured time of the 1-robot run (default minutes/5, >= 0.5)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--child", choices=["fleet", "console"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--keys-dir", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "fleet":
        run_fleet(a.port, a.keys_dir, a.robots, a.fps)
        return 0
    if a.child == "console":
        print(json.dumps(run_console(a.port, a.keys_dir, a.robots, a.minutes * 60, a.warmup)))
        return 0
    base_min = a.baseline_minutes or max(0.5, a.minutes / 5)
    print(f"console wall: {a.robots} robots x 2 cameras x {a.fps:.0f} fps for {a.minutes} min; "
          f"baseline 1 robot for {base_min} min", flush=True)
    base = measure(1, base_min, a.fps, a.warmup)
    full = measure(a.robots, a.minutes, a.fps, a.warmup)
    print(f"{'robots':>6} {'loop p50':>9} {'loop p99':>9} {'age p50':>8} {'age p99':>8} {'shown/cam/s':>11} "
          f"{'CPU %':>6} {'RSS MB first->last':>19}")
    for r in (base, full):
        print(f"{r['robots']:>6} {fmt(r['loop_p50_ms']):>9} {fmt(r['loop_p99_ms']):>9} {fmt(r['age_p50_ms'], '.0f'):>8} "
              f"{fmt(r['age_p99_ms'], '.0f'):>8} {fmt(r['shown_per_cam_s']):>11} {fmt(r['cpu_pct'], '.0f'):>6} "
              f"{fmt(r['rss_first_mb'], '.0f'):>9} -> {fmt(r['rss_last_mb'], '.0f')}")

    for r in (base, full):
        if r["stages_p50_ms"]:
            print(f"{r['robots']:>6} age by stage p50/p99 ms: to client "
                  f"{r['stages_p50_ms'][0]:.0f}/{r['stages_p99_ms'][0]:.0f}, decode wait "
                  f"{r['stages_p50_ms'][1]:.0f}/{r['stages_p99_ms'][1]:.0f}, to paint "
                  f"{r['stages_p50_ms'][2]:.0f}/{r['stages_p99_ms'][2]:.0f}")

    def ratio(k):
        return "-" if not base[k] or full[k] is None else f"{full[k] / base[k]:.2f}x"

    print(f"ratio {a.robots}/1: loop p99 {ratio('loop_p99_ms')}, age p99 {ratio('age_p99_ms')}, "
          f"shown/cam/s {ratio('shown_per_cam_s')}, CPU {ratio('cpu_pct')}")
    print("CPU and RSS over time (N-robot run): " + ", ".join(f"{t:.0f}s {c:.0f}% {m:.0f}MB" for t, c, m in full["samples"]))
    print("targets: loop p99 <= 30 ms, age p99 <= 100 ms, no RSS growth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
