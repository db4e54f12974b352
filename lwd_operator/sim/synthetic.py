"""Synthetic camera frames: pre-encoded JPEGs cycled at any rate.

For load tests of the transport, independent of the renderer's cost: a frame costs nothing to
produce, so the figures measure ZeroMQ, the relay and the subscriber only.
"""

from __future__ import annotations

import itertools

import numpy as np

from lwd_operator.robot.camera import encode_jpeg


class SyntheticFrames:
    def __init__(self, width: int = 96, height: int = 96, n: int = 30, seed: int = 0):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width]
        frames = []
        for i in range(n):
            # A moving gradient plus noise: compresses like a camera image, changes every frame.
            base = ((xx + 3 * i) % width) * 255 // max(width - 1, 1)
            img = np.stack([base, yy * 255 // max(height - 1, 1), np.full_like(base, (i * 8) % 256)], -1)
            img = np.clip(img + rng.integers(0, 24, img.shape), 0, 255).astype(np.uint8)
            frames.append(encode_jpeg(img))
        self._cycle = itertools.cycle(frames)

    def __call__(self) -> bytes:
        return next(self._cycle)
