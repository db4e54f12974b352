"""Puts the learner's candidates in front of the fleet without a person: for ``lwd demo`` and the
closed-loop benchmark, where nobody is there to run ``lwd policy canary``.

Modes:
- ``canary`` (the product's path): the newest candidate goes to the hub's canary when none is
  running; the hub then promotes or rolls it back on its own (``hub/rollout.py``).
- ``direct``: every new candidate becomes active fleet-wide at once (the LWD paper's loop, where
  each update is deployed; also what a short benchmark can afford, since a canary needs tens of
  labelled episodes per decision).

It acts through ``HubClient`` like any operator (role ``operator``/``bot``: learners may only
propose), and every action it takes is audited by the hub under its client's name.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("lwd.auto_deploy")

MODES = ("canary", "direct")


class AutoDeployer:
    def __init__(self, client, mode: str = "canary", author: str = "learner", poll_s: float = 2.0):
        if mode not in MODES:
            raise ValueError(f"auto-deploy mode must be one of {MODES}, not {mode!r}")
        self.client, self.mode, self.author, self.poll_s = client, mode, author, poll_s
        self.handled = 0
        """Newest candidate version acted on."""
        self.deployed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="auto-deploy", daemon=True)

    def start(self) -> AutoDeployer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.step()
            except Exception as e:  # the hub away: try again at the next poll
                log.info("auto-deploy: %s", e)

    def step(self) -> int | None:
        """One decision; returns the version acted on, if any."""
        versions = self.client.policy_versions()
        fresh = [v for v in versions if v.status == "candidate" and v.author == self.author
                 and v.version > self.handled]
        if not fresh:
            return None
        newest = max(v.version for v in fresh)
        if self.mode == "canary":
            if any(v.status == "canary" for v in versions):
                return None  # the hub is still judging the previous one
            rep = self.client.canary(newest, why="auto-deploy: newest learner candidate")
        else:
            rep = self.client.deploy(newest, why="auto-deploy: newest learner candidate")
        self.handled = newest
        if not rep.ok:
            log.warning("auto-deploy of v%d refused: %s", newest, rep.error)
            return None
        self.deployed.append(newest)
        log.info("auto-deploy: v%d (%s)", newest, self.mode)
        return newest
