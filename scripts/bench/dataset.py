"""Dataset API batch rate with camera frames, against the state-only rate in the same run.

Writes a recordings store of synthetic episodes (20 Hz steps, one camera at ``--fps`` with
moving JPEG frames of ``--size``), loads it through ``StoreEpisodeSource`` into two
``ChunkDataset``s (state only; with the camera, frames decoded and resized once) and times
``sample(batch)`` on each.

    .venv/bin/python scripts/bench/dataset.py                       # 40 episodes x 300 steps
    .venv/bin/python scripts/bench/dataset.py --episodes 4 --batches 20   # smoke run

Baseline: the state-only dataset of the same run; ``ratio`` is camera rate / state-only rate.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_core.data.chunk_dataset import ChunkDataset  # noqa: E402
from lwd_core.store import EpisodeStore  # noqa: E402
from lwd_core.store.episode_source import StoreEpisodeSource  # noqa: E402


def fill(store: EpisodeStore, episodes: int, steps: int, fps: float, size: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    period = int(round(1e9 / fps))
    for k in range(episodes):
        ep = f"e{k:04d}"
        store.begin_episode("r1", ep, "reach-v3")
        t = 10**12 + np.arange(steps, dtype=np.int64) * 50_000_000
        store.append_steps("r1", ep, 0, {
            "state": rng.normal(size=(steps, 39)).astype(np.float32),
            "action": rng.uniform(-1, 1, (steps, 4)).astype(np.float32),
            "source": (rng.random(steps) < 0.2).astype(np.uint8),
            "policy_version": np.ones(steps, np.int32), "t_ns": t})
        ft = np.arange(t[0], t[-1], period)
        jpegs = []
        for j in range(len(ft)):  # a moving gradient plus noise: compresses like a camera image
            img = ((xx + 3 * j) % size * (255 / size))[..., None] + rng.normal(0, 8, (size, size, 3))
            buf = io.BytesIO()
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
            jpegs.append(buf.getvalue())
        store.append_frames("r1", ep, "corner", list(range(len(ft))), ft.tolist(), jpegs)
        store.end_episode(ep, steps=steps)
        store.label(ep, "success" if k % 2 else "failure", "bench")


def rate(ds: ChunkDataset, batch: int, batches: int) -> float:
    ds.sample(batch)  # warm: pools and caches
    t0 = time.perf_counter()
    for _ in range(batches):
        ds.sample(batch)
    return batches / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--steps", type=int, default=300, help="steps per episode (20 Hz)")
    p.add_argument("--fps", type=float, default=5.0, help="camera frames per second")
    p.add_argument("--size", type=int, default=96, help="stored frame side and CNN image side")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        store = EpisodeStore(os.path.join(tmp, "rec"))
        fill(store, a.episodes, a.steps, a.fps, a.size)
        rows = []
        for cams in ([], ["corner"]):
            t0 = time.perf_counter()
            eps = StoreEpisodeSource(store, frames=bool(cams)).new_episodes()
            ds = ChunkDataset(["reach-v3"], 39, 4, horizon=8, n_step=4, cameras=cams, image_size=a.size)
            ds.add_episodes(eps, online=False)
            load_s = time.perf_counter() - t0
            rows.append((cams, load_s, ds.n_frames, rate(ds, a.batch, a.batches)))
        store.close()
    base = rows[0][3]
    print(f"{a.episodes} episodes x {a.steps} steps, camera {a.size}x{a.size} at {a.fps:g} fps, "
          f"batch {a.batch}, {a.threads} torch thread(s)")
    print(f"{'dataset':<14}{'load s':>8}{'frames':>8}{'batches/s':>11}{'rows/s':>10}{'ratio':>7}")
    for cams, load_s, frames, r in rows:
        name = "+ 1 camera" if cams else "state only"
        print(f"{name:<14}{load_s:>8.2f}{frames:>8}{r:>11.1f}{r * a.batch:>10.0f}{r / base:>7.2f}")


if __name__ == "__main__":
    main()
