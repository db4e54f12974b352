"""The episodes browser: filters like ``lwd episodes list``, scrub a recorded episode's frames
along its timeline, relabel it (audited) and see the audit trail. Everything goes through the
hub (``HubClient``); the console never opens the store.

Scrubbing never blocks the GUI thread: frames are fetched and decoded by a ``LatestFetcher``
(one fetch in flight, newest request wins, stale answers only fill the cache), decoded frames
sit in a small LRU cache, and a frame on its way shows "loading…" over the last one shown."""

from __future__ import annotations

import datetime as dt
import re
import time

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lwd_operator.client import HubError
from ui.console.detail import CameraView
from ui.console.fetcher import FrameCache, LatestFetcher
from ui.console.frames import decode_jpeg
from ui.console.timeline import TimelineBar, bands_from_spans

_REL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FRAME_SIZE = (960, 720)
"""Frames of the browser decode at most this large (DCT scaling while decoding)."""
COLUMNS = ("episode", "robot", "task", "started", "status", "outcome", "steps", "human", "policy", "by")


def since_epoch(text: str) -> float:
    """``2h``, ``30m``, ``7d`` ago or an ISO date -> epoch seconds (0: any); ValueError if bad."""
    text = text.strip()
    if not text:
        return 0.0
    m = _REL.match(text)
    if m:
        return time.time() - float(m.group(1)) * _UNIT[m.group(2)]
    return dt.datetime.fromisoformat(text).timestamp()


