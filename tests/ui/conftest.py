"""Fixtures for the UI tests: the hub and robot fixtures of the operator tests, plus a hub that
records (the Episodes screen asks it about stored episodes)."""

import pytest

from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from tests.operator.conftest import client_keys, hub, hub_cfg, keys_dir, make_robot  # noqa: F401


@pytest.fixture
def recording_hub(hub_cfg, tmp_path):  # noqa: F811
    import dataclasses

    cfg = dataclasses.replace(hub_cfg, recordings=str(tmp_path / "rec"))
    h = Hub(cfg, recorder=open_recorder(cfg.recordings)).start()
    yield h
    h.stop()

