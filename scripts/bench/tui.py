"""TUI render benchmark: time and CPU per refresh of the fleet screen with 1, 16 and 100 robots.

The TUI runs headless (Textual's test driver, no terminal I/O) on synthetic fleet states that
change every refresh (steps, rates, ages), as a hub would push them; each refresh applies the
new state to the model, updates the table (only lines whose text changed are repainted) and lets
Textual paint. Figures per refresh: wall time p50 / p99, process CPU time (mean), table lines
repainted (mean: at most the rows on screen, however many robots there are), and ``still cpu``:
CPU time of a refresh whose fleet state did not change (what a steady fleet costs; it should not
grow with the robots). Baseline: the 1-robot row of the same run; ``×`` is each row's p50 and cpu
over it.

    .venv/bin/python scripts/bench/tui.py                     # 1, 16, 100 robots, 200 refreshes
    .venv/bin/python scripts/bench/tui.py --ns 1 16 --refreshes 20   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lwd_operator.config import TuiConfig  # noqa: E402
from lwd_operator.fleet_view import FleetView  # noqa: E402
from lwd_operator.fleet_view.samples import SampleHub  # noqa: E402
from ui.tui.app import LwdTui  # noqa: E402
from ui.tui.fleet_table import FleetTable  # noqa: E402


async def measure(n: int, refreshes: int, size: tuple[int, int]) -> dict:
    hub = SampleHub(n)
    view = FleetView("op-1")
    view.update(hub.latest_fleet)
    app = LwdTui(hub, view=view, live=False, config=TuiConfig(bell=False))
    walls, cpus = [], []
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        table = screen.query_one(FleetTable)
        for _ in range(5):  # warm up: first paint, column fitting
            view.update(hub.advance())
            screen.refresh_view()
            await pilot.pause()
        repaints0 = table.repaints
        for _ in range(refreshes):
            fleet = hub.advance()
            t0, c0 = time.perf_counter(), time.process_time()
            view.update(fleet)
            screen.refresh_view()
            await pilot.pause()  # Textual composes and paints the changed cells
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        repaints = (table.repaints - repaints0) / refreshes
        still = []
        for _ in range(max(5, refreshes // 4)):  # the same fleet again: nothing to repaint
            c0 = time.process_time()
            view.update(fleet)
            screen.refresh_view()
            await pilot.pause()
            still.append(time.process_time() - c0)
    w = np.array(walls) * 1000
    return {"n": n, "p50": float(np.percentile(w, 50)), "p99": float(np.percentile(w, 99)),
            "cpu": float(np.mean(cpus) * 1000), "repaints": repaints,
            "still": float(np.mean(still) * 1000)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ns", type=int, nargs="+", default=[1, 16, 100])
    ap.add_argument("--refreshes", type=int, default=200)
    ap.add_argument("--size", default="160x48", help="terminal size, e.g. 80x24")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    rows = [asyncio.run(measure(n, args.refreshes, size)) for n in sorted(set(args.ns))]
    base = rows[0]
    print(f"TUI fleet screen, {args.refreshes} refreshes at {size[0]}x{size[1]} "
          f"(baseline: {base['n']} robot{'s' if base['n'] > 1 else ''})")
    print(f"{'robots':>6} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>8} {'p50 ×':>6} {'cpu ×':>6} {'repaint':>8} {'still cpu':>9}")
    for r in rows:
        print(f"{r['n']:>6} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['cpu']:>8.2f} {r['p50'] / base['p50']:>6.2f} "
              f"{r['cpu'] / base['cpu']:>6.2f} {r['repaints']:>8.1f} {r['still']:>9.2f}")
    print("a 4 Hz refresh leaves 250 ms per frame; cpu ms / 250 is the share of one core")


if __name__ == "__main__":
    main()
