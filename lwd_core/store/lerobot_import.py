"""Import a LeRobotDataset (v3.0 layout) into the store.

Our own export (``lerobot_export``: episodes carry ``lwd/...`` columns) is restored as it was:
episode id, robot, source, per-step ``action_source``, ``policy_version`` and ``t_ns``,
outcome and who labelled it, notes, interventions with their operators, and camera frames at
their real rate (each distinct frame once, at its capture time ``t_ns - frame_age_ns``;
frames the camera sent between two steps were never in the video and stay lost).

Any other dataset is stored as offline demonstrations: every step ``SOURCE_DEMO`` (never
mistaken for our policy's or an operator's steps); outcome from a ``reward``/``next.reward``
column (success when the last reward is positive) or ``default_outcome``; videos decoded and
stored back as JPEG frames, one per step (the video's own rate), when ``frames=True``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from lwd_core.data.episode import SOURCE_DEMO, Episode
from lwd_core.progress import progress as progress_bar
from lwd_core.store.episode_store import EpisodeStore
from lwd_core.store.lerobot_export import IMAGE_PREFIX, VIDEO_PATH

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


@dataclasses.dataclass
class ImportedEpisode:
    episode: Episode
    t_ns: np.ndarray
    frames: dict[str, tuple[list[int], list[bytes]]]
    """camera -> (capture times, JPEGs)"""
    source: str = "demo"
    """Episode source ("demo" for foreign datasets; what our export says for our own)."""
    labelled_by: str = "import"
    clock_offset_ns: int = 0
    end_reason: str | None = None
    operators: dict[int, str] = dataclasses.field(default_factory=dict)
    notes: str = ""
    ours: bool = False
    """The dataset is our own export (restored, not turned into demonstrations)."""


def read_lerobot(
    root: str | Path, *, frames: bool = True, default_outcome: str = "success"
) -> list[ImportedEpisode]:
    """Parse a v3.0 dataset, one ``ImportedEpisode`` per episode, in index order."""
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
    ours = "lwd/episode_id" in metas and "t_ns" in data and "action_source" in data
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
    reward_key = next((k for k in ("reward", "next.reward") if k in data), None)
    eps = []
    for i, ep_index in enumerate(metas["episode_index"]):
        rows = order[ep_col[order] == ep_index]
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
            states=np.asarray([data[skey][r] for r in rows], np.float32).reshape(n, -1),
            actions=np.asarray([data[akey][r] for r in rows], np.float32).reshape(n, -1),
            sources=np.full(n, SOURCE_DEMO, np.uint8),
            policy_versions=np.zeros(n, np.int32),
            outcome=outcome,
            instruction=task,
        )
        item = ImportedEpisode(ep, (np.arange(n) * (1e9 / fps)).astype(np.int64), {})
        if ours:
            _restore(item, data, metas, i, rows)
        eps.append((item, rows))
    template = info.get("video_path") or VIDEO_PATH
    for cam, key in videos.items():
        # video file -> {frame index in that file: (episode, capture time)}
        wanted: dict[Path, dict[int, tuple[int, int]]] = {}
        for i, (item, rows) in enumerate(eps):
            item.frames[cam] = ([], [])
            path = root / template.format(
                video_key=key,
                chunk_index=int(metas.get(f"videos/{key}/chunk_index", [0] * len(eps))[i] or 0),
                file_index=int(metas.get(f"videos/{key}/file_index", [0] * len(eps))[i] or 0),
            )
            start = round(float(metas[f"videos/{key}/from_timestamp"][i]) * fps)
            if ours:  # each distinct frame once, from the first step that shows it
                age = np.asarray([data[f"frame_age_ns.{cam}"][r] for r in rows], np.int64)
                capture = item.t_ns - age
                _, first = np.unique(capture, return_index=True)
                picks = [(k, int(capture[k])) for k in sorted(first.tolist())]
            else:
                picks = [(k, int(item.t_ns[k])) for k in range(len(rows))]
            for k, t in picks:
                wanted.setdefault(path, {})[start + k] = (i, t)
        for path, want in wanted.items():
            for idx, jpeg in _decode_frames(path, fps, set(want)):
                i, t = want[idx]
                eps[i][0].frames[cam][0].append(t)
                eps[i][0].frames[cam][1].append(jpeg)
    return [item for item, _ in eps]


def _restore(item: ImportedEpisode, data: dict, metas: dict, i: int, rows: np.ndarray) -> None:
    """Our own export: put back what made the episode ours."""
    ep = item.episode
    meta = lambda k, default=None: metas[k][i] if k in metas else default  # noqa: E731
    ep.episode_id = meta("lwd/episode_id")
    ep.robot_id = meta("lwd/robot") or ""
    ep.instruction = meta("lwd/instruction") or ep.task
    ep.sources = np.asarray([data["action_source"][r] for r in rows], np.uint8)
    ep.policy_versions = np.asarray([data["policy_version"][r] for r in rows], np.int32)
    final = json.loads(meta("lwd/final_state") or "[]")
    ep.final_state = np.asarray(final, np.float32) if final else None
    item.t_ns = np.asarray([data["t_ns"][r] for r in rows], np.int64)
    item.source = meta("lwd/source") or "robot"
    item.labelled_by = meta("lwd/labelled_by") or "import"
    item.clock_offset_ns = int(meta("lwd/clock_offset_ns", 0) or 0)
    item.end_reason = meta("lwd/end_reason")
    item.notes = meta("lwd/notes") or ""
    item.operators = {
        int(v["start_step"]): v["operator"] for v in json.loads(meta("lwd/interventions") or "[]")
    }
    item.ours = True


def _decode_frames(path: Path, fps: float, wanted: set[int]):
    """(frame index, JPEG) for the wanted frames of one video file, in order; a frame's index
    is its presentation time times ``fps``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for count, frame in enumerate(container.decode(stream)):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else count / fps
            idx = int(round(t * fps))
            if idx in wanted:
                buf = io.BytesIO()
                Image.fromarray(frame.to_ndarray(format="rgb24")).save(buf, "JPEG", quality=90)
                yield idx, buf.getvalue()


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
    """Store every episode of the dataset; returns the episode ids.

    Our own export keeps its episode ids (``id_prefix`` prepended when given); a foreign
    dataset's ids are ``<id_prefix><index>`` (prefix defaults to the folder name). An id
    already in the store is skipped, so importing the same dataset twice adds nothing.
    """
    root = Path(root)
    ids = []
    for item in progress_bar(read_lerobot(root, frames=frames, default_outcome=default_outcome),
                             desc="import", unit="ep", enabled=progress):
        ep = item.episode
        prefix = id_prefix if id_prefix is not None else ("" if item.ours else f"{root.name}-")
        ep.episode_id = prefix + ep.episode_id
        if not item.ours:
            ep.robot_id = "demo"
        try:
            store.get(ep.episode_id)
            known = True
        except KeyError:
            known = False
        if not known:
            store.add_episode(
                ep,
                source=item.source,
                t_ns=item.t_ns,
                labelled_by=item.labelled_by,
                clock_offset_ns=item.clock_offset_ns,
                end_reason=item.end_reason,
                operators=item.operators,
                notes=item.notes,
            )
            for cam, (ts, jpegs) in item.frames.items():
                if jpegs:
                    store.append_frames(
                        ep.robot_id, ep.episode_id, cam, list(range(len(jpegs))), ts, jpegs
                    )
        ids.append(ep.episode_id)
        if on_episode:
            on_episode(ep.episode_id)
    return ids