def when(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%m-%d %H:%M:%S") if t else "-"


class EpisodesBrowser(QWidget):
    def __init__(self, client, operator: str, parent=None):
        super().__init__(parent)
        self.client, self.operator = client, operator
        self.rows = []
        self.detail = None
        self.frame = None
        """The frame on screen (``EpisodeFrame``); None before an episode's first frame arrives."""
        self.error = ""
        self.frames = FrameCache()
        self.fetcher = LatestFetcher(self)
        self.fetcher.done.connect(self._on_frame)
        self._first_at: int | None = None
        """While an episode opens: the frame index to show first (then the slider is set up)."""
        lay = QVBoxLayout(self)
        filters = QHBoxLayout()
        self.robot = QLineEdit(placeholderText="robot")
        self.task = QLineEdit(placeholderText="task")
        self.outcome = QComboBox()
        self.outcome.addItems(["any outcome", "success", "failure", "unlabeled"])
        self.status = QComboBox()
        self.status.addItems(["any status", "running", "ended", "aborted"])
        self.since = QLineEdit(placeholderText="since: 2h, 30m, 7d")
        self.refresh_button = QPushButton("List")
        self.refresh_button.clicked.connect(self.refresh)
        for w in (QLabel("Filters:"), self.robot, self.task, self.outcome, self.status, self.since, self.refresh_button):
            filters.addWidget(w)
        lay.addLayout(filters)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._chosen)
        split.addWidget(self.table)
        right = QWidget()
        rl = QVBoxLayout(right)
        self.title = QLabel("choose an episode")
        self.title.setStyleSheet("font-weight: bold;")
        rl.addWidget(self.title)
        self.view = CameraView()
        rl.addWidget(self.view, 1)
        scrub = QHBoxLayout()
        self.camera = QComboBox()
        self.camera.currentTextChanged.connect(lambda _t: self.show_frame(self.slider.value()))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.show_frame)
        scrub.addWidget(self.camera)
        scrub.addWidget(self.slider, 1)
        rl.addLayout(scrub)
        self.timeline = TimelineBar()
        self.timeline.scrubbed.connect(self._scrub_to_step)
        rl.addWidget(self.timeline)
        relabel = QHBoxLayout()
        self.note = QLineEdit(placeholderText="note for the label (optional)")
        relabel.addWidget(self.note, 1)
        self.buttons = {}
        for outcome in ("success", "failure", "unlabeled"):
            b = QPushButton(f"Relabel {outcome}")
            b.clicked.connect(lambda _=False, o=outcome: self.relabel(o))
            relabel.addWidget(b)
            self.buttons[outcome] = b
        rl.addLayout(relabel)
        rl.addWidget(QLabel("label audit trail"))
        self.audit = QTableWidget(0, 5)
        self.audit.setHorizontalHeaderLabels(("when", "who", "old", "new", "note"))
        self.audit.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.audit.horizontalHeader().setStretchLastSection(True)
        rl.addWidget(self.audit)
        self.status_line = QLabel("")
        rl.addWidget(self.status_line)
        split.addWidget(right)
        split.setSizes([620, 560])
        lay.addWidget(split, 1)

    # --- list -------------------------------------------------------------------------------------

    def refresh(self) -> None:
        try:
            since = since_epoch(self.since.text())
        except ValueError:
            self._say(f"cannot read 'since' {self.since.text()!r}: use 2h, 30m, 7d or an ISO date")
            return
        o, s = self.outcome.currentText(), self.status.currentText()
        try:
            self.rows = self.client.list_episodes(
                robot=self.robot.text().strip(), task=self.task.text().strip(),
                outcome="" if o.startswith("any") else o, status="" if s.startswith("any") else s,
                since=since, limit=200)
        except HubError as e:
            self._say(f"list: {e}")
            return
        keep = self.detail.episode.episode_id if self.detail else None
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            vals = (r.episode_id, r.robot_id, r.task, when(r.started_at), r.status, r.outcome, str(r.steps),
                    str(r.human_steps), ",".join(map(str, r.policy_versions)), r.labelled_by)
            for j, v in enumerate(vals):
                self.table.setItem(i, j, QTableWidgetItem(v))
            if r.episode_id == keep:
                self.table.selectRow(i)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self._say(f"{len(self.rows)} episodes")

    def _chosen(self) -> None:
        sel = self.table.selectionModel().selectedRows()
        if sel:
            self.open_episode(self.rows[sel[0].row()].episode_id)

    # --- one episode ------------------------------------------------------------------------------

    def open_episode(self, episode_id: str, at: int = 0) -> None:
        """Show an episode; its frame ``at`` (clamped) arrives from the fetcher."""
        try:
            self.detail = self.client.show_episode(episode_id)
        except HubError as e:
            self._say(f"show {episode_id}: {e}")
            return
        ep = self.detail.episode
        self.title.setText(f"{ep.episode_id} · {ep.robot_id} · {ep.task} · {ep.status} · {ep.outcome}"
                           + (f" (by {ep.labelled_by})" if ep.labelled_by else ""))
        self._fill_audit()
        same = self.frame is not None and self.frame.episode_id == episode_id
        if not same:
            self.frame = None
            self.frames.clear()
            self.view.set_frame(None, "loading…")
        self._first_at = at
        self._request(episode_id, self.camera.currentText() if same else "", at)
        self._draw_bands()

    def _draw_bands(self) -> None:
        ep = self.detail.episode
        k = self.frame.pre_intervention_k if self.frame else 0
        spans = [(s.start_step, s.end_step) for s in self.detail.interventions]
        self.timeline.set_bands(bands_from_spans(ep.steps, spans, k), ep.steps)

    def _fill_audit(self) -> None:
        rows = self.detail.audit
        self.audit.setRowCount(len(rows))
        for i, a in enumerate(rows):
            for j, v in enumerate((when(a.at), a.who, a.old, a.new, a.note)):
                self.audit.setItem(i, j, QTableWidgetItem(v))

    def show_frame(self, index: int) -> None:
        """Show frame ``index`` of the current camera: from the cache at once, else "loading…"
        until the fetcher brings it (never a blocking call on this thread)."""
        if self.detail is None or self.frame is None:
            return
        self._request(self.detail.episode.episode_id, self.camera.currentText(), index)

    def _request(self, episode_id: str, camera: str, index: int) -> None:
        key = (episode_id, camera, index)
        hit = self.frames.get(key)
        if hit is not None:
            self.fetcher.forget()  # what was waiting is older than this
            self._first_at = None  # (a new episode starts with an empty cache: never its first)
            self._paint(*hit)
            return
        if self.frame is not None:
            self.view.set_frame(self.view.image, f"loading… frame {index + 1}/{self.frame.count}")
        client = self.client

        def fetch():  # worker thread: the hub round trip and the JPEG decode
            meta, jpeg = client.episode_frame(episode_id, camera, index)
            return meta, decode_jpeg(jpeg, FRAME_SIZE)

        self.fetcher.request(key, fetch)

    def _on_frame(self, key, result, current: bool) -> None:
        """An answer from the fetcher (GUI thread)."""
        if isinstance(result, Exception):
            if current:
                if self.frame is None:
                    self.view.set_frame(None, f"no frames: {result}")
                    self.slider.setRange(0, 0)
                self._say(f"frame: {result}")
            return
        meta, image = result
        self.frames.put(key, (meta, image))
        if meta.camera != key[1] or meta.index != key[2]:  # the hub clamped or chose: file it too
            self.frames.put((key[0], meta.camera, meta.index), (meta, image))
        if not current or self.detail is None or key[0] != self.detail.episode.episode_id:
            return
        first = self._first_at is not None
        self._first_at = None
        self._paint(meta, image)
        if first:
            self.camera.blockSignals(True)
            if [self.camera.itemText(i) for i in range(self.camera.count())] != list(meta.cameras):
                self.camera.clear()
                self.camera.addItems(meta.cameras)
            self.camera.setCurrentText(meta.camera)
            self.camera.blockSignals(False)
            self.slider.blockSignals(True)
            self.slider.setRange(0, meta.count - 1)
            self.slider.setValue(meta.index)
            self.slider.blockSignals(False)
            self._draw_bands()

    def _paint(self, meta, image) -> None:
        self.frame = meta
        self.view.set_frame(image, f"{meta.camera}  frame {meta.index + 1}/{meta.count}  step {meta.step}")
        self.timeline.set_cursor(meta.step)

    def shown_index(self) -> int | None:
        """Index of the frame on screen, or None while it is loading (or before any)."""
        if self.frame is None or self.fetcher.busy and self.fetcher.wanted is not None:
            return None
        return self.frame.index

    def _scrub_to_step(self, step: int) -> None:
        """A click on the timeline: the frame nearest that step (frames are evenly spread)."""
        if self.frame is None or self.detail is None or not self.detail.episode.steps:
            return
        self.slider.setValue(round(step / max(self.detail.episode.steps - 1, 1) * (self.frame.count - 1)))

    def relabel(self, outcome: str) -> bool:
        if self.detail is None:
            return False
        eid = self.detail.episode.episode_id
        try:
            rep = self.client.relabel(eid, outcome, note=self.note.text().strip())
        except HubError as e:
            self._say(f"relabel: {e}")
            return False
        if not rep.ok:
            self._say(f"relabel refused: {rep.error}")
            return False
        self.note.clear()
        n = len(self.detail.audit)
        # The store applies labels on its writer thread: show the new audit row once it is there.
        for _ in range(50):
            d = self.client.show_episode(eid)
            if len(d.audit) > n:
                break
            time.sleep(0.05)
        self.open_episode(eid, at=self.slider.value())  # stay on the frame being reviewed
        self._say(f"{eid}: relabelled {outcome} (audited)")
        return True

    def _say(self, text: str) -> None:
        self.error = text
        self.status_line.setText(text)
