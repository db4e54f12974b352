"""DIVL + QAM: distributional implicit value learning for the critic, Q-learning with adjoint
matching to extract a better flow policy (LWD; QAM numerics from the official QAM code).

Order per step (LWD): V -> Q -> EMA -> actor. During BC pre-training the critic already learns
(it only needs replay data), so the RL phase starts from a trained critic. ``end_pretraining``
freezes the reference: the encoder and f_beta (a copy of the BC velocity); f_theta starts as
another copy and is the only part the actor loss trains.
"""

from __future__ import annotations

import dataclasses

import torch

from lwd_core.data.batch import ChunkBatch
from lwd_core.learning import divl
from lwd_core.learning.adjoint import (
    adjoint_matching_loss,
    lean_adjoint,
    sample_memoryless,
    sample_with_velocities,
)
from lwd_core.learning.agents.bc import BCAgent, BCConfig
from lwd_core.learning.flow import flow_matching_loss
from lwd_core.learning.networks import BatchedQEnsemble, QEnsemble, mlp


def combine_heads(qs: torch.Tensor, how: str) -> torch.Tensor:
    """[n_q, B] head values -> [B]: their "mean" or their "min"."""
    return qs.mean(0) if how == "mean" else qs.min(0).values


@dataclasses.dataclass(frozen=True)
class DIVLQAMConfig(BCConfig):
    gamma: float = 0.99
    """Per-step discount (Meta-World episodes are short)."""
    beta: float = 40.0
    """Inverse temperature of the tilt (see ``tilt``): pi* ∝ pi_beta Q^beta by default, or
    pi_beta exp(beta Q). Scale it to Q: with sparse 0/1 success rewards Q lies in [0, 1] and the
    chunks sampled at one state differ in Q by ~0.02 (std) on MT10, so beta must be tens for a
    visible tilt (QAM's 1–30 are for returns of -1 per step, ~100x larger; LWD's lambda = 2 is
    beta = 0.5 on its own scale). On MT10 offline (docs/benchmarks.md) 40 works best with the
    log tilt (20 tilts too little, 80 over-tilts toward the critic's errors) and 30 with exp(Q)."""
    n_q: int = 2
    """Q heads (clipped double Q: the minimum is the target)."""
    q_layers: int = 2
    """Hidden layers (LayerNorm + GELU) of each Q head (the QAM reference uses 4 x 512, 10 heads)."""
    batched_heads: bool = True
    """Run the Q heads as one module with weights stacked over heads (one matrix product per
    layer for all heads); False: a Python loop over per-head MLPs (the original layout, same
    numbers up to float rounding, kept for the speed benchmark's "before" column)."""
    reuse_evaluations: bool = True
    """Actor step: keep f_theta's evaluations from the sampled trajectory (with their graph) and
    f_beta's from the adjoint for the loss instead of evaluating both again at the same points
    (same numbers; False: the original three passes, for the speed benchmark's "before")."""
    atoms: int = 51
    """Atoms of the categorical value distribution on [v_min, v_max]."""
    v_min: float = -0.1
    """Lowest atom (sparse 0/1 rewards: values live in [0, 1])."""
    v_max: float = 1.1
    """Highest atom."""
    tau_offline: float = 0.9
    """tau_base before deployment data. LWD (App. B2) uses 0.6 on its offline data, human
    demonstrations that mostly succeed; noisy rollouts with many failures (as `lwd gen-data`
    makes) need a higher quantile of the in-sample values to approximate what the best actions
    achieve. On MT10 offline with the log tilt, seeds 0-2: 0.6 / 0.8 / 0.9 / 0.95 gave 78.1 /
    79.2 / 81.0 / 80.0 % (docs/benchmarks.md)."""
    tau_online: float = 0.9
    """tau_base once online (LWD's value; the same as tau_offline by default, kept apart so that
    deployment data, mostly successful, can be read less optimistically than noisy offline data)."""
    tau_alpha: float = 0.3
    """Entropy coefficient of the adaptive tau."""
    ema: float = 0.005
    """Rate of the target critic's exponential moving average."""
    critic_lr: float = 3e-4
    """Adam learning rate of V and Q."""
    actor_q: str = "mean"
    """How the Q heads combine into the actor's gradient: "min" (clipped double Q, as the
    targets) or "mean" (the QAM code's ensemble mean: smoother, less pessimistic)."""
    best_of_n: int = 1
    """Acting: sample this many chunks per observation and run the one the critic values most
    (the QAM code's ``best_of_n``; 1 = a plain sample of the extracted policy)."""
    rank_q: str = "mean"
    """How the Q heads combine to rank best-of-N candidates: "mean" (the QAM code) or "min"
    (pessimistic: a wider search exploits the critic's errors less)."""
    tilt: str = "log_q"
    """What the extraction tilts toward: "q", pi* ∝ pi_beta exp(beta Q) (QAM), or "log_q",
    pi* ∝ pi_beta Q^beta. With 0/1 success rewards Q is a discounted success probability, so
    "log_q" at beta = 1 is the posterior "actions of successful episodes", and its pull is the
    same on a task that succeeds 20 % of the time as on one that succeeds 90 % (the gradient is
    grad Q / Q). It needs Q >= 0 (success rewards). On MT10 offline it lifts the extracted
    policy from BC + 5.4 to BC + 8.6 points over six seeds at tau_base 0.6 (docs/benchmarks.md)."""
    log_q_floor: float = 0.05
    """With tilt "log_q": Q is floored here before the log, so where the critic sees less than
    this chance of success the tilt has no gradient (instead of an exploding one)."""
    bc_weight: float = 0.0
    """Optional flow-matching term on f_theta during extraction (0: pure adjoint matching)."""


