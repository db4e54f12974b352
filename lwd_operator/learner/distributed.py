"""Scale-out for ``lwd learn`` under ``torchrun``: torch.distributed data parallelism.

Every rank holds a full replica of the agent and of the dataset, samples its own batches (seed +
rank) and averages gradients with the others before every optimiser step, so the replicas stay
identical while each update sees ``world_size`` times the data. Only rank 0 talks to the hub:
it broadcasts each batch of new episodes (as tensors, never pickled) and the loop's decisions
(stop, publish, checkpoint), so every rank runs the same number of updates.

Why an optimiser-step hook rather than wrapping modules in ``DistributedDataParallel``: the
agents run several optimisers per update (critic, then actor after the EMA) and call the
velocity field K times with gradient in one adjoint-matching loss, which DDP's one-forward-one-
backward reducer does not support without reshaping the agents; averaging the gradients of
exactly the parameters an optimiser is about to step is the same synchronisation (all-reduce
of gradients, gloo on CPU, NCCL on GPU), one flat buffer per step. Gradient clipping happens
per rank before the average (each replica clips its own gradient; the average of clipped
gradients is applied everywhere).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.optimizer import register_optimizer_step_pre_hook

from lwd_core.data.episode import Episode

_OUTCOMES = ("failure", "success", "unlabeled")


class DistContext:
    """Rank, world size and the collectives the learner needs; single-process when world is 1."""

    def __init__(self, device: str = "cpu"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device(device)
        self._hook = None
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if self.device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            dist.init_process_group(backend)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    # --- replicas -----------------------------------------------------------------------------

    def broadcast_agent(self, agent) -> None:
        """Make every rank's weights and buffers rank 0's."""
        if not self.active:
            return
        for t in agent.state_dict().values():
            buf = t.detach().to(self.device)
            dist.broadcast(buf, 0)
            t.data.copy_(buf.to(t.device))

    def average_gradients(self) -> None:
        """From now on every optimiser step first averages its gradients over all ranks."""
        if not self.active or self._hook is not None:
            return
        world, device = self.world, self.device

        def hook(optimizer, args, kwargs):
            params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
            if not params:
                return
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            flat = torch.cat([g.reshape(-1) for g in grads]).to(device)
            dist.all_reduce(flat)
            flat /= world
            at = 0
            for p in params:
                n = p.numel()
                p.grad = flat[at:at + n].view_as(p).to(p.device)
                at += n

        self._hook = register_optimizer_step_pre_hook(hook)

    # --- the loop's decisions and data --------------------------------------------------------

    def broadcast_ints(self, values: list[int]) -> list[int]:
        """Rank 0's ``values`` on every rank (the same length on all ranks)."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.int64, device=self.device)
        dist.broadcast(t, 0)
        return [int(v) for v in t.cpu()]

    def broadcast_episodes(self, episodes: list[Episode] | None, tasks: list[str], obs_dim: int,
                           action_dim: int) -> list[Episode]:
        """Rank 0's new episodes on every rank (other ranks pass None)."""
        if not self.active:
            return episodes or []
        eps = episodes or []
        n, steps = self.broadcast_ints([len(eps), sum(len(e) for e in eps)])
        if n == 0:
            return eps
        index = {t: i for i, t in enumerate(tasks)}
        if self.is_main:
            meta = torch.tensor([[len(e), index[e.task], _OUTCOMES.index(e.outcome)]
                                 for e in eps], dtype=torch.int64)
            states = torch.from_numpy(np.concatenate([e.states for e in eps]).astype(np.float32))
            actions = torch.from_numpy(np.concatenate([e.actions for e in eps]).astype(np.float32))
            sources = torch.from_numpy(np.concatenate([e.sources for e in eps]).astype(np.int64))
            finals = torch.from_numpy(np.stack([np.asarray(e.final_state if e.final_state is not None
                                                           else e.states[-1], np.float32) for e in eps]))
        else:
            meta = torch.zeros((n, 3), dtype=torch.int64)
            states = torch.zeros((steps, obs_dim))
            actions = torch.zeros((steps, action_dim))
            sources = torch.zeros(steps, dtype=torch.int64)
            finals = torch.zeros((n, obs_dim))
        out = []
        for t in (meta, states, actions, sources, finals):
            buf = t.to(self.device)
            dist.broadcast(buf, 0)
            t.copy_(buf.cpu())
        if self.is_main:
            return eps
        at = 0
        for i, (length, task, outcome) in enumerate(meta.tolist()):
            sl = slice(at, at + length)
            at += length
            out.append(Episode(f"rank0-{i}-{at}", tasks[task], states[sl].numpy(), actions[sl].numpy(),
                               sources[sl].numpy().astype(np.uint8), np.zeros(length, np.int32),
                               outcome=_OUTCOMES[outcome], final_state=finals[i].numpy()))
        return out
