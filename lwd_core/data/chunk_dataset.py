"""Training batches of action chunks from episodes: one API for a file of demonstrations and the
live episode store alike.

``ChunkDataset`` keeps every step of every episode it was given in flat, growable arrays and
samples rows of ``ChunkBatch`` (see ``batch.py`` for the exact meaning of each field) with
vectorised index arithmetic only. Episodes arrive through ``add_episodes`` (or ``top_up`` from an
``EpisodeSource``), flagged offline (demonstrations, imported data) or online (deployment), and
are never re-read: adding is O(new steps) amortised.

Window rules:
- a row starts at any step ``t`` of an episode; its reward window has ``L = n_step * H`` steps;
- the window stops at the episode's end (``done = 1``: no bootstrap; every labelled episode ends
  in a terminal state: success, or failure/timeout with value 0);
- with ``n_step > 1`` it also stops at a switch between policy and human actions (LWD: n-step
  targets must not mix segments), bootstrapping from the state at the switch;
- action rows past the end repeat the episode's last action (marked invalid for rewards).

Camera frames (``cameras``): each episode's frames (``Episode.frames``) are decoded and resized
to ``image_size`` once, when the episode is added, and kept at the camera's own rate (not one
per step); each step points at its aligned frame (``frame_alignment``: the latest at or before
it, held). Rows then carry ``images``/``next_images`` (uint8 [B, n_cam, 3, s, s]) and
``image_valid`` (0 where the frame is older than the tolerance, or a blank because the episode
has no frame from that camera).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from lwd_core.data.batch import ChunkBatch
from lwd_core.data.episode import Episode
from lwd_core.data.frame_alignment import DEFAULT_TOLERANCE_NS, align_frames


class EpisodeSource(Protocol):
    """Anything that hands out episodes it has not handed out before (a store, a demo folder)."""

    def new_episodes(self) -> list[Episode]: ...


class _Growable:
    """A numpy array with amortised O(1) append along axis 0."""

    def __init__(self, shape_tail: tuple[int, ...], dtype):
        self._a = np.zeros((1024, *shape_tail), dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self._a):
            cap = max(need, 2 * len(self._a))
            grown = np.zeros((cap, *self._a.shape[1:]), self._a.dtype)
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n : need] = rows
        self.n = need

    @property
    def data(self) -> np.ndarray:
        return self._a[: self.n]

    def replace(self, rows: np.ndarray) -> None:
        """Hold exactly ``rows`` (a compaction: the old buffer is freed)."""
        self._a = np.array(rows, self._a.dtype, copy=True).reshape(len(rows), *self._a.shape[1:])
        self.n = len(rows)


class ChunkDataset:
    def __init__(self, tasks: Sequence[str], obs_dim: int, action_dim: int, *, horizon: int = 8,
                 n_step: int = 1, online_fraction: float = 0.5, stratify_tasks: bool = False,
                 seed: int = 0, cameras: Sequence[str] = (), image_size: int = 64,
                 frame_tolerance_ns: int = DEFAULT_TOLERANCE_NS):
        self.tasks = list(tasks)
        self.task_index = {t: i for i, t in enumerate(self.tasks)}
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.horizon, self.n_step = horizon, n_step
        self.online_fraction, self.stratify_tasks = online_fraction, stratify_tasks
        self.rng = np.random.default_rng(seed)
        self._states = _Growable((obs_dim,), np.float32)
        self._actions = _Growable((action_dim,), np.float32)
        self._sources = _Growable((), np.uint8)
        self._rewards = _Growable((), np.float32)
        self._ep_end = _Growable((), np.int64)  # per step: global index one past its episode's end
        self._ep_of = _Growable((), np.int64)  # per step: episode number
        self._task = _Growable((), np.int64)
        self._online = _Growable((), bool)
        self._final = _Growable((obs_dim,), np.float32)  # per episode
        self._boundaries: list[np.ndarray] = []  # indices where a source run starts
        self._pools: dict[tuple[bool, int], np.ndarray] | None = None
        self._switch_cache: np.ndarray | None = None
        self.episode_ids: list[str] = []
        self.cameras, self.image_size, self.frame_tolerance_ns = list(cameras), image_size, frame_tolerance_ns
        s = image_size
        self._images = _Growable((3, s, s), np.uint8)  # decoded frames; row 0: the blank
        self._images.extend(np.zeros((1, 3, s, s), np.uint8))
        self._frame_of = _Growable((len(self.cameras),), np.int64)  # per step and camera
        self._has_frame = _Growable((len(self.cameras),), bool)

    # --- growing ------------------------------------------------------------------------------

    def add_episodes(self, episodes: Iterable[Episode], online: bool) -> int:
        """Append episodes (unknown tasks are rejected); returns how many steps were added."""
        added = 0
        for ep in episodes:
            if len(ep) == 0:
                continue
            if ep.task not in self.task_index:
                raise ValueError(f"episode {ep.episode_id}: task {ep.task!r} is not one of {self.tasks}")
            if ep.states.shape[1:] != (self.obs_dim,) or ep.actions.shape[1:] != (self.action_dim,):
                raise ValueError(f"episode {ep.episode_id}: shapes {ep.states.shape}/{ep.actions.shape} "
                                 f"do not match obs_dim {self.obs_dim}, action_dim {self.action_dim}")
            start, n = self._states.n, len(ep)
            self._states.extend(ep.states.astype(np.float32))
            self._actions.extend(ep.actions.astype(np.float32))
            self._sources.extend(ep.sources.astype(np.uint8))
            self._rewards.extend(ep.rewards)
            self._ep_end.extend(np.full(n, start + n, np.int64))
            self._ep_of.extend(np.full(n, len(self.episode_ids), np.int64))
            self._task.extend(np.full(n, self.task_index[ep.task], np.int64))
            self._online.extend(np.full(n, online, bool))
            final = ep.final_state if ep.final_state is not None else ep.states[-1]
            self._final.extend(np.asarray(final, np.float32)[None])
            if self.cameras:
                self._add_frames(ep)
            switch = np.flatnonzero(np.diff(ep.sources.astype(np.int16)) != 0) + 1
            self._boundaries.append(np.concatenate([[start], start + switch, [start + n]]))
            self.episode_ids.append(ep.episode_id)
            added += n
        if added:
            self._pools = None
            self._switch_cache = None
        return added

    def drop_oldest_online(self, keep_steps: int) -> int:
        """Drop the oldest online episodes (whole ones) until at most ``keep_steps`` online steps
        remain; offline episodes are never dropped. Returns the steps dropped. A learner fed for
        days keeps a bounded replay this way (what it dropped stays in its episode log on disk)."""
        online = self._online.data
        if int(online.sum()) <= keep_steps:
            return 0
        ep_of = self._ep_of.data
        n_eps = len(self.episode_ids)
        lengths = np.bincount(ep_of, minlength=n_eps)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        ep_online = online[starts]
        keep_ep = np.ones(n_eps, bool)
        excess = int(online.sum()) - keep_steps
        for e in np.flatnonzero(ep_online):  # oldest first: episodes are numbered as they came
            if excess <= 0:
                break
            keep_ep[e], excess = False, excess - int(lengths[e])
        keep = keep_ep[ep_of]
        new_number = np.cumsum(keep_ep) - 1
        new_lengths = lengths[keep_ep]
        new_starts = np.concatenate([[0], np.cumsum(new_lengths)[:-1]]).astype(np.int64)
        for g in (self._states, self._actions, self._sources, self._rewards, self._task, self._online):
            g.replace(g.data[keep])
        self._ep_of.replace(new_number[ep_of[keep]])
        self._ep_end.replace((new_starts + new_lengths)[self._ep_of.data])
        self._final.replace(self._final.data[keep_ep])
        self._boundaries = [b - starts[e] + new_starts[new_number[e]]
                            for e, b in enumerate(self._boundaries) if keep_ep[e]]
        self.episode_ids = [i for i, k in zip(self.episode_ids, keep_ep, strict=True) if k]
        if self.cameras:  # keep only the decoded frames some remaining step shows (row 0: blank)
            frame_of = self._frame_of.data[keep]
            used = np.union1d([0], np.unique(frame_of))
            self._images.replace(self._images.data[used])
            self._frame_of.replace(np.searchsorted(used, frame_of))
            self._has_frame.replace(self._has_frame.data[keep])
        self._pools = None
        self._switch_cache = None
        return int((~keep).sum())

    def _add_frames(self, ep: Episode) -> None:
        n = len(ep)
        index = np.zeros((n, len(self.cameras)), np.int64)  # 0: the blank
        has = np.zeros((n, len(self.cameras)), bool)
        for c, cam in enumerate(self.cameras):
            t_cap, jpegs = (ep.frames or {}).get(cam, (np.zeros(0, np.int64), []))
            if not jpegs or ep.t_ns is None:
                continue
            al = align_frames(t_cap, ep.t_ns, self.frame_tolerance_ns)
            used = np.unique(al.index)  # only frames some step shows are decoded and kept
            base = self._images.n
            self._images.extend(np.stack([self._decode(jpegs[i]) for i in used]))
            index[:, c] = base + np.searchsorted(used, al.index)
            has[:, c] = al.has_frame
        self._frame_of.extend(index)
        self._has_frame.extend(has)

    def _decode(self, jpeg: bytes) -> np.ndarray:
        s = self.image_size
        img = Image.open(io.BytesIO(jpeg)).convert("RGB")
        if img.size != (s, s):
            img = img.resize((s, s), Image.BILINEAR)
        return np.asarray(img, np.uint8).transpose(2, 0, 1)

    @property
    def n_frames(self) -> int:
        """Decoded camera frames held (all cameras; the blank not counted)."""
        return self._images.n - 1

    def top_up(self, source: EpisodeSource, online: bool) -> int:
        return self.add_episodes(source.new_episodes(), online)

    def __len__(self) -> int:
        return self._states.n

    @property
    def online_steps(self) -> int:
        """Online steps held (after any ``drop_oldest_online``)."""
        return int(self._online.data.sum())

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ids)

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension mean and std (floored at 1e-3) of the observations."""
        s = self._states.data
        return s.mean(0), np.maximum(s.std(0), 1e-3)

    def action_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension minimum and maximum of the actions: the range agents map to [-1, 1]."""
        a = self._actions.data
        return a.min(0), a.max(0)

    # --- sampling -------------------------------------------------------------------------------

    def _next_switch(self) -> np.ndarray:
        """Per step: global index of the next source switch (or episode end) after it."""
        if self._switch_cache is None:
            bounds = np.unique(np.concatenate(self._boundaries))
            idx = np.arange(len(self))
            self._switch_cache = bounds[np.searchsorted(bounds, idx, side="right")]
        return self._switch_cache

    def _draw(self, batch_size: int) -> np.ndarray:
        if self._pools is None:
            online, task = self._online.data, self._task.data
            self._pools = {}
            for is_online in (False, True):
                for ti in range(len(self.tasks)):
                    idx = np.flatnonzero((online == is_online) & (task == ti))
                    if len(idx):
                        self._pools[(is_online, ti)] = idx
        n_online = int(round(batch_size * self.online_fraction))
        have = {o for o, _ in self._pools}
        if True not in have:
            n_online = 0
        if False not in have:
            n_online = batch_size
        out = [self._draw_from(True, n_online), self._draw_from(False, batch_size - n_online)]
        return np.concatenate(out)

    def _draw_from(self, online: bool, k: int) -> np.ndarray:
        if k == 0:
            return np.zeros(0, np.int64)
        pools = [p for (o, _), p in self._pools.items() if o == online]
        allidx = np.concatenate(pools)
        if not self.stratify_tasks:
            return allidx[self.rng.integers(0, len(allidx), k)]
        # Each row: a task uniformly, then a step uniformly within that task.
        sizes = np.array([len(p) for p in pools])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pick = self.rng.integers(0, len(pools), k)
        return allidx[offsets[pick] + (self.rng.random(k) * sizes[pick]).astype(np.int64)]

    def rows(self, t: np.ndarray) -> ChunkBatch:
        """The batch rows starting at global step indices ``t`` (exposed for tests)."""
        H, L = self.horizon, self.n_step * self.horizon
        end = self._ep_end.data[t]
        stop = np.minimum(t + L, end)
        if self.n_step > 1:
            stop = np.minimum(stop, self._next_switch()[t])
        cut = stop - t  # window length actually used, >= 1
        offs = np.arange(L)
        steps = t[:, None] + offs[None, :]
        valid = offs[None, :] < cut[:, None]
        safe = np.minimum(steps, (end - 1)[:, None])  # clamp into the episode
        rewards = np.where(valid, self._rewards.data[safe], 0.0).astype(np.float32)
        a_idx = np.minimum(t[:, None] + np.arange(H)[None, :], (end - 1)[:, None])
        done = stop >= end
        nxt = np.minimum(stop, end - 1)
        next_obs = np.where(done[:, None], self._final.data[self._ep_of.data[t]], self._states.data[nxt])
        images = next_images = image_valid = None
        if self.cameras:  # the final state has no frame of its own: the last step's stands in
            frames = self._images.data
            images = torch.from_numpy(frames[self._frame_of.data[t]])
            next_images = torch.from_numpy(frames[self._frame_of.data[nxt]])
            image_valid = torch.from_numpy(self._has_frame.data[t].astype(np.float32))
        return ChunkBatch(
            obs=torch.from_numpy(self._states.data[t].copy()),
            task=torch.from_numpy(self._task.data[t].copy()),
            actions=torch.from_numpy(self._actions.data[a_idx]),
            rewards=torch.from_numpy(rewards),
            valid=torch.from_numpy(valid.astype(np.float32)),
            next_obs=torch.from_numpy(next_obs.astype(np.float32)),
            next_task=torch.from_numpy(self._task.data[t].copy()),
            bootstrap_steps=torch.from_numpy(cut.astype(np.int64)),
            done=torch.from_numpy(done.astype(np.float32)),
            source=torch.from_numpy(self._sources.data[a_idx]),
            is_online=torch.from_numpy(self._online.data[t].copy()),
            images=images,
            next_images=next_images,
            image_valid=image_valid,
        )

    def sample(self, batch_size: int) -> ChunkBatch:
        if len(self) == 0:
            raise ValueError("the dataset is empty")
        return self.rows(self._draw(batch_size))
