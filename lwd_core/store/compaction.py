"""Merge a closed episode's many small chunks into one chunk per kind (and camera).

While recording, every write cycle makes a small chunk per robot (a few steps, a few frames):
fine for durability, bad for a file system after a day (hundreds of thousands of files) and for
reads. When an episode closes its chunks are merged:

1. the merged chunk is written atomically (durable, final name);
2. one transaction swaps the rows (old rows out, the merged row in);
3. only then are the old files deleted.

A crash after (1) leaves the merged file as an orphan whose content is already indexed; after
(2) it leaves the old files as such orphans. Reconcile recognises both (every step or frame
already indexed, with identical bytes) and deletes them; anything else is adopted or kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lwd_core.store.chunk_files import StoreError, fsync_dir, pack_jpegs, read_chunk, unpack_jpegs

if TYPE_CHECKING:
    from lwd_core.store.chunk_store import ChunkStore


def compact_episode(store: ChunkStore, episode_id: str) -> int:
    """Merge the episode's chunks; returns how many files were removed. Idempotent."""
    row = store.db.execute("SELECT robot, task FROM episodes WHERE id = ?", [episode_id]).fetchone()
    if row is None:
        return 0
    removed = _compact_steps(store, episode_id, *row)
    for cam in store.cameras(episode_id):
        removed += _compact_frames(store, episode_id, cam, *row)
    return removed


def _compact_steps(store: ChunkStore, episode_id: str, robot: str, task: str) -> int:
    rows = store.db.execute(
        "SELECT id, first_step, n, path, has_final FROM chunks WHERE episode = ? AND"
        " kind = 'steps' ORDER BY first_step",
        [episode_id],
    ).fetchall()
    if len(rows) < 2:
        return 0
    expect = rows[0][1]
    for _, first, n, _, _ in rows:  # only a gap-free run is merged: gaps may still be filled
        if first != expect:
            return 0
        expect = first + n
    parts = [read_chunk(store.root / r[3])[1] for r in rows]
    keys = ("state", "action", "source", "policy_version", "t_ns")
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    has_final = bool(rows[-1][4])
    if has_final:
        arrays["final_state"] = parts[-1]["final_state"]
    first = rows[0][1]
    new = store.write_chunk(
        robot, episode_id, task, "steps", "", first, expect - first, arrays, has_final
    )
    return _swap(store, [r[0] for r in rows], [r[3] for r in rows], new)


def _compact_frames(store: ChunkStore, episode_id: str, cam: str, robot: str, task: str) -> int:
    rows = store.db.execute(
        "SELECT id, path FROM chunks WHERE episode = ? AND kind = 'frames' AND camera = ?"
        " ORDER BY first_step, id",
        [episode_id, cam],
    ).fetchall()
    if len(rows) < 2:
        return 0
    seqs, ts, jpegs = [], [], []
    for _, path in rows:
        a = read_chunk(store.root / path)[1]
        seqs.append(a["frame_seq"])
        ts.append(a["t_ns"])
        jpegs += unpack_jpegs(a["jpeg"], a["offsets"])
    data, offsets = pack_jpegs(jpegs)
    arrays = {
        "jpeg": data,
        "offsets": offsets,
        "frame_seq": np.concatenate(seqs),
        "t_ns": np.concatenate(ts),
    }
    new = store.write_chunk(
        robot,
        episode_id,
        task,
        "frames",
        cam,
        int(arrays["frame_seq"][0]),
        len(jpegs),
        arrays,
        False,
    )
    return _swap(store, [r[0] for r in rows], [r[1] for r in rows], new)


def _swap(store: ChunkStore, old_ids: list[int], old_paths: list[str], new: dict) -> int:
    try:
        with store.transaction() as db:
            db.execute(f"DELETE FROM chunks WHERE id IN ({','.join('?' * len(old_ids))})", old_ids)
            db.execute(
                "INSERT INTO chunks (episode, kind, camera, first_step, n, has_final, path,"
                " sha256, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    new["episode"],
                    new["kind"],
                    new["camera"],
                    new["first_step"],
                    new["n"],
                    new["has_final"],
                    new["path"],
                    new["sha256"],
                    new["bytes"],
                ],
            )
    except Exception as e:
        (store.root / new["path"]).unlink(missing_ok=True)  # old rows still stand
        raise StoreError(f"cannot commit compaction: {e}") from e
    dirs = set()
    for p in old_paths:
        try:
            (store.root / p).unlink()
            dirs.add((store.root / p).parent)
        except OSError:
            pass  # left for reconcile, which removes indexed-elsewhere duplicates
    for d in dirs:
        fsync_dir(d)
    return len(old_paths)


def is_redundant(store: ChunkStore, meta: dict, arrays: dict) -> bool:
    """True when every step/frame of this unindexed chunk is already indexed, byte for byte."""
    ep = meta["episode"]
    if meta["kind"] == "steps":
        first, n = int(meta["first_step"]), int(meta["n"])
        if not store.episode_ranges(ep).covers(first, first + n):
            return False
        s = store.read_steps(ep, prefix_only=False)
        sel = (s["step"] >= first) & (s["step"] < first + n)
        return all(
            np.array_equal(s[k][sel], arrays[k])
            for k in ("state", "action", "source", "policy_version", "t_ns")
        )
    seq = store.read_frames(ep, meta.get("camera", "")).get(meta.get("camera", ""))
    if seq is None:
        return False
    have = dict(zip(seq.frame_seq.tolist(), seq.jpegs, strict=True))
    mine = unpack_jpegs(arrays["jpeg"], arrays["offsets"])
    return all(have.get(s) == j for s, j in zip(arrays["frame_seq"].tolist(), mine, strict=True))
