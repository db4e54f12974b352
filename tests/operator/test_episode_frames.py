"""Scrubbing a recorded episode through the hub: one frame at a time with its step, plus the
relabel audit row a console shows (consoles never open SQLite)."""

import dataclasses

from lwd_operator.client import HubClient, HubError
from lwd_operator.hub.hub import Hub
from lwd_operator.recorder import open_recorder
from lwd_operator.sockets import Endpoints
from tests.util import wait_until


def test_episode_frames_and_relabel_audit_through_the_hub(tmp_path, hub_cfg, make_robot, make_keys):
    cfg = dataclasses.replace(hub_cfg, recordings=str(tmp_path / "rec"))
    hub = Hub(cfg, recorder=open_recorder(cfg.recordings)).start()
    try:
        node = make_robot("cam", task="reach-v3", policy="noise", camera="synthetic", camera_fps=10.0,
                          max_episode_steps=30)
        with HubClient(Endpoints(port=hub_cfg.port), make_keys("alice"), "alice") as c:
            wait_until(lambda: node.episode_index >= 2, what="first episode over")
            row = wait_until(lambda: next((r for r in c.list_episodes(robot="cam") if r.status == "ended"), None),
                             timeout=30, what="ended episode listed")

            def first_frame():
                try:
                    return c.episode_frame(row.episode_id)
                except HubError:
                    return None

            frame, jpeg = wait_until(first_frame, timeout=30, what="frames of the ended episode")
            assert frame.camera == "corner" and frame.cameras == ["corner"] and frame.index == 0
            assert jpeg[:2] == b"\xff\xd8"
            last, _ = c.episode_frame(row.episode_id, "corner", 10**6)  # clamped to the last frame
            assert last.index == last.count - 1 and last.count >= 2
            assert 0 <= frame.step <= last.step < 30
            try:
                c.episode_frame(row.episode_id, "no-such-camera")
                raise AssertionError("expected HubError")
            except HubError as e:
                assert "no-such-camera" in str(e)
            assert c.relabel(row.episode_id, "failure", note="missed").ok
            audit = wait_until(lambda: c.show_episode(row.episode_id).audit, what="audit row")
            assert [(a.who, a.old, a.new, a.note) for a in audit] == [("alice", "unlabeled", "failure", "missed")]
    finally:
        node.stop()
        hub.stop()


def test_frame_step_follows_the_one_frame_alignment():
    import numpy as np

    from lwd_operator.hub.episode_frames import frame_step

    # Steps and frames on the robot's monotonic clock: 20 Hz steps, a 2 fps camera whose first
    # frame comes 20 ms after the first step.
    steps = 5_000_000_000 + np.arange(100, dtype=np.int64) * 50_000_000
    frames = 5_000_000_000 + 20_000_000 + np.arange(10, dtype=np.int64) * 500_000_000
    # Frame k is captured 20 ms after step 10k; the first step that shows it is 10k + 1.
    assert [frame_step(frames, steps, i) for i in (0, 1, 9)] == [1, 11, 91]
    assert frame_step(frames, steps[:5], 9) == 4  # never past the last recorded step
    assert frame_step(frames, steps[:0], 3) == 0
    # Two frames between the same two steps: the earlier is shown by no step, so it maps to
    # the first step after its capture, the same step as the later one.
    burst = np.array([5_010_000_000, 5_020_000_000], np.int64)
    assert [frame_step(burst, steps, i) for i in (0, 1)] == [1, 1]
