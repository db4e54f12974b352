"""Read side of the episode store: rows, step arrays, frames, label history.

Mixed into ``EpisodeStore``; needs ``self.db`` (this thread's connection), ``self.root`` and
``self.pre_intervention_k``. Reads never take the write lock: SQLite's WAL gives each reader a
consistent snapshot while the recorder writes.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from lwd_core.data.episode import SOURCE_HUMAN, Episode
from lwd_core.store.chunk_files import StoreError, read_chunk, unpack_jpegs
from lwd_core.store.interventions import pre_intervention_mask

STEP_ARRAYS = ("state", "action", "source", "policy_version", "t_ns")
STEP_DTYPES = {
    "state": np.float32,
    "action": np.float32,
    "source": np.uint8,
    "policy_version": np.int32,
    "t_ns": np.int64,
}


@dataclasses.dataclass(frozen=True)
class FrameSeq:
    """JPEG frames of one camera of one episode, in capture order."""

    camera: str
    frame_seq: np.ndarray
    t_ns: np.ndarray
    jpegs: list[bytes]


def _retry_if_compacted(read, attempts: int = 3):
    """Run ``read`` again when a chunk vanished under it.

    The recorder may compact an episode between a reader's query of the chunk rows and its
    opening of the files; the rows it commits first point at the merged chunk, so reading again
    sees a consistent set.
    """
    for k in range(attempts):
        try:
            return read()
        except StoreError as e:
            if k == attempts - 1 or not isinstance(e.__cause__, FileNotFoundError):
                raise
    raise AssertionError("unreachable")


class EpisodeReader:
    """Queries over the index and chunk files (see ``EpisodeStore`` for the guarantees)."""

    def get(self, episode_id: str) -> dict:
        rows = list(self.db.query("SELECT * FROM episodes WHERE id = ?", [episode_id]))
        if not rows:
            raise KeyError(f"no episode {episode_id!r}")
        return _decode_row(rows[0])

    def list_episodes(
        self,
        *,
        task: str | None = None,
        robot: str | None = None,
        outcome: str | None = None,
        status: str | None = None,
        policy_version: int | None = None,
        since: float | None = None,
        source: str | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Episode rows, newest first, filtered; JSON columns decoded."""
        where, args = [], []
        for col, val in (
            ("task", task),
            ("robot", robot),
            ("outcome", outcome),
            ("status", status),
            ("source", source),
        ):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if policy_version is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(policy_versions) WHERE value = ?)")
            args.append(int(policy_version))
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        sql = "SELECT * FROM episodes" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY started_at DESC, id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_decode_row(r) for r in self.db.query(sql, args)]

    def read_steps(self, episode_id: str, *, prefix_only: bool = True) -> dict[str, np.ndarray]:
        """Per-step arrays in step order, plus ``step``, ``pre_intervention``, ``final_state``.

        ``prefix_only`` (default) stops at the first gap: the readable episode.
        """
        return _retry_if_compacted(lambda: self._read_steps_once(episode_id, prefix_only))

    def _read_steps_once(self, episode_id: str, prefix_only: bool) -> dict[str, np.ndarray]:
        chunks = self.db.execute(
            "SELECT first_step, n, path, has_final FROM chunks WHERE episode = ? AND"
            " kind = 'steps' ORDER BY first_step",
            [episode_id],
        ).fetchall()
        parts, final, expect = [], None, 0
        for first, n, path, has_final in chunks:
            if prefix_only and first != expect:
                break
            _, arrays = read_chunk(self.root / path)
            arrays["step"] = np.arange(first, first + n, dtype=np.int64)
            parts.append(arrays)
            final = arrays.get("final_state") if has_final else None
            expect = first + n
        out = {}
        for k in (*STEP_ARRAYS, "step"):
            dt = np.int64 if k == "step" else STEP_DTYPES[k]
            out[k] = np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dt)
        if not parts:  # keep the row width so callers can stack empty and full episodes
            dims = {"state": 0, "action": 0}
            if chunks:
                _, first_chunk = read_chunk(self.root / chunks[0][2])
                dims = {k: first_chunk[k].shape[1] for k in dims}
            out["state"] = out["state"].reshape(0, dims["state"])
            out["action"] = out["action"].reshape(0, dims["action"])
        out["pre_intervention"] = pre_intervention_mask(out["source"], self.pre_intervention_k)
        out["is_intervention"] = out["source"] == SOURCE_HUMAN
        out["final_state"] = final
        return out

    def read_episode(self, episode_id: str, *, frames: bool = False) -> Episode:
        """The readable episode (contiguous prefix) as ``Episode``; reward follows the outcome.

        ``frames``: also its step times and every camera's frames (``Episode.frames``)."""
        info = self.get(episode_id)
        s = self.read_steps(episode_id)
        cams = None
        if frames:
            cams = {c: (f.t_ns, f.jpegs) for c, f in self.read_frames(episode_id).items()}
        return Episode(
            episode_id=episode_id,
            task=info["task"],
            states=s["state"],
            actions=s["action"],
            sources=s["source"],
            policy_versions=s["policy_version"],
            outcome=info["outcome"],
            final_state=s["final_state"],
            robot_id=info["robot"],
            instruction=info["instruction"],
            t_ns=s["t_ns"] if frames else None,
            frames=cams,
        )

    def cameras(self, episode_id: str) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT camera FROM chunks WHERE episode = ? AND kind = 'frames'"
                " ORDER BY camera",
                [episode_id],
            ).fetchall()
        ]

    def read_frames(self, episode_id: str, camera: str | None = None) -> dict[str, FrameSeq]:
        """JPEG frames per camera (all cameras unless one is named), in capture order."""
        return _retry_if_compacted(lambda: self._read_frames_once(episode_id, camera))

    def _read_frames_once(self, episode_id: str, camera: str | None) -> dict[str, FrameSeq]:
        out = {}
        for cam in [camera] if camera else self.cameras(episode_id):
            seqs, ts, jpegs = [], [], []
            for (path,) in self.db.execute(
                "SELECT path FROM chunks WHERE episode = ? AND kind = 'frames' AND camera = ?"
                " ORDER BY first_step, id",
                [episode_id, cam],
            ).fetchall():
                _, a = read_chunk(self.root / path)
                seqs.append(a["frame_seq"])
                ts.append(a["t_ns"])
                jpegs += unpack_jpegs(a["jpeg"], a["offsets"])
            if seqs:
                t = np.concatenate(ts)
                order = np.argsort(t, kind="stable")
                out[cam] = FrameSeq(
                    cam, np.concatenate(seqs)[order], t[order], [jpegs[i] for i in order]
                )
        return out

    def label_history(self, episode_id: str) -> list[dict]:
        return list(
            self.db.query(
                "SELECT old, new, who, at, note FROM label_audit WHERE episode = ? ORDER BY id",
                [episode_id],
            )
        )

    def interventions(self, episode_id: str) -> list[dict]:
        return list(
            self.db.query(
                "SELECT start_step, end_step, operator FROM interventions WHERE episode = ?"
                " ORDER BY start_step",
                [episode_id],
            )
        )


def _decode_row(row: dict) -> dict:
    row = dict(row)
    for k in ("policy_versions", "tags", "gaps"):
        row[k] = json.loads(row[k]) if row.get(k) else []
    return row
