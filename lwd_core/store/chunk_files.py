"""Append-only chunk files under the recordings directory, each written atomically.

A chunk is one ``.npz`` (no pickle) holding consecutive steps of one episode, or consecutive
JPEG frames of one camera. Every chunk also carries a small JSON ``meta`` record (kind, robot,
episode, task, first index, count) so that a chunk whose SQLite row was never committed (a crash
between the rename and the commit) can be recognised and adopted on the next open.

Durability order, the rule the whole store rests on: bytes go to ``<name>.tmp``, the file is
fsynced, renamed to its final name, and the directory is fsynced. Only then may a row point at it.
A crash at any point leaves either no file, an orphan ``.tmp`` (removed on open) or a complete
file (adopted on open); never a half-written chunk under a final name.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np

TMP_SUFFIX = ".tmp"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class StoreError(RuntimeError):
    """The store could not make data durable (full disk, unwritable directory, bad file).

    Raised before anything that was already stored is touched; ``str(err)`` says what failed and
    where, for the operator's alert.
    """


def safe_name(text: str) -> str:
    """A file-system-safe form of a robot or episode id (ids come from the network)."""
    cleaned = _SAFE.sub("_", text)[:120]
    return cleaned or "_"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` durably and atomically; returns its sha256 hex digest.

    Raises ``StoreError`` (full disk, read-only or unwritable directory); on failure the temp
    file is removed and nothing at ``path`` changes.
    """
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        reason = "disk full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else e.strerror
        raise StoreError(f"cannot write chunk {path}: {reason} ({e.__class__.__name__})") from e
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pack_chunk(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise a chunk: arrays plus a JSON meta record, as an uncompressed npz."""
    buf = io.BytesIO()
    payload = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    payload["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buf, **payload)
    return buf.getvalue()


def read_chunk(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Load a chunk written by ``pack_chunk`` (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise StoreError(f"cannot read chunk {path}: {e}") from e
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    return meta, arrays


def pack_jpegs(jpegs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate JPEG payloads into one uint8 array plus int64 offsets [n + 1]."""
    offsets = np.zeros(len(jpegs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(j) for j in jpegs])
    data = np.frombuffer(b"".join(jpegs), dtype=np.uint8)
    return data, offsets


def unpack_jpegs(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    raw = data.tobytes()
    return [raw[int(a) : int(b)] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def remove_temp_files(root: Path) -> list[Path]:
    """Delete ``*.tmp`` left by a crash mid-write; returns what was removed."""
    removed = []
    if not root.exists():
        return removed
    for p in root.rglob("*" + TMP_SUFFIX):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed
