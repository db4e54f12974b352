"""One robot on the wall: its newest camera frame(s), a coloured border AND a text mode pill,
and badges (id, task, policy version, frame age, control rate).

Painted by hand (no child widgets): a 16-robot wall shows 32 cameras at 30 fps, and a single
``paintEvent`` per tile is the cheapest way to do that in Qt. A new frame repaints only its own
camera's box; the badges and border (~300 us of Python a paint) repaint when the row, the
selection, the size or the frame-age text changes, a few times a second.
"""

from __future__ import annotations

import time

from PyQt6.QtCore import QRect, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPainter, QPen, QRegion
from PyQt6.QtWidgets import QSizePolicy, QWidget

from lwd_operator.fleet_view import FleetRow, fmt_beat
from ui.console.theme import BACKGROUND, OLD_FRAME, STATE_COLOURS, TEXT


class RobotTile(QWidget):
    clicked = pyqtSignal(str)
    activated = pyqtSignal(str)

    def __init__(self, robot_id: str, decoder, stale_frame_s: float = 2.0, parent=None):
        super().__init__(parent)
        self.robot_id, self.decoder, self.stale_frame_s = robot_id, decoder, stale_frame_s
        self.row: FleetRow | None = None
        self.cameras: list[str] = []
        self.selected = False
        self.frames: dict[str, object] = {}
        self.shown = 0
        """Frames painted that were new (for the benchmark's frames-per-tile figure)."""
        self.on_shown = None
        """Called as ``on_shown(age, (to_client, decode_wait, to_paint))`` (seconds; capture ->
        first paint, and where that time went) for each new frame painted: the benchmark's hook.
        The tile keeps no samples itself, so a wall that runs for days uses constant memory."""
        self._seq: dict[str, tuple] = {}
        self._painted: dict[str, tuple] = {}
        self._age_text = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 110)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def sizeHint(self) -> QSize:
        return QSize(320, 200)

    def set_row(self, row: FleetRow | None, cameras: list[str]) -> None:
        if row != self.row or cameras != self.cameras:
            self.row, self.cameras = row, cameras
            self.update()

    def set_selected(self, on: bool) -> None:
        if on != self.selected:
            self.selected = on
            self.update()

    def pull(self) -> bool:
        """Take the newest decoded frame of each camera; repaint the boxes of those that changed
        (the whole tile when the frame-age badge would read differently)."""
        changed = []
        for cam in self.cameras:
            f = self.decoder.latest(self.robot_id, cam)
            if f is not None and self._seq.get(cam) != (f.frame_seq, f.t_received):
                self._seq[cam] = (f.frame_seq, f.t_received)
                self.frames[cam] = f
                changed.append(cam)
        if self._age_label() != self._age_text:
            self.update()
        else:
            boxes = self._boxes()
            for cam in changed:
                self.update(boxes[cam])
        return bool(changed)

    def _age_label(self) -> str:
        age = self.frame_age()
        return "frame -" if age is None else f"frame {fmt_beat(age)}"

    def _border(self) -> int:
        return 6 if (self.row.state if self.row else "offline") in ("help", "stopped", "you") else 3

    def _boxes(self) -> dict[str, QRect]:
        """Each camera's image box (side by side inside the border and the badge rows)."""
        b = self._border()
        inner = self.rect().adjusted(b, b + 20, -b, -b - 18)
        cams = self.cameras or [""]
        w = inner.width() // len(cams)
        return {cam: QRect(inner.left() + i * w, inner.top(), w - (4 if i < len(cams) - 1 else 0), inner.height())
                for i, cam in enumerate(cams)}

    def frame_age(self) -> float | None:
        ages = [time.monotonic() - f.t_received for f in self.frames.values()]
        return min(ages) if ages else None

    # --- painting -------------------------------------------------------------------------------

    def paintEvent(self, ev) -> None:
        p = QPainter(self)
        boxes = self._boxes()
        region = ev.region()  # Qt merges the boxes updated since the last paint
        images = QRegion()
        for box in boxes.values():
            images = images.united(box)
        whole = not region.subtracted(images).isEmpty()
        if whole:
            p.fillRect(self.rect(), BACKGROUND)
        for cam, box in boxes.items():
            if not region.intersects(box):
                continue
            if not whole:
                p.fillRect(box, BACKGROUND)
            f = self.frames.get(cam)
            if f is None:
                p.setPen(QColor(120, 120, 120))
                p.drawText(box, Qt.AlignmentFlag.AlignCenter, "no frame yet" if cam else "no camera")
                continue
            img = f.image
            scale = min(box.width() / img.width(), box.height() / img.height())
            tw, th = img.width() * scale, img.height() * scale
            target = QRectF(box.left() + (box.width() - tw) / 2, box.top() + (box.height() - th) / 2, tw, th)
            p.drawImage(target, img)
            if self._painted_seq(cam, f):
                self.shown += 1
                if self.on_shown is not None:
                    now, t_capture = time.monotonic(), f.t_capture_ns / 1e9  # one clock, one machine
                    self.on_shown(now - t_capture, (f.t_received - t_capture, f.t_decoded - f.t_received,
                                                    now - f.t_decoded))
        if whole:
            self._frame_and_badges(p)
        p.end()

    def _frame_and_badges(self, p: QPainter) -> None:
        r, row = self.rect(), self.row
        colour = STATE_COLOURS.get(row.state if row else "offline", STATE_COLOURS["idle"])
        border = self._border()
        pen = QPen(colour, border * (2 if self.selected else 1))
        if self.selected:
            pen.setColor(colour.lighter(130))
        p.setPen(pen)
        p.drawRect(r.adjusted(border // 2, border // 2, -border // 2 - 1, -border // 2 - 1))
        self._badges(p, r, row, colour, border)

    def _painted_seq(self, cam: str, f) -> bool:
        """True the first time this frame is painted (repaints of the same frame do not count)."""
        mark = (f.frame_seq, f.t_received)
        if self._painted.get(cam) == mark:
            return False
        self._painted[cam] = mark
        return True

    def _badges(self, p: QPainter, r: QRect, row: FleetRow | None, colour: QColor, border: int) -> None:
        f = QFont(self.font())
        f.setPointSize(9)
        f.setBold(True)
        p.setFont(f)
        top = QRect(r.left() + border + 4, r.top() + border, r.width() - 2 * border - 8, 18)
        # The pill: state in words, on the state colour (never colour alone); the title gets
        # what is left and is elided, never drawn under the pill.
        pill = row.pill if row else "OFFLINE"
        fm = p.fontMetrics()
        pw = fm.horizontalAdvance(pill) + 12
        pill_rect = QRect(top.right() - pw, top.top() + 1, pw, 16)
        title = self.robot_id if row is None else f"{row.robot_id}  {row.task}  v{row.policy_version}"
        title = fm.elidedText(title, Qt.TextElideMode.ElideRight, max(top.width() - pw - 6, 20))
        p.setPen(TEXT)
        p.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawRoundedRect(pill_rect, 7, 7)
        p.setPen(QColor(255, 255, 255))
        p.drawText(pill_rect, Qt.AlignmentFlag.AlignCenter, pill)
        f.setBold(False)
        p.setFont(f)
        bottom = QRect(r.left() + border + 4, r.bottom() - border - 17, r.width() - 2 * border - 8, 16)
        age = self.frame_age()
        old = age is not None and age > self.stale_frame_s
        hz = f"{row.control_hz:.0f} Hz" if row else "-"
        reason = row.reason if row and row.reason else ""
        right = self._age_text = self._age_label()
        fm = p.fontMetrics()
        left = fm.elidedText(f"{hz}  step {row.step if row else '-'}  {reason}", Qt.TextElideMode.ElideRight,
                             max(bottom.width() - fm.horizontalAdvance(right) - 10, 20))
        p.setPen(TEXT)
        p.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, left)
        p.setPen(OLD_FRAME if old else TEXT)
        p.drawText(bottom, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, right)

    def mousePressEvent(self, ev) -> None:
        self.clicked.emit(self.robot_id)

    def mouseDoubleClickEvent(self, ev) -> None:
        self.activated.emit(self.robot_id)
