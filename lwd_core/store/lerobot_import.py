"""Import a LeRobotDataset (v3.0 layout) into the store as offline demonstrations.

Every step becomes ``SOURCE_DEMO`` (imported data is never mistaken for our own policy's or an
operator's steps). The outcome comes, in order of preference, from our own export's
``lwd/outcome`` column, from a ``reward``/``next.reward`` column (success when the last reward
is positive), or from ``default_outcome`` (demonstrations are presumed successful).
Videos are decoded and stored back as JPEG frames, one per step, when ``frames=True``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from lwd_core.data.episode import SOURCE_DEMO, Episode
from lwd_core.store.episode_store import EpisodeStore
from lwd_core.store.lerobot_export import IMAGE_PREFIX

STATE_KEYS = ("observation.state", "state")
ACTION_KEYS = ("action", "actions")


def _read_parquets(paths: list[Path]) -> dict[str, list]:
    cols: dict[str, list] = {}
    for p in paths:
        t = pq.read_table(p)
        for name in t.column_names:
            cols.setdefault(name, []).extend(t.column(name).to_pylist())
    return cols


def _tasks(root: Path) -> dict[int, str]:
    path = root / "meta/tasks.parquet"
    if not path.exists():
        return {}
    t = pq.read_table(path)
    names = t.column_names
    key = "task" if "task" in names else next(n for n in names if n != "task_index")
    return dict(zip(t.column("task_index").to_pylist(), t.column(key).to_pylist(), strict=True))


def read_lerobot(
    root: str | Path, *, frames: bool = True, default_outcome: str = "success"
) -> list[tuple[Episode, dict, dict]]:
    """Parse a v3.0 dataset: ``(Episode, t_ns, {camera: jpegs})`` per episode, in index order."""
    root = Path(root)
    info = json.loads((root / "meta/info.json").read_text())
    if not str(info.get("codebase_version", "")).startswith("v3"):
        raise ValueError(f"{root}: codebase_version {info.get('codebase_version')} is not v3.x")
    feats = info["features"]
    skey = next((k for k in STATE_KEYS if k in feats), None)
    akey = next((k for k in ACTION_KEYS if k in feats), None)
    if skey is None or akey is None:
        raise ValueError(f"{root}: needs observation.state and action features")
    data = _read_parquets(sorted((root / "data").rglob("*.parquet")))
    metas = _read_parquets(sorted((root / "meta/episodes").rglob("*.parquet")))
    tasks = _tasks(root)
    fps = float(info["fps"])
    ep_col = np.asarray(data["episode_index"])
    order = np.lexsort((np.asarray(data["frame_index"]), ep_col))
    videos = (
        {
            k[len(IMAGE_PREFIX) :]: k
            for k, f in feats.items()
            if f.get("dtype") == "video" and k.startswith(IMAGE_PREFIX)
        }
        if frames
        else {}
    )
    decoded = {cam: _decode_video(root, info, key) for cam, key in videos.items()}
    reward_key = next((k for k in ("reward", "next.reward") if k in data), None)
    out = []
    for i, ep_index in enumerate(metas["episode_index"]):
        rows = order[ep_col[order] == ep_index]
        states = np.asarray([data[skey][r] for r in rows], np.float32)
        actions = np.asarray([data[akey][r] for r in rows], np.float32)
        n = len(rows)
        outcome = default_outcome
        if "lwd/outcome" in metas and metas["lwd/outcome"][i]:
            outcome = metas["lwd/outcome"][i]
        elif reward_key and n:
            last = data[reward_key][rows[-1]]
            outcome = "success" if float(np.ravel(last)[0]) > 0 else "failure"
        task_index = int(np.ravel(data["task_index"][rows[0]])[0]) if n else 0
        task = tasks.get(task_index, (metas.get("tasks") or [[""]])[i][0] or "unknown")
        ep = Episode(
            episode_id=f"ep{int(ep_index):06d}",
            task=task,
            states=states.reshape(n, -1),
            actions=actions.reshape(n, -1),
            sources=np.full(n, SOURCE_DEMO, np.uint8),
            policy_versions=np.zeros(n, np.int32),
            outcome=outcome,
            instruction=task,
        )
        t_ns = (np.arange(n) * (1e9 / fps)).astype(np.int64)
        cams = {}
        for cam, key in videos.items():
            a = metas[f"videos/{key}/from_timestamp"][i]
            pick = [j for t, j in decoded[cam][0] if a - 0.5 / fps <= t][:n]
            cams[cam] = [decoded[cam][1][j] for j in pick]
        out.append((ep, t_ns, cams))
    return out


def _decode_video(root: Path, info: dict, key: str) -> tuple[list[tuple[float, int]], list[bytes]]:
    """All frames of a camera's video file(s) as (time, index) and JPEG bytes."""
    times, jpegs = [], []
    for path in sorted((root / "videos" / key).rglob("*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else len(times)
                buf = io.BytesIO()
                Image.fromarray(frame.to_ndarray(format="rgb24")).save(buf, "JPEG", quality=90)
                times.append((t, len(jpegs)))
                jpegs.append(buf.getvalue())
    return times, jpegs


def import_lerobot(
    store: EpisodeStore,
    root: str | Path,
    *,
    id_prefix: str | None = None,
    frames: bool = True,
    default_outcome: str = "success",
    progress: bool = True,
    on_episode: Callable[[str], None] | None = None,
) -> list[str]:
    """Store every episode of the dataset as a demonstration; returns the new episode ids.

    Ids are ``<id_prefix><index>`` (prefix defaults to the dataset folder name), so importing
    the same dataset twice is idempotent rather than duplicating it.
    """
    root = Path(root)
    prefix = f"{root.name}-" if id_prefix is None else id_prefix
    ids = []
    existing = {r["id"] for r in store.list_episodes(source="demo")}
    for ep, t_ns, cams in tqdm(
        read_lerobot(root, frames=frames, default_outcome=default_outcome),
        desc="import",
        unit="ep",
        disable=not progress,
    ):
        ep.episode_id = prefix + ep.episode_id
        ep.robot_id = "demo"
        if ep.episode_id not in existing:
            store.add_episode(ep, source="demo", t_ns=t_ns)
            for cam, jpegs in cams.items():
                if jpegs:
                    store.append_frames(
                        "demo",
                        ep.episode_id,
                        cam,
                        list(range(len(jpegs))),
                        t_ns[: len(jpegs)].tolist(),
                        jpegs,
                    )
        ids.append(ep.episode_id)
        if on_episode:
            on_episode(ep.episode_id)
    return ids
