"""Application configuration: one TOML file, one frozen dataclass per section.

Lookup order: ``--config PATH``, then ``$LWD_CONFIG``, then ``./lwd.toml``; a missing file means
all defaults. ``lwd config`` prints the effective configuration, with every field documented,
as a TOML file you can start from. Unknown keys are an error (typos must not pass silently).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tomllib
import typing


@dataclasses.dataclass(frozen=True)
class HubConfig:
    host: str = "127.0.0.1"
    """Address the hub binds. Use 0.0.0.0 to accept robots on other machines."""
    port: int = 5750
    """First of four consecutive ports: robots, clients, frames in, frames out."""
    deadman_ms: int = 300
    """A robot under human control with no teleop or operator heartbeat for this long holds still."""
    heartbeat_ms: int = 250
    """How often the hub and robots tell each other they are alive."""
    stale_ms: int = 1500
    """A robot (or client) silent for this long is shown as stale."""
    client_timeout_s: float = 5.0
    """A client silent this long loses its takeover locks (its robots stay stopped)."""
    fleet_hz: float = 5.0
    """Rate of fleet-state pushes to subscribed clients."""
    keys_dir: str = "~/.config/lwd/keys"
    """CurveZMQ keys (``lwd keys init``): server pair, client pair, authorized/ client keys."""
    recordings: str = "recordings"
    """Where episodes are stored (SQLite index + chunk files)."""
    learner_stale_s: float = 15.0
    """A learner whose status has not arrived for this long is shown as stale (offline or
    stuck); learners report every learner.status_every_s seconds."""


@dataclasses.dataclass(frozen=True)
class RobotConfig:
    control_hz: float = 20.0
    """Fixed control rate of every robot node."""
    camera_fps: float = 10.0
    """Camera rate per robot. MuJoCo renders in each robot's own render process, without
    shadows or reflections: ~20 ms of CPU a 96 px frame (~110 ms with them), so 4 robots at
    10 fps cost ~0.8 of a core; lower it for larger fleets on a small machine."""
    camera_size: int = 96
    """Square camera image size in pixels (JPEG)."""
    camera: str = "mujoco"
    """Camera source for simulated robots: mujoco, synthetic or none."""
    max_episode_steps: int = 300
    """Episodes end as timeout after this many control ticks."""
    policy: str = "noise"
    """Policy a robot runs before any learned snapshot: noise or hold."""
    teleop_hold_ms: int = 120
    """A teleop command keeps acting for this long if no newer one arrives."""
    stall_s: float = 4.0
    """A robot whose end effector moves less than 2 cm over this long asks for help."""
    help_tau: float = 0.25
    """Risk signal: the quantile of DIVL's value distribution read at each chunk's first state
    (a low quantile: what the critic fears, not what it expects)."""
    help_drop: float = 0.3
    """Ask for help when that quantile falls this far below the task's running level (values
    are discounted success probabilities in [0, 1]; 0.3 is a third of the whole scale)."""
    help_falling_chunks: int = 6
    """...or when it has fallen over this many consecutive chunks, by help_drop / 2 in total."""
    help_warmup_chunks: int = 20
    """Chunks of a task seen before its running level is trusted (no requests before that);
    counted per episode phase."""
    help_phase_chunks: int = 4
    """Chunks of an episode that share a running level: a discounted value rises toward the
    goal, so an episode's first chunks are compared with other episodes' first chunks, not with
    the task's average (0: one level a task)."""
    preload_torch: bool = False
    """Load torch and the learning code before the control loop starts, so that the first
    learned policy version to arrive does not stall the loop while they load (seconds of imports
    with the GIL held: the first swap then misses ticks). Costs ~10 s of start-up CPU and ~200 MB
    per robot, so it is off by default; turn it on for fleets that receive learned versions."""
    build_slots: int = 2
    """Robot processes of one machine that build a new policy version at the same time (the
    others wait their turn; 0: no limit). A build (checks, networks, a warm-up chunk) is 20-35 ms
    of CPU holding the robot's GIL; a whole fleet building at once on a small machine starves
    its control loops (lwd_operator/robot/build_slots.py). On 2 cores, 16 robots: 2 slots gave
    0 missed ticks and the fastest swaps (1 slot: 0 missed, slower; no limit: 2-34 missed)."""


