"""Newest-frame decoding off the GUI thread.

A worker thread wakes when the client receives a frame (``HubClient.on_frame``; a short poll
period is only the fallback), decodes each camera's newest frame once
(``HubClient.latest_frames`` already keeps only the newest per camera), scales it once (DCT
scaling: decode at reduced size), stores the ``QImage`` and rings ``on_decoded`` so the GUI
shows it at once rather than on its next timer tick: a frame's age on screen is transport +
decode + one paint, with no timer period added at either hop. Nothing queues: a camera that
sends faster than we decode simply has its intermediate frames skipped. ``QImage`` (unlike
``QPixmap``) may be built off the GUI thread.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import simplejpeg
from PyQt6.QtCore import QObject, Qt, pyqtSignal
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
    """Decode to an RGB ``QImage`` no larger than about 1.5 x ``max_size``.

    simplejpeg (libjpeg-turbo) rather than Pillow: Pillow parses the JPEG's markers in Python,
    which made a 160x120 frame cost ~260 us with most of it under the GIL; simplejpeg costs
    ~100 us and releases the GIL while it decodes, so the GUI thread and the hub link keep
    running. ``min_width/min_height`` pick the DCT scale (1/2 .. 1/8) that is still at least
    ``max_size``: large frames decode at reduced size for nearly free.
    """
    h, w = simplejpeg.decode_jpeg_header(jpeg)[:2]
    small = w <= max_size[0] * 1.5 and h <= max_size[1] * 1.5
    rgb = simplejpeg.decode_jpeg(jpeg, "RGB", fastdct=True, fastupsample=True,
                                 **({} if small else {"min_width": max_size[0], "min_height": max_size[1]}))
    img = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    if rgb.shape[1] > max_size[0] * 1.5 or rgb.shape[0] > max_size[1] * 1.5:
        return img.scaled(max_size[0], max_size[1], Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.SmoothTransformation)
    return img.copy()  # own the pixels: ``rgb`` goes away with this frame


class FrameDecoder:
    """Decodes the newest frame of every watched camera on its own thread.

    ``sync=True`` decodes in ``poll()`` on the caller's thread instead (deterministic tests).
    """

    def __init__(self, client, max_size: tuple[int, int] = (480, 360), period_s: float = 0.05,
                 sync: bool = False):
        self.client, self.max_size, self.period_s, self.sync = client, max_size, period_s, sync
        self._out: dict[tuple[str, str], DecodedFrame] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.decoded = 0
        self.on_decoded = None
        """Called on the decoder thread after a batch of new frames is stored (the console turns
        it into a queued Qt signal)."""
        self._thread = None
        if not sync:
            chained = client.on_frame

            def frame_arrived(msg, jpeg):  # client thread: only a flag, never work
                self._wake.set()
                if chained is not None:
                    chained(msg, jpeg)

            client.on_frame = frame_arrived
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
            self._wake.clear()  # before polling: a frame arriving during the poll wakes the next one
            if self.poll() and self.on_decoded is not None:
                self.on_decoded()
            self._wake.wait(self.period_s)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class FrameBell(QObject):
    """Brings the decoder's "new frames stored" to the GUI thread as ``ready``, with at most one
    signal waiting in the event queue (a burst of batches is one pull, not a queue of them)."""

    ready = pyqtSignal()
    _rang = pyqtSignal()

    def __init__(self, decoder: FrameDecoder, parent: QObject | None = None):
        super().__init__(parent)
        self._waiting = threading.Event()
        self._rang.connect(self._deliver)  # queued: emitted on the decoder thread
        decoder.on_decoded = self._ring

    def _ring(self) -> None:  # decoder thread
        if not self._waiting.is_set():
            self._waiting.set()
            self._rang.emit()

    def _deliver(self) -> None:  # GUI thread
        self._waiting.clear()  # first: frames decoded while we pull ring again
        self.ready.emit()
