"""What the policy conditions on and what it outputs: camera images through the CNN, instruction
embeddings in place of task ids, and actions in robot units via the range stored in the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lwd_core.data.batch import ChunkBatch
from lwd_core.learning import snapshot
from lwd_core.learning.agents import AGENTS, BCConfig, DIVLQAMConfig
from lwd_core.learning.policy import FlowPolicy


def make_batch(obs, actions, task=None, images=None, instruction=None) -> ChunkBatch:
    b, h = actions.shape[:2]
    task = torch.zeros(b, dtype=torch.long) if task is None else task
    return ChunkBatch(obs=obs, task=task, actions=actions, rewards=torch.zeros(b, h), valid=torch.ones(b, h),
                      next_obs=obs, next_task=task, bootstrap_steps=torch.full((b,), h), done=torch.ones(b),
                      source=torch.full((b, h), 2, dtype=torch.uint8), is_online=torch.zeros(b, dtype=torch.bool),
                      images=images, next_images=images, instruction=instruction)


def square_images(side: torch.Tensor, gen: torch.Generator, size: int = 32) -> torch.Tensor:
    """uint8 [B, 1, 3, size, size]: noise, plus a bright square in the left (0) or right (1) half."""
    b = side.shape[0]
    img = torch.randint(0, 60, (b, 1, 3, size, size), generator=gen, dtype=torch.uint8)
    for i in range(b):
        x0 = 2 + int(side[i]) * size // 2
        y0 = int(torch.randint(2, size - 10, (1,), generator=gen))
        img[i, 0, :, y0 : y0 + 8, x0 : x0 + 8] = 255
    return img


def test_cnn_policy_acts_on_what_the_camera_shows(tmp_path):
    # The state says nothing; only the image tells which way to move.
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = BCConfig(hidden=64, z_dim=64, cameras=1, image_size=32, lr=1e-3)
    ag = AGENTS["bc"].create(obs_dim=2, action_dim=1, horizon=2, tasks=["t"], config=cfg)
    for _ in range(250):
        side = torch.randint(0, 2, (64,), generator=gen)
        acts = (side.float() * 1.6 - 0.8)[:, None, None].expand(64, 2, 1).contiguous()
        ag.pretrain_step(make_batch(torch.zeros(64, 2), acts, images=square_images(side, gen)))
    side = torch.randint(0, 2, (200,), generator=gen)
    chunks = ag.sample_actions(torch.zeros(200, 2), torch.zeros(200, dtype=torch.long), images=square_images(side, gen))
    agree = ((chunks[:, :, 0].mean(1) > 0) == side.bool()).float().mean().item()
    assert agree > 0.95
    snap = snapshot.save(ag, tmp_path / "cnn", version=3)
    assert snap["config"]["cameras"] == 1
    pol = FlowPolicy.from_snapshot(tmp_path / "cnn")
    left = square_images(torch.zeros(1, dtype=torch.long), gen)[0].numpy()
    assert pol.act(np.zeros(2, np.float32), "t", images=left).mean() < 0
    with pytest.raises(ValueError, match="camera image"):
        ag.sample_actions(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="expected"):
        ag.sample_actions(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long),
                          images=torch.zeros(1, 1, 3, 64, 64, dtype=torch.uint8))


def test_instruction_embedding_stands_in_for_the_task_id():
    # Every row has task id 0; the instruction embedding alone says which action is right.
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    words = torch.randn(2, 8, generator=gen)
    cfg = BCConfig(hidden=64, z_dim=64, instruction_dim=8, lr=1e-3)
    ag = AGENTS["bc"].create(obs_dim=2, action_dim=1, horizon=2, tasks=["any"], config=cfg)
    for _ in range(300):
        which = torch.randint(0, 2, (128,), generator=gen)
        acts = (which.float() * 1.2 - 0.6)[:, None, None].expand(128, 2, 1).contiguous()
        ag.pretrain_step(make_batch(torch.zeros(128, 2), acts, instruction=words[which]))
    for w, target in ((0, -0.6), (1, 0.6)):
        chunk = ag.sample_actions(torch.zeros(100, 2), torch.zeros(100, dtype=torch.long),
                                  instruction=words[w].expand(100, 8))
        assert abs(chunk.mean().item() - target) < 0.15


def test_actions_learned_in_unit_range_and_returned_in_robot_units(tmp_path):
    # Joint targets in radians around 2.5 with a 0..3 range: no clipping to [-1, 1] anywhere.
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    cfg = DIVLQAMConfig(hidden=64, z_dim=64, lr=1e-3)
    ag = AGENTS["divl_qam"].create(obs_dim=2, action_dim=2, horizon=2, tasks=["t"], action_low=[0.0, -3.0],
                                   action_high=[3.0, 3.0], config=cfg)
    for _ in range(300):
        acts = torch.tensor([2.5, -1.5]) + 0.05 * torch.randn(128, 2, 2, generator=gen)
        info = ag.pretrain_step(make_batch(torch.zeros(128, 2), acts))
    assert np.isfinite(info["q_loss"])
    chunk = ag.sample_actions(torch.zeros(200, 2), torch.zeros(200, dtype=torch.long))
    torch.testing.assert_close(chunk.mean((0, 1)), torch.tensor([2.5, -1.5]), atol=0.2, rtol=0)
    assert (chunk[..., 0] >= 0).all() and (chunk[..., 0] <= 3).all()
    x = torch.tensor([[0.0, -3.0, 3.0, 3.0]])  # one chunk: (0, -3), (3, 3) -> corners of the unit box
    torch.testing.assert_close(ag.normalize_actions(x.reshape(1, 2, 2)), torch.tensor([[-1.0, -1.0, 1.0, 1.0]]))
    snapshot.save(ag, tmp_path / "s", version=1)
    pol = FlowPolicy.from_snapshot(tmp_path / "s")
    assert pol.meta["action_low"] == [0.0, -3.0] and pol.meta["action_high"] == [3.0, 3.0]
    np.testing.assert_allclose(pol.act(np.zeros(2, np.float32), "t").mean(0), [2.5, -1.5], atol=0.3)
