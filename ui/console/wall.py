"""The camera wall: every robot as a tile in an auto-fitting grid, selection by click or keys."""

from __future__ import annotations

import math

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QGridLayout, QWidget

from ui.console.tile import RobotTile


class CameraWall(QWidget):
    selected = pyqtSignal(str)
    activated = pyqtSignal(str)

    def __init__(self, decoder, stale_frame_s: float = 2.0, parent=None):
        super().__init__(parent)
        self.decoder, self.stale_frame_s = decoder, stale_frame_s
        self.tiles: dict[str, RobotTile] = {}
        self.order: list[str] = []
        self.current: str | None = None
        self.grid = QGridLayout(self)
        self.grid.setSpacing(6)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self._cols = 0

    def columns(self) -> int:
        """The column count that makes tiles largest for this wall's shape (tiles are about 4:3
        per camera, side by side)."""
        n = max(1, len(self.order))
        cams = max([len(t.cameras) for t in self.tiles.values()] + [1])
        tile_aspect = 1.25 * cams
        w, h = max(self.width(), 1), max(self.height(), 1)
        best, best_area = 1, -1.0
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            tw, th = w / cols, h / rows
            fit_w = min(tw, th * tile_aspect)  # the largest tile of that aspect in the cell
            area = fit_w * fit_w / tile_aspect
            if area > best_area:
                best, best_area = cols, area
        return best

    def render(self, rows, cameras: dict[str, list[str]]) -> None:
        """Show ``rows`` (fleet_view rows) in hub order; new robots get a tile, gone ones lose it."""
        ids = [r.robot_id for r in rows]
        if ids != self.order:
            for rid in [t for t in self.tiles if t not in ids]:
                self.tiles.pop(rid).deleteLater()
            for rid in ids:
                if rid not in self.tiles:
                    t = RobotTile(rid, self.decoder, self.stale_frame_s, self)
                    t.clicked.connect(self.select)
                    t.activated.connect(self.activated.emit)
                    self.tiles[rid] = t
            self.order = ids
            self._relayout(force=True)
        for r in rows:
            self.tiles[r.robot_id].set_row(r, cameras.get(r.robot_id, []))
        self._relayout()  # camera counts are known only after the first rows
        if self.current is None and ids:
            self.select(ids[0])

    def _relayout(self, force: bool = False) -> None:
        cols = self.columns()
        if not force and cols == self._cols:
            return
        self._cols = cols
        for t in self.tiles.values():
            self.grid.removeWidget(t)
        for i, rid in enumerate(self.order):
            self.grid.addWidget(self.tiles[rid], i // cols, i % cols)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._relayout()

    def pull(self) -> int:
        """Display tick: every tile takes its newest frame; returns how many tiles changed."""
        return sum(t.pull() for t in self.tiles.values())

    def select(self, robot_id: str) -> None:
        if robot_id not in self.tiles:
            return
        self.current = robot_id
        for rid, t in self.tiles.items():
            t.set_selected(rid == robot_id)
        self.selected.emit(robot_id)

    def move(self, dx: int, dy: int) -> None:
        """Arrow keys: move the selection on the grid."""
        if not self.order:
            return
        i = self.order.index(self.current) if self.current in self.order else 0
        cols = max(1, self._cols)
        j = min(max(i + dx + dy * cols, 0), len(self.order) - 1)
        self.select(self.order[j])
