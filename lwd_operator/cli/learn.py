"""``lwd learn``: the learner service. Learns from the fleet's labelled episodes, which it fetches
through the hub (no shared filesystem), and proposes improved policies as candidates.

Start it from a snapshot (``--init runs/x/snapshot-0003``) or from offline data
(``--offline DIR``: pre-training first). Killed and restarted with the same ``--out``, it resumes
from its checkpoint without fetching any episode twice. Scale out with
``torchrun --nproc-per-node N -m lwd_operator.cli learn ...`` (gloo on CPU, NCCL with
``--device cuda``); only rank 0 talks to the hub.
"""

from __future__ import annotations

import dataclasses
import signal
import sys

from lwd_operator.cli.common import add_dataclass_arguments, add_hub_args, resolve
from lwd_operator.config import LearnerConfig


def add_arguments(p) -> None:
    add_hub_args(p)
    p.set_defaults(identity="learner")  # the learner's own key (role learner)
    start = p.add_argument_group("starting point (one of them, or a checkpoint in --out)")
    start.add_argument("--init", metavar="SNAPSHOT", help="start from this policy snapshot (lwd train / a candidate)")
    start.add_argument("--offline", metavar="DATA",
                       help="offline data (demo folder or recordings): pre-train on it first unless --init is "
                            "given, and keep mixing it into every batch")
    p.add_argument("--out", default="runs/learn", help="run folder: checkpoints, received episodes, candidates, "
                   "status.json (default runs/learn); restarting with the same folder resumes")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu; the project never needs a GPU)")
    p.add_argument("--name", default="learner", help="client name shown by the hub (default learner)")
    p.add_argument("--no-hub", action="store_true", help="learn from --offline data only, with no hub")
    p.add_argument("--publish-dir", metavar="DIR",
                   help="copy candidates into DIR instead of publishing them to the hub's policy store")
    p.add_argument("--max-updates", type=int, help="stop after this many online updates")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    add_dataclass_arguments(p, LearnerConfig, "learner (defaults from the config's [learner] section)")


def _learner_config(cfg, args) -> LearnerConfig:
    over = {f.name: getattr(args, f"cfg_{f.name}") for f in dataclasses.fields(LearnerConfig)
            if getattr(args, f"cfg_{f.name}", None) is not None}
    return dataclasses.replace(cfg.learner, **over)


def run(args) -> int:
    import pathlib

    from lwd_operator.client import HubClient, HubError
    from lwd_operator.learner.distributed import DistContext
    from lwd_operator.learner.publisher import FolderPublisher
    from lwd_operator.learner.service import Learner

    cfg, endpoints, keys = resolve(args)
    lcfg = _learner_config(cfg, args)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit("lwd learn: --device cuda but no CUDA device is available")
    dist = DistContext(args.device)
    client = None
    publisher = FolderPublisher(args.publish_dir) if args.publish_dir else None
    if dist.is_main and not args.no_hub:
        try:
            client = HubClient(endpoints, keys, operator=args.name, role="learner").start()
        except (HubError, ValueError) as e:
            dist.close()
            sys.exit(f"lwd learn: {e}")
        if publisher is None:
            if hasattr(client, "publish_policy"):
                publisher = client
            else:  # a hub without a policy store: candidates stay in the run folder
                publisher = FolderPublisher(pathlib.Path(args.out) / "published")
    elif publisher is None:
        publisher = FolderPublisher(pathlib.Path(args.out) / "published")
    try:
        learner = Learner(lcfg, args.out, fetch=client.fetch_episodes if client else None, publisher=publisher,
                          init=args.init, offline=args.offline, dist=dist, progress=sys.stderr.isatty(),
                          report=client.report_learner_status if client else None)
    except ValueError as e:
        sys.exit(f"lwd learn: {e}")
    signal.signal(signal.SIGTERM, lambda *_: learner.stop())
    try:
        learner.prepare()
        if dist.is_main:
            print(f"learning online: {learner.episodes.count} episodes held, cursor {learner.episodes.cursor}, "
                  f"update {learner.counters['updates']}", flush=True)
        result = learner.run(max_updates=args.max_updates, duration_s=args.duration)
    except KeyboardInterrupt:
        learner.checkpoint()
        result = dict(learner.counters)
    finally:
        if client is not None:
            client.close()
        dist.close()
    if dist.is_main:
        print(f"learner: {result['updates']} updates ({result['online_updates']} online), "
              f"{result.get('episodes', 0)} episodes, {result['published']} candidates proposed")
    return 0
