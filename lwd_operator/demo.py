"""The whole system on one machine: what ``lwd demo`` starts and stops.

A hub (with recording), a simulated Meta-World fleet in its own processes, the operator bot and
the learner: the loop closed. The fleet starts from a weak policy (made on first run and cached
in ``runs/demo/``, beside the recordings: the store reconciles its own folder and would set
foreign array files aside; ``learner/starting_policy.py``); the learner (``lwd learn``, its
own process) learns from the episodes the bot labels and proposes candidates; the auto-deployer
puts them on the fleet (``learner/auto_deploy.py``), so the success rate rises and takeovers
fall in the live view. ``learner=False`` runs the fleet on its configured built-in policy.
Keys are generated on first run, one identity per part: ``sim-fleet`` (robot key bound to
``sim-*``) for the fleet, ``operator-bot`` (operator) for the bot, ``demo-operator`` (admin) for the
front end and the auto-deployer, ``learner`` for the learner; nothing runs unauthenticated. The front end (the rich live
table here; the console or the TUI) is a client of the stack, chosen by the caller.
"""

from __future__ import annotations

import dataclasses
import time

from lwd_operator.auth import ensure_key, init_keys
from lwd_operator.config import Config

DEFAULT_TASKS = "push-v3,reach-v3,drawer-open-v3,button-press-topdown-v3"


DEMO_LEARNER_NICE = 10
"""The demo's learner shares the machine with the fleet: the robots' control loops come first."""


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    robots: int = 4
    tasks: str = DEFAULT_TASKS
    camera_fps: float = 5.0
    bot: bool = True
    learner: bool = True
    """Close the loop: starting policy, learner process and auto-deploy (False: no learning)."""
    deploy: str = "direct"
    """How candidates reach the fleet: direct (each one at once) or canary (the hub judges)."""
    learner_agent: str = "divl_qam"
    """The learner's rule: divl_qam (LWD) or bc."""
    start_bc_steps: int = 600
    """Pre-training steps of the starting policy (made once, then cached)."""
    start_hidden: int = 256
    """Network width of the starting policy (and so of the learner's candidates)."""
    work_dir: str = "runs/demo"
    """The starting policy's cache and the learner's run folder (never inside the recordings)."""
    config_path: str | None = None
    verbose: int = 0


