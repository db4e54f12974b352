"""Newest-frame decoding off the GUI thread.

A worker thread looks at ``HubClient.latest_frames`` (which already keeps only the newest frame
per camera) a few times per display period, decodes each camera's frame once when it changed,
scales it once (JPEG draft mode: decode at reduced size) and stores the ``QImage``. Tiles pull
from here on their display timer. Nothing queues: a camera that sends faster than we decode
simply has its intermediate frames skipped. ``QImage`` (unlike ``QPixmap``) may be built off the
GUI thread.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time

from PIL import Image
from PyQt6.QtGui import QImage


@dataclasses.dataclass(frozen=True)
class DecodedFrame:
    image: QImage
    frame_seq: int
    t_capture_ns: int
    t_received: float
    """Monotonic time the client received the JPEG (the age shown on screen counts from it)."""
    t_decoded: float


def decode_jpeg(jpeg: bytes, max_size: tuple[int, int]) -> QImage:
    im = Image.open(io.BytesIO(jpeg))
    im.draft("RGB", max_size)  # DCT scaling: decode at 1/2, 1/4 or 1/8 size, nearly free
    im = im.convert("RGB")
    if im.width > max_size[0] * 1.5 or im.height > max_size[1] * 1.5:
        im.thumbnail(max_size)
    data = im.tobytes()
    return QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()


class FrameDecoder:
    """Decodes the newest frame of every watched camera on its own thread.

    ``sync=True`` decodes in ``poll()`` on the caller's thread instead (deterministic tests).
    """

    def __init__(self, client, max_size: tuple[int, int] = (480, 360), period_s: float = 0.01,
                 sync: bool = False):
        self.client, self.max_size, self.period_s, self.sync = client, max_size, period_s, sync
        self._out: dict[tuple[str, str], DecodedFrame] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.decoded = 0
        self._thread = None
        if not sync:
            self._thread = threading.Thread(target=self._run, name="frame-decoder", daemon=True)
            self._thread.start()

    def latest(self, robot_id: str, camera: str) -> DecodedFrame | None:
        if self.sync:
            self.poll()
        with self._lock:
            return self._out.get((robot_id, camera))

    def poll(self) -> int:
        """Decode every camera whose newest frame changed; returns how many were decoded."""
        n = 0
        for key, (msg, jpeg, t_rx) in list(self.client.latest_frames.items()):
            with self._lock:
                cur = self._out.get(key)
            if cur is not None and cur.frame_seq == msg.frame_seq and cur.t_received == t_rx:
                continue
            try:
                img = decode_jpeg(jpeg, self.max_size)
            except Exception:  # a corrupt JPEG costs one frame, never the decoder
                continue
            with self._lock:
                self._out[key] = DecodedFrame(img, msg.frame_seq, msg.t_capture_ns, t_rx, time.monotonic())
            n += 1
        self.decoded += n
        return n

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.poll() == 0:
                self._stop.wait(self.period_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
