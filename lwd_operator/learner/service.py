"""The learner service: pre-train or start from a snapshot, then learn online while deploying.

One loop: fetch new labelled episodes (through the hub, from the cursor it persisted), add them
to the dataset as online data, run updates on batches that mix offline and online rows (see
``online_data``), propose a candidate snapshot every ``publish_every_updates`` updates or
``publish_every_s`` seconds, and checkpoint every ``checkpoint_every_updates``.

Guarantees:
- Received episodes are committed to the episode log before they train (``episode_log``), so a
  learner killed at any moment (SIGKILL included) restarts with every episode it received,
  each counted once, and asks the hub only for newer ones.
- A restart resumes from the newest complete checkpoint (weights, EMA targets, optimisers, RNG,
  counters); updates after it are redone, never double counted in ``updates``.
- The hub being away or refusing never stops learning: fetches are retried, updates continue
  on what is held.
- Under ``torchrun`` only rank 0 fetches, publishes and writes; every rank runs the same
  updates on the same data with averaged gradients (``distributed``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import threading
import time
from collections.abc import Callable

import torch

from lwd_core.data.chunk_dataset import ChunkDataset
from lwd_core.data.episode import Episode
from lwd_core.learning.cpu_placement import place_learner
from lwd_core.protocol.messages import LearnerStatus
from lwd_operator.config import LearnerConfig
from lwd_operator.learner.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from lwd_operator.learner.distributed import DistContext
from lwd_operator.learner.episode_log import EpisodeLog
from lwd_operator.learner.online_data import online_share, select_for_training
from lwd_operator.learner.publisher import Publisher
from lwd_operator.learner.status_report import StatusReporter

log = logging.getLogger("lwd.learner")

Fetch = Callable[[int, int], tuple[list[Episode], int, bool]]
"""``fetch(cursor, max_steps) -> (episodes, next_cursor, more)``: ``HubClient.fetch_episodes``."""


def agent_from_snapshot(path: str, agent_name: str, overrides: dict | None = None):
    """The agent ``agent_name`` started from a snapshot. Same agent: loaded as saved. Another
    agent (e.g. BC from a DIVL + QAM snapshot): its tensors of equal name and shape are copied
    (the policy's encoder and velocity field), the rest starts fresh."""
    from lwd_core.learning import snapshot
    from lwd_core.learning.agents import AGENTS

    src = snapshot.load(path)
    if src.name == agent_name and not overrides:
        src.train()
        return src
    cls = AGENTS[agent_name]
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    shared = {k: v for k, v in dataclasses.asdict(src.config).items() if k in fields}
    agent = cls.create(obs_dim=src.obs_dim, action_dim=src.action_dim, horizon=src.horizon, tasks=src.tasks,
                       obs_mean=src.encoder.obs_mean.numpy(), obs_std=src.encoder.obs_std.numpy(),
                       action_low=src.action_low.numpy(), action_high=src.action_high.numpy(),
                       config=cls.config_class(**{**shared, **(overrides or {})}))
    mine = agent.state_dict()
    agent.load_state_dict({k: v for k, v in src.state_dict().items() if k in mine and mine[k].shape == v.shape},
                          strict=False)
    return agent.train()


class Learner:
    def __init__(self, cfg: LearnerConfig, out: str | os.PathLike, *, fetch: Fetch | None = None,
                 publisher: Publisher | None = None, init: str | None = None, offline: str | None = None,
                 dist: DistContext | None = None, progress: bool = False,
                 report: Callable[[LearnerStatus], None] | None = None):
        """``report``: where the learner's state goes every ``cfg.status_every_s`` seconds and
        after each candidate (``HubClient.report_learner_status``; rank 0 only)."""
        if not init and not offline and latest_checkpoint(pathlib.Path(out) / "checkpoints") is None:
            raise ValueError("the learner needs a starting point: --init SNAPSHOT, --offline DATA or a checkpoint in --out")
        self.cfg, self.out = cfg, pathlib.Path(out)
        self.fetch, self.publisher = fetch, publisher
        self.init, self.offline, self.progress = init, offline, progress
        self.dist = dist or DistContext()
        self.stop_event = threading.Event()
        self.counters = {"updates": 0, "online_updates": 0, "version": 0, "published": 0, "pretrained": 0}
        self.episodes = EpisodeLog(self.out / "received")
        self.skipped_episodes = 0
        self.online_steps = 0
        """Online steps in the training mix (after ``learn_from`` selection)."""
        self._last_publish_t = time.monotonic()
        self._last_publish_updates = 0
        self._rate_t0 = time.monotonic()
        self._rate_n = 0
        self.last_info: dict = {}
        self.reporter = StatusReporter(report, cfg.status_every_s) if report and self.dist.is_main else None

    # --- start-up -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Restore the newest checkpoint, or start from ``init`` / pre-train on ``offline``."""
        place_learner(max(1, self.cfg.threads), nice=self.cfg.nice)
        torch.manual_seed(self.cfg.seed)
        offline_ds = self._offline_dataset() if self.offline else None
        ckpt = latest_checkpoint(self.out / "checkpoints")
        if ckpt is not None:
            self.agent, counters = load_checkpoint(ckpt)
            self.counters.update(counters)
            log.info("resumed from %s at update %d", ckpt, self.counters["updates"])
        elif self.init:
            self.agent = agent_from_snapshot(self.init, self.cfg.agent)
        else:
            from lwd_operator.training import TrainConfig, build_agent

            self.agent = build_agent(self.cfg.agent, offline_ds, TrainConfig(agent=self.cfg.agent, seed=self.cfg.seed))
        self.agent.to(self.dist.device)
        if hasattr(self.agent.config, "tau_online"):
            self.agent.config = dataclasses.replace(self.agent.config, tau_online=self.cfg.tau_online)
        self.dist.broadcast_agent(self.agent)
        self.dist.average_gradients()
        self.ds = ChunkDataset(self.agent.tasks, self.agent.obs_dim, self.agent.action_dim,
                               horizon=self.agent.horizon, n_step=self.cfg.n_step, online_fraction=0.0,
                               seed=self.cfg.seed + 1000 * self.dist.rank + self.counters["updates"])
        if offline_ds is not None:
            self.ds.add_episodes([e for e in self._offline_episodes if e.task in self.ds.task_index], online=False)
        if offline_ds is not None and not self.init and not self.counters["pretrained"]:
            self._pretrain()
        held = self.episodes.load() if self.dist.is_main else None
        self._add_online(self.dist.broadcast_episodes(held, self.agent.tasks, self.agent.obs_dim, self.agent.action_dim))
        self.agent.set_online(True)  # DIVL reads tau_online from here on
        self._last_publish_updates = self.counters["online_updates"]  # a resumed learner waits its turn
        self._write_status()

    def _offline_dataset(self) -> ChunkDataset:
        """The offline episodes (a demo folder or a recordings store) in a dataset of their own,
        which sizes a new agent (tasks, normalisation); they join the training mix as offline."""
        from lwd_core.data.demo_folder import DemoFolder, is_demo_folder

        if is_demo_folder(self.offline):
            folder = DemoFolder(self.offline)
            self._offline_episodes = list(folder)
        else:
            from lwd_core.store import EpisodeStore
            from lwd_core.store.episode_source import StoreEpisodeSource

            self._offline_episodes = StoreEpisodeSource(EpisodeStore(self.offline, writer=False),
                                                        include_demo=True).new_episodes()
        if not self._offline_episodes:
            raise ValueError(f"{self.offline}: no labelled episodes")
        first = self._offline_episodes[0]
        ds = ChunkDataset(sorted({e.task for e in self._offline_episodes}), first.states.shape[1],
                          first.actions.shape[1], horizon=8, n_step=self.cfg.n_step, seed=self.cfg.seed)
        ds.add_episodes(self._offline_episodes, online=False)
        return ds

    def _pretrain(self) -> None:
        from lwd_core.progress import progress

        bar = progress(range(self.cfg.pretrain_steps), desc=f"pre-train {self.cfg.agent}", unit="step",
                       enabled=self.progress and self.dist.is_main)
        for _ in bar:
            info = self.last_info = self.agent.pretrain_step(self.ds.sample(self.cfg.batch_size))
            self.counters["updates"] += 1
            self._report("pretrain")
            if self.counters["updates"] % 50 == 0:
                bar.set_postfix({k: f"{float(v):.3g}" for k, v in info.items()}, refresh=False)
        self.agent.end_pretraining()
        self.counters["pretrained"] = 1
        if self.dist.is_main:
            save_checkpoint(self.out / "checkpoints", self.agent, self.counters)

    # --- online ---------------------------------------------------------------------------------

    def _add_online(self, episodes: list[Episode]) -> None:
        known = [e for e in episodes if e.task in self.ds.task_index
                 and e.states.shape[1:] == (self.ds.obs_dim,) and e.actions.shape[1:] == (self.ds.action_dim,)]
        if len(known) < len(episodes):
            self.skipped_episodes += len(episodes) - len(known)
            log.warning("skipped %d episodes of tasks or shapes this policy does not know", len(episodes) - len(known))
        self.online_steps += self.ds.add_episodes(select_for_training(known, self.cfg.learn_from), online=True)
        if self.cfg.replay_steps > 0:
            dropped = self.ds.drop_oldest_online(self.cfg.replay_steps)
            if dropped:
                log.info("replay full: dropped the oldest %d online steps (they stay in %s)", dropped,
                         self.out / "received")

    def _fetch_new(self) -> list[Episode]:
        """Rank 0: one fetch from the hub; episodes are committed to the log before returning."""
        try:
            eps, next_cursor, more = self.fetch(self.episodes.cursor, self.cfg.fetch_max_steps)
        except Exception as e:  # the hub away or refusing: keep learning on what we hold
            log.warning("fetch from hub failed (retrying): %s", e)
            return []
        fresh = self.episodes.append(eps, next_cursor)
        if fresh:
            log.info("received %d episodes (%d held, cursor %d)", len(fresh), self.episodes.count, next_cursor)
        self._more = more
        return fresh

    def run(self, max_updates: int | None = None, duration_s: float | None = None) -> dict:
        """Learn until ``stop()``, ``max_updates`` online updates or ``duration_s``; returns counters."""
        end = time.monotonic() + duration_s if duration_s else None
        next_fetch = 0.0
        self._more = False
        done_updates = 0
        while True:
            now = time.monotonic()
            stop = self.stop_event.is_set() or (end is not None and now >= end)
            stop = stop or (max_updates is not None and done_updates >= max_updates)
            new: list[Episode] | None = None
            if self.dist.is_main and self.fetch is not None and (now >= next_fetch or self._more) and not stop:
                new = self._fetch_new()
                next_fetch = now + self.cfg.fetch_every_s
            (stop_all,) = self.dist.broadcast_ints([int(stop)])
            if stop_all:
                break
            self._add_online(self.dist.broadcast_episodes(new, self.agent.tasks, self.agent.obs_dim,
                                                          self.agent.action_dim))
            if len(self.ds) == 0:
                self._report("waiting")
                time.sleep(0.2)  # nothing to learn from yet (started from a snapshot alone)
                continue
            self._update()
            done_updates += 1
            self._report("online")
            self._maybe_publish()
            if self.counters["online_updates"] % max(1, self.cfg.checkpoint_every_updates) == 0:
                self.checkpoint()
            self._throttle()
        if self.dist.is_main:
            self.checkpoint()
        return dict(self.counters, episodes=self.episodes.count, cursor=self.episodes.cursor)

    def _update(self) -> None:
        c = self.cfg
        self.ds.online_fraction = online_share(c.online_fraction, c.online_ramp_steps, self.online_steps)
        batch = self.ds.sample(c.batch_size).to(self.dist.device)
        self.last_info = self.agent.update(batch)
        self.counters["updates"] += 1
        self.counters["online_updates"] += 1
        self._rate_n += 1

    def _throttle(self) -> None:
        if self.cfg.max_updates_per_s > 0:
            ahead = self._rate_t0 + self._rate_n / self.cfg.max_updates_per_s - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            elif ahead < -1.0:  # fell behind (busy machine): do not burst to catch up
                self._rate_t0, self._rate_n = time.monotonic(), 0

    def _maybe_publish(self) -> None:
        c = self.cfg
        since = self.counters["online_updates"] - self._last_publish_updates
        due = (c.publish_every_updates and since >= c.publish_every_updates) or (
            c.publish_every_s and since > 0 and time.monotonic() - self._last_publish_t >= c.publish_every_s)
        if due:
            self.publish()

    def publish(self) -> int | None:
        """Propose the current policy as a candidate (rank 0); returns its version."""
        self._last_publish_t = time.monotonic()
        self._last_publish_updates = self.counters["online_updates"]
        if not self.dist.is_main or self.publisher is None:
            return None
        from lwd_core.learning import snapshot

        n = self.counters["published"] + 1
        path = self.out / "candidates" / f"candidate-{n:04d}"
        parent = self.counters["version"] or None
        snapshot.save(self.agent, path, version=n, parent=parent or 0, learner_step=self.counters["updates"])
        try:
            version = self.publisher.publish_policy(
                path, parent=parent, learner_step=self.counters["updates"],
                note=f"{self.cfg.agent}: {self.counters['online_updates']} online updates, "
                     f"{self.episodes.count} episodes")
        except Exception as e:  # the hub refusing must not stop learning; try at the next one
            log.warning("publishing candidate %d failed: %s", n, e)
            return None
        self.counters["published"] = n
        self.counters["version"] = int(version)
        log.info("proposed candidate v%d at update %d", version, self.counters["updates"])
        self._write_status()
        if self.reporter is not None:
            self.reporter.candidate_at = time.monotonic()
            self._report("online", force=True)
        return int(version)

    def checkpoint(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.out / "checkpoints", self.agent, self.counters)
            if self.reporter is not None:
                self.reporter.checkpoint_at = time.monotonic()
            self._write_status()

    def _write_status(self) -> None:
        """``status.json`` in the run folder: what the learner holds and has done (for people,
        ``lwd demo`` and tests)."""
        if not self.dist.is_main:
            return
        elapsed = max(1e-6, time.monotonic() - self._rate_t0)
        status = dict(self.counters, episodes=self.episodes.count, steps_received=self.episodes.steps,
                      cursor=self.episodes.cursor, skipped_episodes=self.skipped_episodes,
                      online_share=self.ds.online_fraction if hasattr(self, "ds") else 0.0,
                      replay_online_steps=self.ds.online_steps if hasattr(self, "ds") else 0,
                      updates_per_s=round(self._rate_n / elapsed, 3), pid=os.getpid())
        tmp = self.out / "status.json.tmp"
        tmp.write_text(json.dumps(status, indent=1))
        os.replace(tmp, self.out / "status.json")

    def _report(self, phase: str, force: bool = False) -> None:
        if self.reporter is not None:
            self.reporter.maybe(self, phase, force)

    def stop(self) -> None:
        self.stop_event.set()
