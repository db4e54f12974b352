"""The hub's episode feed: labelled episodes from the store to learners, over the client socket.

A learner on another machine (no shared filesystem) asks with ``FetchEpisodes(cursor, ...)`` and
gets one ``EpisodeBatch`` with whole episodes as binary blob frames (see ``messages.py``). Reading
the store takes milliseconds to seconds, so it never happens on the hub's socket thread: requests
go to a worker thread, which reads through ``StoreEpisodeSource`` and queues the encoded reply;
the hub's loop sends what is queued (``drain``), since only it may touch the socket.

Guarantees:
- Episodes are served in ``ready_seq`` order, each at most once per cursor: the reply's
  ``next_cursor`` is the ``ready_seq`` of the last episode it holds (or skipped), so a learner
  that asks from the cursor it persisted never receives an episode twice and never misses one.
- A reply holds whole episodes only, at most ``max_steps`` steps (at least one episode) and at
  most ``MAX_BATCH_BYTES`` of blobs, so it always fits the client's message size limit.
- A store error is answered with a ``Reply(ok=False)`` that says why; the feed keeps running.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

from lwd_core.data.episode import Episode
from lwd_core.protocol import array_blob, blob_arrays
from lwd_core.protocol.messages import EpisodeBatch, FedEpisode, FetchEpisodes, Msg, Reply
from lwd_core.store.episode_source import StoreEpisodeSource

log = logging.getLogger("lwd.hub.feed")

MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Blob bytes per reply: half the client's 8 MiB message limit, with room for the header."""
MAX_EPISODES = 256
"""Episodes per reply at most (the header lists them; it must stay under 64 KiB)."""


def pack_episodes(episodes: Sequence[Episode], ready_seqs: Sequence[int]) -> tuple[list[FedEpisode], list, list]:
    """``(infos, blob specs, blob arrays)`` of an ``EpisodeBatch`` holding ``episodes``."""
    infos = [FedEpisode(episode_id=e.episode_id, robot_id=e.robot_id, task=e.task, outcome=e.outcome,
                        steps=len(e), ready_seq=int(s), instruction=e.instruction)
             for e, s in zip(episodes, ready_seqs, strict=True)]
    if not episodes:
        return infos, [], []
    obs_dim, act_dim = episodes[0].states.shape[1], episodes[0].actions.shape[1]
    finals = [e.final_state if e.final_state is not None else e.states[-1] for e in episodes]
    pairs = [
        array_blob("states", np.concatenate([e.states for e in episodes]).astype(np.float32).reshape(-1, obs_dim)),
        array_blob("actions", np.concatenate([e.actions for e in episodes]).astype(np.float32).reshape(-1, act_dim)),
        array_blob("sources", np.concatenate([e.sources for e in episodes]).astype(np.uint8)),
        array_blob("policy_versions", np.concatenate([e.policy_versions for e in episodes]).astype(np.int32)),
        array_blob("final_states", np.stack([np.asarray(f, np.float32) for f in finals])),
    ]
    return infos, [p[0] for p in pairs], [p[1] for p in pairs]


def unpack_episodes(batch: EpisodeBatch, blobs: Sequence[bytes]) -> list[Episode]:
    """The episodes of a received batch; ``ProtocolError``/``ValueError`` when blobs do not fit."""
    if not batch.episodes:
        return []
    arrays = blob_arrays(batch.blobs, blobs)
    need = ("states", "actions", "sources", "policy_versions", "final_states")
    missing = [n for n in need if n not in arrays]
    if missing:
        raise ValueError(f"episode batch lacks blobs {missing}")
    total = sum(e.steps for e in batch.episodes)
    rows = {len(arrays[n]) for n in need[:4]}
    if rows != {total} or len(arrays["final_states"]) != len(batch.episodes) or arrays["states"].ndim != 2:
        raise ValueError(f"episode batch: blob rows {sorted(rows)} do not match {total} steps "
                         f"of {len(batch.episodes)} episodes")
    out, at = [], 0
    for i, info in enumerate(batch.episodes):
        sl = slice(at, at + info.steps)
        at += info.steps
        out.append(Episode(info.episode_id, info.task, arrays["states"][sl].copy(), arrays["actions"][sl].copy(),
                           arrays["sources"][sl].copy(), arrays["policy_versions"][sl].copy(),
                           outcome=info.outcome, final_state=arrays["final_states"][i].copy(),
                           robot_id=info.robot_id, instruction=info.instruction))
    return out


