"""The hub's policy store: every snapshot version, its lineage, status, pins and audit trail.

Layout under ``root`` (``<recordings>/policies``): ``policies.sqlite`` (tables ``snapshots``,
``pins``, ``audit``) and one snapshot folder per version, ``v<N>/meta.json`` +
``v<N>/model.safetensors``, the layout ``lwd_core.learning.snapshot`` writes (so ``lwd robot
--policy <root>/v<N>`` runs it directly). Its own SQLite file keeps the episode index's schema
untouched; live metrics are read from that index (``episodes.policy_version`` is the version
that produced most of an episode's policy steps).

Guarantees:
- A version is assigned only after the weights' sha256 matched both the uploader's digest and
  meta.json's, and its folder is written atomically (temp folder + rename) before its row is
  committed: a row always points to a complete folder.
- The hub never loads weights (no torch here); robots verify digest, shapes and config again
  before running anything (``lwd_operator.robot.hot_swap``).
- Single writer: the hub loop thread. Every status change is audited (who, when, action, why).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import time

from lwd_core.protocol.messages import PolicyAuditView, PolicyVersionView
from lwd_core.store.schema import open_database

SNAPSHOT_FORMAT = "lwd-policy-snapshot"
"""``lwd_core.learning.snapshot.FORMAT``, spelled here so the hub does not import torch."""
MAX_SNAPSHOT_BYTES = 512 << 20
"""Largest snapshot the hub accepts (and a robot downloads)."""
STATUSES = ("candidate", "canary", "active", "retired", "rolled_back")
_META_KEYS = ("agent", "config", "tasks", "obs_dim", "action_dim", "horizon", "sha256")


class PolicyStoreError(ValueError):
    """A snapshot or request the store refuses; the text says why."""


def _schema(db) -> None:
    db.execute("""CREATE TABLE IF NOT EXISTS snapshots (
        version INTEGER PRIMARY KEY, parent INTEGER NOT NULL, learner_step INTEGER NOT NULL,
        sha256 TEXT NOT NULL, created REAL NOT NULL, author TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('candidate', 'canary', 'active', 'retired', 'rolled_back')),
        note TEXT NOT NULL DEFAULT '', bytes INTEGER NOT NULL, meta_bytes INTEGER NOT NULL)""")
    db.execute("""CREATE TABLE IF NOT EXISTS pins (
        robot TEXT PRIMARY KEY, version INTEGER NOT NULL, who TEXT NOT NULL, at REAL NOT NULL)""")
    db.execute("""CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
        version INTEGER NOT NULL, robots TEXT NOT NULL DEFAULT '[]', why TEXT NOT NULL DEFAULT '')""")


class PolicyStore:
    def __init__(self, root: str | os.PathLike, episodes=None):
        """``episodes``: the hub's ``EpisodeStore`` (for live metrics), or None."""
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = open_database(str(self.root / "policies.sqlite"))
        _schema(self.db)
        self.episodes = episodes

    def close(self) -> None:
        self.db.conn.close()

    # --- versions ------------------------------------------------------------------------------

    def add(self, meta_bytes: bytes, weights: bytes, *, sha256: str, author: str, parent: int,
            learner_step: int, note: str = "") -> int:
        """Verify and store a snapshot; returns its new version (status ``candidate``)."""
        digest = hashlib.sha256(weights).hexdigest()
        try:
            meta = json.loads(meta_bytes)
        except ValueError as e:
            raise PolicyStoreError(f"meta.json is not JSON: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != SNAPSHOT_FORMAT:
            raise PolicyStoreError("not a policy snapshot (meta.json format)")
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise PolicyStoreError(f"meta.json lacks {', '.join(missing)}")
        if digest != sha256 or digest != meta["sha256"]:
            raise PolicyStoreError(f"weights digest {digest[:12]}… does not match the upload's "
                                   f"{sha256[:12]}… / meta.json's {str(meta['sha256'])[:12]}…")
        version = int(self.db.execute("SELECT COALESCE(MAX(version), 0) FROM snapshots").fetchone()[0]) + 1
        meta.update(version=version, parent=parent, learner_step=learner_step)
        meta_out = json.dumps(meta, indent=1).encode()
        tmp = self.root / f".v{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / "model.safetensors").write_bytes(weights)
        (tmp / "meta.json").write_bytes(meta_out)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        shutil.rmtree(self.folder(version), ignore_errors=True)
        os.replace(tmp, self.folder(version))
        self.db.execute(
            "INSERT INTO snapshots (version, parent, learner_step, sha256, created, author, status, note,"
            " bytes, meta_bytes) VALUES (?, ?, ?, ?, ?, ?, 'candidate', ?, ?, ?)",
            [version, parent, learner_step, digest, time.time(), author, note,
             len(meta_out) + len(weights), len(meta_out)])
        return version

    def folder(self, version: int) -> pathlib.Path:
        return self.root / f"v{int(version)}"

    def row(self, version: int) -> dict | None:
        cur = self.db.execute("SELECT * FROM snapshots WHERE version = ?", [version])
        r = cur.fetchone()
        return None if r is None else dict(zip([c[0] for c in cur.description], r, strict=True))

    def require(self, version: int) -> dict:
        r = self.row(version)
        if r is None:
            raise PolicyStoreError(f"no policy version {version}")
        return r

    def with_status(self, status: str) -> list[int]:
        return [int(v) for (v,) in self.db.execute(
            "SELECT version FROM snapshots WHERE status = ? ORDER BY version", [status]).fetchall()]

    def active(self) -> int:
        act = self.with_status("active")
        return act[-1] if act else 0

    def set_status(self, version: int, status: str) -> None:
        assert status in STATUSES
        self.db.execute("UPDATE snapshots SET status = ? WHERE version = ?", [status, version])

    def previous_active(self, version: int) -> int:
        """The version that was active before ``version`` (its newest retired predecessor)."""
        row = self.db.execute(
            "SELECT version FROM audit WHERE action IN ('promote', 'deploy') AND robots = '[]'"
            " AND version != ? AND version IN (SELECT version FROM snapshots WHERE status = 'retired')"
            " ORDER BY id DESC LIMIT 1", [version]).fetchone()
        return int(row[0]) if row else 0

    # --- payload (what robots download) --------------------------------------------------------

    def payload_info(self, version: int) -> tuple[str, int, int]:
        """(sha256 recorded at publish, payload bytes, meta bytes). The payload is meta.json then
        model.safetensors; sizes come from the files as they are now (a corrupted or tampered
        file is served as it is: robots check the digest recorded here)."""
        r = self.require(version)
        d = self.folder(version)
        meta = (d / "meta.json").stat().st_size
        return r["sha256"], meta + (d / "model.safetensors").stat().st_size, meta

    def read_payload(self, version: int, offset: int, length: int) -> bytes:
        d = self.folder(version)
        meta = (d / "meta.json").read_bytes()
        out = meta[offset:offset + length]
        rest = length - len(out)
        if rest > 0:
            with open(d / "model.safetensors", "rb") as f:
                f.seek(max(0, offset - len(meta)))
                out += f.read(rest)
        return out

    # --- pins and audit ------------------------------------------------------------------------

    def pins(self) -> dict[str, int]:
        return {r: int(v) for r, v in self.db.execute("SELECT robot, version FROM pins").fetchall()}

    def pin(self, robot: str, version: int, who: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO pins (robot, version, who, at) VALUES (?, ?, ?, ?)",
                        [robot, version, who, time.time()])

    def unpin(self, robot: str) -> bool:
        return self.db.execute("DELETE FROM pins WHERE robot = ?", [robot]).rowcount > 0

    def audit(self, who: str, action: str, version: int, robots=(), why: str = "") -> None:
        self.db.execute("INSERT INTO audit (at, who, action, version, robots, why) VALUES (?, ?, ?, ?, ?, ?)",
                        [time.time(), who, action, version, json.dumps(sorted(robots)), why])

    def audit_rows(self, version: int = 0, limit: int = 50) -> list[PolicyAuditView]:
        q = "SELECT at, who, action, version, robots, why FROM audit"
        args: list = []
        if version:
            q += " WHERE version = ?"
            args.append(version)
        rows = self.db.execute(q + " ORDER BY id DESC LIMIT ?", [*args, max(1, min(limit, 1000))]).fetchall()
        return [PolicyAuditView(at=a, who=w, action=ac, version=v, robots=json.loads(r), why=y)
                for a, w, ac, v, r, y in rows]

    # --- live metrics --------------------------------------------------------------------------

    def episode_rows(self, version: int, tasks=None) -> list[tuple[str, str, int, int]]:
        """(task, outcome, steps, human steps) of closed robot episodes of ``version``."""
        if self.episodes is None:
            return []
        q = ("SELECT task, outcome, stored_steps, human_steps FROM episodes WHERE source = 'robot'"
             " AND status != 'running' AND policy_version = ?")
        args: list = [version]
        if tasks is not None:
            tasks = sorted(tasks)
            if not tasks:
                return []
            q += f" AND task IN ({', '.join('?' * len(tasks))})"
            args += tasks
        return [(t, o, int(s or 0), int(h or 0)) for t, o, s, h in self.episodes.db.execute(q, args).fetchall()]

    def views(self, version: int = 0, running: dict[int, list[str]] | None = None) -> list[PolicyVersionView]:
        q = "SELECT * FROM snapshots" + (" WHERE version = ?" if version else "") + " ORDER BY version"
        cur = self.db.execute(q, [version] if version else [])
        cols = [c[0] for c in cur.description]
        out = []
        for raw in cur.fetchall():
            r = dict(zip(cols, raw, strict=True))
            rows = self.episode_rows(r["version"])
            labelled = [o for _, o, _, _ in rows if o != "unlabeled"]
            steps = sum(s for *_, s, _ in rows)
            human = sum(h for *_, h in rows)
            succ = sum(o == "success" for o in labelled)
            out.append(PolicyVersionView(
                version=r["version"], parent=r["parent"], learner_step=r["learner_step"],
                sha256=r["sha256"], created=r["created"], author=r["author"], status=r["status"],
                note=r["note"], bytes=r["bytes"], episodes=len(rows), labelled=len(labelled),
                successes=succ, success_rate=succ / len(labelled) if labelled else -1.0,
                intervention_rate=human / steps if steps else -1.0,
                robots=sorted((running or {}).get(r["version"], []))))
        return out
