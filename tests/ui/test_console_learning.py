"""The learner panel against a live hub: curves from labelled episodes, the policy versions
table from the hub's policy store, and a Deploy click that the robot obeys."""

from PyQt6.QtCore import Qt

from tests.operator.policy_helpers import tiny_snapshot

WAIT = 60_000


def test_learning_tab_plots_rates_and_deploys_a_version(qtbot, tmp_path, recording_hub, make_robot, make_console):
    node = make_robot("r5", task="reach-v3", policy="hold", max_episode_steps=30)
    win = make_console("alice")
    qtbot.waitUntil(lambda: len(win.client.list_episodes(robot="r5", status="ended")) > 0, timeout=WAIT)
    eid = win.client.list_episodes(robot="r5", status="ended")[0].episode_id
    assert win.client.relabel(eid, "success").ok
    version = win.client.publish_policy(tiny_snapshot(tmp_path / "snap"), note="from the console test")
    win.tabs.setCurrentWidget(win.learner)
    panel = win.learner

    def plotted():
        panel.refresh()
        return panel.curves is not None and any(p.group == "all" and p.successes for p in panel.curves.points)

    qtbot.waitUntil(plotted, timeout=WAIT)
    assert panel.success_plot.getPlotItem().listDataItems(), "no success curve drawn"
    panel.set_versions(win.view.rows)
    row = next(i for i, v in enumerate(panel.policy_rows) if v.version == version)
    assert panel.versions.item(row, 1).text() == "candidate"
    assert all(b.isEnabled() for b in panel.action_buttons.values())
    panel.versions.selectRow(row)
    qtbot.mouseClick(panel.action_buttons["deploy"], Qt.MouseButton.LeftButton)
    assert "deploy v" in panel.rollout_note.text() and "done" in panel.rollout_note.text(), panel.rollout_note.text()
    qtbot.waitUntil(lambda: node.policy.version == version, timeout=WAIT)
    history = [panel.history.item(i, 2).text() for i in range(panel.history.rowCount())]
    assert "deploy" in history
