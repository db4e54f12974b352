"""Console settings, remembered between runs (QSettings): hub address, keys, operator name,
device speeds, what closing mid-takeover does."""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lwd_operator.devices import DeviceSpeeds


@dataclasses.dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"
    """Hub address."""
    port: int = 5750
    """Hub base port."""
    keys_dir: str = ""
    """CurveZMQ key directory (empty: the config's)."""
    operator: str = ""
    """Operator name shown to others and written to the audit trail (empty: the login name)."""
    speeds: DeviceSpeeds = DeviceSpeeds()
    """Teleop speeds per device."""
    on_close_driving: str = "safe_stop"
    """Closing while driving: ``safe_stop`` (the robot holds still) or ``give`` (back to its policy)."""

    @classmethod
    def load(cls, store: QSettings) -> ConsoleSettings:
        d = cls()
        sp = {f.name: float(store.value(f"speeds/{f.name}", getattr(d.speeds, f.name)))
              for f in dataclasses.fields(DeviceSpeeds)}
        return cls(host=str(store.value("hub/host", d.host)), port=int(store.value("hub/port", d.port)),
                   keys_dir=str(store.value("hub/keys_dir", d.keys_dir)),
                   operator=str(store.value("operator/name", d.operator)), speeds=DeviceSpeeds(**sp),
                   on_close_driving=str(store.value("takeover/on_close", d.on_close_driving)))

    def save(self, store: QSettings) -> None:
        store.setValue("hub/host", self.host)
        store.setValue("hub/port", self.port)
        store.setValue("hub/keys_dir", self.keys_dir)
        store.setValue("operator/name", self.operator)
        for f in dataclasses.fields(DeviceSpeeds):
            store.setValue(f"speeds/{f.name}", getattr(self.speeds, f.name))
        store.setValue("takeover/on_close", self.on_close_driving)
        store.sync()


def qsettings() -> QSettings:
    return QSettings("lwd", "console")


class SettingsPanel(QWidget):
    """Edits ``ConsoleSettings``; Save stores them (hub/operator changes apply at next start)."""

    def __init__(self, settings: ConsoleSettings, store: QSettings, on_change=None, parent=None):
        super().__init__(parent)
        self.settings, self.store, self.on_change = settings, store, on_change
        form = QFormLayout(self)
        self.host = QLineEdit(settings.host)
        self.port = QSpinBox()
        self.port.setRange(1, 65531)
        self.port.setValue(settings.port)
        self.keys = QLineEdit(settings.keys_dir)
        self.operator = QLineEdit(settings.operator)
        self.spins = {}
        for f in dataclasses.fields(DeviceSpeeds):
            s = QDoubleSpinBox()
            s.setDecimals(4)
            s.setRange(0.0, 1.0)
            s.setSingleStep(0.001)
            s.setValue(getattr(settings.speeds, f.name))
            self.spins[f.name] = s
        self.on_close = QComboBox()
        self.on_close.addItems(["safe_stop", "give"])
        self.on_close.setCurrentText(settings.on_close_driving)
        form.addRow("hub address", self.host)
        form.addRow("hub port", self.port)
        form.addRow("key directory", self.keys)
        form.addRow("operator name", self.operator)
        for name, s in self.spins.items():
            form.addRow(name.replace("_", " "), s)
        form.addRow("closing while driving", self.on_close)
        form.addRow(QLabel("Keys: arrows/Tab select · Enter detail · J most urgent · Space take/give · "
                           "WASD RF drive · Q/E gripper · Esc stop · S/F label · M mute"))
        save = QPushButton("Save")
        save.clicked.connect(self.save)
        form.addRow(save)
        self.saved = QLabel("")
        form.addRow(self.saved)

    def current(self) -> ConsoleSettings:
        return ConsoleSettings(
            host=self.host.text().strip() or "127.0.0.1", port=self.port.value(), keys_dir=self.keys.text().strip(),
            operator=self.operator.text().strip(),
            speeds=DeviceSpeeds(**{k: s.value() for k, s in self.spins.items()}),
            on_close_driving=self.on_close.currentText())

    def save(self) -> None:
        self.settings = self.current()
        self.settings.save(self.store)
        self.saved.setText("saved (hub address and operator name apply at the next start)")
        if self.on_change:
            self.on_change(self.settings)
