"""SVG screenshots of every TUI screen, exported by Textual from a live demo.

Starts the demo stack (hub with recording, simulated Meta-World robots, operator bot, and the
learner unless ``--no-learner``) in a temporary directory, runs the TUI headless against it as
operator ``op-1``, lets the fleet work for a while, raises a help request, safe-stops one robot
and labels an episode, then saves docs/images/tui-{fleet,episodes,learning,help}.svg.

Before every shot it waits until the fleet is healthy: every robot connected, with a fresh
heartbeat, none stopped or offline, and every robot under a policy has taken steps since the
previous look. (The first screenshots showed every robot OFFLINE: on a loaded machine the robot
processes starved, missed the hub's 1.5 s staleness limit, and the bot's held robot hit its
deadman; the shots were taken at fixed times regardless.) If the fleet is not healthy within
``--max-wait`` seconds the shot is taken anyway and the script says so and exits with status 1.

    .venv/bin/python scripts/tui_screenshots.py --robots 3 --warmup 60
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from lwd_operator.config import Config, HubConfig  # noqa: E402
from lwd_operator.demo import DemoOptions, DemoStack  # noqa: E402
from tests.conftest import free_port_block  # noqa: E402
from ui.tui.app import LwdTui  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "docs", "images")


async def healthy(pilot, app, robots: int, timeout: float, what: str) -> bool:
    """Wait until ``robots`` robots are online with fresh heartbeats, none stopped or offline,
    and every robot under a policy has moved on since the previous look (a second ago)."""
    deadline = time.monotonic() + timeout
    last: dict[str, tuple[str, int]] = {}
    while True:
        rows = app.view.rows
        fresh = all(r.heartbeat_age_s < 1.0 and r.state not in ("offline", "stopped") for r in rows)
        moved = all(r.mode != "policy" or last.get(r.robot_id, (r.episode_id, r.step)) != (r.episode_id, r.step)
                    for r in rows) and bool(last)
        if len(rows) >= robots and app.view.summary.connected and fresh and moved:
            await pilot.pause(0.5)  # one more refresh paints what was checked
            return True
        if time.monotonic() > deadline:
            states = ", ".join(f"{r.robot_id} {r.pill} beat {r.heartbeat_age_s:.1f}s" for r in rows)
            print(f"WARNING: {what}: fleet not healthy after {timeout:.0f} s ({states or 'no robots'})",
                  file=sys.stderr)
            return False
        last = {r.robot_id: (r.episode_id, r.step) for r in rows}
        await pilot.pause(1.0)


async def shoot(stack: DemoStack, args) -> bool:
    client = stack.client("op-1", role="operator")
    helper = stack.client("op-2", role="operator")
    app = LwdTui(client)
    ok = True
    try:
        async with app.run_test(size=(args.width, args.height)) as pilot:
            # robots start slowly on a busy machine: wait for all of them, then let them work
            ok &= await healthy(pilot, app, args.robots, args.max_wait, "start")
            end = time.monotonic() + args.warmup
            while time.monotonic() < end:
                await pilot.pause(0.5)
            free = [r.robot_id for r in app.view.rows if not r.operator]  # not held by the bot
            ids = free + [r.robot_id for r in app.view.rows if r.robot_id not in free]
            if len(ids) >= 2:
                client.take(ids[-1])  # a safe stop held by this operator
            await pilot.pause(3.0)
            ok &= await healthy(pilot, app, args.robots, args.max_wait, "fleet screen")
            if len(ids) >= 2:  # last: the bot serves help requests first, and one should show
                helper.request_help(ids[0], "gripper slips on the puck")
                end = time.monotonic() + 20
                while time.monotonic() < end and not any(i.kind == "help" for i in app.view.queue):
                    await pilot.pause(0.2)
                await pilot.pause(0.5)
            app.save_screenshot("tui-fleet.svg", OUT)
            await pilot.press("2")
            await pilot.pause(3.0)
            screen = app.screen
            labelled = False
            if screen.detail is not None:
                ep, n0 = screen.detail.episode.episode_id, len(screen.detail.audit)  # the bot may have labelled it

                def audited(n: int) -> bool:
                    d = screen.detail
                    return d is not None and d.episode.episode_id == ep and len(d.audit) >= n

                for key, note, n in (("f", "drifted off the target", n0 + 1), ("s", "replayed: puck reached it", n0 + 2)):
                    await pilot.press(key)
                    await pilot.press(*note)
                    await pilot.press("enter")
                    end = time.monotonic() + 60  # a loaded machine answers slowly: wait for the audit
                    while time.monotonic() < end and not audited(n):
                        await pilot.pause(0.5)
                labelled = audited(n0 + 2)
            if not labelled:
                print(f"WARNING: episodes screen: the label and relabel are not both in the audit trail "
                      f"({screen.message or 'no message'})", file=sys.stderr)
                ok = False
            ok &= await healthy(pilot, app, args.robots, args.max_wait, "episodes screen")
            screen.query_one("#ep-detail-box").scroll_end(animate=False)  # the audit trail is last
            await pilot.pause(0.5)
            app.save_screenshot("tui-episodes.svg", OUT)
            await pilot.press("3")
            await pilot.pause(3.0)
            ok &= await healthy(pilot, app, args.robots, args.max_wait, "learning screen")
            app.save_screenshot("tui-learning.svg", OUT)
            await pilot.press("question_mark")
            await pilot.pause(1.0)
            app.save_screenshot("tui-help.svg", OUT)
    finally:
        helper.close()
        client.close()
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--robots", type=int, default=6)
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds the fleet works before the first shot")
    ap.add_argument("--max-wait", type=float, default=300.0,
                    help="seconds to wait for a healthy fleet before each shot (then shoot anyway, exit 1)")
    ap.add_argument("--no-learner", action="store_true", help="no learner process (lighter; no policy versions)")
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=36)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        cfg = Config()
        cfg = dataclasses.replace(cfg, hub=HubConfig(port=free_port_block(), keys_dir=os.path.join(tmp, "keys"),
                                                     recordings=os.path.join(tmp, "rec")))
        opts = DemoOptions(robots=args.robots, camera_fps=1.0, learner=not args.no_learner)
        with DemoStack(cfg, opts) as stack:
            ok = asyncio.run(shoot(stack, args))
    print("wrote", ", ".join(f"docs/images/tui-{s}.svg" for s in ("fleet", "episodes", "learning", "help")))
    if not ok:
        sys.exit("some shots were taken with an unhealthy fleet (see the warnings above)")


if __name__ == "__main__":
    main()
