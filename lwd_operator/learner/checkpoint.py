"""Learner checkpoints: weights, EMA targets, optimiser states, RNG and counters. Never pickle.

Layout under the learner's folder::

    checkpoints/ckpt-<update>/model.safetensors   every tensor of the agent (EMA targets and the
                             meta.json            frozen reference included): a policy snapshot
                             optim.safetensors    optimiser tensors, flattened by name
                             learner.json         counters, optimiser structure, RNG state
    checkpoints/latest.json                       {"path": "ckpt-<update>"}

A checkpoint is complete before ``latest.json`` names it (written to a temporary name and
renamed), so a learner killed at any moment restarts from the newest complete checkpoint. The
two newest are kept.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import torch
from safetensors.torch import load_file, save_file

from lwd_core.learning import snapshot

KEEP = 2


def optimizers(agent) -> dict[str, torch.optim.Optimizer]:
    """The agent's optimisers by attribute name (``actor_opt``, ``critic_opt``, ...)."""
    return {k: v for k, v in sorted(vars(agent).items()) if isinstance(v, torch.optim.Optimizer)}


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict) -> dict:
    sd = opt.state_dict()
    state_meta = {}
    for idx, st in sd["state"].items():
        entry = {}
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{name}/{idx}/{key}"] = val.detach().cpu().contiguous().clone()
                entry[key] = {"tensor": True}
            else:
                entry[key] = {"value": val}
        state_meta[str(idx)] = entry
    return {"state": state_meta, "param_groups": sd["param_groups"]}


def _restore_optimizer(name: str, opt: torch.optim.Optimizer, meta: dict, tensors: dict) -> None:
    state = {}
    for idx, entry in meta["state"].items():
        state[int(idx)] = {k: tensors[f"{name}/{idx}/{k}"] if v.get("tensor") else v["value"]
                           for k, v in entry.items()}
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(root: str | os.PathLike, agent, counters: dict) -> pathlib.Path:
    """Write a complete checkpoint of ``agent`` with ``counters`` (JSON-able); returns its path."""
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{int(counters.get('updates', 0)):08d}"
    path = root / name
    if path.exists():
        shutil.rmtree(path)
    snapshot.save(agent, path, version=int(counters.get("version", 0)), learner_step=int(counters.get("updates", 0)))
    tensors: dict[str, torch.Tensor] = {}
    opt_meta = {k: _flatten_optimizer(k, o, tensors) for k, o in optimizers(agent).items()}
    save_file(tensors, str(path / "optim.safetensors"))
    state = {"counters": counters, "optimizers": opt_meta, "online": bool(agent.online),
             "generator": agent.gen.get_state().tolist()}
    (path / "learner.json").write_text(json.dumps(state))
    for f in path.iterdir():  # durable before it is named as the latest
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    tmp = root / "latest.json.tmp"
    tmp.write_text(json.dumps({"path": name}))
    os.replace(tmp, root / "latest.json")
    for old in sorted(root.glob("ckpt-*"))[:-KEEP]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return path


def latest_checkpoint(root: str | os.PathLike) -> pathlib.Path | None:
    root = pathlib.Path(root)
    try:
        name = json.loads((root / "latest.json").read_text())["path"]
    except (OSError, ValueError, KeyError):
        return None
    path = root / name
    return path if (path / "learner.json").exists() else None


def load_checkpoint(path: str | os.PathLike):
    """``(agent, counters)`` from a checkpoint, in training mode with its optimisers restored."""
    path = pathlib.Path(path)
    agent = snapshot.load(path)  # verifies digest and shapes
    agent.train()
    state = json.loads((path / "learner.json").read_text())
    tensors = load_file(str(path / "optim.safetensors"))
    opts = optimizers(agent)
    for name, meta in state["optimizers"].items():
        if name not in opts:
            raise ValueError(f"{path}: checkpoint has optimiser {name!r}, the agent has {sorted(opts)}")
        _restore_optimizer(name, opts[name], meta, tensors)
    agent.set_online(state["online"])
    agent.gen.set_state(torch.tensor(state["generator"], dtype=torch.uint8))
    return agent, state["counters"]
