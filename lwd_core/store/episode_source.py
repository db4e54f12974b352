"""The live episode store as a source of episodes for the learner (``EpisodeSource`` protocol).

``new_episodes()`` returns each ended, labelled episode exactly once, in the order it became
ready (ended and labelled, whichever came last). The cursor is the store's ``ready_seq``, so a
call reads only episodes not returned before, never rescanning older ones. A relabel after the
episode was returned does not return it again (documented limit: the learner keeps the label it
saw first).
"""

from __future__ import annotations

from lwd_core.data.episode import Episode
from lwd_core.store.episode_store import EpisodeStore


class StoreEpisodeSource:
    """Incremental reader of ready episodes; see the module docstring. Not thread-safe."""

    def __init__(
        self,
        store: EpisodeStore,
        *,
        include_demo: bool = False,
        tasks: list[str] | None = None,
        cursor: int = 0,
        max_per_call: int = 1000,
        frames: bool = False,
    ):
        self.store = store
        self.include_demo = include_demo
        self.tasks = set(tasks) if tasks else None
        self.cursor = cursor
        """``ready_seq`` of the last episode returned; persist it to resume without repeats."""
        self.max_per_call = max_per_call
        self.frames = frames
        """Read each episode's camera frames too (for camera-conditioned learning)."""

    def new_episodes(self) -> list[Episode]:
        rows = self.store.db.execute(
            "SELECT id, ready_seq, source, task FROM episodes WHERE ready_seq > ?"
            " ORDER BY ready_seq LIMIT ?",
            [self.cursor, self.max_per_call],
        ).fetchall()
        out = []
        for ep_id, seq, source, task in rows:
            self.cursor = seq
            if source != "robot" and not self.include_demo:
                continue
            if self.tasks is not None and task not in self.tasks:
                continue
            ep = self.store.read_episode(ep_id, frames=self.frames)
            if len(ep):
                out.append(ep)
        return out
