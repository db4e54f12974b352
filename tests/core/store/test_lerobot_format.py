"""LeRobot v3.0 export checked against the documented layout; import and round trip."""

from __future__ import annotations

import io
import json

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


def fill(store: EpisodeStore) -> list[str]:
    ids = []
    for k, (task, n, outcome) in enumerate(
        [("reach", 12, "success"), ("push", 8, "failure"), ("reach", 10, "success")]
    ):
        ep = f"e{k}"
        store.begin_episode("r1", ep, task)
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
                "t_ns": np.arange(n, dtype=np.int64) * 50_000_000,
            },
        )  # 20 Hz
        # camera at 10 fps: one frame every other step
        t = np.arange(0, n, 2) * 50_000_000
        store.append_frames(
            "r1", ep, "front", list(range(len(t))), t.tolist(), [jpeg(40 * k + 20) for _ in t]
        )
        store.end_episode(ep, steps=n)
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

    with av.open(str(ds / "videos/observation.images.front/chunk-000/file-000.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 30
    assert abs(float(frames[12].mean()) - 60) < 4 and abs(float(frames[25].mean()) - 100) < 4


def test_import_export_import_round_trip(exported, tmp_path):
    _, ds, _ = exported
    first = EpisodeStore(tmp_path / "a")
    ids = import_lerobot(first, ds, progress=False)
    assert len(ids) == 3
    assert import_lerobot(first, ds, progress=False) == ids  # idempotent
    assert len(first.list_episodes()) == 3
    ep = first.read_episode(ids[0])
    assert ep.task == "reach" and ep.outcome == "success" and (ep.sources == SOURCE_DEMO).all()
    assert first.get(ids[1])["outcome"] == "failure"
    assert len(first.read_frames(ids[2])["front"].jpegs) == 10
    export_lerobot(first, ids, tmp_path / "ds2", progress=False)
    second = EpisodeStore(tmp_path / "b")
    ids2 = import_lerobot(second, tmp_path / "ds2", id_prefix="x-", progress=False)
    for a, b in zip(ids, ids2, strict=True):
        ea, eb = first.read_episode(a), second.read_episode(b)
        np.testing.assert_array_equal(ea.states, eb.states)
        np.testing.assert_array_equal(ea.actions, eb.actions)
        assert (ea.task, ea.outcome, len(ea)) == (eb.task, eb.outcome, len(eb))


def test_lerobot_loader_reads_the_export(exported):
    lerobot_dataset = pytest.importorskip("lerobot.datasets.lerobot_dataset")
    _, ds, _ = exported
    d = lerobot_dataset.LeRobotDataset("local/lwd", root=ds)
    assert len(d) == 30 and d.num_episodes == 3
    item = d[12]
    assert (
        item["observation.state"].shape[-1] == 5 and item["observation.images.front"].shape[0] == 3
    )
