"""MuJoCo rendering in its own process: the robot's control loop never shares a GIL or a core
budget with the renderer.

The robot process writes a copy of the simulation state (qpos, qvel, mocap and the model fields
Meta-World moves on reset) into shared memory after every step — a few array copies, a few
microseconds. The render process, on request, reads the newest consistent copy (a sequence
lock: the writer never waits), renders, flips, JPEG-encodes and writes the JPEG into a second
shared-memory slot; the camera thread of the robot only forwards those bytes.

Request/reply runs over the child's stdin/stdout (one byte out, one length back), so a camera
thread waiting for a frame blocks in ``read`` without the GIL. The child exits when its stdin
closes, that is when the robot process ends, killed or not.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import time
from multiprocessing import shared_memory

import numpy as np

STATE_FIELDS = (("qpos", "data"), ("qvel", "data"), ("mocap_pos", "data"), ("mocap_quat", "data"),
                ("body_pos", "model"), ("body_quat", "model"), ("site_pos", "model"))
"""What the renderer needs to draw the scene the control thread just stepped: the state, and
the model fields that Meta-World's resets move (objects placed through ``body_pos``, goals
through ``site_pos``)."""

MAX_JPEG = 1 << 20
"""Largest JPEG the frame slot holds (a 96x96 frame is ~3 KB; 640x480 at quality 85 ~60 KB)."""

REPLY_TIMEOUT_S = 30.0
"""A render that takes longer than this counts as a hung renderer (it is restarted); software
rendering takes ~0.1 s a frame on an idle core and seconds on a loaded machine."""
START_TIMEOUT_S = 120.0
"""Time a renderer gets to import Meta-World and build its scene (seconds on a loaded machine)."""
READY = b"RDY!"


def state_layout(model) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(field, owner, shape, float64 offset) for every field in STATE_FIELDS; offset 0 is the
    sequence counter."""
    out, off = [], 1
    for name, owner in STATE_FIELDS:
        shape = getattr(model, name).shape if owner == "model" else _data_shape(model, name)
        out.append((name, owner, shape, off))
        off += int(np.prod(shape))
    return out


def _data_shape(model, name: str) -> tuple[int, ...]:
    return {"qpos": (model.nq,), "qvel": (model.nv,), "mocap_pos": (model.nmocap, 3),
            "mocap_quat": (model.nmocap, 4)}[name]


def _views(buf, layout) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    size = layout[-1][3] + int(np.prod(layout[-1][2]))
    flat = np.ndarray((size,), np.float64, buf)
    return flat, {name: flat[off:off + int(np.prod(shape))].reshape(shape) for name, _, shape, off in layout}


class ProcessCamera:
    """Robot side: ``capture_state`` from the control thread, ``render`` (JPEG bytes) from the
    camera thread. ``render`` starts the renderer on first use (blocking only the camera thread)
    and restarts one that died or hung, so a camera failure never reaches the control loop."""

    def __init__(self, env, task: str, width: int = 96, height: int = 96, camera: str = "corner"):
        self._model, self._data = env.model, env.data
        self.task, self.width, self.height, self.camera = task, width, height, camera
        self.layout = state_layout(self._model)
        n = self.layout[-1][3] + int(np.prod(self.layout[-1][2]))
        self._state_shm = shared_memory.SharedMemory(create=True, size=8 * n)
        self._frame_shm = shared_memory.SharedMemory(create=True, size=MAX_JPEG)
        self._flat, self._views = _views(self._state_shm.buf, self.layout)
        self._flat[0] = 0.0
        self._proc: subprocess.Popen | None = None
        self.restarts = 0

    def capture_state(self) -> None:
        """Control thread: publish the state to render next (sequence lock, never waits)."""
        f = self._flat
        f[0] += 1.0  # odd: writing
        for name, owner, _, _ in self.layout:
            self._views[name][...] = getattr(self._data if owner == "data" else self._model, name)
        f[0] += 1.0  # even: consistent

    def _spawn(self) -> None:
        cmd = [sys.executable, "-m", "lwd_operator.sim.render_process", self.task, self._state_shm.name,
               self._frame_shm.name, str(self.width), str(self.height), self.camera]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        if self._reply(START_TIMEOUT_S) != READY:
            raise EOFError("renderer did not start")

    def _reply(self, timeout: float) -> bytes:
        out = self._proc.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        if not ready:
            raise TimeoutError("renderer did not answer")
        head = os.read(out.fileno(), 4)
        if len(head) < 4:
            raise EOFError("renderer ended")
        return head

    def render(self) -> bytes | None:
        """Camera thread: the newest state as a JPEG, or None (renderer starting or failed)."""
        try:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    self.restarts += 1
                self._spawn()
            self._proc.stdin.write(b"r")
            head = self._reply(REPLY_TIMEOUT_S)
        except (OSError, ValueError, TimeoutError, EOFError):  # ValueError: closed while waiting
            self._kill()
            time.sleep(0.5)  # do not spin on a renderer that cannot start
            return None
        (n,) = struct.unpack("<I", head)
        return bytes(self._frame_shm.buf[:n]) if n else None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()  # a serving renderer exits at once; one still starting is killed
                self._proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
            self._proc.stdout.close()
            self._proc = None
        del self._flat, self._views  # views into the block must go before it closes
        for shm in (self._state_shm, self._frame_shm):
            shm.close()
            shm.unlink()


