"""HubClient bookkeeping: a request whose caller gave up leaves nothing behind."""

import pytest

from lwd_core.protocol import encode
from lwd_core.protocol.messages import Reply, Subscribe
from lwd_operator.client import HubClient, HubError
from lwd_operator.sockets import Endpoints


def test_timed_out_requests_are_forgotten_and_late_replies_ignored(port):
    c = HubClient(Endpoints(port=port), None, "alice")  # nobody listens on this port
    c._thread.start()
    try:
        with pytest.raises(HubError, match="did not answer"):
            c.request(Subscribe(hz=1.0), timeout=0.5)
        (corr, fut), = c._pending.items()
        assert fut.cancelled()
        late = Reply(ok=True)
        late.corr = corr
        c._on_control(encode(late))  # a reply after the caller left: ignored, no error
        assert corr not in c._pending
        for _ in range(100):
            with pytest.raises(HubError):
                c.request(Subscribe(hz=1.0), timeout=0.01)
        assert len(c._pending) <= 65 and all(f.cancelled() for f in c._pending.values())
    finally:
        c.close()


def test_a_subscription_survives_a_hub_restart(hub_cfg, client_keys):
    """After the hub forgets a client (restart, or a timeout) the client says hello again and
    renews its subscription, so fleet pushes and policy reports keep coming."""
    from lwd_operator.hub.hub import Hub
    from lwd_operator.sockets import Endpoints
    from tests.util import wait_until

    first = Hub(hub_cfg).start()
    with HubClient(Endpoints(port=hub_cfg.port), client_keys, "alice") as c:
        c.subscribe(hz=10)
        wait_until(lambda: c.latest_fleet is not None, what="first fleet state")
        first.stop()
        c.latest_fleet = None
        second = Hub(hub_cfg).start()
        try:
            wait_until(lambda: c.latest_fleet is not None, timeout=30, what="fleet state from the new hub")
        finally:
            second.stop()
