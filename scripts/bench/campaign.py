"""What the soak and chaos campaigns share: starting the stack as real processes, sampling every
process's memory and file descriptors, and auditing the store afterwards.

Every process is a real ``lwd`` command on loopback with recording on, in a temporary directory
(keys, config, recordings), so a campaign touches nothing of the user's.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_core.store import EpisodeStore  # noqa: E402
from lwd_operator.auth import init_keys  # noqa: E402
from lwd_operator.sim.fleet import FleetSpec, robot_commands  # noqa: E402
from tests.conftest import free_port_block  # noqa: E402

LWD = [sys.executable, "-m", "lwd_operator.cli"]


def learner_available() -> bool:
    """Whether this build has ``lwd learn`` (the campaigns run it only when asked and present):
    every ``lwd`` command is a module of ``lwd_operator.cli``."""
    import importlib.util

    return importlib.util.find_spec("lwd_operator.cli.learn") is not None


def add_learner_arguments(ap) -> None:
    """``--learner`` and ``--learner-args``, the same in every campaign."""
    ap.add_argument("--learner", action="store_true", help="also run `lwd learn` (where this build has it)")
    ap.add_argument("--learner-args", default="", metavar="ARGS",
                    help="more arguments for `lwd learn`, e.g. its starting point: \"--init SNAPSHOT\" or \"--offline DATA\"")


def check_learner(args, campaign: str) -> None:
    """Exit with a clear message when ``--learner`` was asked for and this build has none."""
    if args.learner and not learner_available():
        sys.exit(f"{campaign}: --learner asked for, but this build has no `lwd learn`")


class Stack:
    """Hub, robots (one process each), operator bots and optionally the learner, each restartable."""

    def __init__(self, robots: int, camera: str = "synthetic", camera_fps: float = 10.0, bots: int = 1,
                 learner: bool = False, learner_args: str = "", tasks: str = "reach-v3,push-v3",
                 log_dir: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="lwd-campaign-"))
        self.port = free_port_block()
        self.keys = str(init_keys(self.dir / "keys"))
        self.recordings = self.dir / "recordings"
        self.config = self.dir / "lwd.toml"
        self.config.write_text(f'[hub]\nrecordings = "{self.recordings}"\n')
        self.common = ["--config", str(self.config), "--port", str(self.port), "--keys-dir", self.keys]
        spec = FleetSpec(tasks=tuple(tasks.split(",")), n=robots, policy="noise", camera=camera,
                         camera_fps=camera_fps, config=str(self.config), port=self.port, keys_dir=self.keys)
        self.commands: dict[str, list[str]] = {"hub": LWD + ["hub"] + self.common}
        for i, cmd in enumerate(robot_commands(spec)):
            self.commands[f"robot-{i}"] = cmd
        for i in range(bots):
            self.commands[f"bot-{i}"] = LWD + ["operator-bot", "--name", f"bot{i}"] + self.common
        if learner:
            # Its starting point (--init SNAPSHOT or --offline DATA) comes from the caller.
            self.commands["learner"] = (LWD + ["learn", "--out", str(self.dir / "learn")] + shlex.split(learner_args)
                                        + self.common)
        self.log = open(log_dir or self.dir / "processes.log", "ab")  # noqa: SIM115 (closed in stop)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.commands[name], stdout=self.log, stderr=self.log,
                                            env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def start_all(self) -> None:
        self.start("hub")
        for name in self.commands:
            if name != "hub":
                self.start(name)

    def kill(self, name: str) -> None:
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(30)
        for child in _children(p.pid):  # a robot's render process ends with its stdin anyway
            child.kill()

    def stop(self) -> None:
        """Robots first (each ends its episode and waits for its last acks), then clients, then
        the hub (its recorder flushes)."""
        order = ([n for n in self.procs if n.startswith("robot")] + [n for n in self.procs if n.startswith(("bot", "learner"))]
                 + ["hub"])
        for group in (order[:-1], order[-1:]):
            for n in group:
                if self.procs[n].poll() is None:
                    self.procs[n].terminate()
            for n in group:
                try:
                    self.procs[n].wait(30)
                except subprocess.TimeoutExpired:
                    self.procs[n].kill()
                    self.procs[n].wait(10)
        self.log.close()

    def wait_recording(self, episodes: int, timeout: float = 300.0) -> bool:
        """Wait until the store holds ``episodes`` episodes (the stack is up and recording)."""
        import sqlite3

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with sqlite3.connect(f"file:{self.recordings / 'index.sqlite'}?mode=ro", uri=True) as db:
                    if db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] >= episodes:
                        return True
            except sqlite3.Error:
                pass  # not created yet
            time.sleep(1.0)
        return False

    def processes(self) -> dict[str, psutil.Process]:
        """Every live process of the stack, render processes included, by name."""
        out = {}
        for name, p in self.procs.items():
            if p.poll() is None:
                try:
                    out[name] = psutil.Process(p.pid)
                    for j, c in enumerate(_children(p.pid)):
                        out[f"{name}/child{j}"] = c
                except psutil.NoSuchProcess:
                    pass
        return out


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@dataclasses.dataclass
class Samples:
    """RSS (MiB) and open file descriptors of each process over time."""

    t: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    rss: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    fds: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def take(self, procs: dict[str, psutil.Process], t: float) -> None:
        for name, p in procs.items():
            try:
                rss, fds = p.memory_info().rss / 2**20, p.num_fds()
            except psutil.Error:
                continue
            self.t.setdefault(name, []).append(t)
            self.rss.setdefault(name, []).append(rss)
            self.fds.setdefault(name, []).append(fds)

    def slopes(self, skip_frac: float = 0.2) -> dict[str, tuple[float, float, float, float]]:
        """Per process: (RSS at the end MiB, RSS slope MiB/min, fds at the end, fd slope per min),
        fitted after the first ``skip_frac`` of the samples (start-up: imports, caches filling)."""
        out = {}
        for name, ts in self.t.items():
            k = int(len(ts) * skip_frac)
            t, r, f = np.asarray(ts[k:]) / 60, np.asarray(self.rss[name][k:]), np.asarray(self.fds[name][k:])
            if len(t) < 3 or t[-1] - t[0] <= 0:
                continue
            out[name] = (r[-1], float(np.polyfit(t, r, 1)[0]), f[-1], float(np.polyfit(t, f, 1)[0]))
        return out


@dataclasses.dataclass
class Audit:
    """What the store holds after a campaign, and what is missing from it."""

    episodes: int = 0
    ended: int = 0
    aborted: int = 0
    running: int = 0
    labelled: int = 0
    labelled_incomplete: int = 0
    steps_expected: int = 0
    """Steps the robots said their ended episodes had (EpisodeEvent.steps)."""
    steps_stored: int = 0
    steps_lost: int = 0
    """Steps of ended episodes the robot reported but the store lacks (target 0)."""
    duplicates: int = 0
    aborted_holes: int = 0
    """Missing steps inside aborted episodes (a robot killed before its resends: not promised)."""
    running_at_stop: int = 0
    """Episodes the hub left running when it stopped (aborted by the reconcile of the next open)."""
    integrity: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.episodes > 0 and self.integrity == "ok" and not self.problems and self.steps_lost == 0 and self.duplicates == 0
                and self.labelled_incomplete == 0 and self.running == 0)


def audit_store(recordings: Path) -> Audit:
    """Integrity check, then every episode: ended ones complete (as many distinct steps as the robot
    reported, 0..n-1), labelled ones ended and complete, no duplicate steps, none left running."""
    a = Audit()
    with EpisodeStore(recordings, writer=False) as ro:
        a.running_at_stop = ro.db.execute("SELECT COUNT(*) FROM episodes WHERE status = 'running'").fetchone()[0]
    # Opened as the hub opens it on its next start: reconcile aborts what was interrupted (an
    # episode whose robot died, or whose last batches were never acknowledged before it stopped).
    store = EpisodeStore(recordings)
    try:
        rep = store.verify()
        a.integrity, a.problems = rep.integrity, list(rep.problems)
        rows = store.db.execute("SELECT id, status, outcome, expected_steps FROM episodes").fetchall()
        for ep, status, outcome, expected in rows:
            a.episodes += 1
            steps = store.read_steps(ep, prefix_only=False)["step"].tolist()
            distinct = set(steps)
            a.duplicates += len(steps) - len(distinct)
            a.steps_stored += len(distinct)
            top = max(distinct) + 1 if distinct else 0
            if status == "running":
                a.running += 1
            elif status == "aborted":
                a.aborted += 1
                a.aborted_holes += top - len(distinct)
            else:
                a.ended += 1
                n = int(expected) if expected is not None else top
                a.steps_expected += n
                lost = len(set(range(n)) - distinct)
                a.steps_lost += lost
            if outcome != "unlabeled":
                a.labelled += 1
                n = int(expected) if expected is not None else -1
                if status != "ended" or distinct != set(range(n)):
                    a.labelled_incomplete += 1
    finally:
        store.close()
    return a


def print_audit(a: Audit) -> None:
    print(f"store: {a.episodes} episodes ({a.ended} ended, {a.aborted} aborted, {a.running} running; "
          f"{a.running_at_stop} were running when the hub stopped), "
          f"{a.labelled} labelled ({a.labelled_incomplete} incomplete)")
    print(f"steps: {a.steps_expected} reported by robots in ended episodes, {a.steps_stored} stored in all; "
          f"lost {a.steps_lost}, duplicates {a.duplicates}, holes in aborted episodes {a.aborted_holes}")
    print(f"integrity: {a.integrity}; chunk problems: {len(a.problems)}" + "".join(f"\n  {p}" for p in a.problems[:10]))
    if a.episodes == 0:
        print("verdict: NOTHING RECORDED (the stack never came up: nothing to audit)")
    else:
        print("verdict: " + ("nothing lost" if a.ok else "RECORDS LOST OR STORE DAMAGED"))

