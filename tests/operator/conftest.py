import numpy as np
import pytest

from lwd_operator.auth import add_client, init_keys, load_client_keys
from lwd_operator.config import HubConfig
from lwd_operator.hub.hub import Hub
from lwd_operator.robot.node import NodeConfig, RobotNode
from lwd_operator.robot.policies import make_builtin
from lwd_operator.sim.metaworld_driver import MetaWorldConfig, MetaWorldDriver
from lwd_operator.sockets import Endpoints


@pytest.fixture
def keys_dir(tmp_path):
    return init_keys(tmp_path / "keys")


@pytest.fixture
def client_keys(keys_dir):
    """The default console identity ``client``: role admin."""
    return load_client_keys(keys_dir)


@pytest.fixture
def robot_keys(keys_dir):
    """``robot``: role robot, bound to every robot id (``*``)."""
    return load_client_keys(keys_dir, "robot")


@pytest.fixture
def operator_keys(keys_dir):
    return load_client_keys(keys_dir, "operator")


@pytest.fixture
def observer_keys(keys_dir):
    return load_client_keys(keys_dir, "observer")


@pytest.fixture
def learner_keys(keys_dir):
    return load_client_keys(keys_dir, "learner")


@pytest.fixture
def make_keys(keys_dir):
    """``make_keys(name, role="operator", robots=())``: a new authorized identity's keys.

    A running hub picks it up at the key's first connection."""

    def make(name, role="operator", robots=()):
        add_client(keys_dir, name, role=role, robots=tuple(robots))
        return load_client_keys(keys_dir, name)

    return make


@pytest.fixture
def hub_cfg(keys_dir, port):
    return HubConfig(port=port, keys_dir=str(keys_dir), stale_ms=800, client_timeout_s=3.0)


@pytest.fixture
def hub(hub_cfg):
    h = Hub(hub_cfg).start()
    yield h
    h.stop()


@pytest.fixture
def make_robot(hub_cfg, robot_keys):
    nodes = []

    def make(robot_id="r1", task="push-v3", policy="hold", camera="none", camera_fps=0.0, **node_kw):
        keys = node_kw.pop("keys", robot_keys)
        drv = MetaWorldDriver(MetaWorldConfig(task=task, camera=camera, seed=len(nodes)))
        node = RobotNode(NodeConfig(robot_id=robot_id, **node_kw), drv,
                         make_builtin(policy, np.array([0, 0, 0, -1.0], np.float32), seed=len(nodes)),
                         Endpoints(port=hub_cfg.port), keys, camera_fps=camera_fps)
        nodes.append(node.start())
        return node

    yield make
    for n in nodes:
        n.stop()
