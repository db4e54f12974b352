"""The hub's episode feed over real sockets: labelled robot episodes reach a learner client in
chunks of whole episodes, in ready order, each once; the cursor resumes; only learners may ask."""

import numpy as np
import pytest

from lwd_core.data.episode import SOURCE_HUMAN, SOURCE_POLICY, Episode
from lwd_operator.client import HubClient, HubError
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sockets import Endpoints


def make_episode(i: int, n: int, outcome: str, task: str = "reach-v3") -> Episode:
    rng = np.random.default_rng(i)
    sources = np.full(n, SOURCE_POLICY, np.uint8)
    sources[n // 2:] = SOURCE_HUMAN
    return Episode(f"ep{i:03d}", task, rng.normal(size=(n, 39)).astype(np.float32),
                   rng.uniform(-1, 1, (n, 4)).astype(np.float32), sources, np.full(n, 3, np.int32),
                   outcome=outcome, final_state=rng.normal(size=39).astype(np.float32), robot_id="r1")


@pytest.fixture
def feed_hub(hub_cfg, tmp_path):
    hub = Hub(hub_cfg, recorder=open_recorder(tmp_path / "rec")).start()
    yield hub
    hub.stop()


def test_learner_fetches_whole_episodes_in_chunks_each_once(feed_hub, hub_cfg, learner_keys):
    store = feed_hub.recorder.store
    sent = [make_episode(i, 20 + i, "success" if i % 2 else "failure") for i in range(7)]
    for ep in sent[:5]:
        store.add_episode(ep, source="robot", labelled_by="alice")
    store.add_episode(make_episode(99, 10, "success"), source="demo")  # imported: not for the feed
    with HubClient(Endpoints(port=hub_cfg.port), learner_keys, "learner", role="learner") as c:
        got, cursor, more = c.fetch_episodes(0, max_steps=50)
        assert [e.episode_id for e in got] == ["ep000", "ep001"] and more  # 20 + 21 steps; 22 would pass 50
        while more:
            batch, cursor, more = c.fetch_episodes(cursor, max_steps=50)
            assert batch, "a reply with more=True holds at least one episode"
            got += batch
        assert [e.episode_id for e in got] == [e.episode_id for e in sent[:5]]
        for a, b in zip(got, sent, strict=False):
            np.testing.assert_array_equal(a.states, b.states)
            np.testing.assert_array_equal(a.actions, b.actions)
            np.testing.assert_array_equal(a.sources, b.sources)
            np.testing.assert_array_equal(a.final_state, b.final_state)
            assert a.outcome == b.outcome and a.task == b.task and a.robot_id == "r1"
        assert c.fetch_episodes(cursor)[0] == []  # nothing new: nothing repeated
        for ep in sent[5:]:
            store.add_episode(ep, source="robot", labelled_by="alice")
        later, cursor2, _ = c.fetch_episodes(cursor)
        assert [e.episode_id for e in later] == ["ep005", "ep006"] and cursor2 > cursor
        big, _, _ = c.fetch_episodes(0, max_steps=1)  # one episode at least, whatever the limit
        assert [e.episode_id for e in big] == ["ep000"]
    assert feed_hub.episode_feed.stats["episodes"] == len(feed_hub.episode_feed.served)


def test_only_a_learner_may_fetch(feed_hub, hub_cfg, operator_keys):
    with HubClient(Endpoints(port=hub_cfg.port), operator_keys, "mallory", role="operator") as c:
        with pytest.raises(HubError, match="may not send fetch_episodes"):
            c.fetch_episodes(0)
    assert feed_hub.rejected["client:role"] == 1  # the gatekeeper refuses it by the key's role


def test_a_hub_without_recording_says_so(hub, hub_cfg, learner_keys):
    with HubClient(Endpoints(port=hub_cfg.port), learner_keys, "learner", role="learner") as c:
        with pytest.raises(HubError, match="records no episodes"):
            c.fetch_episodes(0)
