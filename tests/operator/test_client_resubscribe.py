"""A client the hub forgot (hub restart, client timeout) says hello again and renews its fleet
subscription by itself: a console must not freeze showing 'hub lost' while the hub is fine."""

import time

from lwd_operator.client import HubClient
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_client_renews_its_subscription_after_the_hub_forgets_it(hub, hub_cfg, make_robot, client_keys):
    make_robot("r1")
    with HubClient(Endpoints(port=hub_cfg.port), client_keys, "alice") as c:
        assert c.subscribe(hz=10).ok
        wait_until(lambda: c.latest_fleet is not None and c.latest_fleet.robots, what="fleet pushes")
        hub.clients.clear()  # what a client timeout or a hub restart does to this client's entry
        time.sleep(0.5)
        seen = c.last_hub_msg
        wait_until(lambda: any(e.subscribed_hz > 0 for e in list(hub.clients.values())), timeout=30,
                   what="subscription renewed")
        before = c.latest_fleet.seq
        wait_until(lambda: c.latest_fleet.seq > before and c.last_hub_msg > seen, what="fleet pushes again")
        assert not c.hub_stale
