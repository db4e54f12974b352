import os
import socket

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

try:
    import torch

    # The suite's verdicts must not depend on the thread count (float reduction order changes
    # with it): run it with LWD_TEST_THREADS=2 (or more) as well as the default 1 to check.
    torch.set_num_threads(int(os.environ.get("LWD_TEST_THREADS", "1")))
except ImportError:  # pragma: no cover
    pass


def free_port_block(n: int = 4) -> int:
    """A base port with ``n`` consecutive free ports on loopback."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n >= 65535:
            continue
        socks = []
        try:
            for i in range(n):
                t = socket.socket()
                t.bind(("127.0.0.1", base + i))
                socks.append(t)
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise RuntimeError("no free port block")


@pytest.fixture
def port():
    return free_port_block()
