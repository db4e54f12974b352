"""Does rendering disturb the control loop? One robot-like 20 Hz loop (Meta-World step + state
copy), timed as RobotNode times its ticks, with a camera thread that renders at ``--fps``:

- ``none``: no camera (the baseline of the same run);
- ``in-thread``: MuJoCo renders and PIL encodes in a thread of this process (before issue 16);
- ``process``: ``ProcessCamera``, rendering and encoding in a separate process (now).

Both cameras draw the same scene (shadows and reflections off), so the difference is where the
work runs. Rounds interleave the three, so a load that changes over time hits each alike.

    .venv/bin/python scripts/bench/render_isolation.py --seconds 15 --rounds 3 --fps 10
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from lwd_operator.robot.camera import encode_jpeg  # noqa: E402
from lwd_operator.sim.metaworld_env import MetaWorldEnv  # noqa: E402
from lwd_operator.sim.render_process import ProcessCamera  # noqa: E402


class InThreadCamera:
    """The pre-issue-16 camera: a state copy rendered and encoded by a thread of this process."""

    def __init__(self, env: MetaWorldEnv, size: int = 96):
        self.env, self.size = env, size
        self.copy = mujoco.MjData(env.model)
        self.renderer = None
        self.snap = None
        self.lock = threading.Lock()

    def capture_state(self) -> None:
        d = self.env.data
        s = (d.qpos.copy(), d.qvel.copy(), d.mocap_pos.copy(), d.mocap_quat.copy())
        with self.lock:
            self.snap = s

    def render(self) -> bytes | None:
        if self.renderer is None:
            self.renderer = mujoco.Renderer(self.env.model, self.size, self.size)
        with self.lock:
            s = self.snap
        if s is None:
            return None
        c = self.copy
        c.qpos[:], c.qvel[:], c.mocap_pos[:], c.mocap_quat[:] = s
        mujoco.mj_forward(self.env.model, c)
        self.renderer.update_scene(c, camera="corner")
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        return encode_jpeg(np.ascontiguousarray(self.renderer.render()[::-1]))


def trial(env: MetaWorldEnv, cam, seconds: float, fps: float) -> tuple[float, float, float]:
    """(jitter p50 ms, jitter p99 ms, camera fps) of one timed run."""
    stop, frames = threading.Event(), [0]

    def camera_loop():
        while not stop.is_set():
            if cam.render() is not None:
                frames[0] += 1
            stop.wait(1 / fps)

    if cam is not None:
        cam.capture_state()
        threading.Thread(target=camera_loop, daemon=True).start()
    period, periods, action = 0.05, [], np.zeros(4)
    next_t = last = time.perf_counter()
    end = last + seconds
    while last < end:
        env.step(action)
        if cam is not None:
            cam.capture_state()
        next_t += period
        delay = next_t - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -period:
            next_t = time.perf_counter()
        now = time.perf_counter()
        periods.append(now - last)
        last = now
    stop.set()
    dev = np.abs(np.asarray(periods[5:]) - period) * 1000
    return float(np.percentile(dev, 50)), float(np.percentile(dev, 99)), frames[0] / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each timed run")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (none, in-thread, process)")
    ap.add_argument("--fps", type=float, default=10.0, help="camera rate asked for")
    args = ap.parse_args()
    sys.setswitchinterval(0.001)  # as RobotNode.run
    env = MetaWorldEnv("push-v3", 0, max_steps=10**9)
    env.reset()
    cams = {"none": None, "in-thread": InThreadCamera(env), "process": ProcessCamera(env, "push-v3")}
    for cam in cams.values():  # renderers up before any timing
        if cam is not None:
            cam.capture_state()
            while cam.render() is None:
                time.sleep(0.5)
    print(f"# render isolation, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, camera {args.fps:g} fps")
    print("| round | camera | jitter p50 ms | jitter p99 ms | p99 × none | camera fps |")
    print("|---|---|---|---|---|---|")
    try:
        for rnd in range(args.rounds):
            base = None
            for name, cam in cams.items():
                p50, p99, fps = trial(env, cam, args.seconds, args.fps)
                base = p99 if base is None else base
                print(f"| {rnd} | {name} | {p50:.2f} | {p99:.2f} | {p99 / max(base, 1e-3):.2f} | {fps:.1f} |", flush=True)
    finally:
        cams["process"].close()


if __name__ == "__main__":
    main()
