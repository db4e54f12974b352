"""A weak starting policy for ``lwd demo`` and the closed-loop benchmark, made once and cached.

Recipe (deliberately weak, so that learning has something to show): ``episodes_per_task``
scripted-expert episodes per task with heavy action noise (``lwd gen-data``'s recipe, so many
fail), then ``bc_steps`` of flow-matching BC (the DIVL + QAM agent's pre-training: its critic
learns alongside, and its frozen reference is the BC policy). The result is a snapshot whose
policy is plain BC, cached under ``root`` keyed by the recipe, so a second run starts at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib


@dataclasses.dataclass(frozen=True)
class StartRecipe:
    tasks: tuple[str, ...]
    episodes_per_task: int = 6
    """Offline episodes per task (small: the set is meant to be weak)."""
    noise: float = 0.6
    """Std of the Gaussian noise on the expert's actions (0.6: roughly half the episodes fail)."""
    max_steps: int = 150
    """Episode length limit of the offline set."""
    bc_steps: int = 600
    """Pre-training steps (batch 128)."""
    hidden: int = 256
    """Width of the networks."""
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def starting_snapshot(root: str | pathlib.Path, recipe: StartRecipe, progress: bool = True) -> pathlib.Path:
    """The snapshot folder for ``recipe`` under ``root`` (made on first use; see the module doc)."""
    from lwd_core.learning import snapshot
    from lwd_operator.gen_data import generate
    from lwd_operator.training import TrainConfig, load_dataset, train

    base = pathlib.Path(root) / f"start-{recipe.key()}"
    snap = base / "snapshot"
    if (snap / "meta.json").exists():
        try:
            snapshot.read_meta(snap)
            return snap
        except snapshot.SnapshotError:
            pass  # half-written by an interrupted run: make it again
    data = base / "offline"
    if not (data / "meta.json").exists():
        if progress:
            print(f"making a weak offline set: {recipe.episodes_per_task} noisy expert episodes per task "
                  f"({len(recipe.tasks)} tasks)", flush=True)
        generate(list(recipe.tasks), recipe.episodes_per_task, [recipe.noise], recipe.max_steps, recipe.seed,
                 str(data), progress=progress)
    cfg = TrainConfig(agent="divl_qam", bc_steps=recipe.bc_steps, rl_steps=0, batch_size=128, n_step=1,
                      seed=recipe.seed, threads=1)
    if progress:
        print(f"pre-training the starting policy (BC, {recipe.bc_steps} steps)", flush=True)
    res = train(load_dataset(str(data), cfg), cfg, None, progress=progress,
                agent_overrides={"hidden": recipe.hidden, "z_dim": recipe.hidden})
    snapshot.save(res.agent, snap, version=0, learner_step=recipe.bc_steps)
    (base / "recipe.json").write_text(json.dumps(dataclasses.asdict(recipe), indent=1))
    return snap


def offline_folder(snapshot_dir: str | pathlib.Path) -> pathlib.Path:
    """The offline set a cached starting snapshot was made from."""
    return pathlib.Path(snapshot_dir).parent / "offline"
