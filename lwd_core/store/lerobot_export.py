"""Export stored episodes as a LeRobotDataset (codebase v3.0 layout), written by our own code.

Layout (one file of each kind; LeRobot's own loader reads it)::

    meta/info.json                       schema, fps, path templates, totals
    meta/stats.json                      per-feature min/max/mean/std/count
    meta/tasks.parquet                   task string (index) -> task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, offsets, video spans
    data/chunk-000/file-000.parquet      one row per step
    videos/observation.images.<cam>/chunk-000/file-000.mp4   all episodes back to back

Per-step columns: ``observation.state``, ``action``, ``timestamp``, ``frame_index``,
``episode_index``, ``index``, ``task_index``, ``next.done`` and our extras ``reward`` (sparse,
from the outcome), ``action_source`` (0 policy, 1 human, 2 demo), ``policy_version``,
``is_intervention``, ``pre_intervention`` (the last K policy steps before a takeover), ``t_ns``
(the robot's monotonic clock) and per camera ``frame_age_ns.<cam>`` and ``has_frame.<cam>``.

Videos have one frame per step, at the dataset's fps (the step rate): the step's aligned frame
(``lwd_core.data.frame_alignment``: the latest frame captured at or before the step, held
until the next one; "sample and hold", what LeRobot users expect from a video at the step
rate). ``has_frame.<cam>`` is False where that frame is older than the alignment tolerance or
later than the step (steps before the camera's first frame show the first frame); nothing is
invented. An episode with no frame at all of an exported camera is left out (``on_skip``).
Per-episode extras (``lwd/...`` in the episodes table) let ``lerobot_import`` restore the
episode as it was: robot, source, outcome and who labelled it, notes, interventions with their
operators, clock offset.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from lwd_core.data.frame_alignment import DEFAULT_TOLERANCE_NS, Alignment, align_frames
from lwd_core.progress import progress as progress_bar
from lwd_core.store.episode_store import EpisodeStore

log = logging.getLogger("lwd.store.export")

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
TASKS_PATH = "meta/tasks.parquet"
IMAGE_PREFIX = "observation.images."


def _scalar(dtype: str) -> dict:
    return {"dtype": dtype, "shape": [1], "names": None}


def export_lerobot(
    store: EpisodeStore,
    episode_ids: Sequence[str],
    out_dir: str | Path,
    *,
    fps: int | None = None,
    robot_type: str = "lwd",
    progress: bool = True,
    overwrite: bool = False,
    tolerance_ns: int = DEFAULT_TOLERANCE_NS,
    on_skip: Callable[[str, str], None] | None = None,
) -> dict:
    """Write ``episode_ids`` (in that order) as a v3.0 dataset; returns ``info.json``'s content.

    ``fps`` defaults to the median step rate of the first episode. Episodes must share state
    and action sizes (filter by task when they do not). Episodes left out (no steps, or no
    frame of a camera) are reported to ``on_skip(episode_id, reason)`` (default: a warning).
    """
    on_skip = on_skip or (lambda e, why: log.warning("export: %s left out: %s", e, why))
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty")
        shutil.rmtree(out)
    if not episode_ids:
        raise ValueError("nothing to export")
    rows, tasks, episodes_meta = [], {}, []
    cameras = sorted({c for e in episode_ids for c in store.cameras(e)})
    writers: dict[str, _VideoWriter] = {}
    index = 0
    bar = progress_bar(episode_ids, desc="export", unit="ep", enabled=progress)
    for ep_id in bar:
        info = store.get(ep_id)
        s = store.read_steps(ep_id)
        n = len(s["source"])
        if n == 0:
            on_skip(ep_id, "no steps")
            continue
        frames = store.read_frames(ep_id) if cameras else {}
        missing = [c for c in cameras if c not in frames or not frames[c].jpegs]
        if missing:
            on_skip(ep_id, f"no frame from camera {', '.join(missing)}")
            continue
        ep_index = len(episodes_meta)
        if fps is None:
            dt = np.diff(s["t_ns"]) / 1e9
            fps = int(round(1.0 / float(np.median(dt)))) if len(dt) and np.median(dt) > 0 else 20
        task_index = tasks.setdefault(info["task"], len(tasks))
        row = _step_columns(s, info, n, fps, ep_index, index, task_index)
        meta = _episode_meta(store, ep_id, info, s, ep_index, index, n)
        for cam in cameras:
            seq = frames[cam]
            al = align_frames(seq.t_ns, s["t_ns"], tolerance_ns)
            row[f"frame_age_ns.{cam}"] = al.age_ns
            row[f"has_frame.{cam}"] = al.has_frame
            images = _decode_aligned(seq.jpegs, al)
            w = writers.get(cam)
            if w is None:
                path = out / VIDEO_PATH.format(video_key=IMAGE_PREFIX + cam, chunk_index=0, file_index=0)
                w = writers[cam] = _VideoWriter(path, images[0].shape, fps)
            start = w.count / fps
            for image in images:
                w.write(image)
            key = f"videos/{IMAGE_PREFIX}{cam}"
            meta.update(
                {
                    f"{key}/chunk_index": 0,
                    f"{key}/file_index": 0,
                    f"{key}/from_timestamp": float(start),
                    f"{key}/to_timestamp": float(w.count / fps),
                }
            )
        meta["meta/episodes/chunk_index"] = 0
        meta["meta/episodes/file_index"] = 0
        rows.append(row)
        episodes_meta.append(meta)
        index += n
    if not rows:
        raise ValueError("the selected episodes hold no steps")
    _check_dims(rows)
    cols = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    for w in writers.values():
        w.close()
    table = _table(cols)
    (out / "data/chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / DATA_PATH.format(chunk_index=0, file_index=0))
    features = _features(cols, writers, fps)
    stats = _stats(cols, features, writers)
    _write_episodes(out, episodes_meta, rows, features)
    _write_tasks(out, tasks)
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": len(episodes_meta),
        "total_frames": index,
        "total_tasks": len(tasks),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 500,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes_meta)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if writers else None,
        "features": features,
    }
    (out / "meta/info.json").write_text(json.dumps(info, indent=2))
    (out / "meta/stats.json").write_text(json.dumps(stats, indent=2))
    return info


def _check_dims(rows: list[dict]) -> None:
    for key in ("observation.state", "action"):
        dims = {r[key].shape[1] for r in rows}
        if len(dims) > 1:
            raise ValueError(f"episodes have different {key} sizes {sorted(dims)}: filter by task")


def _step_columns(s: dict, info: dict, n: int, fps: int, ep_index: int, index: int,
                  task_index: int) -> dict[str, np.ndarray]:
    reward = np.zeros(n, np.float32)
    if info["outcome"] == "success":
        reward[-1] = 1.0
    done = np.zeros(n, bool)
    done[-1] = True
    return {
        "observation.state": s["state"],
        "action": s["action"],
        "timestamp": (np.arange(n) / fps).astype(np.float32),
        "frame_index": np.arange(n, dtype=np.int64),
        "episode_index": np.full(n, ep_index, np.int64),
        "index": np.arange(index, index + n, dtype=np.int64),
        "task_index": np.full(n, task_index, np.int64),
        "next.done": done,
        "reward": reward,
        "action_source": s["source"].astype(np.int64),
        "policy_version": s["policy_version"].astype(np.int64),
        "is_intervention": s["is_intervention"],
        "pre_intervention": s["pre_intervention"],
        "t_ns": s["t_ns"].astype(np.int64),
    }


def _episode_meta(store: EpisodeStore, ep_id: str, info: dict, s: dict, ep_index: int,
                  index: int, n: int) -> dict:
    """The LeRobot episode row plus what ``lerobot_import`` needs to restore the episode."""
    final = s.get("final_state")
    return {
        "episode_index": ep_index,
        "tasks": [info["task"]],
        "length": n,
        "data/chunk_index": 0,
        "data/file_index": 0,
        "dataset_from_index": index,
        "dataset_to_index": index + n,
        "lwd/episode_id": ep_id,
        "lwd/robot": info["robot"],
        "lwd/outcome": info["outcome"],
        "lwd/source": info["source"],
        "lwd/labelled_by": info.get("labelled_by") or "",
        "lwd/instruction": info.get("instruction") or "",
        "lwd/notes": info.get("notes") or "",
        "lwd/end_reason": info.get("end_reason") or "",
        "lwd/clock_offset_ns": int(info.get("clock_offset_ns") or 0),
        "lwd/interventions": json.dumps(store.interventions(ep_id)),
        "lwd/final_state": json.dumps([] if final is None else [float(x) for x in final]),
    }


def _decode_aligned(jpegs: list[bytes], al: Alignment) -> list[np.ndarray]:
    """The image shown at each step (decoded once per distinct frame)."""
    decoded: dict[int, np.ndarray] = {}
    out = []
    for i in al.index.tolist():
        if i not in decoded:
            decoded[i] = np.asarray(Image.open(io.BytesIO(jpegs[i])).convert("RGB"))
        out.append(decoded[i])
    return out


class _VideoWriter:
    """One H.264 (yuv420p) mp4 per camera; frames of every episode back to back."""

    def __init__(self, path: Path, shape: tuple[int, ...], fps: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.shape, self.count = path, shape, 0
        self.container = av.open(str(path), mode="w")
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = shape[1], shape[0]
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "18", "g": "2"}
        self.stats = np.zeros((3, 4))  # sum, sum of squares, min, max per channel
        self.stats[:, 2], self.stats[:, 3] = np.inf, -np.inf
        self.pixels = 0

    def write(self, image: np.ndarray) -> None:
        if image.shape != self.shape:
            raise ValueError(f"{self.path}: frame of shape {image.shape}, video is {self.shape}")
        if self.count % 10 == 0:  # image stats from every 10th frame: enough for normalising
            x = image.reshape(-1, 3).astype(np.float64) / 255.0
            self.stats[:, 0] += x.sum(0)
            self.stats[:, 1] += (x * x).sum(0)
            self.stats[:, 2] = np.minimum(self.stats[:, 2], x.min(0))
            self.stats[:, 3] = np.maximum(self.stats[:, 3], x.max(0))
            self.pixels += len(x)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def _table(cols: dict[str, np.ndarray]) -> pa.Table:
    arrays, names = [], []
    for k, v in cols.items():
        if v.ndim == 2:
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1]))
        else:
            arrays.append(pa.array(v))
        names.append(k)
    return pa.Table.from_arrays(arrays, names=names)


def _features(cols: dict[str, np.ndarray], writers: dict, fps: int) -> dict:
    feats = {}
    for k, v in cols.items():
        dtype = "bool" if v.dtype == bool else str(v.dtype)
        if v.ndim == 2:
            names = [
                f"{'state' if k.startswith('obs') else 'action'}_{i}" for i in range(v.shape[1])
            ]
            feats[k] = {"dtype": dtype, "shape": [v.shape[1]], "names": names}
        else:
            feats[k] = _scalar(dtype)
    for cam, w in writers.items():
        h, wd, c = w.shape
        feats[IMAGE_PREFIX + cam] = {
            "dtype": "video",
            "shape": [h, wd, c],
            "names": ["height", "width", "channels"],
            "info": {
                "video.height": h,
                "video.width": wd,
                "video.codec": "h264",
                "video.pix_fmt": "yuv420p",
                "video.is_depth_map": False,
                "video.fps": fps,
                "video.channels": c,
                "has_audio": False,
            },
        }
    return feats


def _numeric_stats(v: np.ndarray) -> dict:
    x = v.astype(np.float64).reshape(len(v), -1)
    return {
        "min": x.min(0).tolist(),
        "max": x.max(0).tolist(),
        "mean": x.mean(0).tolist(),
        "std": x.std(0).tolist(),
        "count": [len(v)],
    }


def _stats(cols: dict, features: dict, writers: dict) -> dict:
    stats = {k: _numeric_stats(v) for k, v in cols.items()}
    for cam, w in writers.items():
        n = max(w.pixels, 1)
        mean = w.stats[:, 0] / n
        std = np.sqrt(np.maximum(w.stats[:, 1] / n - mean**2, 0.0))
        as_chw = lambda a: [[[float(x)]] for x in a]  # noqa: E731 (c, 1, 1) like LeRobot
        stats[IMAGE_PREFIX + cam] = {
            "min": as_chw(w.stats[:, 2]),
            "max": as_chw(w.stats[:, 3]),
            "mean": as_chw(mean),
            "std": as_chw(std),
            "count": [w.count],
        }
    return stats


def _write_episodes(out: Path, metas: list[dict], rows: list[dict], features: dict) -> None:
    for m, r in zip(metas, rows, strict=True):
        for k, v in r.items():
            for stat, val in _numeric_stats(v).items():
                m[f"stats/{k}/{stat}"] = val
    table = pa.Table.from_pylist(metas)
    path = out / EPISODES_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _write_tasks(out: Path, tasks: dict[str, int]) -> None:
    """Task strings as the pandas index (what LeRobot's ``pd.read_parquet`` expects)."""
    names = list(tasks)
    table = pa.table(
        {
            "task_index": pa.array([tasks[t] for t in names], pa.int64()),
            "task": pa.array(names, pa.string()),
        }
    )
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    pq.write_table(table, out / TASKS_PATH)