def _read_state(flat: np.ndarray, scratch: np.ndarray) -> bool:
    """Copy a consistent state into ``scratch`` (sequence lock); False before the first write."""
    for _ in range(1000):
        s1 = flat[0]
        if s1 % 2 == 1:
            continue
        scratch[:] = flat
        if flat[0] == s1 == scratch[0]:
            return s1 > 0
    return False


def _attach(name: str) -> shared_memory.SharedMemory:
    """Open the robot's block without owning it: Python < 3.13 registers every opened block with
    this process's resource tracker, which would unlink it when the renderer exits."""
    from multiprocessing import resource_tracker

    shm = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001 (no public way before 3.13)
    return shm


def serve(task: str, state_name: str, frame_name: str, width: int, height: int, camera: str) -> None:
    """Render process: answer each request byte with the length of a fresh JPEG (0: no state yet)."""
    # Ctrl-C in a terminal reaches the whole process group: the robot shuts down and closes
    # our stdin, which ends this process; a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("MUJOCO_GL", "osmesa")  # read when mujoco is first imported
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    import mujoco

    from lwd_operator.robot.camera import encode_jpeg
    from lwd_operator.robot.threads import ask_short_slice
    from lwd_operator.sim.metaworld_env import MetaWorldEnv

    os.nice(5)  # the robots' control loops get the larger share when the CPU is short...
    ask_short_slice()  # ...and the core within 0.1 ms when their timer fires
    env = MetaWorldEnv(task, 0)
    model = env.model
    data = mujoco.MjData(model)
    layout = state_layout(model)
    state_shm, frame_shm = _attach(state_name), _attach(frame_name)
    flat, _ = _views(state_shm.buf, layout)
    scratch = np.empty_like(flat)
    _, views = _views(scratch, layout)
    # Render settings sized for small frames: MuJoCo's defaults (a 4096² shadow map, 4x
    # multisampling into a 640x480 buffer) cost ~0.5 s a frame in software GL under load.
    # They touch only rendering fields of the model, never the physics.
    model.vis.quality.shadowsize, model.vis.quality.offsamples = 0, 0
    model.vis.global_.offwidth, model.vis.global_.offheight = max(width, 1), max(height, 1)
    renderer = mujoco.Renderer(model, height, width)
    flags = mujoco.mjtRndFlag
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    out.write(READY)
    out.flush()
    try:
        while inp.read(1):
            n = 0
            if _read_state(flat, scratch):
                for name, owner, _, _ in layout:
                    getattr(data if owner == "data" else model, name)[...] = views[name]
                mujoco.mj_forward(model, data)
                renderer.update_scene(data, camera=camera)
                # Software rendering: shadows and reflections cost ~5x the rest of a frame
                # (117 vs 22 ms of CPU at 96 px); an operator's view does not need them.
                renderer.scene.flags[flags.mjRND_SHADOW] = 0
                renderer.scene.flags[flags.mjRND_REFLECTION] = 0
                # Meta-World's cameras are mounted so that MuJoCo's image comes out upside down.
                jpeg = encode_jpeg(np.ascontiguousarray(renderer.render()[::-1]))
                n = len(jpeg) if len(jpeg) <= MAX_JPEG else 0
                frame_shm.buf[:n] = jpeg[:n]
            out.write(struct.pack("<I", n))
            out.flush()
    finally:
        renderer.close()
        del flat, scratch, views
        state_shm.close()
        frame_shm.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    serve(a[0], a[1], a[2], int(a[3]), int(a[4]), a[5])
