"""Agents, one per file, sharing method names (``pretrain_step``, ``critic_loss``, ``actor_loss``,
``update``, ``sample_actions``, ``set_online``, ``end_pretraining``); shared loops look them up
here and never branch on an agent's name."""

from lwd_core.learning.agents.bc import BCAgent, BCConfig
from lwd_core.learning.agents.divl_qam import DIVLQAMAgent, DIVLQAMConfig
from lwd_core.learning.agents.expectile_qam import ExpectileQAMAgent, ExpectileQAMConfig

AGENTS = {a.name: a for a in (BCAgent, DIVLQAMAgent, ExpectileQAMAgent)}

__all__ = ["AGENTS", "BCAgent", "BCConfig", "DIVLQAMAgent", "DIVLQAMConfig", "ExpectileQAMAgent", "ExpectileQAMConfig"]
