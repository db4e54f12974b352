"""Chaos: kill -9 and restart the hub, robots, operator bots (and the learner, with ``--learner``)
at random moments, then audit the store.

The seed fixes the schedule (when, whom, how long it stays down), so a failing run can be
replayed. After the last fault everything is stopped in order (robots end their episodes and
wait for their acks, then the hub flushes) and the store is audited: ``EpisodeStore.verify``
(every chunk's digest, SQLite's integrity check), every ended episode holds every step its robot
reported, every labelled episode is complete, no episode is left running (interrupted ones are
aborted), no step is stored twice.

    .venv/bin/python scripts/bench/chaos.py --seed 1                       # 10 minutes, 6 robots
    .venv/bin/python scripts/bench/chaos.py --seed 1 --minutes 2 --robots 3  # a smoke run

Baseline: faults injected; the target is 0 records lost.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from campaign import Stack, add_learner_arguments, audit_store, check_learner, print_audit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="fixes the fault schedule (default 0)")
    ap.add_argument("--minutes", type=float, default=10.0, help="how long faults are injected (default 10)")
    ap.add_argument("--robots", type=int, default=6, help="simulated robots, one process each (default 6)")
    ap.add_argument("--bots", type=int, default=2, help="operator bots (clients that take over and label; default 2)")
    ap.add_argument("--mean-gap-s", type=float, default=8.0, help="mean time between faults (default 8)")
    add_learner_arguments(ap)
    args = ap.parse_args()
    check_learner(args, "chaos")
    rng = random.Random(args.seed)
    stack = Stack(args.robots, camera="none", bots=args.bots, learner=args.learner, learner_args=args.learner_args)
    print(f"# chaos, {time.strftime('%Y-%m-%d %H:%M')}, seed {args.seed}: {args.robots} robots, {args.bots} bots"
          f"{', learner' if args.learner else ''}, {args.minutes:g} min, a fault every ~{args.mean_gap_s:g} s; "
          f"files in {stack.dir}")
    stack.start_all()
    faults: collections.Counter[str] = collections.Counter()
    # Weights: the hub is the part whose death risks the most (recorder mid-write), robots the
    # most numerous.
    kinds = {"hub": 3, "robot": 4, "bot": 2, **({"learner": 1} if args.learner else {})}
    try:
        # The first fault only once every robot records (process start-up takes seconds, more
        # on a loaded machine).
        if not stack.wait_recording(args.robots):
            sys.exit("chaos: the stack did not start recording within 5 minutes")
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(rng.expovariate(1 / args.mean_gap_s))
            kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
            names = [n for n in stack.commands if n.startswith(kind)]
            name = rng.choice(names)
            down = rng.uniform(0.0, 3.0)
            print(f"{time.strftime('%H:%M:%S')} kill -9 {name}; back in {down:.1f} s", flush=True)
            stack.kill(name)
            faults[kind] += 1
            time.sleep(down)
            stack.start(name)
        time.sleep(15)  # after the last restart: reconnect, resend what was never acknowledged
    finally:
        stack.stop()
    print(f"\nfaults injected: {sum(faults.values())} ({', '.join(f'{k} {v}' for k, v in sorted(faults.items()))})")
    a = audit_store(stack.recordings)
    print_audit(a)
    print(f"records lost: {a.steps_lost + a.labelled_incomplete}")
    sys.exit(0 if a.ok else 1)


if __name__ == "__main__":
    main()
