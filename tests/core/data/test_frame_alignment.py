"""Frame-to-step alignment, and camera frames in the learner's dataset."""

import io

import numpy as np
import pytest
from PIL import Image

from lwd_core.data.chunk_dataset import ChunkDataset
from lwd_core.data.episode import Episode
from lwd_core.data.frame_alignment import align_frames

MS = 1_000_000


def test_latest_frame_at_or_before_each_step_within_tolerance():
    steps = np.arange(10) * 50 * MS  # 20 Hz
    frames = np.array([20, 120, 320]) * MS  # a camera that stalls after 320 ms
    al = align_frames(frames, steps, tolerance_ns=150 * MS)
    assert al.index.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert al.age_ns.tolist() == [x * MS for x in (-20, 30, 80, 30, 80, 130, 180, 30, 80, 130)]
    # step 0 precedes every frame; step 6 shows a frame older than the tolerance
    assert al.has_frame.tolist() == [False, True, True, True, True, True, False, True, True, True]
    assert al.coverage == 0.8


def test_no_frames_means_no_frame_anywhere_and_disorder_is_refused():
    al = align_frames(np.zeros(0, np.int64), np.arange(4))
    assert al.index.tolist() == [-1] * 4 and not al.has_frame.any()
    with pytest.raises(ValueError):
        align_frames(np.array([5, 3]), np.arange(4))


def jpeg(value: int, size: int = 96) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def episode(k: int, n: int, with_frames: bool = True) -> Episode:
    t = np.arange(n, dtype=np.int64) * 50 * MS
    ft = t[::4] + 5 * MS  # 5 fps, just after every 4th step
    return Episode(
        episode_id=f"e{k}", task="reach", states=np.full((n, 3), k, np.float32),
        actions=np.zeros((n, 2), np.float32), sources=np.zeros(n, np.uint8),
        policy_versions=np.zeros(n, np.int32), outcome="success", t_ns=t,
        frames={"front": (ft, [jpeg(10 + 20 * j) for j in range(len(ft))])} if with_frames else {},
    )


def test_dataset_returns_each_steps_aligned_frame_resized():
    ds = ChunkDataset(["reach"], 3, 2, horizon=4, cameras=["front"], image_size=32)
    ds.add_episodes([episode(0, 20), episode(1, 8, with_frames=False)], online=False)
    assert ds.n_frames == 5  # frames kept at the camera's rate, not one per step
    b = ds.rows(np.array([0, 1, 4, 5, 19, 20]))
    assert b.images.shape == (6, 1, 3, 32, 32) and b.images.dtype.is_floating_point is False
    means = b.images.float().mean(dim=(1, 2, 3, 4)).tolist()
    expected = [10, 10, 10, 30, 90, 0]  # step 0 shows the first frame; episode 1 has none
    assert all(abs(m - e) < 3 for m, e in zip(means, expected, strict=True)), means
    assert b.image_valid[:, 0].tolist() == [0, 1, 1, 1, 1, 0]
    assert b.next_images.shape == b.images.shape
    assert abs(float(b.next_images[4].float().mean()) - 90) < 3  # done: the last step's frame
    batch = ds.sample(64)
    assert batch.images.shape == (64, 1, 3, 32, 32)


def test_state_only_dataset_has_no_images():
    ds = ChunkDataset(["reach"], 3, 2, horizon=4)
    ds.add_episodes([episode(0, 10)], online=False)
    b = ds.sample(8)
    assert b.images is None and b.image_valid is None
