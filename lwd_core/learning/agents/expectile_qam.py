"""Scalar expectile value + QAM: the "DIVL vs expectile" ablation of LWD (Table II).

Identical to DIVL + QAM except the value: a scalar V(s) fit by the asymmetric squared loss
|tau - 1(u < 0)| u^2 on u = q - V (IQL's expectile), bootstrapped directly.
"""

from __future__ import annotations

import dataclasses

import torch

from lwd_core.learning.agents.divl_qam import DIVLQAMAgent, DIVLQAMConfig
from lwd_core.learning.networks import mlp


@dataclasses.dataclass(frozen=True)
class ExpectileQAMConfig(DIVLQAMConfig):
    expectile_offline: float = 0.7
    """Expectile before deployment data (IQL's usual value)."""
    expectile_online: float = 0.9
    """Expectile once online (more optimistic, as DIVL's tau_online)."""


class ExpectileQAMAgent(DIVLQAMAgent):
    name = "expectile_qam"
    config_class = ExpectileQAMConfig

    def _make_value_head(self) -> None:
        self.v = mlp(self.config.z_dim, self.config.hidden, 1, 2, layer_norm=True)

    # --- Expectile value loss. ---
    def value_loss(self, z: torch.Tensor, q_data: torch.Tensor) -> tuple[torch.Tensor, dict]:
        c = self.config
        tau = c.expectile_online if self.online else c.expectile_offline
        u = q_data - self.v(z).squeeze(-1)
        loss = (torch.abs(tau - (u < 0).float()) * u**2).mean()
        return loss, {"v_loss": loss.detach()}

    def bootstrap_value(self, next_z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        return self.v(next_z).squeeze(-1), {}
