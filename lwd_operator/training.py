"""Offline training: BC pre-training of the reference flow policy, then DIVL + QAM (or any agent
of the registry), with periodic evaluation in simulation, TensorBoard metrics and snapshots.

The loop is agent-agnostic: agents share the method names ``pretrain_step``, ``update``,
``set_online`` and ``sample_actions`` (see ``lwd_core.learning.agents``), so the BC baseline,
the expectile ablation and DIVL + QAM run through exactly the same code with the same budget.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time
from collections.abc import Callable

import numpy as np
import torch

from lwd_core.data.chunk_dataset import ChunkDataset
from lwd_core.learning.cpu_placement import place_learner

log = logging.getLogger("lwd.train")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    agent: str = "divl_qam"
    """Agent from the registry: bc, expectile_qam or divl_qam."""
    bc_steps: int = 5000
    """Flow-matching BC steps that make the reference policy (the critic learns alongside)."""
    rl_steps: int = 1500
    """Critic + policy-extraction steps after BC (BC agents keep doing BC steps)."""
    batch_size: int = 256
    """Chunks per gradient step."""
    horizon: int = 8
    """Action-chunk length H."""
    beta: float = 40.0
    """Inverse temperature of QAM's tilt toward high Q (pi_beta Q^beta, for 0/1 success rewards;
    ignored by BC)."""
    n_step: int = 4
    """Chunks per TD window (n-step targets, LWD's offline setting: value reaches early states
    in fewer updates; windows never cross episode ends or policy/human switches)."""
    eval_every: int = 0
    """Evaluate in simulation every this many steps (0: only at the end)."""
    eval_episodes: int = 10
    """Episodes per task for each evaluation."""
    eval_execute: int = 4
    """Actions of each chunk executed before the policy is asked again."""
    max_steps: int = 200
    """Episode length limit in evaluation."""
    snapshot_every: int = 1000
    """Write a snapshot every this many steps (and at the end)."""
    threads: int = 2
    """torch.set_num_threads: the CPU cores the learner may use."""
    nice: int = 0
    """Lower the learner's CPU priority by this much (os.nice; e.g. 10 when it shares the cores
    with robots whose control loops must not wait; 0: unchanged). See lwd_core.learning.cpu_placement."""
    seed: int = 0
    """Seed for sampling, initialisation and evaluation placements."""
    cameras: str = ""
    """Comma-separated camera names to condition on (e.g. corner): frames aligned to steps go
    through the agent's CNN; empty: state and task only."""
    image_size: int = 64
    """Side the camera frames are resized to for the CNN (a multiple of 16)."""

    @property
    def camera_list(self) -> list[str]:
        return [c.strip() for c in self.cameras.split(",") if c.strip()]


@dataclasses.dataclass
class TrainResult:
    agent: object
    history: list[dict]
    eval: list
    snapshots: list[pathlib.Path]


def build_agent(name: str, ds: ChunkDataset, cfg: TrainConfig, overrides: dict | None = None):
    """The agent ``name`` sized for ``ds``; ``overrides`` sets fields of its config (unknown ones
    are refused), after ``cfg.beta``."""
    from lwd_core.learning.agents import AGENTS

    cls = AGENTS[name]
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    values = {"beta": cfg.beta} if "beta" in fields else {}
    if ds.cameras:  # the dataset hands out images: the agent gets a CNN for them
        values.update(cameras=len(ds.cameras), image_size=ds.image_size)
    for k, v in (overrides or {}).items():
        if k not in fields:
            raise ValueError(f"agent {name} has no config field {k!r}")
        values[k] = v
    config = cls.config_class(**values)
    mean, std = ds.obs_stats()
    low, high = ds.action_stats()
    return cls.create(obs_dim=ds.obs_dim, action_dim=ds.action_dim, horizon=cfg.horizon, tasks=ds.tasks,
                      obs_mean=mean, obs_std=std, action_low=low, action_high=high, seed=cfg.seed, config=config)


def policy_fn(agent, seed: int = 0) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    gen = torch.Generator().manual_seed(seed)

    @torch.inference_mode()
    def act(obs: np.ndarray, task: np.ndarray) -> np.ndarray:
        return agent.sample_actions(torch.from_numpy(obs), torch.from_numpy(task), generator=gen).numpy()

    return act


