"""LeRobot v3.0 export checked against the documented layout; import and round trip."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lwd_core.data.episode import SOURCE_DEMO
from lwd_core.store import EpisodeStore
from lwd_core.store.lerobot_export import export_lerobot
from lwd_core.store.lerobot_import import import_lerobot

DEFAULT_FEATURES = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}


def jpeg(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((96, 96, 3), value, np.uint8)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


T0 = 123_456_789_000  # a monotonic clock reading: any origin works


def grey(episode: int, frame: int) -> int:
    return 20 + 40 * episode + 8 * frame


def fill(store: EpisodeStore) -> list[str]:
    ids = []
    for k, (task, n, outcome) in enumerate(
        [("reach", 12, "success"), ("push", 8, "failure"), ("reach", 10, "success")]
    ):
        ep = f"e{k}"
        store.begin_episode("r1", ep, task, clock_offset_ns=1_700_000_000_000_000_000)
        src = np.zeros(n, np.uint8)
        src[4:6] = 1
        store.append_steps(
            "r1",
            ep,
            0,
            {
                "state": np.arange(n * 5, dtype=np.float32).reshape(n, 5) + 100 * k,
                "action": np.ones((n, 3), np.float32) * k,
                "source": src,
                "policy_version": np.full(n, 7, np.int32),
                "t_ns": T0 + np.arange(n, dtype=np.int64) * 50_000_000,
            },
        )  # 20 Hz
        # camera at 10 fps, 10 ms after every other step, each frame a different grey
        t = T0 + np.arange(0, n, 2) * 50_000_000 + 10_000_000
        store.append_frames(
            "r1", ep, "front", list(range(len(t))), t.tolist(), [jpeg(grey(k, j)) for j in range(len(t))]
        )
        store.end_episode(ep, steps=n, operator="ann")
        store.label(ep, outcome, "bot")
        ids.append(ep)
    return ids


@pytest.fixture
def exported(tmp_path):
    store = EpisodeStore(tmp_path / "rec")
    ids = fill(store)
    info = export_lerobot(store, ids, tmp_path / "ds", progress=False)
    yield store, tmp_path / "ds", info
    store.close()


def test_export_matches_v3_layout(exported):
    store, ds, info = exported
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, 30, 2)
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert (
        info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    )
    for k in ("chunks_size", "data_files_size_in_mb", "video_files_size_in_mb", "splits"):
        assert k in info
    feats = info["features"]
    for k, dtype in DEFAULT_FEATURES.items():
        assert feats[k] == {"dtype": dtype, "shape": [1], "names": None}
    assert feats["observation.state"]["shape"] == [5] and feats["action"]["shape"] == [3]
    for extra in (
        "reward",
        "action_source",
        "policy_version",
        "is_intervention",
        "pre_intervention",
        "t_ns",
        "frame_age_ns.front",
        "has_frame.front",
    ):
        assert extra in feats
    cam = feats["observation.images.front"]
    assert cam["dtype"] == "video" and cam["shape"] == [96, 96, 3]
    assert cam["info"]["video.fps"] == 20 and cam["info"]["video.codec"] == "h264"
    on_disk = json.loads((ds / "meta/info.json").read_text())
    assert on_disk == info

    data = pq.read_table(ds / "data/chunk-000/file-000.parquet")
    assert set(data.column_names) == set(feats) - {"observation.images.front"}
    assert data.num_rows == 30
    assert data.column("index").to_pylist() == list(range(30))
    reward = np.asarray(data.column("reward").to_pylist())
    assert reward.sum() == 2 and reward[11] == 1 and reward[29] == 1  # success episodes' ends
    assert data.column("is_intervention").to_pylist()[4:7] == [True, True, False]
    np.testing.assert_array_equal(
        np.asarray(data.column("observation.state").to_pylist()[12:20], np.float32),
        store.read_episode("e1").states,
    )
    # step 0 precedes the first frame (shown, flagged); later steps hold the latest frame
    age = data.column("frame_age_ns.front").to_pylist()[:4]
    assert age == [-10_000_000, 40_000_000, 90_000_000, 40_000_000]
    assert data.column("has_frame.front").to_pylist()[:4] == [False, True, True, True]

    eps = pq.read_table(ds / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["length"] for e in eps] == [12, 8, 10]
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in eps] == [
        (0, 12),
        (12, 20),
        (20, 30),
    ]
    assert (
        eps[1]["tasks"] == ["push"]
        and eps[2]["videos/observation.images.front/from_timestamp"] == 1.0
    )
    for e in eps:
        for k in (
            "data/chunk_index",
            "data/file_index",
            "meta/episodes/chunk_index",
            "videos/observation.images.front/to_timestamp",
        ):
            assert k in e
    tasks = pq.read_table(ds / "meta/tasks.parquet")
    assert dict(
        zip(tasks.column("task").to_pylist(), tasks.column("task_index").to_pylist(), strict=True)
    ) == {
        "reach": 0,
        "push": 1,
    }
    stats = json.loads((ds / "meta/stats.json").read_text())
    assert stats["observation.state"]["count"] == [30]
    assert len(stats["observation.images.front"]["mean"]) == 3

    frames = decode_video(ds)
    assert len(frames) == 30
    # step k >= 1 of an episode shows frame (k - 1) // 2, step 0 frame 0
    for row, (ep, k) in enumerate([(e, k) for e, n in enumerate((12, 8, 10)) for k in range(n)]):
        expected = grey(ep, max(k - 1, 0) // 2)
        assert abs(float(frames[row].mean()) - expected) < 3, (row, expected)


def decode_video(ds) -> list[np.ndarray]:
    with av.open(str(ds / "videos/observation.images.front/chunk-000/file-000.mp4")) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


PER_FRAME = (
    "observation.state", "action", "timestamp", "frame_index", "episode_index", "index",
    "task_index", "next.done", "reward", "action_source", "policy_version", "is_intervention",
    "pre_intervention", "t_ns", "frame_age_ns.front", "has_frame.front",
)


def test_export_import_export_round_trip(exported, tmp_path):
    """record -> export -> import -> export: same columns, sources, interventions, frames."""
    store, ds, _ = exported
    restored = EpisodeStore(tmp_path / "a")
    ids = import_lerobot(restored, ds, progress=False)
    assert ids == ["e0", "e1", "e2"]
    assert import_lerobot(restored, ds, progress=False) == ids  # idempotent
    assert len(restored.list_episodes()) == 3
    for e in ids:
        a, b = store.get(e), restored.get(e)
        for k in ("robot", "task", "source", "outcome", "labelled_by", "human_steps",
                  "policy_versions", "policy_version", "clock_offset_ns", "status"):
            assert a[k] == b[k], k
        assert store.interventions(e) == restored.interventions(e) != []
        assert restored.interventions(e)[0]["operator"] == "ann"
        sa, sb = store.read_steps(e), restored.read_steps(e)
        for k in ("source", "policy_version", "t_ns", "state", "action"):
            np.testing.assert_array_equal(sa[k], sb[k])
        fa, fb = store.read_frames(e)["front"], restored.read_frames(e)["front"]
        np.testing.assert_array_equal(fa.t_ns, fb.t_ns)  # real rate: one per camera frame
        for ja, jb in zip(fa.jpegs, fb.jpegs, strict=True):
            assert np.abs(image(ja) - image(jb)).mean() < 3
    export_lerobot(restored, ids, tmp_path / "ds2", progress=False)
    one = pq.read_table(ds / "data/chunk-000/file-000.parquet")
    two = pq.read_table(tmp_path / "ds2/data/chunk-000/file-000.parquet")
    for k in PER_FRAME:
        assert one.column(k).to_pylist() == two.column(k).to_pylist(), k
    for x, y in zip(decode_video(ds), decode_video(tmp_path / "ds2"), strict=True):
        assert np.abs(x.astype(int) - y).mean() < 3


def image(jpeg_bytes: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg_bytes)).convert("RGB"), np.int16)


def test_foreign_dataset_imports_as_demonstrations(exported, tmp_path):
    """A dataset without our extras (anyone's LeRobot data) becomes demonstrations."""
    _, ds, _ = exported
    foreign = tmp_path / "foreign"
    shutil.copytree(ds, foreign)
    ours = [c for c in PER_FRAME[8:]]
    data = pq.read_table(foreign / "data/chunk-000/file-000.parquet").drop_columns(ours)
    pq.write_table(data, foreign / "data/chunk-000/file-000.parquet")
    eps = pq.read_table(foreign / "meta/episodes/chunk-000/file-000.parquet")
    eps = eps.drop_columns([c for c in eps.column_names if c.startswith("lwd/") or "stats/" in c])
    pq.write_table(eps, foreign / "meta/episodes/chunk-000/file-000.parquet")
    info = json.loads((foreign / "meta/info.json").read_text())
    info["features"] = {k: v for k, v in info["features"].items() if k not in ours}
    (foreign / "meta/info.json").write_text(json.dumps(info))
    store = EpisodeStore(tmp_path / "d")
    ids = import_lerobot(store, foreign, progress=False, default_outcome="failure")
    assert ids == [f"foreign-ep{k:06d}" for k in range(3)]
    ep = store.read_episode(ids[0])
    assert ep.task == "reach" and ep.outcome == "failure" and (ep.sources == SOURCE_DEMO).all()
    assert store.get(ids[0])["robot"] == "demo" and store.get(ids[0])["source"] == "demo"
    frames = store.read_frames(ids[2])["front"]
    assert len(frames.jpegs) == 10  # one per step: the video's own rate
    assert abs(float(image(frames.jpegs[5]).mean()) - grey(2, 2)) < 4


ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def lerobot_python() -> str:
    """The python of .venv-lerobot (made once by scripts/lerobot_env.sh, then reused)."""
    r = subprocess.run(["bash", str(ROOT / "scripts/lerobot_env.sh")], capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, f"scripts/lerobot_env.sh failed:\n{r.stdout[-2000:]}{r.stderr[-4000:]}"
    return str(ROOT / ".venv-lerobot/bin/python")


def test_lerobot_loader_reads_the_export(exported, lerobot_python, tmp_path):
    """LeRobot's own LeRobotDataset (0.4.4, its own environment) reads the export: counts,
    per-frame columns, and every video frame it decodes is the stored frame of its step."""
    store, ds, _ = exported
    out = tmp_path / "items.npz"
    r = subprocess.run([lerobot_python, str(ROOT / "tests/core/store/lerobot_loader.py"), str(ds),
                        str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    got = np.load(out)
    assert int(got["num_episodes"]) == 3 and got["state"].shape == (30, 5)
    rows = [(e, k) for e, n in enumerate((12, 8, 10)) for k in range(n)]
    states = np.concatenate([store.read_steps(f"e{e}")["state"] for e in range(3)])
    np.testing.assert_array_equal(got["state"], states)
    sources = np.concatenate([store.read_steps(f"e{e}")["source"] for e in range(3)])
    np.testing.assert_array_equal(got["action_source"], sources)
    assert got["task"].tolist() == ["reach"] * 12 + ["push"] * 8 + ["reach"] * 10
    images = got["observation.images.front"]
    assert images.shape == (30, 96, 96, 3)
    for row, (ep, k) in enumerate(rows):
        frames = store.read_frames(f"e{ep}")["front"]
        stored = image(frames.jpegs[max(k - 1, 0) // 2])  # the frame aligned to step k
        assert np.abs(images[row].astype(np.int16) - stored).mean() < 3, row