class DemoStack:
    """Hub, fleet processes and operator bot, started together and stopped in reverse order."""

    def __init__(self, cfg: Config, opts: DemoOptions):
        self.cfg, self.opts = cfg, opts
        self.hub = self.bot = self.bot_client = self.deployer = self.deploy_client = None
        self.learner_proc = None
        self.start_snapshot = None
        self.procs: list = []

    @property
    def learner_dir(self):
        import pathlib

        return pathlib.Path(self.opts.work_dir) / "learner"

    def start(self) -> DemoStack:
        from lwd_operator.client import HubClient
        from lwd_operator.hub.hub import Hub
        from lwd_operator.recorder import open_recorder
        from lwd_operator.sim.fleet import FleetSpec, parse_tasks, start_robots
        from lwd_operator.sim.operator_bot import OperatorBot

        cfg = self.cfg
        init_keys(cfg.hub.keys_dir)  # first run: make keys; later runs: reuse them
        # The front end and the auto-deployer act as an admin of the demo. A key of its own, not
        # ``client``: a ``client`` key made before roles existed is only an observer.
        self.keys = ensure_key(cfg.hub.keys_dir, "demo-operator", "admin")
        ensure_key(cfg.hub.keys_dir, "sim-fleet", "robot", ["sim-*"])
        bot_keys = ensure_key(cfg.hub.keys_dir, "operator-bot", "operator")
        tasks = parse_tasks(self.opts.tasks)
        if self.opts.learner:
            import pathlib

            from lwd_operator.learner.starting_policy import StartRecipe, starting_snapshot

            self.start_snapshot = starting_snapshot(pathlib.Path(self.opts.work_dir) / "starting-policy",
                                                    StartRecipe(tasks=tasks, bc_steps=self.opts.start_bc_steps,
                                                                hidden=self.opts.start_hidden))
        self.hub = Hub(cfg.hub, recorder=open_recorder(cfg.hub.recordings), rollout=cfg.rollout).start()
        self.procs = start_robots(FleetSpec(
            tasks=tasks, n=self.opts.robots, camera_fps=self.opts.camera_fps,
            policy=str(self.start_snapshot) if self.start_snapshot else None,
            config=self.opts.config_path, port=cfg.hub.port, keys_dir=cfg.hub.keys_dir, identity="sim-fleet",
            verbose=self.opts.verbose))
        if self.opts.bot:
            self.bot_client = HubClient(self.endpoints, bot_keys, operator="operator-bot", role="bot").start()
            self.bot = OperatorBot(self.bot_client, cfg.bot).start()
        if self.opts.learner:
            self._start_learner()
        return self

    def _start_learner(self) -> None:
        import subprocess
        import sys

        from lwd_operator.client import HubClient
        from lwd_operator.learner.auto_deploy import AutoDeployer
        from lwd_operator.learner.starting_policy import offline_folder

        cmd = [sys.executable, "-m", "lwd_operator.cli", "learn", "--init", str(self.start_snapshot),
               "--offline", str(offline_folder(self.start_snapshot)), "--out", str(self.learner_dir),
               "--agent", self.opts.learner_agent, "--port", str(self.cfg.hub.port),
               "--keys-dir", str(self.cfg.hub.keys_dir), "--host", self.cfg.hub.host, "--identity", "learner",
               "--nice", str(DEMO_LEARNER_NICE)]
        if self.opts.config_path:
            cmd += ["--config", self.opts.config_path]
        if self.opts.learner_agent == "bc":
            cmd += ["--learn-from", "successes_and_interventions"]
        self.learner_proc = subprocess.Popen(cmd + ["-v"] * self.opts.verbose)
        # Deploying is an admin action: the demo delegates it to the auto-deployer (admin key).
        self.deploy_client = HubClient(self.endpoints, self.keys, operator="auto-deploy").start()
        self.deployer = AutoDeployer(self.deploy_client, self.opts.deploy).start()

    def learner_status(self) -> dict:
        """The learner's ``status.json`` (empty before its first write)."""
        import json

        try:
            return json.loads((self.learner_dir / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def loop_summary(self, window_s: float = 60.0) -> str:
        """Success and intervention rates of the episodes of the last ``window_s`` seconds, and
        what the learner has done: the line that shows the loop working."""
        from lwd_core.store import metrics

        if self.hub is None or self.hub.recorder is None:
            return ""
        r = metrics.totals(self.hub.recorder.store, since=time.time() - window_s)
        parts = []
        if r.labelled:
            parts.append(f"last {window_s:.0f} s: success {100 * r.success_rate:.0f} % of {r.labelled}")
        if r.steps:
            parts.append(f"interventions {100 * r.intervention_rate:.0f} %")
        st = self.learner_status()
        if st:
            parts.append(f"learner: {st.get('online_updates', 0)} updates, {st.get('episodes', 0)} episodes, "
                         f"{st.get('published', 0)} candidates")
        if self.deployer is not None and self.deployer.deployed:
            parts.append(f"deployed v{self.deployer.deployed[-1]}")
        return "  |  ".join(parts)

    @property
    def endpoints(self):
        from lwd_operator.sockets import Endpoints

        return Endpoints(self.cfg.hub.host, self.cfg.hub.port)

    def client(self, operator: str, role: str = "observer"):
        """A new hub client for a front end (the caller closes it)."""
        from lwd_operator.client import HubClient

        return HubClient(self.endpoints, self.keys, operator=operator, role=role).start()

    def bot_summary(self) -> str:
        if not self.bot:
            return ""
        s = self.bot.stats
        return f"bot: {s.takeovers} takeovers, {s.labelled} labelled, {s.successes} successes"

    def labelled(self) -> int:
        """Episodes the operator bot has labelled so far (0 without a bot)."""
        return self.bot.stats.labelled if self.bot else 0

    def should_stop(self, end: float | None, until_labelled: int = 0) -> bool:
        """Whether a front end's loop is done: ``end`` (monotonic) passed, or the bot has
        labelled ``until_labelled`` episodes (0: no such goal)."""
        if until_labelled and self.labelled() >= until_labelled:
            return True
        return end is not None and time.monotonic() >= end

    def stop(self) -> None:
        from lwd_operator.sim.fleet import stop_processes

        if self.deployer is not None:
            self.deployer.stop()
        if self.learner_proc is not None:
            stop_processes([self.learner_proc], grace_s=30)  # it checkpoints on SIGTERM
        if self.deploy_client is not None and self.deploy_client is not self.bot_client:
            self.deploy_client.close()
        if self.bot:
            self.bot.stop()
            self.bot_client.close()
        stop_processes(self.procs)
        if self.hub:
            self.hub.stop()

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_table_view(stack: DemoStack, duration: float | None = None, until_labelled: int = 0) -> None:
    """The rich live table of the fleet until Ctrl-C, ``duration`` seconds or ``until_labelled``
    episodes labelled by the bot."""
    from rich.console import Console
    from rich.live import Live

    from lwd_operator.status import fleet_table

    viewer = stack.client("demo-view")
    viewer.subscribe(hz=2)
    end = time.monotonic() + duration if duration else None
    watched: set[str] = set()
    try:
        console = Console()
        with Live(fleet_table(None), console=console, refresh_per_second=2) as live:
            while not stack.should_stop(end, until_labelled):
                fleet = viewer.latest_fleet
                for r in fleet.robots if fleet else []:
                    if r.robot_id not in watched:
                        watched.add(r.robot_id)
                        viewer.watch_frames(r.robot_id)
                summary = "  |  ".join(x for x in (stack.bot_summary(), stack.loop_summary()) if x)
                title = "LWD demo" + (f"  |  {summary}" if summary else "")
                live.update(fleet_table(fleet, viewer.latest_frames, title, width=console.width))
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        viewer.close()
    # The table's title was drawn up to half a second ago: the final counts, on a line of their own.
    summary = stack.bot_summary()
    if summary:
        print(summary)
