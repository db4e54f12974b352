import os
import socket

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

TEST_THREADS = int(os.environ.get("LWD_TEST_THREADS", "1"))
"""torch threads for the whole suite. Verdicts must not depend on it (float reduction order
changes with it): run the suite with LWD_TEST_THREADS=2 as well as the default 1 to check."""

try:
    import torch

    torch.set_num_threads(TEST_THREADS)
except ImportError:  # pragma: no cover
    torch = None


@pytest.fixture(autouse=True)
def _torch_threads():
    """Every test starts at TEST_THREADS, whatever an earlier one set (``train`` sets its own)."""
    if torch is not None and torch.get_num_threads() != TEST_THREADS:
        torch.set_num_threads(TEST_THREADS)
    yield


def ports_free(base: int, n: int = 4) -> bool:
    """Whether ``n`` consecutive loopback ports from ``base`` can all be bound now."""
    socks = []
    try:
        for i in range(n):
            t = socket.socket()
            socks.append(t)
            t.bind(("127.0.0.1", base + i))
        return True
    except OSError:
        return False
    finally:
        for t in socks:
            t.close()


def free_port_block(n: int = 4) -> int:
    """A base port with ``n`` consecutive free ports on loopback."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65535 and ports_free(base, n):
            return base
    raise RuntimeError("no free port block")


@pytest.fixture
def port():
    return free_port_block()
