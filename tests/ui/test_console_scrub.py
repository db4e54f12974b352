"""Scrubbing a recorded episode never blocks the GUI thread: against a live recording hub, the
episodes browser fetches and decodes frames on a worker, keeps at most one fetch in flight
however fast the slider moves (newest request wins, stale answers are dropped), shows
"loading…" meanwhile, ends on the last frame asked for, and serves frames seen from its cache."""

import threading
import time

from tests.ui.conftest import browse_ended_episodes

WAIT = 60_000  # ms


class FetchLog:
    """Wraps ``HubClient.episode_frame``: which threads fetched, how many at once, which indices.
    Each fetch is held a moment, as a loaded hub would, so scrubbing outruns the fetches."""

    def __init__(self, fetch, hold_s=0.05):
        self.fetch, self.hold_s = fetch, hold_s
        self.threads: set[int] = set()
        self.indices: list[int] = []
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __call__(self, episode_id, camera="", index=0, timeout=5.0):
        with self._lock:
            self.threads.add(threading.get_ident())
            self.indices.append(index)
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.hold_s)
            return self.fetch(episode_id, camera, index, timeout)
        finally:
            with self._lock:
                self.now -= 1


def test_fast_scrubbing_fetches_off_the_gui_thread_newest_first(qtbot, recording_hub, make_robot, make_console):
    node = make_robot("s1", policy="noise", camera="synthetic", camera_fps=20.0, max_episode_steps=60)
    win = make_console("sam")
    qtbot.waitUntil(lambda: node.episode_index >= 2, timeout=WAIT)
    b = browse_ended_episodes(qtbot, win, "s1", WAIT)
    eid = next(r.episode_id for r in b.rows if r.robot_id == "s1")
    log = FetchLog(win.client.episode_frame)
    win.client.episode_frame = log  # the browser's fetch path now records who fetched
    b.open_episode(eid)
    qtbot.waitUntil(lambda: b.frame is not None, timeout=WAIT)
    count = b.frame.count
    assert count >= 12, f"only {count} frames recorded"
    assert b.slider.maximum() == count - 1 and b.shown_index() == 0

    gui = threading.get_ident()
    before = len(log.indices)
    wanted = list(range(1, count))  # none of these is cached yet
    for i in wanted:  # a fast drag: no event is processed between two slider moves
        b.slider.setValue(i)
    assert b.view.caption.startswith("loading…") and b.shown_index() is None
    qtbot.waitUntil(lambda: b.shown_index() == wanted[-1], timeout=WAIT)
    assert b.frame.index == wanted[-1] and b.view.caption.startswith(f"{b.frame.camera}  frame {count}/{count}")
    assert b.timeline.cursor == b.frame.step
    fetched = log.indices[before:]
    assert gui not in log.threads  # every fetch (and its decode) ran off the GUI thread
    assert log.most == 1  # never more than one fetch in flight
    # Newest wins: the one in flight when the drag began, then only the newest index.
    assert fetched == [wanted[0], wanted[-1]]
    assert b.fetcher.started - 1 == len(fetched)  # (the first was the episode's opening frame)

    # A slower drag back: every answer that arrives is either shown (still the newest) or only
    # cached; the screen always ends on the last index asked for.
    for i in (count // 2, count // 3, 2):
        b.slider.setValue(i)
        qtbot.wait(20)
    qtbot.waitUntil(lambda: b.shown_index() == 2, timeout=WAIT)
    assert log.most == 1 and gui not in log.threads
    # Frames already seen come from the cache: no fetch at all.
    n = len(log.indices)
    b.slider.setValue(wanted[-1])
    assert b.shown_index() == wanted[-1] and len(log.indices) == n
