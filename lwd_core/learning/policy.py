"""FlowPolicy: what a robot runs. Loaded only from a verified snapshot."""

from __future__ import annotations

import os

import numpy as np
import torch

from lwd_core.learning import divl, snapshot


class FlowPolicy:
    def __init__(self, agent, seed: int = 0):
        self.agent = agent
        self.meta = getattr(agent, "meta", {})
        self.version = int(self.meta.get("version", 0))
        self.horizon = agent.horizon
        self.task_index = {t: i for i, t in enumerate(agent.tasks)}
        self.gen = torch.Generator().manual_seed(seed)

    @classmethod
    def from_snapshot(cls, path: str | os.PathLike, seed: int = 0) -> FlowPolicy:
        return cls(snapshot.load(path), seed)

    @torch.inference_mode()
    def act(self, obs: np.ndarray, task: str | int, images: np.ndarray | None = None,
            instruction: np.ndarray | None = None) -> np.ndarray:
        """One action chunk [H, action_dim] (float32, robot units) for one observation.

        ``images``: uint8 [n_cam, 3, h, w] for a model built with cameras; ``instruction``: the
        instruction's embedding for a model built with ``instruction_dim``.
        """
        ti = self.task_index[task] if isinstance(task, str) else int(task)
        o = torch.as_tensor(np.asarray(obs, np.float32))[None]
        im = None if images is None else torch.as_tensor(np.asarray(images, np.uint8))[None]
        ins = None if instruction is None else torch.as_tensor(np.asarray(instruction, np.float32))[None]
        return self.agent.sample_actions(o, torch.tensor([ti]), generator=self.gen, images=im,
                                         instruction=ins)[0].numpy()

    @torch.inference_mode()
    def value_quantile(self, obs: np.ndarray, task: str | int, tau: float) -> float | None:
        """The tau-quantile of DIVL's value distribution V(s) at ``obs`` (a discounted success
        probability with 0/1 rewards); None for an agent without a distributional value head."""
        v, atoms = getattr(self.agent, "v", None), getattr(self.agent, "atom_values", None)
        enc = getattr(self.agent, "critic_encoder", None)
        if v is None or atoms is None or enc is None or self.agent.config.cameras:
            return None
        ti = self.task_index[task] if isinstance(task, str) else int(task)
        z = enc(torch.as_tensor(np.asarray(obs, np.float32))[None], torch.tensor([ti]), None, None)
        probs = v(z).softmax(-1)
        return float(divl.quantile(probs, atoms, torch.tensor([float(tau)]))[0])
