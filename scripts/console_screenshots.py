"""Screenshots of the console from a live demo (hub + simulated Meta-World fleet + operator bot).

Run under a display, e.g.:
    xvfb-run -s '-screen 0 1600x1000x24' .venv/bin/python scripts/console_screenshots.py
Writes docs/images/console_{wall,detail,review,learning}.png.

The demo's hub is given generous liveness limits (stale after 10 s, deadman 1.5 s, clients timed
out after 30 s): on a shared, overloaded machine the default limits would show every robot as
offline, which is true of that machine, not of the console.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_base_port() -> int:
    """A base port with the next 3 free too (the hub uses four)."""
    import socket

    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        try:
            socks = [socket.socket() for _ in range(4)]
            for i, t in enumerate(socks):
                t.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise RuntimeError("no free ports")


def publish_versions(stack, tmp: pathlib.Path) -> None:
    """Two small real snapshots: v1 deployed to the fleet, v2 as a canary on two robots, so the
    versions table and rollout history have something to show."""
    from lwd_core.learning import snapshot
    from lwd_core.learning.agents import AGENTS, DIVLQAMConfig
    from lwd_operator.demo import DEFAULT_TASKS

    c = stack.client("screenshots")  # the demo's admin key: publishing is a learner's or an admin's
    try:
        versions = []
        for seed in (0, 1):
            ag = AGENTS["divl_qam"].create(obs_dim=39, action_dim=4, horizon=4, tasks=DEFAULT_TASKS.split(","),
                                           seed=seed, config=DIVLQAMConfig(hidden=32, z_dim=32, flow_steps=2))
            ag.end_pretraining()
            snapshot.save(ag, tmp / f"snap{seed}", version=1)
            versions.append(c.publish_policy(tmp / f"snap{seed}", note=f"screenshot snapshot {seed}"))
        c.deploy(versions[0], why="first learned policy")
        c.canary(versions[1], k=2, why="try the newer snapshot on two robots")
    finally:
        c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", type=int, default=4)
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds of fleet activity before the shots")
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from lwd_operator.config import load_config
    from lwd_operator.demo import DemoOptions, DemoStack
    from ui.console.app import application
    from ui.console.window import ConsoleWindow

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="lwd-shots-"))
    toml = tmp / "lwd.toml"
    toml.write_text(f"""[hub]
port = {args.port or free_base_port()}
keys_dir = "{tmp / 'keys'}"
recordings = "{tmp / 'rec'}"
stale_ms = 10000
deadman_ms = 1500
client_timeout_s = 30.0

[robot]
camera_fps = 2.0
camera_size = 160
max_episode_steps = 150

[bot]
patience_s = 6.0
max_robots = 2
""")
    cfg = load_config(toml)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = application()
    opts = DemoOptions(robots=args.robots, camera_fps=2.0, config_path=str(toml))
    with DemoStack(cfg, opts) as stack:
        store = QSettings(str(tmp / "console.ini"), QSettings.Format.IniFormat)
        win = ConsoleWindow(stack.client("op-1", role="operator"), store=store, use_devices=False,
                            deadman_ms=cfg.hub.deadman_ms)
        win.resize(1600, 1000)
        win.show()

        def spin(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                app.processEvents()
                time.sleep(0.02)

        publish_versions(stack, tmp)  # first: robots load the new versions during the warm-up
        spin(args.warmup)
        policy = [r.robot_id for r in win.view.rows if r.state == "policy"] or win.wall.order
        stack.bot_client.request_help(policy[-1], "gripper slipped twice")
        for _ in range(40):  # the bot may serve it quickly: shoot while it waits in the queue
            spin(0.1)
            if any(i.kind == "help" for i in win.view.queue):
                break
        win.jump_to_most_urgent()
        spin(0.3)
        win.grab().save(str(out / "console_wall.png"))
        # Detail: take a robot and drive it a little, so the banner and live timeline show.
        for rid in [r.robot_id for r in win.view.rows if r.state == "policy"] + win.wall.order:
            win.select(rid)
            if win.take_selected():
                break
            spin(0.5)
        win.ctl.key_press("w")
        spin(2.5)
        win.ctl.key_release("w")
        win.ctl.key_press("r")
        spin(1.0)
        win.ctl.key_release("r")
        spin(1.0)
        win.grab().save(str(out / "console_detail.png"))
        win.ctl.give()
        spin(1)
        win.tabs.setCurrentWidget(win.episodes)
        spin(1)
        human = next((r for r in win.episodes.rows if r.human_steps > 0 and r.status == "ended"), None)
        row = human or next((r for r in win.episodes.rows if r.status == "ended"), None)
        if row is not None:
            win.episodes.open_episode(row.episode_id)
            for _ in range(30):  # the first frame arrives from the browser's fetcher thread
                if win.episodes.frame is not None:
                    break
                spin(0.1)
            if win.episodes.frame is not None:
                win.episodes.slider.setValue(win.episodes.frame.count * 2 // 3)
            win.episodes.note.setText("reviewed in the console")
            win.episodes.relabel("success" if row.outcome != "success" else "failure")
        spin(1)
        win.grab().save(str(out / "console_review.png"))
        win.tabs.setCurrentWidget(win.learner)
        spin(2)
        win.grab().save(str(out / "console_learning.png"))
        print(stack.bot_summary())
        win.shutdown()
        QApplication.processEvents()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
