"""Episode questions through the hub: list with filters, show with audit trail, curves."""

import time

import pytest

from lwd_operator.client import HubClient, HubError
from lwd_operator.config import HubConfig
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sockets import Endpoints


def wait_for(cond, timeout=60.0, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture
def recording_hub(keys_dir, port, tmp_path):
    cfg = HubConfig(port=port, keys_dir=str(keys_dir), stale_ms=800, client_timeout_s=3.0,
                    recordings=str(tmp_path / "rec"))
    h = Hub(cfg, recorder=open_recorder(cfg.recordings)).start()
    yield h
    h.stop()


def test_list_show_relabel_and_curves(recording_hub, make_robot, make_keys, port):
    make_robot("r1")
    with HubClient(Endpoints(port=port), make_keys("op-1"), operator="op-1") as c:
        c.subscribe(hz=5)
        wait_for(lambda: c.latest_fleet and c.latest_fleet.robots)
        time.sleep(0.5)  # a few recorded steps
        assert c.reset_episode("r1").ok  # ends the first episode (reason operator)
        eps = wait_for(lambda: c.list_episodes(robot="r1", status="ended"))
        eid = eps[0].episode_id
        assert eps[0].robot_id == "r1" and eps[0].end_reason == "operator"
        assert c.list_episodes(robot="nobody") == []
        with pytest.raises(HubError, match="outcome must be one of"):
            c.list_episodes(outcome="maybe")
        assert c.label("r1", eid, "failure", note="first look").ok
        assert c.relabel(eid, "success", note="replayed: it worked").ok
        d = wait_for(lambda: (d := c.show_episode(eid)) and len(d.audit) == 2 and d)
        assert [(a.old, a.new, a.who, a.note) for a in d.audit] == [
            ("unlabeled", "failure", "op-1", "first look"), ("failure", "success", "op-1", "replayed: it worked")]
        assert d.episode.outcome == "success" and d.episode.labelled_by == "op-1"
        assert [e.episode_id for e in c.list_episodes(outcome="success")] == [eid]
        with pytest.raises(HubError, match="no episode"):
            c.show_episode("nope")
        cv = wait_for(lambda: (cv := c.curves(points=10)) and cv.total_steps > 0 and cv)
        assert {p.group for p in cv.points} >= {"all", "push-v3"}
        assert max(p.fleet_steps for p in cv.points) >= cv.total_steps


def test_a_hub_without_a_store_says_so(hub, client_keys, port):
    with HubClient(Endpoints(port=port), client_keys, operator="op-1") as c:
        with pytest.raises(HubError, match="does not record"):
            c.list_episodes()