@dataclasses.dataclass(frozen=True)
class BotConfig:
    patience_s: float = 3.0
    """The operator bot takes over a robot whose episode has run this long without success."""
    max_robots: int = 8
    """How many robots the bot drives at once."""


@dataclasses.dataclass(frozen=True)
class TuiConfig:
    bell: bool = True
    """Ring the terminal bell on help requests, deadman stops and robots going offline."""
    refresh_hz: float = 4.0
    """How often the TUI repaints (the hub pushes fleet state at its own rate)."""
    operator: str = ""
    """Operator name the TUI uses with the hub (default: $USER)."""
    recent_episodes: int = 10
    """The fleet table's success rate covers each robot's last this-many episodes."""
    stall_s: float = 6.0
    """A robot under its policy whose step counter has not moved this long is shown as stalled."""


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
    canary_robots: int = 2
    """k: robots that run a candidate first (``lwd policy deploy --canary``)."""
    min_episodes: int = 20
    """Labelled canary episodes (and as many of the incumbent on the same tasks) before any
    automatic decision."""
    max_episodes: int = 200
    """Canary episodes after which an undecided comparison waits for an operator."""
    success_margin: float = 0.05
    """Non-inferiority margin on success rate: promote when the 95 % interval of (candidate -
    incumbent) lies above -margin; roll back when it lies below 0 (clearly worse)."""
    intervention_margin: float = 0.05
    """The same for intervention rate (human steps / steps), where higher is worse."""
    z: float = 1.96
    """Normal quantile of the intervals (1.96: 95 %)."""
    require_approval: bool = False
    """Never promote automatically: a candidate that passes waits for ``lwd policy promote``
    (roll-backs of clearly worse candidates stay automatic)."""
    evaluate_s: float = 2.0
    """How often the hub compares canary and incumbent."""
    chunk_bytes: int = 512 * 1024
    """Size of the pieces in which snapshots travel (under the sockets' message limits)."""
    offer_retry_s: float = 10.0
    """A robot that neither swapped nor refused an offered version is offered it again after
    this long (it may have restarted or lost the offer)."""


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    agent: str = "divl_qam"
    """Learning rule online: divl_qam (LWD: DIVL critic + QAM extraction) or bc (flow BC, the
    HG-DAgger-style baseline when paired with learn_from = successes_and_interventions)."""
    learn_from: str = "all"
    """Which online data trains: all (every labelled step, successes and failures: LWD uses all
    deployment data) or successes_and_interventions (HG-DAgger: whole successful episodes and the
    human steps of failed ones)."""
    batch_size: int = 256
    """Chunks per update."""
    n_step: int = 1
    """Chunks per TD window online. LWD uses 1 online: longer windows could mix a policy segment
    with a human one (the dataset also cuts windows at such switches)."""
    online_fraction: float = 0.5
    """Share of each batch drawn from online (deployment) data once the ramp is over; the rest is
    offline data (algorithms.md 4.2: offline:online 1:1). Without offline data it is 1."""
    online_ramp_steps: int = 2000
    """Schedule of the mix: the online share grows linearly with the online steps received,
    from 0 to online_fraction at this many steps, so a few early episodes are not replayed
    hundreds of times each (0: the full share from the first online step)."""
    pretrain_steps: int = 2000
    """With --offline and no --init: BC (+ critic) pre-training steps before going online."""
    publish_every_updates: int = 200
    """Propose a candidate snapshot after this many online updates (0: never by count)."""
    publish_every_s: float = 120.0
    """... or after this many seconds since the last proposal, whichever comes first (0: never
    by time). A proposal needs at least one update since the last one."""
    checkpoint_every_updates: int = 100
    """Write a checkpoint (weights, optimisers, EMA targets, counters) this often; received
    episodes are persisted as they arrive, so a killed learner loses at most these updates."""
    fetch_every_s: float = 1.0
    """How often the learner asks the hub for new labelled episodes."""
    fetch_max_steps: int = 20000
    """Steps per episode batch from the hub (whole episodes; the hub caps the bytes too)."""
    replay_steps: int = 2_000_000
    """Online steps held in memory for sampling (~200 bytes each without cameras); past it the
    oldest online episodes leave the replay (never the offline data; every received episode
    stays in the run folder's log). 0: no bound. The learner otherwise grows by every step the
    fleet sends: +4.6 MiB/min with 16 robots at 20 Hz in the 30-minute soak."""
    max_updates_per_s: float = 0.0
    """Cap on the update rate so the learner leaves CPU to robots on a shared machine (0: none)."""
    threads: int = 1
    """torch.set_num_threads: cores the learner may use. 1 leaves the second core of a 2-core
    machine to the fleet's control loops."""
    nice: int = 0
    """Lower the learner's CPU priority by this much (0: unchanged, for a learner on its own
    machine). Where it shares cores with robots (``lwd demo`` uses 10) the kernel then gives
    the robots and the hub the CPU first; the learner still gets every idle cycle."""
    tau_online: float = 0.9
    """DIVL's tau_base once online (LWD App. B2: 0.9); replaces the agent's offline value."""
    seed: int = 0
    """Seed of sampling and initialisation (each distributed rank adds its rank)."""
    status_every_s: float = 2.0
    """How often the learner reports its state and last losses to the hub (and at each
    candidate); consoles and the TUI show them (0: never)."""


