"""The chunk-file and transaction primitives under the episode store.

``ChunkStore`` owns what every writer of ``recordings/`` shares: the per-thread SQLite
connection's transactions, the append-only chunk files (temp file + rename, digest recorded),
the index rows that point at them (committed only after the chunk is durable) and each
episode's stored step ranges. ``EpisodeStore`` builds the episode lifecycle on it;
``compaction`` and ``reconcile`` use it without importing ``EpisodeStore`` (no import circle).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sqlite_utils

from lwd_core.data.episode import SOURCE_HUMAN
from lwd_core.store.chunk_files import pack_chunk, safe_name, write_atomic
from lwd_core.store.episode_reader import EpisodeReader
from lwd_core.store.ranges import Ranges


class ChunkStore(EpisodeReader):
    """Transactions, chunk files and step ranges; subclasses set ``root``, ``db`` and ``_ranges``."""

    root: Path
    _ranges: dict[str, Ranges]

    def transaction(self) -> Transaction:
        """``with store.transaction() as db:`` one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (nests as a no-op)."""
        return Transaction(self.db)

    def episode_ranges(self, episode_id: str) -> Ranges:
        rng = self._ranges.get(episode_id)
        if rng is None:
            rng = Ranges()
            for a, n in self.db.execute(
                "SELECT first_step, n FROM chunks WHERE episode = ? AND kind = 'steps'",
                [episode_id],
            ).fetchall():
                rng.add(a, a + n)
            self._ranges[episode_id] = rng
        return rng

    def write_chunk(self, robot_id, episode_id, task, kind, camera, first, n, arrays, has_final):
        meta = {
            "kind": kind,
            "robot": robot_id,
            "episode": episode_id,
            "task": task,
            "camera": camera,
            "first_step": first,
            "n": n,
            "has_final": bool(has_final),
        }
        name = (
            f"steps-{first:09d}-{n}.npz"
            if kind == "steps"
            else f"frames-{safe_name(camera)}-{first:09d}-{n}.npz"
        )
        rel = Path(safe_name(robot_id)) / safe_name(episode_id) / name
        suffix = 1
        while (self.root / rel).exists():  # never overwrite a chunk: append-only
            rel = rel.with_name(f"{name[:-4]}.{suffix}.npz")
            suffix += 1
        data = pack_chunk(meta, arrays)
        digest = write_atomic(self.root / rel, data)
        return {
            "episode": episode_id,
            "kind": kind,
            "camera": camera,
            "first_step": first,
            "n": n,
            "has_final": int(bool(has_final)),
            "path": str(rel),
            "sha256": digest,
            "bytes": len(data),
            "_human": int((arrays.get("source", np.zeros(0)) == SOURCE_HUMAN).sum()),
        }

    def commit_chunk_rows(self, rows: list[dict]) -> None:
        if not rows:
            return
        touched = {}
        with self.transaction() as db:
            for r in rows:
                db.execute(
                    "INSERT INTO chunks (episode, kind, camera, first_step, n, has_final, path,"
                    " sha256, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        r["episode"],
                        r["kind"],
                        r["camera"],
                        r["first_step"],
                        r["n"],
                        r["has_final"],
                        r["path"],
                        r["sha256"],
                        r["bytes"],
                    ],
                )
                if r["kind"] == "steps":
                    t = touched.setdefault(r["episode"], [0, 0, []])
                    t[0] += r["n"]
                    t[1] += r["_human"]
                    t[2].append((r["first_step"], r["first_step"] + r["n"]))
            for ep, (n, human, spans) in touched.items():
                rng = self.episode_ranges(ep).copy()
                for a, b in spans:
                    rng.add(a, b)
                db.execute(
                    "UPDATE episodes SET stored_steps = stored_steps + ?, human_steps ="
                    " human_steps + ?, steps = ?, gaps = ? WHERE id = ?",
                    [n, human, rng.prefix_end(), json.dumps(rng.gaps()), ep],
                )
        for ep, (_, _, spans) in touched.items():  # only after the commit succeeded
            for a, b in spans:
                self.episode_ranges(ep).add(a, b)
            status = self.db.execute("SELECT status FROM episodes WHERE id = ?", [ep]).fetchone()
            if status and status[0] != "running":
                self.refresh_closed_episode(ep)  # a late resend: refresh its summary

    # The episode lifecycle that reconcile needs; EpisodeStore implements it.
    def begin_episode(self, robot_id: str, episode_id: str, task: str, **kw) -> None:
        raise NotImplementedError

    def end_episode(self, episode_id: str, **kw) -> None:
        raise NotImplementedError

    def refresh_closed_episode(self, episode_id: str) -> None:
        """Called after late rows were committed into an episode that is no longer running."""


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error); nests as a no-op."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.outer = False

    def __enter__(self) -> sqlite_utils.Database:
        if not self.db.conn.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
