"""The learner's log of received episodes: what came from the hub, and the cursor after it.

Each batch received from the hub is written as one file, ``received/batch-<cursor>.npz``, to a
temporary name and then renamed: the rename is the commit. The file holds the episodes' arrays
and, as JSON in a uint8 array (``np.load(allow_pickle=False)`` reads it; nothing is pickled),
their ids, tasks and outcomes and the cursor to ask from next. So after any crash, SIGKILL
included, the newest file's cursor and the episodes of all files agree exactly: a restarted
learner asks the hub only for episodes it has never received, and counts each once.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from lwd_core.data.episode import Episode

_ARRAYS = ("states", "actions", "sources", "policy_versions", "final_states")


class EpisodeLog:
    """Append-only; ``cursor`` and ``count`` describe everything committed so far."""

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for tmp in self.root.glob("*.tmp"):
            tmp.unlink()  # a write interrupted before its rename never happened
        self.cursor = 0
        """The hub cursor after the newest committed batch."""
        self.count = 0
        """Episodes committed (each once)."""
        self.steps = 0
        self.ids: set[str] = set()

    def files(self) -> list[pathlib.Path]:
        return sorted(self.root.glob("batch-*.npz"))

    def load(self) -> list[Episode]:
        """Every committed episode, in the order received; sets ``cursor`` and ``count``."""
        out: list[Episode] = []
        for path in self.files():
            with np.load(path, allow_pickle=False) as z:
                head = json.loads(z["header"].tobytes().decode())
                arrays = {k: z[k] for k in _ARRAYS}
            at = 0
            for i, info in enumerate(head["episodes"]):
                sl = slice(at, at + info["steps"])
                at += info["steps"]
                if info["episode_id"] in self.ids:
                    continue  # defensive: never count an episode twice
                self.ids.add(info["episode_id"])
                out.append(Episode(info["episode_id"], info["task"], arrays["states"][sl], arrays["actions"][sl],
                                   arrays["sources"][sl], arrays["policy_versions"][sl], outcome=info["outcome"],
                                   final_state=arrays["final_states"][i], robot_id=info.get("robot_id", "")))
                self.steps += info["steps"]
            self.cursor = max(self.cursor, int(head["next_cursor"]))
        self.count = len(self.ids)
        return out

    def append(self, episodes: list[Episode], next_cursor: int) -> list[Episode]:
        """Commit a received batch; returns the episodes not seen before (normally all)."""
        fresh = [e for e in episodes if e.episode_id not in self.ids]
        if fresh:
            head = {"next_cursor": next_cursor, "episodes": [
                {"episode_id": e.episode_id, "task": e.task, "outcome": e.outcome, "steps": len(e),
                 "robot_id": e.robot_id} for e in fresh]}
            finals = [e.final_state if e.final_state is not None else e.states[-1] for e in fresh]
            arrays = {
                "states": np.concatenate([e.states for e in fresh]).astype(np.float32),
                "actions": np.concatenate([e.actions for e in fresh]).astype(np.float32),
                "sources": np.concatenate([e.sources for e in fresh]).astype(np.uint8),
                "policy_versions": np.concatenate([e.policy_versions for e in fresh]).astype(np.int32),
                "final_states": np.stack([np.asarray(f, np.float32) for f in finals]),
                "header": np.frombuffer(json.dumps(head).encode(), np.uint8),
            }
            final = self.root / f"batch-{next_cursor:012d}.npz"
            tmp = self.root / f"batch-{next_cursor:012d}.npz.tmp"
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            self.ids.update(e.episode_id for e in fresh)
            self.count = len(self.ids)
            self.steps += sum(len(e) for e in fresh)
        self.cursor = max(self.cursor, next_cursor)
        return fresh
