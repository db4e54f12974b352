"""SQLite schema of the episode index and its migrations.

The index is small (one row per episode, chunk, intervention, label change); bulk data lives in
chunk files. ``schema_version`` holds one row; ``migrate`` applies every step above it in one
transaction each, so an index written by an older build opens in a newer one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

SCHEMA_VERSION = 2


def _v1(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS robots (
            id TEXT PRIMARY KEY, driver TEXT DEFAULT '', first_seen REAL, last_seen REAL)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS tasks (
            name TEXT PRIMARY KEY, instruction TEXT DEFAULT '')"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS episodes (
            id TEXT PRIMARY KEY,
            robot TEXT NOT NULL,
            task TEXT NOT NULL,
            instruction TEXT DEFAULT '',
            source TEXT NOT NULL DEFAULT 'robot',
            started_at REAL,
            ended_at REAL,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'ended', 'aborted')),
            end_reason TEXT DEFAULT '',
            outcome TEXT NOT NULL DEFAULT 'unlabeled'
                CHECK (outcome IN ('success', 'failure', 'unlabeled')),
            labelled_by TEXT DEFAULT '',
            labelled_at REAL,
            steps INTEGER NOT NULL DEFAULT 0,
            stored_steps INTEGER NOT NULL DEFAULT 0,
            human_steps INTEGER NOT NULL DEFAULT 0,
            human_seconds REAL NOT NULL DEFAULT 0,
            policy_version INTEGER NOT NULL DEFAULT 0,
            policy_versions TEXT NOT NULL DEFAULT '[]',
            expected_steps INTEGER,
            gaps TEXT NOT NULL DEFAULT '[]',
            notes TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            ready_seq INTEGER)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS interventions (
            id INTEGER PRIMARY KEY,
            episode TEXT NOT NULL REFERENCES episodes(id),
            start_step INTEGER NOT NULL,
            end_step INTEGER NOT NULL,
            operator TEXT DEFAULT '')"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS policy_versions (
            version INTEGER PRIMARY KEY, first_seen REAL, note TEXT DEFAULT '')"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS label_audit (
            id INTEGER PRIMARY KEY,
            episode TEXT NOT NULL REFERENCES episodes(id),
            old TEXT NOT NULL, new TEXT NOT NULL, who TEXT NOT NULL,
            at REAL NOT NULL, note TEXT DEFAULT '')"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS chunks (
            id INTEGER PRIMARY KEY,
            episode TEXT NOT NULL REFERENCES episodes(id),
            kind TEXT NOT NULL CHECK (kind IN ('steps', 'frames')),
            camera TEXT NOT NULL DEFAULT '',
            first_step INTEGER NOT NULL,
            n INTEGER NOT NULL,
            has_final INTEGER NOT NULL DEFAULT 0,
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL,
            bytes INTEGER NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS chunks_episode ON chunks(episode, kind, first_step)")
    db.execute("CREATE INDEX IF NOT EXISTS episodes_ready ON episodes(ready_seq)")
    db.execute("CREATE INDEX IF NOT EXISTS episodes_status ON episodes(status)")
    db.execute("CREATE INDEX IF NOT EXISTS interventions_episode ON interventions(episode)")
    db.execute("CREATE INDEX IF NOT EXISTS audit_episode ON label_audit(episode)")


def _v2(db: sqlite_utils.Database) -> None:
    """Episodes record their robot's clock offset: step and frame times are the robot's
    monotonic clock (one clock for ordering and alignment); wall time = t_ns + offset."""
    db.execute("ALTER TABLE episodes ADD COLUMN clock_offset_ns INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {1: _v1, 2: _v2}
"""version -> step that brings the schema from ``version - 1`` to ``version``."""


def open_database(path: str) -> sqlite_utils.Database:
    """Connection in WAL mode with full fsync on commit: an ack must survive power loss."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def current_version(db: sqlite_utils.Database) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the schema to ``SCHEMA_VERSION``; refuses an index written by a newer build."""
    version = current_version(db)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"episode index has schema {version}, this build knows up to {SCHEMA_VERSION}"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[target](db)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", [target])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
