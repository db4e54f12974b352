"""End to end through a live hub: steps (with source and policy version) and camera frames land
in the store, episodes close with their outcome, operator takeovers become interventions."""

import time

from lwd_core.store import EpisodeStore
from lwd_operator.client import HubClient
from lwd_operator.config import Config
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_live_recording_of_steps_frames_and_interventions(tmp_path, hub_cfg, make_robot, client_keys):
    import dataclasses

    cfg = Config(hub=dataclasses.replace(hub_cfg, recordings=str(tmp_path / "rec")))
    hub = Hub(cfg.hub, recorder=open_recorder(cfg.hub.recordings)).start()
    try:
        node = make_robot("cam", task="reach-v3", policy="noise", camera="synthetic", camera_fps=10.0,
                          max_episode_steps=40)
        with HubClient(Endpoints(port=hub_cfg.port), client_keys, "alice") as c:
            wait_until(lambda: node.episode_index >= 2 and node.step > 5, what="first episode over")
            assert c.take("cam").ok
            wait_until(lambda: node.mode == "human", what="human mode")
            for _ in range(8):
                c.teleop("cam", (0.0, 0.0, 0.004), -1)
                time.sleep(0.05)
            assert c.give("cam").ok
            episode = node.episode_id
            wait_until(lambda: node.episode_id != episode, timeout=30, what="episode with takeover ends")
            time.sleep(1.5)  # frames are flushed when the episode's end event is written
    finally:
        node.stop()
        hub.stop()
    store = EpisodeStore(tmp_path / "rec", writer=False)
    first = store.list_episodes(robot="cam", limit=None)[-1]
    assert first["status"] == "ended" and first["stored_steps"] == 40
    ep = store.read_episode(episode)
    assert len(ep) == 40 and set(ep.sources.tolist()) == {0, 1}  # policy and human steps
    assert ep.human_steps >= 5 and (ep.policy_versions[ep.sources == 1] == 0).all()
    assert len(store.interventions(episode)) == 1
    frames = store.read_frames(first["id"])["corner"]
    assert len(frames.jpegs) >= 5 and all(j[:2] == b"\xff\xd8" for j in frames.jpegs)
    assert list(frames.frame_seq) == sorted(frames.frame_seq)
