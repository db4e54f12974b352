"""Policy snapshots: ``model.safetensors`` + ``meta.json`` in a directory. Never pickle.

meta.json: format, version, parent, learner_step, agent, config, tasks, obs/action dims,
horizon, normalisation statistics, and the sha256 of the weights file. ``load`` refuses a
snapshot whose digest, tensor names or shapes, or config do not match, with a ``SnapshotError``
that says which — a robot never runs an unverified policy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib

from safetensors.torch import load_file, save_file

FORMAT = "lwd-policy-snapshot"


class SnapshotError(ValueError):
    pass


def sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(agent, path: str | os.PathLike, *, version: int, parent: int = 0, learner_step: int = 0) -> dict:
    """Write atomically (temp names, then rename); returns the metadata."""
    d = pathlib.Path(path)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in agent.state_dict().items()}
    tmp = d / "model.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, d / "model.safetensors")
    meta = {
        "format": FORMAT, "version": version, "parent": parent, "learner_step": learner_step,
        "agent": agent.name, "config": dataclasses.asdict(agent.config), "tasks": agent.tasks,
        "obs_dim": agent.obs_dim, "action_dim": agent.action_dim, "horizon": agent.horizon,
        "obs_mean": agent.encoder.obs_mean.tolist(), "obs_std": agent.encoder.obs_std.tolist(),
        "action_low": agent.action_low.tolist(), "action_high": agent.action_high.tolist(),
        "sha256": sha256_file(d / "model.safetensors"),
    }
    (d / "meta.json.tmp").write_text(json.dumps(meta, indent=1))
    os.replace(d / "meta.json.tmp", d / "meta.json")
    return meta


def read_meta(path: str | os.PathLike) -> dict:
    d = pathlib.Path(path)
    try:
        meta = json.loads((d / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise SnapshotError(f"{d}: unreadable meta.json ({e})") from None
    if meta.get("format") != FORMAT:
        raise SnapshotError(f"{d}: not a policy snapshot (format {meta.get('format')!r})")
    return meta


def load(path: str | os.PathLike):
    """Rebuild the agent from a verified snapshot (eval mode)."""
    from lwd_core.learning.agents import AGENTS

    d = pathlib.Path(path)
    meta = read_meta(d)
    weights = d / "model.safetensors"
    if not weights.exists():
        raise SnapshotError(f"{d}: model.safetensors is missing")
    digest = sha256_file(weights)
    if digest != meta.get("sha256"):
        raise SnapshotError(f"{d}: weights digest {digest[:12]}… does not match meta.json's {str(meta.get('sha256'))[:12]}…")
    cls = AGENTS.get(meta.get("agent"))
    if cls is None:
        raise SnapshotError(f"{d}: unknown agent {meta.get('agent')!r}")
    try:
        config = cls.config_class(**meta["config"])
    except TypeError as e:
        raise SnapshotError(f"{d}: config does not match agent {cls.name}: {e}") from None
    agent = cls.create(obs_dim=meta["obs_dim"], action_dim=meta["action_dim"], horizon=meta["horizon"],
                       tasks=meta["tasks"], obs_mean=meta["obs_mean"], obs_std=meta["obs_std"], config=config)
    # Older layouts of the same model (e.g. Q heads saved one by one) are converted, not refused.
    tensors = agent.upgrade_state_dict(load_file(str(weights)))
    if any(k.startswith("reference.") for k in tensors):
        agent.end_pretraining()  # saved after pre-training: it carries the frozen reference
    expected = agent.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [k for k in expected.keys() & tensors.keys() if expected[k].shape != tensors[k].shape]
    if missing or unexpected or wrong:
        raise SnapshotError(f"{d}: tensors do not fit agent {cls.name}: missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}")
    agent.load_state_dict(tensors)
    agent.eval()
    agent.meta = meta
    return agent
