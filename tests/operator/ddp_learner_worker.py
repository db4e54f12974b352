"""One rank of the two-process DDP test (run under torchrun by ``test_learner_ddp.py``).

Rank 0 plays the hub side: its fetch hands out synthetic labelled episodes, which the learner
broadcasts to rank 1. Each rank writes its final weights and what its dataset holds.
"""

import json
import pathlib
import sys

import numpy as np
from safetensors.torch import save_file

from lwd_core.data.episode import Episode
from lwd_operator.config import LearnerConfig
from lwd_operator.learner.distributed import DistContext
from lwd_operator.learner.publisher import FolderPublisher
from lwd_operator.learner.service import Learner


def main(out: str, snap: str) -> None:
    dist = DistContext("cpu")
    served = {"n": 0}

    def fetch(cursor, max_steps):
        if cursor >= 4:
            return [], cursor, False
        rng = np.random.default_rng(cursor)
        eps = [Episode(f"ep{cursor}", "reach-v3", rng.normal(size=(25, 39)).astype(np.float32),
                       rng.uniform(-1, 1, (25, 4)).astype(np.float32), np.zeros(25, np.uint8),
                       np.zeros(25, np.int32), outcome="success" if cursor % 2 else "failure")]
        served["n"] += 1
        return eps, cursor + 1, False

    cfg = LearnerConfig(batch_size=16, fetch_every_s=0.0, publish_every_updates=4, publish_every_s=0,
                        checkpoint_every_updates=4, threads=1, seed=dist.rank * 0)
    learner = Learner(cfg, out, fetch=fetch if dist.is_main else None, publisher=FolderPublisher(f"{out}/pub"),
                      init=snap, dist=dist)
    learner.prepare()
    learner.run(max_updates=8)
    tensors = {k: v.detach().contiguous().clone() for k, v in learner.agent.state_dict().items()}
    save_file(tensors, f"{out}/rank{dist.rank}.safetensors")
    pathlib.Path(f"{out}/rank{dist.rank}.json").write_text(json.dumps(
        {"steps": len(learner.ds), "episodes": learner.ds.n_episodes, "updates": learner.counters["updates"],
         "world": dist.world}))
    dist.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
