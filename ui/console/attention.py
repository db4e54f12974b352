"""The attention queue beside the wall: the operator's inbox, most urgent first, each entry
saying why in words and numbers; entries clear themselves when their cause clears."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush
from PyQt6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from lwd_operator.fleet_view import AttentionItem, fmt_age
from ui.console.theme import STATE_COLOURS

KIND_COLOUR = {"help": "help", "deadman": "stopped", "stopped": "stopped", "store_error": "help",
               "offline": "offline", "policy_load": "stalled", "stall": "stalled", "to_label": "idle"}


def item_text(i: AttentionItem) -> str:
    who = i.robot_id or "hub"
    return f"{i.mark} {who:<6} {i.text}  {fmt_age(i.age_s)}"


class AttentionPanel(QWidget):
    robot_chosen = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[AttentionItem] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.title = QLabel("ATTENTION")
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        self.hint = QLabel("J jump to most urgent · S/F label · Space take/give · Esc stop")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #888; font-size: 9pt;")
        lay.addWidget(self.title)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.hint)
        self.setMinimumWidth(260)

    def render(self, queue: list[AttentionItem]) -> None:
        urgent = [i for i in queue if i.kind != "to_label"]
        waiting = len(queue) - len(urgent)
        self.title.setText(f"ATTENTION: {len(urgent)} need a person, {waiting} to label")
        keep = self.list.currentRow()
        self.items = list(queue)
        self.list.clear()
        for i in queue:
            it = QListWidgetItem(item_text(i))
            it.setForeground(QBrush(STATE_COLOURS[KIND_COLOUR[i.kind]].lighter(120)))
            it.setData(Qt.ItemDataRole.UserRole, i.robot_id)
            self.list.addItem(it)
        if 0 <= keep < self.list.count():
            self.list.setCurrentRow(keep)

    def texts(self) -> list[str]:
        return [self.list.item(k).text() for k in range(self.list.count())]

    def _clicked(self, it: QListWidgetItem) -> None:
        rid = it.data(Qt.ItemDataRole.UserRole)
        if rid:
            self.robot_chosen.emit(rid)
