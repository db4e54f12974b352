"""SVG screenshots of every TUI screen, exported by Textual from a live demo.

Starts the demo stack (hub with recording, simulated Meta-World robots, operator bot) in a
temporary directory, runs the TUI headless against it as operator ``op-1``, lets the fleet work
for a while, raises a help request, safe-stops one robot and labels an episode, then saves
docs/images/tui-{fleet,episodes,learning,help}.svg.

    .venv/bin/python scripts/tui_screenshots.py --robots 6 --warmup 60
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


async def shoot(stack: DemoStack, args) -> None:
    client = stack.client("op-1", role="operator")
    helper = stack.client("op-2", role="operator")
    app = LwdTui(client)
    try:
        async with app.run_test(size=(args.width, args.height)) as pilot:
            # robots start slowly on a busy machine: wait for all of them, then let them work
            deadline = time.monotonic() + args.max_wait
            while len(app.view.rows) < args.robots and time.monotonic() < deadline:
                await pilot.pause(0.5)
            end = min(deadline, time.monotonic() + args.warmup)
            while time.monotonic() < end:
                await pilot.pause(0.5)
            free = [r.robot_id for r in app.view.rows if not r.operator]  # not held by the bot
            ids = free + [r.robot_id for r in app.view.rows if r.robot_id not in free]
            if len(ids) >= 2:
                client.take(ids[-1])  # a safe stop held by this operator
                helper.request_help(ids[0], "gripper slips on the puck")
            await pilot.pause(3.0)
            app.save_screenshot("tui-fleet.svg", OUT)
            await pilot.press("2")
            await pilot.pause(3.0)
            screen = app.screen
            if screen.detail is not None:
                await pilot.press("f")
                await pilot.press(*"drifted off the target")
                await pilot.press("enter")
                end = time.monotonic() + 60
                while time.monotonic() < end and not (screen.detail and screen.detail.audit):
                    await pilot.pause(0.5)
                await pilot.press("s")
                await pilot.press(*"replayed: puck reached it")
                await pilot.press("enter")
                end = time.monotonic() + 60  # a loaded machine answers slowly: wait for the audit
                while time.monotonic() < end and not (screen.detail and len(screen.detail.audit) >= 2):
                    await pilot.pause(0.5)
            app.save_screenshot("tui-episodes.svg", OUT)
            await pilot.press("3")
            await pilot.pause(3.0)
            app.save_screenshot("tui-learning.svg", OUT)
            await pilot.press("question_mark")
            await pilot.pause(1.0)
            app.save_screenshot("tui-help.svg", OUT)
    finally:
        helper.close()
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--robots", type=int, default=6)
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds the fleet works before the first shot")
    ap.add_argument("--max-wait", type=float, default=300.0, help="give up waiting for the robots after this long")
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=36)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        cfg = Config()
        cfg = dataclasses.replace(cfg, hub=HubConfig(port=free_port_block(), keys_dir=os.path.join(tmp, "keys"),
                                                     recordings=os.path.join(tmp, "rec")))
        with DemoStack(cfg, DemoOptions(robots=args.robots, camera_fps=1.0)) as stack:
            asyncio.run(shoot(stack, args))
    print("wrote", ", ".join(f"docs/images/tui-{s}.svg" for s in ("fleet", "episodes", "learning", "help")))


if __name__ == "__main__":
    main()