@dataclasses.dataclass(frozen=True)
class Config:
    hub: HubConfig = HubConfig()
    robot: RobotConfig = RobotConfig()
    bot: BotConfig = BotConfig()
    learner: LearnerConfig = LearnerConfig()
    tui: TuiConfig = TuiConfig()
    rollout: RolloutConfig = RolloutConfig()


class ConfigError(ValueError):
    pass


def _build(cls, data: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(fields)})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table")
            kwargs[key] = _build(hint, value, f"{where}.{key}")
        else:
            if hint is float and isinstance(value, int):
                value = float(value)
            if not isinstance(value, hint):
                raise ConfigError(f"{where}.{key}: expected {hint.__name__}, got {value!r}")
            kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | os.PathLike | None = None) -> Config:
    path = path or os.environ.get("LWD_CONFIG") or ("lwd.toml" if os.path.exists("lwd.toml") else None)
    if not path:
        return Config()
    p = pathlib.Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from None
    return _build(Config, data, str(p))


def field_docs(cls) -> dict[str, str]:
    """Docstrings written under dataclass fields (the project's config convention)."""
    import ast
    import inspect

    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:] + [None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def dump_config(cfg: Config) -> str:
    """The configuration as commented TOML (field docstrings become comments)."""
    out = ["# LWD Operator configuration (defaults shown). Save as lwd.toml or pass --config."]
    for section in dataclasses.fields(cfg):
        obj = getattr(cfg, section.name)
        docs = field_docs(type(obj))
        out.append(f"\n[{section.name}]")
        for f in dataclasses.fields(obj):
            if f.name in docs:
                out.append(f"# {docs[f.name]}")
            v = getattr(obj, f.name)
            out.append(f"{f.name} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{f.name} = {str(v).lower() if isinstance(v, bool) else v}")
    return "\n".join(out) + "\n"


def add_config_argument(parser) -> None:
    parser.add_argument("--config", help="TOML configuration file (default: $LWD_CONFIG or ./lwd.toml)")
