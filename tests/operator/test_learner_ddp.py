"""The scale-out path: ``torchrun`` with 2 CPU processes (gloo). Only rank 0 fetches episodes;
rank 1 receives them by broadcast; after a few updates on different batches the replicas'
weights are identical (gradients are averaged before every optimiser step) and have moved."""

import json
import os
import subprocess
import sys

import numpy as np
from safetensors.torch import load_file

from lwd_core.learning import snapshot
from tests.conftest import free_port_block
from tests.operator.test_learner import ROOT, tiny_snapshot


def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    snap = tiny_snapshot(tmp_path / "init")
    out = tmp_path / "run"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=ROOT, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port_block(1)), os.path.join(ROOT, "tests/operator/ddp_learner_worker.py"),
           str(out), str(snap)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0, r1 = (load_file(str(out / f"rank{r}.safetensors")) for r in (0, 1))
    info = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world"] for i in info] == [2, 2]
    assert info[0]["episodes"] == info[1]["episodes"] == 4  # rank 1 got rank 0's episodes
    assert info[0]["updates"] == info[1]["updates"] == 8
    assert r0.keys() == r1.keys()
    for k in r0:
        assert np.array_equal(r0[k].numpy(), r1[k].numpy()), f"replicas differ in {k}"
    start = snapshot.load(snap).state_dict()
    moved = [k for k in r0 if k.startswith(("actor.", "q.")) and not np.array_equal(r0[k].numpy(), start[k].numpy())]
    assert moved, "no update reached the weights"
    assert (out / "pub" / "versions.json").exists() and not (out / "rank1").exists()
