"""Episode store throughput: sustained write rate through the Recorder, and read-back rate.

Synthetic fleet: ``--robots`` robots at ``--hz`` (default 16 at 20 Hz), Meta-World-sized rows
(39-float state, 4-float action), StepBatches of ``--batch`` steps, one 96x96 JPEG camera per
robot at 10-30 fps (spread over the fleet). Three phases:

1. paced: the fleet in real time for ``--paced-s`` seconds; ack latency (submit -> StepAck
   available) and the writer's backlog;
2. flat out: the same mix as fast as the producer can make it, for ``--burst-s`` seconds;
   durable steps/s and frames/s, and the ratio to what the fleet produces (target >= 10x);
3. read: every episode read back as ``Episode`` (and once more with its frames).

Usage: ``python scripts/bench/store.py [--root DIR] [--robots 16] [--hz 20]``
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lwd_core.protocol.messages import EpisodeEvent, Frame, StepBatch
from lwd_core.store import EpisodeStore
from lwd_operator.recorder import Recorder

OBS, ACT, EPISODE_STEPS = 39, 4, 150


def make_jpegs(k: int = 8) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(k):
        img = (rng.random((96, 96, 3)) * 60 + np.linspace(0, 190, 96)[None, :, None]).astype(
            np.uint8
        )
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


class Fleet:
    """Synthetic robots: each call to ``tick(r)`` yields one batch's submissions for robot r."""

    def __init__(self, rec: Recorder, robots: int, hz: float, batch: int, tag: str):
        self.rec, self.hz, self.batch, self.tag = rec, hz, batch, tag
        self.cam_fps = np.linspace(10, 30, robots)
        self.jpegs = make_jpegs()
        self.rng = np.random.default_rng(1)
        self.state = [[None, 0, 0, 0.0] for _ in range(robots)]  # episode, step, k, frame credit
        self.steps = self.frames = 0
        self.sent_at: dict[tuple[str, int], float] = {}

    def tick(self, r: int) -> None:
        robot = f"{self.tag}r{r:02d}"
        st = self.state[r]
        if st[0] is None:
            st[2] += 1
            st[0], st[1] = f"{robot}-e{st[2]}", 0
            self.rec.submit_episode_event(
                EpisodeEvent(
                    robot_id=robot, episode_id=st[0], task=f"task{r % 10}", event="started"
                )
            )
        ep, first = st[0], st[1]
        n = min(self.batch, EPISODE_STEPS - first)
        step = np.arange(first, first + n)
        arrays = {
            "state": self.rng.standard_normal((n, OBS), np.float32),
            "action": self.rng.standard_normal((n, ACT), np.float32),
            "source": (step % 50 > 40).astype(np.uint8),
            "policy_version": np.full(n, 3, np.int32),
            "t_ns": (step * (1e9 / self.hz)).astype(np.int64),
        }
        closes = first + n == EPISODE_STEPS
        if closes:
            arrays["final_state"] = np.zeros(OBS, np.float32)
        self.rec.submit_steps(
            StepBatch(
                robot_id=robot,
                episode_id=ep,
                first_step=first,
                n=n,
                blobs=[],
                closes_episode=closes,
            ),
            arrays,
        )
        self.sent_at[(ep, first + n)] = time.perf_counter()
        st[3] += n / self.hz * self.cam_fps[r]
        while st[3] >= 1.0:
            st[3] -= 1.0
            self.rec.submit_frame(
                Frame(
                    robot_id=robot,
                    camera="front",
                    width=96,
                    height=96,
                    encoding="jpeg",
                    frame_seq=self.frames,
                    t_capture_ns=int(arrays["t_ns"][0]),
                ),
                self.jpegs[self.frames % len(self.jpegs)],
            )
            self.frames += 1
        self.steps += n
        st[1] += n
        if closes:
            self.rec.submit_episode_event(
                EpisodeEvent(
                    robot_id=robot,
                    episode_id=ep,
                    task=f"task{r % 10}",
                    event="ended",
                    steps=EPISODE_STEPS,
                )
            )
            self.rec.label(ep, "success" if self.rng.random() < 0.7 else "failure", "bench")
            st[0] = None


def paced(root: Path, robots: int, hz: float, batch: int, seconds: float) -> dict:
    store = EpisodeStore(root)
    rec = Recorder(store)
    fleet = Fleet(rec, robots, hz, batch, "p")
    latencies, backlog = [], 0
    period = batch / hz
    t0 = time.perf_counter()
    k = 0
    while time.perf_counter() - t0 < seconds:
        for r in range(robots):
            fleet.tick(r)
        k += 1
        while time.perf_counter() < t0 + k * period:
            for _, ack in rec.poll_acks():
                sent = fleet.sent_at.pop((ack.episode_id, ack.durable_until), None)
                if sent is not None:
                    latencies.append(time.perf_counter() - sent)
            backlog = max(backlog, rec.backlog())
            time.sleep(0.002)
    rec.stop()
    store.close()
    lat = np.asarray(latencies) * 1e3
    return {
        "steps": fleet.steps,
        "frames": fleet.frames,
        "ack_p50_ms": float(np.median(lat)),
        "ack_p99_ms": float(np.percentile(lat, 99)),
        "max_backlog": backlog,
    }