class DIVLQAMAgent(BCAgent):
    name = "divl_qam"
    config_class = DIVLQAMConfig

    def __init__(self, obs_dim, action_dim, horizon, tasks, config=None, seed=0):
        super().__init__(obs_dim, action_dim, horizon, tasks, config, seed)
        c = self.config
        for field, allowed in (("actor_q", ("min", "mean")), ("rank_q", ("min", "mean")), ("tilt", ("q", "log_q"))):
            if getattr(c, field) not in allowed:
                raise ValueError(f"{field} must be {' or '.join(map(repr, allowed))}, not {getattr(c, field)!r}")
        self.critic_encoder = self.make_encoder()
        self.q = (BatchedQEnsemble if c.batched_heads else QEnsemble)(c.z_dim, self.d, c.hidden, c.n_q, c.q_layers)
        self._make_value_head()
        self.target_encoder = self.freeze_copy(self.critic_encoder)
        self.target_q = self.freeze_copy(self.q)
        self.critic_opt = self.make_optimizer(self._critic_params(), c.critic_lr)
        self.reference = None  # f_beta, frozen at end_pretraining
        self.register_buffer("atom_values", divl.make_atoms(c.atoms, c.v_min, c.v_max))

    def _make_value_head(self) -> None:
        self.v = mlp(self.config.z_dim, self.config.hidden, self.config.atoms, 2, layer_norm=True)

    def _critic_params(self):
        return [*self.critic_encoder.parameters(), *self.q.parameters(), *self.v.parameters()]

    @classmethod
    def create(cls, **kw):
        agent = super().create(**kw)
        agent.critic_encoder.obs_mean.copy_(agent.encoder.obs_mean)
        agent.critic_encoder.obs_std.copy_(agent.encoder.obs_std)
        agent.target_encoder.load_state_dict(agent.critic_encoder.state_dict())
        return agent

    # --- Distributional value loss (V over in-sample action values). ---
    def value_loss(self, z: torch.Tensor, q_data: torch.Tensor) -> tuple[torch.Tensor, dict]:
        loss = divl.distribution_loss(self.v(z), divl.two_hot(q_data, self.atom_values))
        return loss, {"v_loss": loss.detach()}

    def bootstrap_value(self, next_z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Quant_tau(V(s')) with the entropy-adaptive tau (no gradient)."""
        probs = self.v(next_z).softmax(-1)
        c = self.config
        tau = divl.adaptive_tau(probs, c.tau_online if self.online else c.tau_offline, c.tau_alpha)
        return divl.quantile(probs, self.atom_values, tau), {"tau": tau.mean()}

    # --- Critic: V, then Q with chunked n-step targets, then EMA. ---
    def critic_loss(self, batch: ChunkBatch) -> tuple[torch.Tensor, dict]:
        a = self.normalize_actions(batch.actions)
        with torch.no_grad():
            q_data = self.target_q(self.encode(self.target_encoder, batch), a).min(0).values
        z = self.encode(self.critic_encoder, batch)
        v_loss, info = self.value_loss(z, q_data)
        with torch.no_grad():
            next_v, vinfo = self.bootstrap_value(self.encode(self.critic_encoder, batch, next_state=True))
            disc = self.config.gamma ** torch.arange(batch.rewards.shape[1], dtype=torch.float32)
            ret = (batch.rewards * batch.valid * disc).sum(-1)
            y = ret + self.config.gamma ** batch.bootstrap_steps.float() * (1 - batch.done) * next_v
        q = self.q(z, a)
        q_loss = ((q - y) ** 2).sum(0).mean()
        info.update(vinfo, q_loss=q_loss.detach(), q_mean=q.detach().mean(), target_mean=y.mean())
        return v_loss + q_loss, info

    def _critic_step(self, batch: ChunkBatch) -> dict:
        loss, info = self.critic_loss(batch)
        self._step(self.critic_opt, loss, self._critic_params())
        with torch.no_grad():
            tgt = [*self.target_encoder.parameters(), *self.target_q.parameters()]
            src = [*self.critic_encoder.parameters(), *self.q.parameters()]
            if tgt:
                torch._foreach_lerp_(tgt, src, self.config.ema)
        return info

    def pretrain_step(self, batch: ChunkBatch) -> dict:
        return self.as_floats({**self._bc_step(batch), **self._critic_step(batch)})

    def end_pretraining(self) -> None:
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.reference = self.freeze_copy(self.actor)
        self.actor_opt = self.make_optimizer(list(self.actor.parameters()), self.config.lr)

    # --- Actor: QAM adjoint-matching loss through the frozen reference. ---
    def actor_loss(self, batch: ChunkBatch) -> tuple[torch.Tensor, dict]:
        if self.reference is None:
            self.end_pretraining()
        with torch.no_grad():
            z = self.encode(self.encoder, batch)
            zc = self.encode(self.target_encoder, batch)

        def f_theta(x, t):
            return self.actor(z, x, t)

        def f_beta(x, t):
            return self.reference(z, x, t)

        def grad_q(x):
            with torch.enable_grad():
                xa = x.clamp(-1, 1).detach().requires_grad_(True)
                q = combine_heads(self.target_q(zc, xa), self.config.actor_q)
                if self.config.tilt == "log_q":
                    q = q.clamp_min(self.config.log_q_floor).log()
                return torch.autograd.grad(q.sum(), xa)[0]

        K = self.config.flow_steps
        x0 = torch.randn((batch.size, self.d), generator=self.gen)
        if self.config.reuse_evaluations:
            traj, theta = sample_with_velocities(f_theta, f_beta, x0, K, generator=self.gen)
            solve = lean_adjoint(f_beta, traj, grad_q, self.config.beta, keep_base=True)
            loss = adjoint_matching_loss(f_theta, f_beta, solve, theta=theta)
        else:
            traj = sample_memoryless(f_theta, f_beta, x0, K, generator=self.gen)
            solve = lean_adjoint(f_beta, traj, grad_q, self.config.beta)
            loss = adjoint_matching_loss(f_theta, f_beta, solve)
        info = {"adjoint_loss": loss.detach()}
        if self.config.bc_weight > 0:
            a = self.normalize_actions(batch.actions)
            bc = flow_matching_loss(f_theta, a, self.gen)
            loss = loss + self.config.bc_weight * bc
            info["bc_loss"] = bc.detach()
        return loss, info

    # --- Acting. ---
    @torch.no_grad()
    def sample_actions(self, obs, task, generator=None, images=None, instruction=None) -> torch.Tensor:
        n = self.config.best_of_n
        if n <= 1:
            return super().sample_actions(obs, task, generator, images, instruction)

        def rep(x):
            return None if x is None else x.repeat_interleave(n, 0)

        b = obs.shape[0]
        x = self.sample_normalized(rep(obs), rep(task), generator, rep(images), rep(instruction))
        zc = self.critic_encoder(rep(obs).float(), rep(task).long(), rep(images), rep(instruction))
        q = combine_heads(self.q(zc, x), self.config.rank_q).reshape(b, n)
        return self.denormalize_actions(x.reshape(b, n, self.d)[torch.arange(b), q.argmax(1)])

    def update(self, batch: ChunkBatch) -> dict:
        """One RL step (critic, EMA, actor); returns its loss terms as floats."""
        info = self._critic_step(batch)
        loss, ainfo = self.actor_loss(batch)
        self._step(self.actor_opt, loss, list(self.actor.parameters()))
        return self.as_floats({**info, **ainfo})
