"""The TUI's Learning screen shows the learner's state and loss sparklines from a live hub, and
says when the learner went silent (stale)."""

import asyncio
import dataclasses

import pytest

from lwd_core.protocol.messages import LearnerStatus
from lwd_operator.client import HubClient
from lwd_operator.config import TuiConfig
from lwd_operator.hub.hub import Hub
from lwd_operator.sockets import Endpoints
from tests.ui.test_tui_live import text_of, until
from ui.tui.app import LwdTui


@pytest.fixture
def quick_stale_hub(hub_cfg):
    """A hub that calls a learner stale after 2 s of silence."""
    h = Hub(dataclasses.replace(hub_cfg, learner_stale_s=2.0)).start()
    yield h
    h.stop()


def test_learning_screen_shows_learner_state_and_losses(quick_stale_hub, hub_cfg, make_keys):
    ep = Endpoints(port=hub_cfg.port)
    viewer = HubClient(ep, make_keys("op-tui", role="observer"), "op-tui", role="observer").start()
    learner = HubClient(ep, make_keys("learner-t", role="learner"), "learner-t", role="learner").start()

    async def scenario():
        app = LwdTui(viewer, config=TuiConfig(refresh_hz=10))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("3")
            screen = app.screen
            head = lambda: text_of(screen.query_one("#learning-head"))  # noqa: E731
            await until(pilot, lambda: (screen.reload_learner() or True) and "none has reported" in head(),
                        "no learner yet")
            for k, u in enumerate((100, 200, 300, 400)):
                learner.report_learner_status(LearnerStatus(
                    agent="divl_qam", phase="online", updates=u, online_updates=u, updates_per_s=4.0, episodes=9,
                    steps=270, cursor=12, online_share=0.5, tau=0.9, candidate_version=3, candidate_age_s=10.0,
                    losses={"q_loss": 4.0 / (k + 1), "adjoint_loss": 1.0}))
            await until(pilot, lambda: (screen.reload_learner() or True) and "400 updates" in head(), "the learner state")
            assert "learner ● online 400 updates · 4.0 upd/s · v3 proposed" in head()
            assert "learner-t (divl_qam) · 9 episodes" in head()
            # the status bar of every screen carries the learner's word too
            await until(pilot, lambda: (app.poll_learner() or True) and app.learner_short == "learner ● 400 updates",
                        "the status bar's learner word")
            await until(pilot, lambda: "learner ● 400 updates" in text_of(screen.query_one("#status")),
                        "the learner word on screen")
            body = text_of(screen.query_one("#learning"))
            assert "learner terms against updates (100 → 400)" in body
            q_line = next(line for line in body.splitlines() if line.startswith("q_loss"))
            assert "█▃▂▁" in q_line and q_line.rstrip().endswith("1")  # 4, 2, 1.33, 1: falling
            await until(pilot, lambda: (screen.reload_learner() or True) and "STALE" in head(), "the learner stale",
                        timeout=30)
            assert "learner ○ STALE (silent" in head()

    try:
        asyncio.run(scenario())
    finally:
        learner.close()
        viewer.close()
