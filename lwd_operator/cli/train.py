"""``lwd train``: offline training from a demo folder (``lwd gen-data``) or a recordings store."""

from __future__ import annotations

import pathlib
import sys

from lwd_operator.cli.common import add_dataclass_arguments, dataclass_from_args, setup_logging
from lwd_operator.training import TrainConfig, load_dataset


def add_arguments(p) -> None:
    p.add_argument("--offline", required=True, metavar="DATA",
                   help="an LWD demo folder (lwd gen-data), a LeRobot export (lwd episodes export) or a "
                        "recordings folder (labelled episodes); --cameras needs one of the last two")
    p.add_argument("--out", default="runs/train", help="run folder: snapshots, TensorBoard events, config (default runs/train)")
    p.add_argument("--no-eval", action="store_true", help="skip evaluation in simulation")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    add_dataclass_arguments(p, TrainConfig, "training (defaults shown)")




def run(args) -> int:
    from lwd_operator.evaluation import evaluate
    from lwd_operator.training import train

    setup_logging(args.verbose)
    cfg = dataclass_from_args(TrainConfig, args)
    try:
        ds = load_dataset(args.offline, cfg)
    except ValueError as e:
        sys.exit(f"lwd train: {e}")
    print(f"{len(ds)} steps in {ds.n_episodes} episodes over {len(ds.tasks)} tasks; agent {cfg.agent}")
    eval_fn = None
    if cfg.camera_list and not args.no_eval:
        print("no evaluation in simulation: it does not render cameras for the policy yet")
    elif not args.no_eval:
        def eval_fn(policy, step):
            return evaluate(policy, ds.tasks, cfg.eval_episodes, seed=10_000 + cfg.seed,
                            max_steps=cfg.max_steps, execute=cfg.eval_execute)
    res = train(ds, cfg, pathlib.Path(args.out), progress=sys.stderr.isatty(), evaluate_fn=eval_fn)
    for step, results in res.eval:
        rates = ", ".join(f"{r.task} {100 * r.rate:.0f}%" for r in results)
        print(f"step {step}: mean success {100 * sum(r.rate for r in results) / len(results):.1f} % ({rates})")
    print(f"snapshots: {', '.join(str(s) for s in res.snapshots)}")
    return 0