def flat_out(root: Path, robots: int, hz: float, batch: int, seconds: float) -> dict:
    store = EpisodeStore(root)
    rec = Recorder(store)
    fleet = Fleet(rec, robots, hz, batch, "f")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for r in range(robots):
            fleet.tick(r)
        while rec.backlog() > 5000:  # keep memory bounded: measure the writer, not the queue
            time.sleep(0.001)
    rec.stop(timeout=120)
    elapsed = time.perf_counter() - t0
    stats = dict(rec.stats)
    store.close()
    return {
        "steps": stats["steps"],
        "frames": stats["frames"],
        "s": elapsed,
        "steps_per_s": stats["steps"] / elapsed,
        "frames_per_s": stats["frames"] / elapsed,
    }


def read_back(root: Path) -> dict:
    store = EpisodeStore(root, writer=False)
    ids = [r["id"] for r in store.list_episodes(status="ended")]
    t0 = time.perf_counter()
    steps = sum(len(store.read_episode(e)) for e in ids)
    t_ep = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = sum(len(f.jpegs) for e in ids for f in store.read_frames(e).values())
    t_fr = time.perf_counter() - t0
    store.close()
    return {
        "episodes": len(ids),
        "episodes_per_s": len(ids) / t_ep,
        "steps_per_s": steps / t_ep,
        "frames_per_s": frames / max(t_fr, 1e-9),
    }


def dataset_api(root: Path, batch_size: int = 256, seconds: float = 5.0) -> dict:
    """The learner's path: store -> StoreEpisodeSource -> ChunkDataset -> batches of chunks."""
    from lwd_core.data.chunk_dataset import ChunkDataset
    from lwd_core.store.episode_source import StoreEpisodeSource

    store = EpisodeStore(root, writer=False)
    src = StoreEpisodeSource(store, include_demo=True)
    t0 = time.perf_counter()
    eps = src.new_episodes()
    tasks = sorted({e.task for e in eps})
    ds = ChunkDataset(tasks, eps[0].states.shape[1], eps[0].actions.shape[1], horizon=8, n_step=3)
    ds.add_episodes(eps, online=True)
    t_load = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ds.sample(batch_size)
        n += 1
    t = time.perf_counter() - t0
    store.close()
    return {"episodes": len(eps), "steps": len(ds), "load_s": t_load, "batches_per_s": n / t,
            "chunk_rows_per_s": n * batch_size / t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", help="recordings directory (default: a temporary one)")
    ap.add_argument("--robots", type=int, default=16)
    ap.add_argument("--hz", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=5, help="steps per StepBatch")
    ap.add_argument("--paced-s", type=float, default=10.0)
    ap.add_argument("--burst-s", type=float, default=15.0)
    args = ap.parse_args()
    base = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="lwd-store-bench-"))
    fleet_steps = args.robots * args.hz
    fleet_frames = float(np.linspace(10, 30, args.robots).sum())
    print(
        f"fleet: {args.robots} robots x {args.hz:g} Hz = {fleet_steps:g} steps/s, "
        f"{fleet_frames:g} frames/s (96x96 JPEG), batches of {args.batch} steps; dir {base}"
    )
    p = paced(base / "paced", args.robots, args.hz, args.batch, args.paced_s)
    print(
        f"paced {args.paced_s:g} s: {p['steps']} steps, {p['frames']} frames; StepAck latency "
        f"p50 {p['ack_p50_ms']:.1f} ms, p99 {p['ack_p99_ms']:.1f} ms; max backlog {p['max_backlog']}"
    )
    f = flat_out(base / "burst", args.robots, args.hz, args.batch, args.burst_s)
    print(
        f"write flat out: {f['steps_per_s']:.0f} steps/s ({f['steps_per_s'] / fleet_steps:.1f}x "
        f"the fleet), {f['frames_per_s']:.0f} frames/s ({f['frames_per_s'] / fleet_frames:.1f}x)"
        f"; {f['steps']} steps, {f['frames']} frames in {f['s']:.1f} s"
    )
    r = read_back(base / "burst")
    print(
        f"read: {r['episodes']} episodes, {r['episodes_per_s']:.0f} episodes/s, "
        f"{r['steps_per_s']:.0f} steps/s ({r['steps_per_s'] / fleet_steps:.0f}x the fleet); "
        f"frames {r['frames_per_s']:.0f}/s"
    )
    d = dataset_api(base / "burst")
    print(
        f"dataset API: {d['episodes']} episodes ({d['steps']} steps) loaded in {d['load_s']:.2f} s; "
        f"{d['batches_per_s']:.0f} batches/s at batch 256 (n-step 3, H 8) = {d['chunk_rows_per_s']:.0f} "
        f"chunk rows/s ({d['chunk_rows_per_s'] / fleet_steps:.0f}x the steps the fleet produces)"
    )
    if not args.root:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
