"""Colours of states (always paired with a text pill: state is never colour alone)."""

from PyQt6.QtGui import QColor

STATE_COLOURS = {
    "help": QColor(220, 40, 40),
    "stopped": QColor(230, 120, 20),
    "stalled": QColor(230, 160, 30),
    "offline": QColor(130, 130, 130),
    "you": QColor(40, 110, 240),
    "human": QColor(150, 70, 200),
    "policy": QColor(60, 160, 80),
    "idle": QColor(110, 110, 110),
}
BAND_COLOURS = {"policy": QColor(60, 160, 80), "human": QColor(40, 110, 240), "pre": QColor(240, 170, 40)}
OLD_FRAME = QColor(230, 50, 50)
BACKGROUND = QColor(24, 26, 30)
TEXT = QColor(235, 235, 235)
