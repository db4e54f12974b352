"""The TUI against a live hub with simulated (MuJoCo) robots, driven with Textual's pilot."""

import asyncio
import time

import pytest

from lwd_operator.client import HubClient
from lwd_operator.config import TuiConfig
from lwd_operator.sockets import Endpoints
from ui.tui.app import LwdTui
from ui.tui.fleet_table import FleetTable

DEADLINE_S = 60.0


async def until(pilot, cond, what: str, timeout: float = DEADLINE_S):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def text_of(widget) -> str:
    return str(widget.render())


@pytest.fixture
def tui_client(port, make_keys):
    c = HubClient(Endpoints(port=port), make_keys("op-tui", role="admin"), operator="op-tui").start()
    yield c
    c.close()


@pytest.fixture
def other_client(port, make_keys):
    c = HubClient(Endpoints(port=port), make_keys("op-2"), operator="op-2").start()
    yield c
    c.close()


def test_robots_appear_help_tops_the_queue_and_a_held_robot_is_stopped(
        hub, make_robot, tui_client, other_client):
    async def scenario():
        make_robot("r1", policy="noise", preload_torch=False)
        make_robot("r2", policy="noise", preload_torch=False)
        app = LwdTui(tui_client, config=TuiConfig(refresh_hz=10))
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(FleetTable)
            await until(pilot, lambda: table.row_count == 2, "both robots in the fleet table")
            assert [r.robot_id for r in table.shown] == ["r1", "r2"]
            assert {r.pill for r in app.view.rows} == {"POLICY"}

            assert other_client.request_help("r2", "gripper stuck").ok
            await until(pilot, lambda: app.view.queue and app.view.queue[0].kind == "help", "a help entry")
            top = app.view.queue[0]
            assert top.robot_id == "r2" and "gripper stuck" in top.text
            pane = app.screen.query_one("#attention")
            await until(pilot, lambda: "gripper stuck" in text_of(pane), "the queue pane")
            first = text_of(pane).split("\n")[0]  # the top line of the queue
            assert first.startswith("! r2 ") and "help: op-2" in first and "gripper stuck" in first
            await until(pilot, lambda: app.bells >= 1, "the bell for a help request")
            log_lines = [line.text for line in app.screen.query_one("#log").lines]
            assert any("r2 help: op-2 asks for help: gripper stuck 🔔" in line for line in log_lines), log_lines

            await pilot.press("j")  # jump selects the most urgent robot
            assert table.selected_robot == "r2"
            await pilot.press("x")  # safe stop: take it, hold it still
            await until(pilot, lambda: (r := app.view.row("r2")) and r.state == "you", "r2 held by this TUI")
            assert app.view.row("r2").pill == "YOU" and app.view.summary.yours == ("r2",)
            tele = []
            tui_client.watch_telemetry("r2")
            await until(pilot, lambda: (t := tui_client.latest_telemetry.get("r2")) and t.mode == "human" and tele.append(t.ee_pos) is None and len(tele) > 5,
                        "telemetry while held")
            first = tui_client.latest_telemetry["r2"].ee_pos
            await pilot.pause(1.0)
            later = tui_client.latest_telemetry["r2"].ee_pos
            # It holds still: a held arm settles by a few mm at most; under its policy it would
            # move centimetres in that second.
            assert max(abs(a - b) for a, b in zip(first, later, strict=True)) < 5e-3
            assert "help" not in [i.kind for i in app.view.queue if i.robot_id == "r2"]  # taking it answered the call
            await pilot.press("g")
            await until(pilot, lambda: (r := app.view.row("r2")) and r.state == "policy", "r2 back under its policy")

    asyncio.run(scenario())

def test_an_episode_is_labelled_then_relabelled_and_the_audit_trail_shows_both(
        recording_hub, make_robot, tui_client):
    async def scenario():
        make_robot("r1", preload_torch=False)  # no policy swap here: skip loading torch
        app = LwdTui(tui_client, config=TuiConfig(refresh_hz=10))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.view.rows, "the robot")
            await pilot.pause(0.5)
            assert tui_client.reset_episode("r1").ok  # ends an episode
            await until(pilot, lambda: app.view.to_label("r1"), "the ended episode waiting for a label")
            eid = app.view.to_label("r1")[0].episode_id
            await pilot.press("2")
            screen = app.screen
            filt = screen.query_one("#ep-filter")
            filt.focus()
            filt.value = "status=ended r1"
            await pilot.press("enter")
            await until(pilot, lambda: screen.detail and screen.detail.episode.episode_id == eid, "the episode shown")

            await pilot.press("f")
            await pilot.press(*"looks stuck")
            await pilot.press("enter")
            await until(pilot, lambda: screen.detail and len(screen.detail.audit) == 1, "the first label")
            await pilot.press("s")
            await pilot.press(*"replayed: it worked")
            await pilot.press("enter")
            await until(pilot, lambda: screen.detail and len(screen.detail.audit) == 2, "the relabel")
            shown = text_of(screen.query_one("#ep-detail"))
            assert "op-tui: unlabeled → failure  “looks stuck”" in shown
            assert "op-tui: failure → success  “replayed: it worked”" in shown
            assert "SUCCESS by op-tui" in shown
            assert eid not in [e.episode_id for e in app.view.to_label()]  # it left the queue

    asyncio.run(scenario())

def test_learning_screen_shows_curves_from_the_hub(recording_hub, make_robot, tui_client):
    async def scenario():
        make_robot("r1", preload_torch=False)  # no policy swap here: skip loading torch
        app = LwdTui(tui_client, config=TuiConfig(refresh_hz=10))
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.view.rows, "the robot")
            await pilot.pause(0.5)
            assert tui_client.reset_episode("r1").ok
            await pilot.press("3")
            screen = app.screen
            await until(pilot, lambda: (screen.reload() or True) and screen.curves and screen.curves.points,
                        "curves", timeout=DEADLINE_S)
            await pilot.pause(0.2)
            assert "push-v3" in text_of(screen.query_one("#learning"))  # the task's own curve
            head = text_of(screen.query_one("#learning-head"))
            assert "v0" in head and "1 robots  r1" in head and "no active version" in head

    asyncio.run(scenario())


def test_promote_and_pin_from_the_learning_screen_are_audited(recording_hub, make_robot, tui_client, tmp_path):
    from tests.operator.policy_helpers import tiny_snapshot

    make_robot("r1", preload_torch=False)  # no policy swap here: skip loading torch
    v1 = tui_client.publish_policy(tiny_snapshot(tmp_path / "s1"), note="first")
    app = LwdTui(tui_client, config=TuiConfig(refresh_hz=10))

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.view.rows, "the robot")
            await pilot.press("3")
            screen = app.screen
            await until(pilot, lambda: screen.versions and screen.selected_version == v1, "v1 listed and selected")
            await pilot.press("p")
            await pilot.press(*"baseline")
            await pilot.press("enter")
            await until(pilot, lambda: screen.versions and screen.versions[-1].status == "active", "v1 active")
            await pilot.press("i")
            await pilot.press(*"r1 keep for a comparison")
            await pilot.press("enter")
            await until(pilot, lambda: tui_client.latest_fleet.rollout.pinned.get("r1") == v1, "r1 pinned to v1")
            audit = [(e.who, e.action, e.version, e.why) for e in tui_client.policy_audit()]
            assert audit[:2] == [("op-tui", "pin", v1, "keep for a comparison"), ("op-tui", "promote", v1, "baseline")]
            await until(pilot, lambda: "pinned r1→v1" in text_of(screen.query_one("#learning-head")), "the pin shown")

    asyncio.run(scenario())
