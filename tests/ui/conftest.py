"""Fixtures for the UI tests: the hub and robot fixtures of the operator tests, plus a hub that
records (the console labels into it and its Episodes views ask it about stored episodes)."""

import dataclasses

import pytest
from PyQt6.QtCore import QSettings

from lwd_operator.client import HubClient
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sockets import Endpoints
from tests.operator.conftest import (  # noqa: F401
    client_keys,
    hub,
    hub_cfg,
    keys_dir,
    make_keys,
    make_robot,
    robot_keys,
)


@pytest.fixture
def recordings(tmp_path):
    return tmp_path / "rec"


@pytest.fixture
def hub_stale_ms():
    """How long the recording hub waits for a robot's status before calling it offline
    (parametrize to change: a deliberately slow robot needs longer)."""
    return 800


@pytest.fixture
def recording_hub(hub_cfg, recordings, hub_stale_ms):  # noqa: F811
    cfg = dataclasses.replace(hub_cfg, recordings=str(recordings), stale_ms=hub_stale_ms)
    h = Hub(cfg, recorder=open_recorder(cfg.recordings)).start()
    yield h
    if not getattr(h, "stopped_by_test", False):
        h.stop()


@pytest.fixture
def make_client(recording_hub, hub_cfg, make_keys):  # noqa: F811
    """A client under its own key (role admin: the console also deploys), named ``operator``:
    the hub shows and records the key's name, never the hello's."""
    made = []

    def make(operator="alice"):
        c = HubClient(Endpoints(port=hub_cfg.port), make_keys(operator, role="admin"), operator=operator).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def make_console(qtbot, make_client, tmp_path):
    """A console window on the live recording hub; keyboard only (no device probing), frames
    decoded on the GUI thread unless ``sync_decode=False`` (deterministic), settings in a
    private INI file."""
    from ui.console.window import ConsoleWindow

    wins = []

    def make(operator="alice", **kw):
        store = QSettings(str(tmp_path / f"{operator}.ini"), QSettings.Format.IniFormat)
        kw.setdefault("sync_decode", True)
        w = ConsoleWindow(make_client(operator), store=store, use_devices=False, **kw)
        qtbot.addWidget(w)
        w.show()
        wins.append(w)
        return w

    yield make
    for w in wins:
        w.shutdown()


def browse_ended_episodes(qtbot, win, robot_id: str, timeout: int = 60_000):
    """Open the console's episodes browser and wait until it lists an ended episode of
    ``robot_id``; returns the browser."""
    win.tabs.setCurrentWidget(win.episodes)
    b = win.episodes

    def listed():
        b.status.setCurrentText("ended")
        b.refresh()
        return any(r.robot_id == robot_id for r in b.rows)

    qtbot.waitUntil(listed, timeout=timeout)
    return b
