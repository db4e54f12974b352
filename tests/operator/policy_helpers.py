"""Small real snapshots and a labelling operator for the rollout tests."""

from __future__ import annotations

import json
import queue
import threading

from lwd_core.learning import snapshot
from lwd_core.learning.agents import AGENTS, DIVLQAMConfig
from lwd_operator.client import HubClient


def tiny_snapshot(path, *, obs_dim: int = 39, action_dim: int = 4, tasks=("push-v3", "reach-v3"),
                  hidden: int = 32, horizon: int = 4, seed: int = 0):
    """A real DIVL + QAM snapshot, small enough to make in a fraction of a second."""
    ag = AGENTS["divl_qam"].create(obs_dim=obs_dim, action_dim=action_dim, horizon=horizon, tasks=list(tasks),
                                   seed=seed, config=DIVLQAMConfig(hidden=hidden, z_dim=32, flow_steps=2))
    ag.end_pretraining()
    snapshot.save(ag, path, version=1)
    return path


def lying_snapshot(path, **kw):
    """Its meta.json claims hidden 32 while its tensors are 48 wide (digest intact)."""
    tiny_snapshot(path, hidden=48, **kw)
    meta = json.loads((path / "meta.json").read_text())
    meta["config"]["hidden"] = 32
    (path / "meta.json").write_text(json.dumps(meta))
    return path


class Labeller:
    """An operator who labels every finished episode with ``outcome(robot_view)`` (the world's
    verdict in these tests), from its own thread as a person's console would."""

    def __init__(self, client: HubClient, outcome):
        self.client, self.outcome = client, outcome
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self.labelled = 0
        client.on_episode = lambda ev: self._q.put(ev) if ev.event == "ended" and ev.reason != "shutdown" else None
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                ev = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            fleet = self.client.latest_fleet
            view = next((r for r in fleet.robots if r.robot_id == ev.robot_id), None) if fleet else None
            if view is not None and self.client.label(ev.robot_id, ev.episode_id, self.outcome(view)).ok:
                self.labelled += 1

    def stop(self):
        self._stop.set()
        self._t.join(timeout=3)
