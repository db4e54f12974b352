"""Robots ask for help by themselves; the hub queues them by urgency; the operator bot serves
the queue first (through the real hub, robots and client API)."""

from lwd_core.protocol.attention import URGENCY
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


def test_the_value_signal_raises_a_robot_in_the_queue_with_its_value(tmp_path, hub, make_robot, client_keys):
    from lwd_operator.robot.help_signal import HelpConfig
    from lwd_operator.robot.hot_swap import preload_learning
    from tests.operator.policy_helpers import tiny_snapshot

    preload_learning()  # what `lwd robot` does before its loop; here, before threads start

    # A hair-trigger threshold: any dip of the (untrained) critic's value below its running
    # level asks for help, so the whole path runs: policy value -> RequestHelp -> hub -> queue.
    node = make_robot("r", task="reach-v3", policy="hold", control_hz=50.0, max_episode_steps=100000,
                      stall_s=1000.0, help=HelpConfig(drop=1e-6, warmup_chunks=2))
    with HubClient(Endpoints(port=hub.cfg.port), client_keys, "alice") as c:
        c.subscribe(hz=10)
        v = c.publish_policy(tiny_snapshot(tmp_path / "s"))
        assert c.deploy(v).ok
        wait_until(lambda: node.policy.version == v, what="robot on the learned version")
        item = wait_until(lambda: next((i for i in (c.latest_fleet.attention if c.latest_fleet else [])
                                        if i.robot_id == "r"), None), what="value-based help in the queue")
        assert item.kind == "help" and item.urgency == URGENCY["help_value"] and "below the task's level" in item.reason
        assert 0.0 < abs(item.value) <= 1.1 and node.help_reason == item.reason
        wait_until(lambda: any(a.code == "help" and a.robot_id == "r" for a in c.alerts), what="help alert")
