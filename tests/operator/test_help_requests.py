"""Robots ask for help by themselves; the hub queues them by urgency; the operator bot serves
the queue first (through the real hub, robots and client API)."""

from lwd_operator.client import HubClient
from lwd_operator.config import BotConfig
from lwd_operator.sim.operator_bot import OperatorBot
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_a_stalled_robot_asks_for_help_and_the_bot_serves_the_queue_first(hub, make_robot, client_keys):
    # "moving" runs the noise policy (its hand moves: no stall); "stuck" holds still and stalls.
    make_robot("moving", task="reach-v3", policy="noise", max_episode_steps=100000)
    stuck = make_robot("stuck", task="reach-v3", policy="hold", max_episode_steps=100000, stall_s=1.0)
    with HubClient(Endpoints(port=hub.cfg.port), client_keys, "watcher", role="observer") as w:
        w.subscribe(hz=10)
        item = wait_until(lambda: next((i for i in (w.latest_fleet.attention if w.latest_fleet else [])
                                        if i.robot_id == "stuck"), None), what="stuck robot in the queue")
        assert item.kind == "stall" and "no progress" in item.reason
        assert all(i.robot_id != "moving" for i in w.latest_fleet.attention)
        wait_until(lambda: any(a.code == "help" and a.robot_id == "stuck" for a in w.alerts), what="help alert")
        assert sum(a.code == "help" and a.robot_id == "stuck" for a in w.alerts) == 1  # once per episode
        # Both robots are failing for a bot with no patience, and it drives one robot at most:
        # it must pick the one the queue names ("moving" comes first in the fleet's order).
        with HubClient(Endpoints(port=hub.cfg.port), client_keys, "operator-bot", role="bot") as c:
            bot = OperatorBot(c, BotConfig(patience_s=0.01, max_robots=1), label=False).start()
            try:
                wait_until(lambda: stuck.mode == "human", what="bot takes the stuck robot")
                assert list(bot.driving) == ["stuck"] and bot.stats.takeovers == 1
            finally:
                bot.stop()
