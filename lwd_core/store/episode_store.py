"""The episode store: a SQLite index over append-only chunk files.

Guarantees:
- Durability: a chunk file is durable (fsync + rename + dir fsync) before the row that points to
  it is committed, and a commit is fsynced (WAL, synchronous=FULL) before ``append_steps``
  returns. What it reports as ``durable_until`` survives kill -9 and power loss.
- Idempotency on (episode, step): a resent batch overlapping stored steps stores only the steps
  not yet stored; a gap is accepted and reported, and filled when the missing steps arrive.
- Readability: an episode reads back as the contiguous prefix of its steps from step 0.
- One recording process per directory: the instance that holds ``.writer.lock`` writes chunks
  and reconciles on open; other instances (CLI, consoles) read, label and annotate.
- Thread-safety: writes serialise on one lock; each thread reads through its own connection.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sqlite_utils

from lwd_core.data.episode import SOURCE_HUMAN, SOURCE_POLICY, Episode
from lwd_core.store import reconcile as _reconcile
from lwd_core.store.chunk_files import (
    StoreError,
    pack_jpegs,
)
from lwd_core.store.chunk_store import ChunkStore
from lwd_core.store.compaction import compact_episode
from lwd_core.store.episode_reader import STEP_ARRAYS, STEP_DTYPES
from lwd_core.store.interventions import (
    DEFAULT_PRE_INTERVENTION_K,
    human_seconds,
    human_segments,
)
from lwd_core.store.ranges import Ranges
from lwd_core.store.schema import migrate, open_database

log = logging.getLogger(__name__)

OUTCOMES = ("success", "failure", "unlabeled")


@dataclasses.dataclass(frozen=True)
class AppendResult:
    """What one ``append_steps`` made durable."""

    episode_id: str
    durable_until: int
    """Every step below this index is durable (the StepAck value)."""
    written: int
    """Steps newly stored by this call."""
    duplicates: int
    """Steps of the batch that were already stored (a resend)."""
    gap: tuple[int, int] | None
    """Missing steps ``[a, b)`` before this batch, when it skipped ahead."""


class EpisodeStore(ChunkStore):
    """Index + chunk files under ``root`` (default ``recordings/``); see the module docstring."""

    def __init__(
        self,
        root: str | os.PathLike = "recordings",
        *,
        pre_intervention_k: int = DEFAULT_PRE_INTERVENTION_K,
        writer: bool = True,
    ):
        self.root = Path(root)
        self.pre_intervention_k = pre_intervention_k
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create recordings directory {self.root}: {e}") from e
        self.db_path = self.root / "index.sqlite"
        self._local = threading.local()
        self._wlock = threading.RLock()
        self._ranges: dict[str, Ranges] = {}
        self._lock_fd: int | None = None
        self.is_writer = writer and self._take_writer_lock()
        try:
            migrate(self.db)
        except Exception as e:
            raise StoreError(f"cannot open episode index {self.db_path}: {e}") from e
        self.reconcile_report = _reconcile.ReconcileReport()
        if self.is_writer:
            self.reconcile_report = _reconcile.reconcile(self)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (sqlite connections are not shared across threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_database(str(self.db_path))
            self._local.db = db
        return db

    def _take_writer_lock(self) -> bool:
        fd = os.open(self.root / ".writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require_writer(self) -> None:
        if not self.is_writer:
            raise StoreError(f"another process is recording into {self.root}; open read-only")

    # --- episodes: start, steps, frames, end ------------------------------------------------

    def begin_episode(
        self,
        robot_id: str,
        episode_id: str,
        task: str,
        *,
        instruction: str = "",
        started_at: float | None = None,
        source: str = "robot",
        clock_offset_ns: int = 0,
    ) -> None:
        """Create the episode row (idempotent: a repeated start changes nothing).

        ``clock_offset_ns``: the robot's wall clock minus its monotonic clock, which stamps
        steps and frames; wall time of a step = ``t_ns + clock_offset_ns`` (display only)."""
        now = time.time()
        with self._wlock, self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO robots (id, first_seen, last_seen) VALUES (?, ?, ?)",
                [robot_id, now, now],
            )
            db.execute("UPDATE robots SET last_seen = ? WHERE id = ?", [now, robot_id])
            db.execute(
                "INSERT OR IGNORE INTO tasks (name, instruction) VALUES (?, ?)", [task, instruction]
            )
            db.execute(
                "INSERT OR IGNORE INTO episodes"
                " (id, robot, task, instruction, source, started_at, clock_offset_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [episode_id, robot_id, task, instruction, source, started_at or now,
                 int(clock_offset_ns)],
            )

    def append_steps(
        self,
        robot_id: str,
        episode_id: str,
        first_step: int,
        arrays: dict[str, np.ndarray],
        *,
        final_state: np.ndarray | None = None,
        task: str = "",
    ) -> AppendResult:
        """Store steps ``[first_step, first_step + n)``; returns once they are durable."""
        return self.append_steps_many(
            [(robot_id, episode_id, first_step, arrays, final_state, task)]
        )[0]

    def append_steps_many(self, items: Sequence[tuple]) -> list[AppendResult]:
        """Several ``(robot, episode, first_step, arrays, final_state, task)`` in one commit.

        Raises ``StoreError`` when a chunk cannot be written; chunks already written in this call
        are still committed first and their results are on ``err.partial``.
        """
        self._require_writer()
        with self._wlock:
            rows, results, error = [], [], None
            for robot_id, episode_id, first, arrays, final_state, task in items:
                try:
                    res, new_rows = self._write_step_chunks(
                        robot_id, episode_id, int(first), arrays, final_state, task
                    )
                except StoreError as e:
                    error = e
                    break
                rows.extend(new_rows)
                results.append(res)
            try:
                self.commit_chunk_rows(rows)
            except Exception as e:
                for row in rows:
                    (self.root / row["path"]).unlink(missing_ok=True)
                raise StoreError(f"cannot commit to episode index: {e}") from e
            results = [self._result_after_commit(r) for r in results]
            if error is not None:
                error.partial = results
                raise error
            return results

    def _write_step_chunks(self, robot_id, episode_id, first, arrays, final_state, task):
        arrs = {k: np.asarray(arrays[k], dtype=STEP_DTYPES[k]) for k in STEP_ARRAYS}
        n = len(arrs["state"])
        for k in STEP_ARRAYS:
            if len(arrs[k]) != n:
                raise StoreError(f"episode {episode_id}: {k} has {len(arrs[k])} rows, state {n}")
        row = self.db.execute("SELECT task FROM episodes WHERE id = ?", [episode_id]).fetchone()
        if row is None:  # the start event was lost (e.g. hub restart): create the row now
            self.begin_episode(robot_id, episode_id, task or "unknown")
            task = task or "unknown"
        else:
            task = row[0]
        rng = self.episode_ranges(episode_id)
        before = rng.prefix_end()
        missing = rng.missing(first, first + n)
        new_rows = []
        for a, b in missing:
            part = {k: v[a - first : b - first] for k, v in arrs.items()}
            has_final = final_state is not None and b == first + n
            if has_final:
                part["final_state"] = np.asarray(final_state, np.float32)
            new_rows.append(
                self.write_chunk(
                    robot_id, episode_id, task, "steps", "", a, b - a, part, has_final
                )
            )
        written = sum(b - a for a, b in missing)
        gap = (before, first) if first > before and not rng.covers(before, first) else None
        return AppendResult(episode_id, before, written, n - written, gap), new_rows

    def _result_after_commit(self, res: AppendResult) -> AppendResult:
        return dataclasses.replace(
            res, durable_until=self.episode_ranges(res.episode_id).prefix_end()
        )

    def durable_until(self, episode_id: str) -> int:
        with self._wlock:
            return self.episode_ranges(episode_id).prefix_end()

    def append_frames(
        self,
        robot_id: str,
        episode_id: str,
        camera: str,
        frame_seq: Sequence[int],
        t_ns: Sequence[int],
        jpegs: Sequence[bytes],
    ) -> None:
        """Store JPEG frames of one camera as one chunk (durable on return)."""
        self._require_writer()
        if not jpegs:
            return
        with self._wlock:
            row = self.db.execute("SELECT task FROM episodes WHERE id = ?", [episode_id]).fetchone()
            if row is None:
                self.begin_episode(robot_id, episode_id, "unknown")
            data, offsets = pack_jpegs(list(jpegs))
            arrays = {
                "jpeg": data,
                "offsets": offsets,
                "frame_seq": np.asarray(frame_seq, np.int64),
                "t_ns": np.asarray(t_ns, np.int64),
            }
            chunk = self.write_chunk(
                robot_id,
                episode_id,
                row[0] if row else "unknown",
                "frames",
                camera,
                int(frame_seq[0]),
                len(jpegs),
                arrays,
                False,
            )
            try:
                self.commit_chunk_rows([chunk])
            except Exception as e:
                (self.root / chunk["path"]).unlink(missing_ok=True)
                raise StoreError(f"cannot commit to episode index: {e}") from e

    def end_episode(
        self,
        episode_id: str,
        *,
        reason: str = "",
        steps: int | None = None,
        operator: str = "",
        ended_at: float | None = None,
        status: str = "ended",
        compact: bool = True,
    ) -> dict:
        """Close an episode: summary counts, policy versions, intervention rows; then merge
        its small chunks into one per kind (``compaction``; a failure there loses nothing and
        is only logged)."""
        with self._wlock:
            with self.transaction() as db:
                db.execute(
                    "UPDATE episodes SET status = ?, end_reason = ?, ended_at = ?,"
                    " expected_steps = COALESCE(?, expected_steps) WHERE id = ?",
                    [status, reason, ended_at or time.time(), steps, episode_id],
                )
            self._finalize(episode_id, operator=operator)
            if compact and self.is_writer:
                self.compact(episode_id)
        return self.get(episode_id)

    def compact(self, episode_id: str) -> int:
        """Merge a closed episode's chunks (see ``compaction``); returns files removed.

        A failure loses nothing (the small chunks stay indexed) and is only logged.
        """
        with self._wlock:
            try:
                return compact_episode(self, episode_id)
            except StoreError as e:
                log.warning("episode %s left uncompacted: %s", episode_id, e)
                return 0

    def refresh_closed_episode(self, episode_id: str) -> None:
        self._finalize(episode_id)

    def _finalize(self, episode_id: str, operator: str | None = None) -> None:
        """Recompute an episode's summary from its stored steps (idempotent)."""
        steps = self.read_steps(episode_id, prefix_only=False)
        src, pv = steps["source"], steps["policy_version"]
        policy_pv = pv[src == SOURCE_POLICY]
        versions = sorted({int(v) for v in policy_pv})
        dominant = int(np.bincount(policy_pv.clip(0)).argmax()) if len(policy_pv) else 0
        segs = human_segments(src)
        with self.transaction() as db:
            old_ops = {}
            for a, op in db.execute(
                "SELECT start_step, operator FROM interventions WHERE episode = ?", [episode_id]
            ).fetchall():
                old_ops[a] = op
            db.execute("DELETE FROM interventions WHERE episode = ?", [episode_id])
            for a, b in segs:
                step0 = int(steps["step"][a])
                db.execute(
                    "INSERT INTO interventions (episode, start_step, end_step, operator)"
                    " VALUES (?, ?, ?, ?)",
                    [
                        episode_id,
                        step0,
                        int(steps["step"][b - 1]) + 1,
                        operator if operator else old_ops.get(step0, ""),
                    ],
                )
            for v in versions:
                db.execute(
                    "INSERT OR IGNORE INTO policy_versions (version, first_seen) VALUES (?, ?)",
                    [v, time.time()],
                )
            db.execute(
                "UPDATE episodes SET human_steps = ?, human_seconds = ?, policy_version = ?,"
                " policy_versions = ? WHERE id = ?",
                [
                    int((src == SOURCE_HUMAN).sum()),
                    human_seconds(src, steps["t_ns"]),
                    dominant,
                    json.dumps(versions),
                    episode_id,
                ],
            )
            self._mark_ready(db, episode_id)

    @staticmethod
    def _mark_ready(db, episode_id: str) -> None:
        """Give an ended, labelled episode its place in the learner's feed (once)."""
        db.execute(
            "UPDATE episodes SET ready_seq = (SELECT COALESCE(MAX(ready_seq), 0) + 1 FROM"
            " episodes) WHERE id = ? AND ready_seq IS NULL AND status = 'ended'"
            " AND outcome != 'unlabeled'",
            [episode_id],
        )

    # --- labels, notes, tags ----------------------------------------------------------------

    def label(self, episode_id: str, outcome: str, by: str, note: str = "") -> None:
        """Set the outcome; every call is audited (old, new, who, when, note)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if not by:
            raise ValueError("a label needs the name of who gives it")
        with self._wlock, self.transaction() as db:
            row = db.execute("SELECT outcome FROM episodes WHERE id = ?", [episode_id]).fetchone()
            if row is None:
                raise KeyError(f"no episode {episode_id!r}")
            now = time.time()
            db.execute(
                "UPDATE episodes SET outcome = ?, labelled_by = ?, labelled_at = ? WHERE id = ?",
                [outcome, by, now, episode_id],
            )
            db.execute(
                "INSERT INTO label_audit (episode, old, new, who, at, note) VALUES (?,?,?,?,?,?)",
                [episode_id, row[0], outcome, by, now, note],
            )
            self._mark_ready(db, episode_id)

    def set_notes(self, episode_id: str, notes: str) -> None:
        with self._wlock, self.transaction() as db:
            db.execute("UPDATE episodes SET notes = ? WHERE id = ?", [notes, episode_id])

    def tag(
        self, episode_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> list[str]:
        with self._wlock, self.transaction() as db:
            row = db.execute("SELECT tags FROM episodes WHERE id = ?", [episode_id]).fetchone()
            if row is None:
                raise KeyError(f"no episode {episode_id!r}")
            tags = [t for t in json.loads(row[0]) if t not in set(remove)]
            tags += [t for t in add if t not in tags]
            db.execute("UPDATE episodes SET tags = ? WHERE id = ?", [json.dumps(tags), episode_id])
        return tags

    # --- whole episodes (import) ------------------------------------------------------------

    def add_episode(
        self,
        ep: Episode,
        *,
        source: str = "demo",
        t_ns: np.ndarray | None = None,
        labelled_by: str = "import",
        clock_offset_ns: int = 0,
        end_reason: str | None = None,
        operators: dict[int, str] | None = None,
        notes: str = "",
    ) -> str:
        """Store a complete episode at once (imports, offline demonstrations).

        ``operators``: who drove each intervention, by its first step (restored imports)."""
        robot = ep.robot_id or source
        self.begin_episode(robot, ep.episode_id, ep.task, instruction=ep.instruction,
                           source=source, clock_offset_ns=clock_offset_ns)
        n = len(ep)
        arrays = {
            "state": ep.states,
            "action": ep.actions,
            "source": ep.sources,
            "policy_version": ep.policy_versions,
            "t_ns": t_ns if t_ns is not None else np.arange(n, dtype=np.int64) * 50_000_000,
        }
        if n:
            self.append_steps(robot, ep.episode_id, 0, arrays, final_state=ep.final_state)
        self.end_episode(ep.episode_id, reason=source if end_reason is None else end_reason, steps=n)
        if operators:
            with self._wlock, self.transaction() as db:
                for step, op in operators.items():
                    db.execute(
                        "UPDATE interventions SET operator = ? WHERE episode = ? AND start_step = ?",
                        [op, ep.episode_id, int(step)],
                    )
        if notes:
            self.set_notes(ep.episode_id, notes)
        if ep.outcome != "unlabeled":
            self.label(ep.episode_id, ep.outcome, labelled_by)
        return ep.episode_id

    def verify(self) -> _reconcile.VerifyReport:
        """Check every chunk's digest and the index's PRAGMA integrity_check."""
        return _reconcile.verify(self)
