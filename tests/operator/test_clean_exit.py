"""Clean exits: a client that closes says goodbye and gives back what it holds; the operator
bot leaves the episode it was driving explicitly unlabeled, with a note, and the intervention
keeps its operator."""

import dataclasses
import time

from lwd_core.store import EpisodeStore
from lwd_operator.client import HubClient
from lwd_operator.config import BotConfig, Config
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sim.operator_bot import OperatorBot
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_closing_client_gives_back_its_robot_without_a_timeout(hub, make_robot, make_keys):
    node = make_robot("r1", task="reach-v3", policy="hold")
    wait_until(lambda: "r1" in hub.fleet.robots, what="robot up")
    c = HubClient(Endpoints(port=hub.cfg.port), make_keys("carol"), "carol").start()
    assert c.take("r1").ok
    wait_until(lambda: node.mode == "human", what="human control")
    assert len(hub.clients) == 1
    c.close()
    # gone at once (a timeout would take client_timeout_s = 3 s and raise operator_lost)
    wait_until(lambda: not hub.clients, timeout=2.5, what="hub forgets the client")
    assert hub.locks.operator_of("r1") == ""
    wait_until(lambda: node.mode == "policy", timeout=5, what="robot back to its policy")
    time.sleep(hub.cfg.client_timeout_s + 0.5)
    assert not hub.clients, "no heartbeat brought the client back"
    assert not [a for a in hub.alerts if a.code == "operator_lost"]


def test_bot_stopping_mid_episode_leaves_it_unlabeled_with_a_note(tmp_path, hub_cfg, make_robot, make_keys):
    cfg = Config(hub=dataclasses.replace(hub_cfg, recordings=str(tmp_path / "rec")))
    hub = Hub(cfg.hub, recorder=open_recorder(cfg.hub.recordings)).start()
    try:
        node = make_robot("r1", task="push-v3", policy="noise", max_episode_steps=2000)
        with HubClient(Endpoints(port=hub_cfg.port), make_keys("bot-1"), "bot-1", role="bot") as c:
            bot = OperatorBot(c, BotConfig(patience_s=0.5, max_robots=1)).start()
            wait_until(lambda: node._human_steps >= 10, timeout=60, what="bot drives r1")
            episode = bot.driving["r1"]
            bot.stop()
        wait_until(lambda: node.mode == "policy", timeout=5, what="robot handed back")
        assert not hub.clients
        assert node.episode_id == episode  # still running: its outcome is not known
        n = node.step
        wait_until(lambda: node.step > n + 5, what="policy steps after the hand-back")
    finally:
        node.stop()
        time.sleep(0.5)
        hub.stop()
    store = EpisodeStore(tmp_path / "rec", writer=False)
    info = store.get(episode)
    assert info["outcome"] == "unlabeled"
    audit = store.db.execute("SELECT new, who, note FROM label_audit WHERE episode = ?",
                             [episode]).fetchall()
    assert [(new, who) for new, who, _ in audit] == [("unlabeled", "bot-1")]
    assert "stopped while driving" in audit[0][2]
    ivs = store.interventions(episode)
    assert ivs and all(iv["operator"] == "bot-1" for iv in ivs)  # gave back before the end


def test_operator_bot_process_says_goodbye_on_sigterm(hub, hub_cfg, make_keys):
    import os
    import signal
    import subprocess
    import sys

    make_keys("bot-2")  # the name the hub shows is the key's
    bot = subprocess.Popen([sys.executable, "-m", "lwd_operator.cli", "operator-bot", "--port",
                            str(hub_cfg.port), "--keys-dir", hub_cfg.keys_dir, "--identity", "bot-2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ))
    try:
        wait_until(lambda: any(c.operator == "bot-2" for c in hub.clients.values()), timeout=60,
                   what="bot connected")
        bot.send_signal(signal.SIGTERM)
        out, _ = bot.communicate(timeout=30)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, out
    assert "operator bot:" in out  # its summary: it ran its shutdown path
    wait_until(lambda: not hub.clients, timeout=2.5, what="hub forgets the bot (no timeout)")
