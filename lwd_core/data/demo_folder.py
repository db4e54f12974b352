"""The LWD demo folder: a plain, documented file format for offline demonstrations.

Layout::

    DIR/meta.json                   {"format": "lwd-demo-folder", "version": 1, "obs_dim": 39,
                                     "action_dim": 4, "tasks": [...], "episodes": N}
    DIR/episodes/<episode_id>.npz   arrays: states [T, obs_dim] float32, actions [T, action_dim]
                                    float32, sources [T] uint8, policy_versions [T] int32,
                                    final_state [obs_dim] float32
    DIR/episodes/<episode_id>.json  {"task": ..., "outcome": "success"|"failure"|"unlabeled",
                                     "instruction": ..., "robot_id": ...}

Written with ``np.savez`` (no pickle) and read with ``allow_pickle=False``; each episode file is
written to a temporary name and renamed, so a folder interrupted mid-write holds only whole
episodes. ``DemoFolder`` is an ``EpisodeSource``: ``new_episodes()`` returns each episode once.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from lwd_core.data.episode import Episode

FORMAT = "lwd-demo-folder"
VERSION = 1
_ARRAYS = ("states", "actions", "sources", "policy_versions", "final_state")


class DemoFolderError(ValueError):
    pass


def is_demo_folder(path: str | os.PathLike) -> bool:
    meta = pathlib.Path(path) / "meta.json"
    try:
        return json.loads(meta.read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


class DemoFolderWriter:
    def __init__(self, path: str | os.PathLike, obs_dim: int, action_dim: int):
        self.root = pathlib.Path(path)
        (self.root / "episodes").mkdir(parents=True, exist_ok=True)
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.tasks: list[str] = []
        self.count = 0

    def write(self, ep: Episode) -> None:
        if ep.states.shape[1:] != (self.obs_dim,) or ep.actions.shape[1:] != (self.action_dim,):
            raise DemoFolderError(f"episode {ep.episode_id}: shapes do not match the folder")
        base = self.root / "episodes" / ep.episode_id
        final = ep.final_state if ep.final_state is not None else ep.states[-1]
        tmp = base.parent / f"{base.name}.npz.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, states=ep.states.astype(np.float32), actions=ep.actions.astype(np.float32),
                     sources=ep.sources.astype(np.uint8), policy_versions=ep.policy_versions.astype(np.int32),
                     final_state=np.asarray(final, np.float32))
        os.replace(tmp, base.parent / f"{base.name}.npz")
        side = {"task": ep.task, "outcome": ep.outcome, "instruction": ep.instruction, "robot_id": ep.robot_id}
        (base.parent / f"{base.name}.json").write_text(json.dumps(side))
        if ep.task not in self.tasks:
            self.tasks.append(ep.task)
        self.count += 1
        self._write_meta()

    def _write_meta(self) -> None:
        meta = {"format": FORMAT, "version": VERSION, "obs_dim": self.obs_dim,
                "action_dim": self.action_dim, "tasks": self.tasks, "episodes": self.count}
        tmp = self.root / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, self.root / "meta.json")


class DemoFolder:
    """Reader; raises ``DemoFolderError`` with the file name for anything malformed."""

    def __init__(self, path: str | os.PathLike):
        self.root = pathlib.Path(path)
        try:
            self.meta = json.loads((self.root / "meta.json").read_text())
        except (OSError, ValueError) as e:
            raise DemoFolderError(f"{self.root}: not a demo folder ({e})") from None
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise DemoFolderError(f"{self.root}: format {self.meta.get('format')!r} "
                                  f"v{self.meta.get('version')} is not {FORMAT} v{VERSION}")
        self.obs_dim, self.action_dim = int(self.meta["obs_dim"]), int(self.meta["action_dim"])
        self.tasks: list[str] = list(self.meta["tasks"])
        self._seen: set[str] = set()

    def episode_ids(self) -> list[str]:
        return sorted(p.name.removesuffix(".npz") for p in (self.root / "episodes").glob("*.npz"))

    def read(self, episode_id: str) -> Episode:
        base = self.root / "episodes" / episode_id
        try:
            with np.load(base.parent / f"{base.name}.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in _ARRAYS}
            side = json.loads((base.parent / f"{base.name}.json").read_text())
            ep = Episode(episode_id, side["task"], arrays["states"], arrays["actions"], arrays["sources"],
                         arrays["policy_versions"], outcome=side["outcome"], final_state=arrays["final_state"],
                         robot_id=side.get("robot_id", ""), instruction=side.get("instruction", ""))
        except (OSError, ValueError, KeyError) as e:
            raise DemoFolderError(f"{base}: unreadable episode ({e.__class__.__name__}: {e})") from None
        if ep.states.shape[1:] != (self.obs_dim,) or ep.actions.shape[1:] != (self.action_dim,):
            raise DemoFolderError(f"{base}: shapes {ep.states.shape}/{ep.actions.shape} do not match "
                                  f"the folder's obs_dim {self.obs_dim}, action_dim {self.action_dim}")
        return ep

    def __iter__(self):
        return (self.read(i) for i in self.episode_ids())

    def new_episodes(self) -> list[Episode]:
        new = [i for i in self.episode_ids() if i not in self._seen]
        self._seen.update(new)
        return [self.read(i) for i in new]
