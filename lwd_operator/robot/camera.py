"""Camera publisher: renders (or synthesises) frames at its own rate, off the control loop.

It runs in its own thread, at a lower priority than the control thread, with its own PUB
socket. Drivers hand it encoded frames where they can (the Meta-World driver renders and encodes
in a separate process; the thread only waits for the bytes, without the GIL), so the control
thread keeps its rate. Frames are published on ``frame/<robot>/<camera>``; the hub relays only
the newest ones.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import zmq
from PIL import Image

from lwd_core.protocol import Sequencer, encode
from lwd_core.protocol.messages import CameraSpec, Frame
from lwd_operator.hub.frame_relay import topic
from lwd_operator.robot.threads import lower_this_thread

log = logging.getLogger("lwd.robot.camera")


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class CameraPublisher:
    def __init__(self, sock: zmq.Socket, robot_id: str, spec: CameraSpec,
                 render: Callable[[], np.ndarray | bytes | None],
                 context: Callable[[], tuple[str, int]] = lambda: ("", -1)):
        self.sock, self.robot_id, self.spec, self.render = sock, robot_id, spec, render
        self.context = context
        self.seq = Sequencer(robot_id)
        self.topic = topic("frame", robot_id, spec.name)
        self.frames = 0
        self._times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{spec.name}", daemon=True)

    @property
    def fps(self) -> float:
        t = [x for x in self._times if x > time.monotonic() - 2.0]
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        lower_this_thread()
        period = 1.0 / self.spec.fps
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                t_capture = time.monotonic_ns()
                episode_id, step = self.context()  # read before rendering: the state is at least this new
                img = self.render()
                if img is not None:
                    jpeg = img if isinstance(img, bytes) else encode_jpeg(img)
                    msg = self.seq.stamp(Frame(
                        robot_id=self.robot_id, camera=self.spec.name, width=self.spec.width,
                        height=self.spec.height, encoding="jpeg", frame_seq=self.frames,
                        t_capture_ns=t_capture, episode_id=episode_id, step=step))
                    try:
                        self.sock.send_multipart([self.topic, *encode(msg, [jpeg])], zmq.NOBLOCK)
                    except zmq.Again:
                        pass
                    self.frames += 1
                    self._times = self._times[-60:] + [time.monotonic()]
            except Exception:  # a broken renderer must not take the robot down: report once per second
                log.exception("camera %s failed", self.spec.name)
                self._stop.wait(1.0)
            next_t += period
            delay = next_t - time.monotonic()
            if delay < -period:  # rendering cannot keep up: run at the sustainable rate
                next_t = time.monotonic()
            self._stop.wait(max(delay, 0.0))
