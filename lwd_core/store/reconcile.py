"""Bring the index and the chunk files back into agreement after a crash, and verify both.

On open (by the recording process only):
1. orphan ``*.tmp`` files (a crash mid-write) are removed: they were never acknowledged;
2. complete chunk files with no row (a crash between rename and commit) are adopted: they are
   durable and self-describing, so dropping them would lose data the robot may no longer hold;
   a file whose every step/frame is already indexed with the same bytes (a compaction's
   leftover) is deleted; one that overlaps indexed steps with other bytes (cannot happen unless
   edited by hand) is moved to ``recordings/quarantine/`` rather than deleted;
3. episodes still ``running`` are closed as ``aborted`` (reason ``interrupted``) with their
   summary recomputed; they stay readable, and a resend after restart still fills their gaps.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lwd_core.store.chunk_files import StoreError, file_digest, read_chunk, remove_temp_files
from lwd_core.store.compaction import is_redundant

if TYPE_CHECKING:
    from lwd_core.store.chunk_store import ChunkStore


@dataclasses.dataclass
class ReconcileReport:
    temp_removed: int = 0
    adopted: int = 0
    redundant_removed: int = 0
    quarantined: list[str] = dataclasses.field(default_factory=list)
    aborted: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class VerifyReport:
    chunks: int = 0
    bytes: int = 0
    integrity: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not self.problems


def reconcile(store: ChunkStore) -> ReconcileReport:
    rep = ReconcileReport()
    rep.temp_removed = len(remove_temp_files(store.root))
    known = {r[0] for r in store.db.execute("SELECT path FROM chunks").fetchall()}
    for path in sorted(store.root.rglob("*.npz")):
        rel = str(path.relative_to(store.root))
        if rel in known or rel.startswith("quarantine" + os.sep):
            continue
        _adopt(store, path, rel, rep)
    running = [
        r[0]
        for r in store.db.execute("SELECT id FROM episodes WHERE status = 'running'").fetchall()
    ]
    for ep in running:
        last = store.db.execute(
            "SELECT path FROM chunks WHERE episode = ? ORDER BY id DESC LIMIT 1", [ep]
        ).fetchone()
        ended = None
        if last is not None:
            try:
                ended = (store.root / last[0]).stat().st_mtime
            except OSError:
                pass
        store.end_episode(ep, reason="interrupted", status="aborted", ended_at=ended or time.time())
        rep.aborted.append(ep)
    return rep


def _adopt(store: ChunkStore, path: Path, rel: str, rep: ReconcileReport) -> None:
    try:
        meta, arrays = read_chunk(path)
        kind, ep, first, n = meta["kind"], meta["episode"], int(meta["first_step"]), int(meta["n"])
    except (StoreError, KeyError, ValueError):
        _quarantine(store, path, rel, rep)
        return
    store.begin_episode(meta.get("robot", "unknown"), ep, meta.get("task", "unknown"))
    if is_redundant(store, meta, arrays):  # a compaction's leftover: its content is indexed
        path.unlink()
        rep.redundant_removed += 1
        return
    if kind == "steps" and store.episode_ranges(ep).missing(first, first + n) != [
        (first, first + n)
    ]:
        _quarantine(store, path, rel, rep)  # overlaps indexed steps with other bytes: keep aside
        return
    from lwd_core.data.episode import SOURCE_HUMAN

    row = {
        "episode": ep,
        "kind": kind,
        "camera": meta.get("camera", ""),
        "first_step": first,
        "n": n,
        "has_final": int(bool(meta.get("has_final"))),
        "path": rel,
        "sha256": file_digest(path),
        "bytes": path.stat().st_size,
        "_human": int((arrays.get("source", []) == SOURCE_HUMAN).sum()) if kind == "steps" else 0,
    }
    store.commit_chunk_rows([row])
    rep.adopted += 1


def _quarantine(store: ChunkStore, path: Path, rel: str, rep: ReconcileReport) -> None:
    dest = store.root / "quarantine" / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), dest)
    rep.quarantined.append(rel)


def verify(store: ChunkStore) -> VerifyReport:
    rep = VerifyReport()
    rep.integrity = "; ".join(r[0] for r in store.db.execute("PRAGMA integrity_check").fetchall())
    if rep.integrity != "ok":
        rep.problems.append(f"index integrity_check: {rep.integrity}")
    for ep, path, digest, size in store.db.execute(
        "SELECT episode, path, sha256, bytes FROM chunks ORDER BY id"
    ).fetchall():
        rep.chunks += 1
        p = store.root / path
        try:
            actual = file_digest(p)
        except OSError as e:
            rep.problems.append(f"{ep}: chunk {path} unreadable: {e.strerror}")
            continue
        rep.bytes += p.stat().st_size
        if actual != digest:
            rep.problems.append(f"{ep}: chunk {path} digest mismatch (corrupted)")
        elif p.stat().st_size != size:
            rep.problems.append(f"{ep}: chunk {path} has {p.stat().st_size} bytes, index {size}")
    return rep