class EpisodeFeed:
    """Serves ``FetchEpisodes`` from an ``EpisodeStore`` on its own thread; see the module doc.

    ``synchronous=True`` answers in the caller's thread (tests, tools).
    """

    def __init__(self, store, *, synchronous: bool = False):
        self.store = store
        self.synchronous = synchronous
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        self.stats = collections.Counter()
        self.served: list[str] = []
        """Episode ids in the order they were sent (for tests and diagnostics)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not synchronous:
            self._thread = threading.Thread(target=self._run, name="episode-feed", daemon=True)
            self._thread.start()

    def submit(self, identity: bytes, who: str, msg: FetchEpisodes) -> None:
        """Queue a request from client ``identity`` (``who`` names it in logs); never blocks."""
        if self.synchronous:
            self._replies.put((identity, *self.answer(who, msg)))
        else:
            self._requests.put((identity, who, msg))

    def drain(self, send: Callable[[bytes, Msg, list], None], limit: int = 16) -> None:
        """Send up to ``limit`` ready replies with ``send(identity, msg, blobs)`` (hub thread)."""
        for _ in range(limit):
            try:
                identity, msg, blobs = self._replies.get_nowait()
            except queue.Empty:
                return
            send(identity, msg, blobs)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                identity, who, msg = self._requests.get(timeout=0.1)
            except queue.Empty:
                continue
            self._replies.put((identity, *self.answer(who, msg)))

    def answer(self, who: str, msg: FetchEpisodes) -> tuple[Msg, list]:
        """The reply to ``msg`` (its ``corr`` set) and its blobs; errors become a failed Reply."""
        try:
            reply, blobs = self._read(msg)
        except Exception as e:  # a store problem must not kill the feed; the learner hears why
            self.stats["errors"] += 1
            log.warning("episode feed: request from %s failed: %s", who, e)
            reply, blobs = Reply(ok=False, error=f"episode feed: {e}"), []
        reply.corr = msg.seq
        return reply, blobs

    def _read(self, msg: FetchEpisodes) -> tuple[Msg, list]:
        if msg.cursor < 0 or msg.max_steps < 1 or msg.max_episodes < 1:
            raise ValueError(f"bad request: cursor {msg.cursor}, max_steps {msg.max_steps}, "
                             f"max_episodes {msg.max_episodes}")
        source = StoreEpisodeSource(self.store, cursor=msg.cursor, max_per_call=1)
        episodes: list[Episode] = []
        seqs: list[int] = []
        steps = nbytes = 0
        more = False
        max_eps = min(msg.max_episodes, MAX_EPISODES)
        while True:
            before = source.cursor
            got = source.new_episodes()  # one ready row per call: we can stop at any episode
            if source.cursor == before:
                break
            if got:
                ep = got[0]
                size = ep.states.nbytes + ep.actions.nbytes + len(ep) * 5 + ep.states.shape[1] * 4
                if episodes and (steps + len(ep) > msg.max_steps or nbytes + size > MAX_BATCH_BYTES
                                 or len(episodes) >= max_eps):
                    source.cursor = before  # not sent: the next request starts with it
                    more = True
                    break
                episodes.append(ep)
                seqs.append(source.cursor)
                steps += len(ep)
                nbytes += size
        infos, specs, arrays = pack_episodes(episodes, seqs)
        self.stats["requests"] += 1
        self.stats["episodes"] += len(episodes)
        self.stats["steps"] += steps
        self.served.extend(e.episode_id for e in episodes)
        return EpisodeBatch(episodes=infos, blobs=specs, next_cursor=source.cursor, more=more), arrays
