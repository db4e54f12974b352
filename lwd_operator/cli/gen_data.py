"""``lwd gen-data``: parse the arguments and call :func:`lwd_operator.gen_data.generate`."""

from __future__ import annotations

import sys

from lwd_operator.gen_data import generate


def add_arguments(p) -> None:
    p.add_argument("--tasks", default="mt10", help="comma-separated Meta-World tasks or mt10 (default)")
    p.add_argument("--episodes", type=int, default=25, help="episodes per task and noise level (default 25)")
    p.add_argument("--noise", default="0.1,0.5", help="comma-separated action-noise stds (default 0.1,0.5)")
    p.add_argument("--max-steps", type=int, default=200, help="episode length limit; reaching it is a failure (default 200)")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--out", required=True, help="output folder (an LWD demo folder)")


def run(args) -> int:
    from lwd_operator.sim.metaworld_env import MT10_TASKS

    tasks = list(MT10_TASKS) if args.tasks == "mt10" else [t for t in args.tasks.split(",") if t]
    try:
        noises = [float(x) for x in args.noise.split(",")]
        rates = generate(tasks, args.episodes, noises, args.max_steps, args.seed, args.out, progress=sys.stderr.isatty())
    except ValueError as e:
        sys.exit(f"lwd gen-data: {e}")
    for (task, noise), rate in rates.items():
        print(f"{task:28s} noise {noise:<5g} success {100 * rate:5.1f} %")
    print(f"wrote {args.out}")
    return 0
