"""Recorded frames of one episode, one at a time, for scrubbing in a console.

Runs on the hub loop thread like the other episode questions, so it stays cheap: the frames of
the last few closed episodes are kept (a scrub asks for many frames of the same episode), a
running episode is read again each time (it is still growing).
"""

from __future__ import annotations

import collections

import numpy as np

from lwd_core.data.frame_alignment import align_frames
from lwd_core.protocol.messages import EpisodeFrame, GetEpisodeFrame
from lwd_operator.hub.episode_queries import QueryError

CACHED_EPISODES = 4


def frame_step(frame_t: np.ndarray, step_t: np.ndarray, i: int) -> int:
    """The control step frame ``i`` belongs to: the first step that shows it under the one
    frame-to-step alignment (``lwd_core.data.frame_alignment``, the one export and the dataset
    use; steps and frames share the robot's monotonic clock), or, for a frame no step shows
    (captured between two steps whose later frame wins), the first step after its capture."""
    if not len(step_t) or not len(frame_t):
        return 0
    al = align_frames(frame_t, step_t)
    shown = np.flatnonzero((al.index == i) & al.has_frame)
    if shown.size:
        return int(shown[0])
    return int(min(np.searchsorted(np.asarray(step_t, np.int64), int(frame_t[i]), side="left"), len(step_t) - 1))


class EpisodeFrames:
    def __init__(self, store):
        self.store = store
        self._cache: collections.OrderedDict[str, tuple[dict, np.ndarray]] = collections.OrderedDict()

    def _load(self, episode_id: str) -> tuple[dict, np.ndarray]:
        if episode_id in self._cache:
            self._cache.move_to_end(episode_id)
            return self._cache[episode_id]
        try:
            row = self.store.get(episode_id)
        except KeyError:
            raise QueryError(f"no episode {episode_id[:80]!r}") from None
        got = (self.store.read_frames(episode_id), self.store.read_steps(episode_id)["t_ns"])
        if row["status"] != "running":
            self._cache[episode_id] = got
            while len(self._cache) > CACHED_EPISODES:
                self._cache.popitem(last=False)
        return got

    def answer(self, q: GetEpisodeFrame) -> tuple[EpisodeFrame, list[bytes]]:
        seqs, t_steps = self._load(q.episode_id)
        if not seqs:
            raise QueryError(f"episode {q.episode_id[:80]} has no recorded frames")
        cam = q.camera or sorted(seqs)[0]
        if cam not in seqs:
            raise QueryError(f"episode {q.episode_id[:80]} has no camera {q.camera[:40]!r}")
        seq = seqs[cam]
        i = min(max(int(q.index), 0), len(seq.jpegs) - 1)
        t = int(seq.t_ns[i])
        step = frame_step(seq.t_ns, t_steps, i)
        return EpisodeFrame(episode_id=q.episode_id, camera=cam, cameras=sorted(seqs), index=i,
                            count=len(seq.jpegs), step=step, t_ns=t,
                            pre_intervention_k=int(self.store.pre_intervention_k)), [seq.jpegs[i]]
