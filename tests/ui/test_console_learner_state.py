"""The console's learner state against a live hub: a learner key reports its state; the
Learning tab shows the state line and plots each loss against updates, and the top bar says
how far the learner is."""

from lwd_core.protocol.messages import LearnerStatus
from lwd_operator.client import HubClient
from lwd_operator.sockets import Endpoints

WAIT = 60_000


def test_learning_tab_shows_learner_state_and_losses(qtbot, recording_hub, hub_cfg, make_keys, make_console):
    win = make_console("alice")
    panel = win.learner
    qtbot.waitUntil(lambda: (win.refresh_learner() or True) and panel.learner_state.state == "none", timeout=WAIT)
    assert "learner –" in win.status_line.text() and "none has reported" in panel.learner_line.text()
    with HubClient(Endpoints(port=hub_cfg.port), make_keys("learner-a", role="learner"), "learner-a",
                   role="learner") as learner:
        for k, u in enumerate((10, 20, 30)):
            learner.report_learner_status(LearnerStatus(
                agent="divl_qam", phase="online", updates=u, online_updates=u, updates_per_s=2.0, episodes=4,
                steps=120, cursor=5, online_share=0.25, tau=0.9, candidate_version=2, candidate_age_s=30.0,
                losses={"q_loss": 1.0 / (k + 1), "adjoint_loss": 2.0 - k * 0.5, "q_mean": 0.3}))
        win.tabs.setCurrentWidget(panel)

        def shown():
            panel.refresh_learner()
            return panel.learner_state.updates == 30

        qtbot.waitUntil(shown, timeout=WAIT)
    assert panel.learner_line.text().startswith("learner ● online 30 updates · 2.0 upd/s · v2 proposed")
    assert "learner-a (divl_qam)" in panel.learner_detail.text() and "online share 25%" in panel.learner_detail.text()
    assert "q_loss 0.333" in panel.learner_detail.text()
    items = {i.name(): i for i in panel.loss_plot.getPlotItem().listDataItems()}
    assert set(items) == {"adjoint_loss", "q_loss"}  # losses plotted; q_mean is not a loss
    assert list(items["q_loss"].xData) == [10, 20, 30]
    assert list(items["adjoint_loss"].yData) == [2.0, 1.5, 1.0]
    win.refresh_learner()
    assert "learner ● 30 updates" in win.status_line.text()
