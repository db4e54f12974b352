"""The console against a live hub with simulated robots (QT_QPA_PLATFORM=offscreen).

Every action goes through the real widgets and keys: a synthesized Space takes the selected
robot, a held W drives it (its telemetry moves), Space gives it back, S labels its ended
episode, and the label is read back from the store on disk.
"""

import time

import pytest
from PyQt6.QtCore import Qt

from lwd_core.store import EpisodeStore
from lwd_operator.fleet_view import FleetViewConfig
from tests.ui.conftest import browse_ended_episodes

WAIT = 60_000  # ms: generous ceilings, the machine may be loaded


def ee(client, rid):
    t = client.latest_telemetry.get(rid)
    return list(t.ee_pos) if t else None


def test_take_from_wall_drive_with_keys_give_back_and_tag(qtbot, recording_hub, make_robot, make_console, recordings):
    node = make_robot("r1", policy="hold", camera="synthetic", camera_fps=5.0, max_episode_steps=120)
    win = make_console("alice")
    qtbot.waitUntil(lambda: "r1" in win.wall.tiles, timeout=WAIT)
    tile = win.wall.tiles["r1"]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
    assert win.wall.current == "r1"
    qtbot.waitUntil(lambda: tile.shown > 0, timeout=WAIT)  # its camera reached the screen
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: node.mode == "human", timeout=WAIT)
    assert win.ctl.robot == "r1" and win.banner.isVisible() and "YOU DRIVE r1" in win.banner.text()
    qtbot.waitUntil(lambda: ee(win.client, "r1") is not None, timeout=WAIT)
    start = ee(win.client, "r1")
    qtbot.keyPress(win, Qt.Key.Key_W)  # held: +x while down
    qtbot.waitUntil(lambda: ee(win.client, "r1")[0] > start[0] + 0.03, timeout=WAIT)
    qtbot.keyRelease(win, Qt.Key.Key_W)
    assert win.ctl.last_command is not None and win.ctl.sent > 0
    qtbot.waitUntil(lambda: "end effector" in win.detail.telemetry.text(), timeout=WAIT)
    driven = node.episode_id
    qtbot.keyClick(win, Qt.Key.Key_Space)  # give back
    qtbot.waitUntil(lambda: node.mode == "policy", timeout=WAIT)
    assert win.ctl.robot is None
    qtbot.waitUntil(lambda: any(e.episode_id == driven for e in win.view.to_label("r1")), timeout=WAIT)
    qtbot.keyClick(win, Qt.Key.Key_S)  # label the last ended episode: success
    assert any(f"labelled {driven} success" in m for m in win.messages)
    store = EpisodeStore(recordings, writer=False)

    def stored_outcome():
        try:
            return store.get(driven)["outcome"]
        except KeyError:
            return None

    qtbot.waitUntil(lambda: stored_outcome() == "success", timeout=WAIT)
    assert store.get(driven)["labelled_by"] == "alice" and store.get(driven)["human_steps"] > 0
    store.close()


def test_relabel_from_the_browser_shows_the_audit_row(qtbot, recording_hub, make_robot, make_console):
    node = make_robot("r2", policy="noise", camera="synthetic", camera_fps=10.0, max_episode_steps=30)
    win = make_console("carol")
    qtbot.waitUntil(lambda: node.episode_index >= 2, timeout=WAIT)
    b = browse_ended_episodes(qtbot, win, "r2", WAIT)
    b.table.selectRow(0)
    eid = b.rows[0].episode_id
    assert b.detail.episode.episode_id == eid
    qtbot.waitUntil(lambda: (b.open_episode(eid), b.frame is not None and b.frame.count > 1)[1], timeout=WAIT)
    b.slider.setValue(b.frame.count - 1)  # scrub to the end (the frame arrives from the fetcher)
    qtbot.waitUntil(lambda: b.shown_index() == b.frame.count - 1, timeout=WAIT)
    assert "frame" in b.view.caption
    assert b.timeline.cursor == b.frame.step
    b.note.setText("gripper slipped")
    qtbot.mouseClick(b.buttons["failure"], Qt.MouseButton.LeftButton)
    assert b.audit.rowCount() == 1, b.error
    row = [b.audit.item(0, j).text() for j in range(5)]
    assert row[1:] == ["carol", "unlabeled", "failure", "gripper slipped"]
    assert "outcome" not in b.error and "relabelled failure" in b.error


@pytest.mark.parametrize("hub_stale_ms", [6000])  # s1 reports every 2 s: slow, not offline
def test_attention_queue_puts_a_help_request_before_a_stall(qtbot, recording_hub, make_robot, make_console, make_client):
    make_robot("h1", policy="hold", stall_s=1e6)
    make_robot("s1", policy="hold", control_hz=0.5, stall_s=1e6)  # steps every 2 s: stalls in between
    win = make_console("alice", view_config=FleetViewConfig(stall_s=1.0))
    qtbot.waitUntil(lambda: {"h1", "s1"} <= set(win.wall.tiles), timeout=WAIT)
    assert make_client("bob").request_help("h1", "gripper stuck").ok

    def both():
        kinds = [(i.kind, i.robot_id) for i in win.view.queue]
        return ("help", "h1") in kinds and ("stall", "s1") in kinds

    qtbot.waitUntil(both, timeout=WAIT)
    kinds = [(i.kind, i.robot_id) for i in win.view.queue]
    assert kinds.index(("help", "h1")) < kinds.index(("stall", "s1"))
    qtbot.waitUntil(lambda: any("h1" in t and "help" in t for t in win.attention.texts()[:1]), timeout=WAIT)
    win.select("s1")
    qtbot.keyClick(win, Qt.Key.Key_J)  # jump to the most urgent
    assert win.wall.current == "h1"


def test_second_console_is_refused_and_told_who_holds_the_robot(qtbot, recording_hub, make_robot, make_console):
    node = make_robot("r3", policy="hold")
    a, b = make_console("alice"), make_console("bob")
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: "r3" in w.wall.tiles, timeout=WAIT)
        w.select("r3")
    qtbot.keyClick(a, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: node.mode == "human" and node.operator == "alice", timeout=WAIT)
    qtbot.keyClick(b, Qt.Key.Key_Space)
    assert b.ctl.robot is None
    assert "held by alice" in b.ctl.last_error
    assert "held by alice" in b.banner.text() and b.banner.isVisible()
    assert any("held by alice" in m for m in b.messages)
    qtbot.waitUntil(lambda: b.view.row("r3") is not None and b.view.row("r3").pill == "HUMAN alice", timeout=WAIT)
    assert node.operator == "alice"


def test_closing_the_console_mid_takeover_leaves_the_robot_in_a_safe_stop(qtbot, recording_hub, make_robot, make_console):
    node = make_robot("r4", policy="hold")
    win = make_console("alice")
    qtbot.waitUntil(lambda: "r4" in win.wall.tiles, timeout=WAIT)
    win.select("r4")
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: node.mode == "human", timeout=WAIT)
    qtbot.keyPress(win, Qt.Key.Key_R)  # driving up when the window closes
    win.close()
    qtbot.waitUntil(lambda: node.mode == "stopped", timeout=WAIT)  # deadman: holds still
    deadline = time.monotonic() + recording_hub.cfg.client_timeout_s + 1.5
    while time.monotonic() < deadline:  # the hub drops the lock; the robot must not resume
        assert node.mode == "stopped"
        time.sleep(0.1)
    assert recording_hub.locks.holder("r4") is None