def train(ds: ChunkDataset, cfg: TrainConfig, out: pathlib.Path | None = None, *,
          progress: bool = True, evaluate_fn: Callable | None = None,
          agent_overrides: dict | None = None) -> TrainResult:
    """Run the whole schedule; ``evaluate_fn(policy, step)`` returns eval results (or None)."""
    from lwd_core.progress import progress as progress_bar

    torch.manual_seed(cfg.seed)
    place_learner(cfg.threads, nice=cfg.nice)
    agent = build_agent(cfg.agent, ds, cfg, agent_overrides)
    writer = None
    if out is not None:
        from torch.utils.tensorboard import SummaryWriter

        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
        writer = SummaryWriter(str(out / "tb"))
    history, evals, snaps = [], [], []
    total = cfg.bc_steps + cfg.rl_steps
    bar = progress_bar(range(total), desc=cfg.agent, enabled=progress, unit="step")
    t0 = time.perf_counter()
    version = 0
    for step in bar:
        batch = ds.sample(cfg.batch_size)
        pretraining = step < cfg.bc_steps
        info = agent.pretrain_step(batch) if pretraining else agent.update(batch)
        if step == cfg.bc_steps - 1 and hasattr(agent, "end_pretraining"):
            agent.end_pretraining()  # freeze the reference f_beta
        if step % 50 == 0 or step == total - 1:
            info = {k: float(v) for k, v in info.items()}
            info.update(step=step, phase="bc" if pretraining else "rl", sps=(step + 1) / (time.perf_counter() - t0))
            history.append(info)
            bar.set_postfix({k: f"{v:.3g}" for k, v in info.items() if isinstance(v, float) and k != "sps"}, refresh=False)
            if writer:
                for k, v in info.items():
                    if isinstance(v, float):
                        writer.add_scalar(f"{info['phase']}/{k}", v, step)
        last = step == total - 1
        if evaluate_fn and ((cfg.eval_every and (step + 1) % cfg.eval_every == 0) or last):
            res = evaluate_fn(policy_fn(agent, cfg.seed), step + 1)
            if res:
                evals.append((step + 1, res))
                rate = float(np.mean([r.rate for r in res]))
                log.info("step %d: success %.1f %%", step + 1, 100 * rate)
                if writer:
                    writer.add_scalar("eval/success", rate, step + 1)
                    for r in res:
                        writer.add_scalar(f"eval/{r.task}", r.rate, step + 1)
        if out is not None and ((step + 1) % cfg.snapshot_every == 0 or last):
            from lwd_core.learning import snapshot

            version += 1
            path = out / f"snapshot-{version:04d}"
            snapshot.save(agent, path, version=version, parent=version - 1, learner_step=step + 1)
            snaps.append(path)
    if writer:
        writer.close()
    return TrainResult(agent, history, evals, snaps)


def load_dataset(path: str, cfg: TrainConfig):
    """A ChunkDataset from an LWD demo folder, a LeRobot export (``lwd episodes export``) or a
    recordings store (its labelled episodes); with ``cfg.cameras`` each step carries its
    aligned camera frames (every episode must have them, or the dataset refuses it)."""
    from lwd_core.data.chunk_dataset import ChunkDataset
    from lwd_core.data.demo_folder import DemoFolder, is_demo_folder

    cams = cfg.camera_list
    kw = dict(horizon=cfg.horizon, n_step=cfg.n_step, seed=cfg.seed, cameras=cams,
              image_size=cfg.image_size)
    if is_demo_folder(path):
        if cams:
            raise ValueError(f"{path}: a demo folder holds no camera frames")
        folder = DemoFolder(path)
        ds = ChunkDataset(folder.tasks, folder.obs_dim, folder.action_dim, **kw)
        ds.add_episodes(folder, online=False)
        return ds
    if (pathlib.Path(path) / "meta/info.json").exists():
        from lwd_core.store.lerobot_import import read_lerobot

        eps = []
        for item in read_lerobot(path, frames=bool(cams)):
            item.episode.t_ns, item.episode.frames = item.t_ns, item.frames
            eps.append(item.episode)
    else:
        from lwd_core.store import EpisodeStore
        from lwd_core.store.episode_source import StoreEpisodeSource

        store = EpisodeStore(path, writer=False)
        eps = StoreEpisodeSource(store, include_demo=True, frames=bool(cams)).new_episodes()
    eps = [e for e in eps if e.outcome != "unlabeled" and len(e)]
    if not eps:
        raise ValueError(f"{path}: no labelled episodes")
    for e in eps:
        missing = [c for c in cams if not (e.frames or {}).get(c, (None, []))[1]]
        if missing:
            raise ValueError(f"{path}: episode {e.episode_id} has no frames from {', '.join(missing)}")
    ds = ChunkDataset(sorted({e.task for e in eps}), eps[0].states.shape[1], eps[0].actions.shape[1], **kw)
    ds.add_episodes(eps, online=False)
    return ds
