"""The operator bot rescues failing robots through the real protocol and labels their episodes."""

from lwd_operator.client import HubClient
from lwd_operator.config import BotConfig
from lwd_operator.sim.operator_bot import OperatorBot
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_bot_brings_noise_policy_push_robots_to_90_percent(hub, make_robot, client_keys):
    nodes = [make_robot(f"push-{i}", task="push-v3", policy="noise", max_episode_steps=300) for i in range(4)]
    wait_until(lambda: len(hub.fleet.robots) == 4, timeout=60, what="fleet up")
    with HubClient(Endpoints(port=hub.cfg.port), client_keys, "operator-bot", role="bot") as c:
        bot = OperatorBot(c, BotConfig(patience_s=1.0, max_robots=4)).start()
        try:
            wait_until(lambda: bot.stats.labelled >= 20, timeout=150, interval=0.2, what="20 labelled episodes")
        finally:
            bot.stop()
    first = bot.stats.outcomes[:20]
    rate = sum(s for _, _, s in first) / len(first)
    assert rate >= 0.9, bot.stats
    assert bot.stats.takeovers >= 15
    # Labels went through the hub (client API), and robots recorded the human steps.
    assert all(hub.labels.get(ep) == ("success" if s else "failure") for _, ep, s in first)
    assert all(n._human_steps > 0 or n.episode_index > 1 for n in nodes)
